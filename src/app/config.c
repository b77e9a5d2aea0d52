/* The config file (options as `key = value` lines) and the endpoint file that
 * lets the CLI find the running daemon's API. */
#include "app/config.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ls_config_default_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        return ls_strdup_printf("%s/lanspread/config", xdg);
    return ls_strdup_printf("%s/.config/lanspread/config", home && *home ? home : "/tmp");
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* A value in double quotes ("..." with \" and \\ the only escapes) is taken
 * exactly, so spaces at its ends, a leading '#' or the words true and false
 * stay text; an unquoted one is the rest of the line. Unquotes in place. */
static int unquote(char *value)
{
    size_t len = strlen(value), out = 0;
    if (value[0] != '"')
        return 0;
    if (len < 2 || value[len - 1] != '"')
        return LS_ECONFIG;
    for (size_t i = 1; i < len - 1; i++) {
        if (value[i] == '\\') {
            if (++i == len - 1 || (value[i] != '"' && value[i] != '\\'))
                return LS_ECONFIG;
        } else if (value[i] == '"') {
            return LS_ECONFIG; /* an unescaped quote inside */
        }
        value[out++] = value[i];
    }
    value[out] = '\0';
    return 0;
}

/* One line to one argument: NULL with *rc == 0 for blank and comment lines
 * and for boolean options set to false. */
static char *line_to_arg(char *line, int *rc)
{
    char *text = trim(line);
    *rc = 0;
    if (*text == '\0' || *text == '#')
        return NULL;
    char *eq = strchr(text, '=');
    if (!eq) {
        *rc = LS_ECONFIG;
        return NULL;
    }
    *eq = '\0';
    char *key = trim(text), *value = trim(eq + 1);
    if (*key == '\0' || strspn(key, LS_CONFIG_KEY_CHARS) != strlen(key) ||
        ls_text_has_control(value)) {
        *rc = LS_ECONFIG;
        return NULL;
    }
    bool is_quoted = value[0] == '"';
    if ((*rc = unquote(value)) != 0)
        return NULL;
    if (!is_quoted && strcmp(value, "false") == 0)
        return NULL;
    char *arg = !is_quoted && strcmp(value, "true") == 0 ? ls_strdup_printf("--%s", key)
                                                         : ls_strdup_printf("--%s=%s", key, value);
    if (!arg)
        *rc = LS_ENOMEM;
    return arg;
}

int ls_config_parse_args(const char *data, size_t len, char ***args, int *count, int *bad_line)
{
    char *text = malloc(len + 1);
    int rc = 0, n = 0;
    char **list = calloc(LS_CONFIG_LINES_MAX, sizeof *list);
    *args = NULL;
    *count = 0;
    *bad_line = 0;
    if (!list || !text) {
        rc = LS_ENOMEM;
        goto out;
    }
    if (memchr(data, '\0', len)) {
        rc = LS_ECONFIG; /* a NUL would hide the rest of its line */
        goto out;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    char *next = NULL;
    for (char *line = text; line; line = next) {
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        ++*bad_line;
        char *arg = line_to_arg(line, &rc);
        if (rc != 0)
            goto out;
        if (arg && n == LS_CONFIG_LINES_MAX) {
            free(arg);
            rc = LS_ETOOBIG;
            goto out;
        }
        if (arg)
            list[n++] = arg;
    }
    *bad_line = 0;
out:
    free(text);
    if (rc != 0) {
        ls_config_free_args(list, n);
        return rc;
    }
    *args = list;
    *count = n;
    return 0;
}

int ls_config_load_args(const char *path, bool must_exist, char ***args, int *count)
{
    char *text = NULL;
    size_t len = 0;
    int bad_line = 0;
    int rc = ls_fs_read_file(path, LS_CONFIG_FILE_MAX, &text, &len);
    *args = NULL;
    *count = 0;
    if (rc == LS_ENOENT && !must_exist) {
        rc = 0;
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, "config %s: %s\n", path, ls_strerror(rc));
        goto out;
    }
    rc = ls_config_parse_args(text, len, args, count, &bad_line);
    if (rc == LS_ETOOBIG)
        fprintf(stderr, "config %s: more than %d options\n", path, LS_CONFIG_LINES_MAX);
    else if (rc != 0 && bad_line > 0)
        fprintf(stderr,
                "config %s:%d: expected `option = value` (a value in \"quotes\" may "
                "hold \\\" and \\\\; no control characters)\n",
                path, bad_line);
    else if (rc != 0)
        fprintf(stderr, "config %s: %s (a NUL byte?)\n", path, ls_strerror(rc));
out:
    free(text);
    return rc;
}

void ls_config_free_args(char **args, int count)
{
    for (int i = 0; args && i < count; i++)
        free(args[i]);
    free(args);
}

static bool line_has_key(const char *line, const char *key)
{
    while (isspace((unsigned char)*line))
        line++;
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0)
        return false;
    line += n;
    while (*line == ' ' || *line == '\t')
        line++;
    return *line == '=';
}

