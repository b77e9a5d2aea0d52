/* The configuration file and the API endpoint file.
 *
 * The config file ($XDG_CONFIG_HOME/lanspread/config unless --config names
 * another) holds daemon options as `option = value` lines, one long option
 * name per line without its dashes (`games = /srv/games`, `peer = ...`
 * repeated, `verbose = true`); `#` starts a comment. A value in double
 * quotes is taken exactly (`games = " /odd dir "`, with \" and \\ as its
 * only escapes); what the daemon writes is always quoted. Control
 * characters are refused anywhere. Command-line options are read after it,
 * so they win.
 *
 * The endpoint file (STATE_DIR/api.json, mode 0600) tells the CLI where the
 * running daemon's HTTP API listens and which per-run token it expects. */
#ifndef LS_APP_CONFIG_H
#define LS_APP_CONFIG_H

#include <stdbool.h>

#define LS_CONFIG_FILE_MAX (64 * 1024)
#define LS_CONFIG_LINES_MAX 256
#define LS_ENDPOINT_FILE "api.json"
#define LS_CONFIG_KEY_CHARS "abcdefghijklmnopqrstuvwxyz-"

#include <stddef.h>

/* $XDG_CONFIG_HOME/lanspread/config or ~/.config/lanspread/config.
 * Caller frees. */
char *ls_config_default_path(void);

/* Turns the file's lines into "--option=value" arguments. A missing file
 * gives no arguments (unless must_exist). On error prints the line at fault.
 * Caller frees with ls_config_free_args(). */
int ls_config_load_args(const char *path, bool must_exist, char ***args, int *count);
void ls_config_free_args(char **args, int count);

/* The parser itself, on the file's bytes: LS_ECONFIG with *bad_line (from
 * 1; 0 for a NUL byte) for a malformed line, LS_ETOOBIG over
 * LS_CONFIG_LINES_MAX options. */
int ls_config_parse_args(const char *text, size_t len, char ***args, int *count, int *bad_line);

/* `key = "value"\n`, quoted and escaped so that the parser gives value back
 * exactly. LS_EINVAL for a key outside LS_CONFIG_KEY_CHARS or a control
 * character in value, LS_ETOOBIG when out_len is too small. */
int ls_config_format_line(const char *key, const char *value, char *out, size_t out_len);

/* Replaces (or adds) the single `key = value` line, keeping every other line;
 * creates the file and its directory when missing. */
int ls_config_set(const char *path, const char *key, const char *value);
/* For a key given many times (`peer = ...`): ls_config_add adds a line
 * unless one already holds value; ls_config_remove drops the lines that
 * hold it. Every other line stays; a file with nothing to change is not
 * rewritten. */
int ls_config_add(const char *path, const char *key, const char *value);
int ls_config_remove(const char *path, const char *key, const char *value);

/* Writes STATE_DIR/api.json with mode 0600. */
int ls_endpoint_write(const char *state_dir, const char *url, const char *token);
void ls_endpoint_remove(const char *state_dir);

/* Reads it back. Caller frees *url and *token. */
int ls_endpoint_read(const char *state_dir, char **url, char **token);

/* api.json whole: its url, token and the pid of the daemon that wrote it
 * (0 when the file names none). Free with ls_endpoint_clear(). */
typedef struct {
    char *url, *token;
    long pid;
} ls_endpoint_t;

int ls_endpoint_load(const char *state_dir, ls_endpoint_t *out);
void ls_endpoint_clear(ls_endpoint_t *e);

#endif
