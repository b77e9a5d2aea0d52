/* The local control API: an HTTP server (libmicrohttpd) that serves the web
 * UI, answers JSON requests from the API state, forwards actions to the peer
 * runtime as commands, and streams every event as Server-Sent Events.
 * docs/API.md describes every endpoint and the security rules. */
#ifndef LS_APP_HTTP_SERVER_H
#define LS_APP_HTTP_SERVER_H

#include "app/api_state.h"

#include "lanspread/peer.h"

#define LS_HTTP_DEFAULT_LISTEN "127.0.0.1:7797"
#define LS_HTTP_BODY_MAX (64 * 1024)
#define LS_HTTP_TOKEN_MAX 256
/* How long a one-time login link works after it was made. */
#define LS_HTTP_LOGIN_TTL_MS (5u * 60u * 1000u)
/* The login page; its query is once=SECRET. */
#define LS_HTTP_LOGIN_PATH "/login"

typedef struct {
    const char *listen;      /* "ADDR:PORT"; port 0 picks a free one */
    const char *token;       /* NULL: a random per-run token (loopback only) */
    const char *config_path; /* where a new game directory is persisted */
    const char *state_dir;   /* where the session key lives; NULL: per run */
} ls_http_config_t;

typedef struct ls_http_server ls_http_server_t;

/* Starts listening. `state` and `peer` are borrowed and must outlive the
 * server. A listen address other than loopback is refused (LS_ETOKEN)
 * unless config->token is set. Stop with ls_http_stop(), which frees. */
int ls_http_start(const ls_http_config_t *config, ls_api_state_t *state, ls_peer_runtime_t *peer,
                  ls_http_server_t **out);
void ls_http_stop(ls_http_server_t *server);

/* "http://ADDR:PORT/" and the token the API expects; owned by the server. */
const char *ls_http_url(const ls_http_server_t *server);
const char *ls_http_token(const ls_http_server_t *server);

/* A fresh one-time login link, "http://ADDR:PORT/login?once=SECRET": it
 * sets the session cookie once, within LS_HTTP_LOGIN_TTL_MS (see
 * http_login.h). Any thread. Caller frees; NULL when out of memory or
 * random bytes. */
char *ls_http_login_url(ls_http_server_t *server);

#endif