int ls_config_format_line(const char *key, const char *value, char *out, size_t out_len)
{
    size_t used = 0;
    if (!key[0] || strspn(key, LS_CONFIG_KEY_CHARS) != strlen(key) || ls_text_has_control(value))
        return LS_EINVAL; /* one line per key: a newline would inject others */
    int n = snprintf(out, out_len, "%s = \"", key);
    if (n < 0 || (size_t)n >= out_len)
        return LS_ETOOBIG;
    used = (size_t)n;
    for (const char *c = value; *c; c++) {
        bool is_escaped = *c == '"' || *c == '\\';
        if (used + 2 + (is_escaped ? 1 : 0) >= out_len)
            return LS_ETOOBIG;
        if (is_escaped)
            out[used++] = '\\';
        out[used++] = *c;
    }
    if (used + 3 > out_len)
        return LS_ETOOBIG;
    memcpy(out + used, "\"\n", 3);
    return 0;
}

int ls_config_set(const char *path, const char *key, const char *value)
{
    char *text = NULL, *save = NULL, *dir = strdup(path);
    size_t len = 0, used = 0, cap = LS_CONFIG_FILE_MAX + 4096;
    char *outbuf = malloc(cap);
    struct stat st;
    /* The file may hold a party key or a token: its mode is kept (0600 for
     * a new one), never widened. */
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0600;
    int rc = dir && outbuf ? 0 : LS_ENOMEM;
    if (rc != 0)
        goto out;
    /* a bare file name ("--config cfg") lives in the working directory */
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (slash && dir[0] && (rc = ls_fs_mkdir_p(dir, 0700)) != 0)
        goto out;
    rc = ls_fs_read_file(path, LS_CONFIG_FILE_MAX, &text, &len);
    if (rc != 0 && rc != LS_ENOENT)
        goto out;
    rc = 0;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save))
        if (!line_has_key(line, key))
            used += (size_t)snprintf(outbuf + used, cap - used, "%s\n", line);
    if ((rc = ls_config_format_line(key, value, outbuf + used, cap - used)) != 0)
        goto out;
    used += strlen(outbuf + used);
    rc = ls_fs_write_atomic_mode(path, outbuf, used, mode);
out:
    free(text);
    free(dir);
    free(outbuf);
    return rc;
}

int ls_endpoint_write(const char *state_dir, const char *url, const char *token)
{
    char *path = ls_path_join(state_dir, LS_ENDPOINT_FILE);
    char *tmp = ls_strdup_printf("%s/.%s.tmp", state_dir, LS_ENDPOINT_FILE);
    json_t *doc = json_pack("{s:s,s:s,s:i}", "url", url, "token", token, "pid", (int)getpid());
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int fd = -1, rc = path && tmp && text ? 0 : LS_ENOMEM;
    if (rc != 0)
        goto out;
    unlink(tmp);
    /* 0600 from creation on: the token must never be readable by others */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    rc = ls_fs_pwrite_all(fd, text, strlen(text), 0);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ls_error_from_errno(errno);
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp)
        unlink(tmp);
    json_decref(doc);
    free(text);
    free(path);
    free(tmp);
    return rc;
}

void ls_endpoint_remove(const char *state_dir)
{
    char *path = ls_path_join(state_dir, LS_ENDPOINT_FILE);
    if (path)
        unlink(path);
    free(path);
}

int ls_endpoint_load(const char *state_dir, ls_endpoint_t *out)
{
    char *path = ls_path_join(state_dir, LS_ENDPOINT_FILE);
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    int rc = path ? ls_fs_read_file(path, 4096, &text, &len) : LS_ENOMEM;
    *out = (ls_endpoint_t){.pid = 0};
    if (rc != 0) {
        rc = rc == LS_ENOENT ? LS_ENODAEMON : rc;
        goto out;
    }
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *u = json_string_value(json_object_get(doc, "url"));
    const char *t = json_string_value(json_object_get(doc, "token"));
    json_int_t pid = json_integer_value(json_object_get(doc, "pid"));
    if (!u || !t || pid < 0 || pid > INT_MAX) {
        rc = LS_EJSON;
        goto out;
    }
    out->url = strdup(u);
    out->token = strdup(t);
    out->pid = (long)pid;
    rc = out->url && out->token ? 0 : LS_ENOMEM;
out:
    if (rc != 0)
        ls_endpoint_clear(out);
    json_decref(doc);
    free(text);
    free(path);
    return rc;
}

void ls_endpoint_clear(ls_endpoint_t *e)
{
    free(e->url);
    free(e->token);
    *e = (ls_endpoint_t){.pid = 0};
}

int ls_endpoint_read(const char *state_dir, char **url, char **token)
{
    ls_endpoint_t e;
    int rc = ls_endpoint_load(state_dir, &e);
    *url = e.url;
    *token = e.token;
    return rc;
}
