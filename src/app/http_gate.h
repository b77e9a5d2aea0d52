/* The checks every request of the control API passes before a route runs:
 * Host, Origin, the bounded body, the JSON body's shape and the game URLs.
 * Pure functions of the request's text (no libmicrohttpd), so they can be
 * fuzzed alone (fuzz/fuzz_http_gate.c). Any thread. */
#ifndef LS_APP_HTTP_GATE_H
#define LS_APP_HTTP_GATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Room for ids longer than any valid one, so they are reported, not cut. */
#define LS_HTTP_URL_ID_MAX 128

typedef struct {
    char *body; /* NUL-terminated copy of what came, at most LS_HTTP_BODY_MAX */
    size_t len;
    bool is_too_big;
} ls_http_request_t;

/* Adds the next piece of the body; past LS_HTTP_BODY_MAX it keeps nothing
 * more and sets is_too_big (answered 413 once the body is read). */
int ls__http_body_append(ls_http_request_t *req, const char *data, size_t len);

/* Only "localhost" or an IP literal, with our port. */
bool ls__http_host_allowed(const char *host, unsigned port);

/* 0 when the request may go on, else the HTTP status refusing it, with the
 * reason in *why. host and origin may be NULL (header absent). */
unsigned ls__http_gate(const char *method, const char *host, const char *origin, unsigned port,
                       const char **why);

/* Strict parse of an optional body: nothing ({}), or one JSON object
 * without duplicate keys. NULL with the reason in why otherwise. */
json_t *ls__http_parse_body(const ls_http_request_t *req, char *why, size_t why_len);

/* "/api/games/ID" or "/api/games/ID/ACTION" (url after that prefix) -> id
 * (LS_HTTP_URL_ID_MAX + 1 bytes) and action ("" when none). */
bool ls__http_split_game_url(const char *url, char *id, char *action, size_t action_len);

#endif
