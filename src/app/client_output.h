/* What the CLI prints: tables for people, JSON for scripts, and the progress
 * of an operation followed through the daemon's event stream. */
#ifndef LS_APP_CLIENT_OUTPUT_H
#define LS_APP_CLIENT_OUTPUT_H

#include "app/http_client.h"

#include <jansson.h>
#include <stdbool.h>

/* `what` is "games", "peers" or "status"; doc is the API's answer. */
void ls_client_print_document(const char *what, const json_t *doc, bool as_json);
void ls_client_print_accepted(const char *action, const json_t *doc, bool as_json);

/* Reads events until `action` on game_id ends; a progress bar on a
 * terminal, plain lines otherwise, one JSON event per line with as_json.
 * Returns the exit code. */
int ls_client_follow(ls_httpc_stream_t *stream, const char *action, const char *game_id,
                     bool as_json, int timeout_s);

#endif
