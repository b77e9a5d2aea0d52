/* What the CLI prints: tables for people, JSON for scripts, and the progress
 * of an operation followed through the daemon's event stream. */
#ifndef LS_APP_CLIENT_OUTPUT_H
#define LS_APP_CLIENT_OUTPUT_H

#include "app/http_client.h"

#define LS_CLIENT_REDRAW_MS 200
#define LS_CLIENT_PIPE_STEP 10

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

/* `what` is "games", "peers" or "status"; doc is the API's answer. */
void ls_client_print_document(const char *what, const json_t *doc, bool as_json);
void ls_client_print_accepted(const char *action, const json_t *doc, bool as_json);

/* ls_client_follow's answer when *interrupts became non-zero (Ctrl-C). */
#define LS_CLIENT_INTERRUPTED (-2)

/* Reads events until `action` on game_id ends. Progress (download, then
 * install) is bounded whatever the event rate: on a terminal one updating
 * line on stderr per phase, redrawn at most every LS_CLIENT_REDRAW_MS;
 * piped, one line per LS_CLIENT_PIPE_STEP percent per phase; with as_json
 * one JSON event per line (every event: scripts asked for them). Returns
 * the exit code, or LS_CLIENT_INTERRUPTED. "cancel" as the action waits for
 * the canceled download's end. */
int ls_client_follow(ls_httpc_stream_t *stream, const char *action, const char *game_id,
                     bool as_json, int timeout_s, volatile sig_atomic_t *interrupts);

#endif
