/* Shared between the HTTP server (transport, security, static files, event
 * stream) and the API routes. */
#ifndef LS_APP_HTTP_INTERNAL_H
#define LS_APP_HTTP_INTERNAL_H

#include "app/http_gate.h"
#include "app/http_login.h"
#include "app/http_server.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

struct ls_http_server {
    struct MHD_Daemon *mhd;
    ls_api_state_t *state;
    ls_peer_runtime_t *peer;
    char *config_path;
    char *state_dir; /* resume records (kept bytes); NULL: none */
    char *url;
    char *token;
    char *cookie_name;
    unsigned port;
    bool is_loopback;
    ls__http_logins_t logins;
    ls__http_session_key_t session_key; /* signs the cookies a login sets */
};

/* Queues a response; `doc` is stolen. */
enum MHD_Result ls_http_send_json(struct MHD_Connection *conn, unsigned status, json_t *doc);
/* The same for a document already text (malloc'd, NUL-terminated; stolen). */
enum MHD_Result ls_http_send_json_text(struct MHD_Connection *conn, unsigned status, char *text);
enum MHD_Result ls_http_send_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

/* Answers an authenticated /api/ request (anything but the event stream). */
enum MHD_Result ls_http_api_route(ls_http_server_t *server, struct MHD_Connection *conn,
                                  const char *method, const char *url,
                                  const ls_http_request_t *req);

/* Resume records read per request at most: the "kept" of that many
 * stopped downloads is shown. */
#define LS_HTTP_KEPT_SCAN_MAX 256
/* The resume records of the state directory (canceled or failed
 * downloads) by game id, read once per request; NULL without a state
 * directory. Blocks on disk. */
json_t *ls__http_kept_records(ls_http_server_t *server);
/* Adds "kept": {version, bytes_done, bytes_total} to a game's view when it
 * is not downloaded and `kept` (ls__http_kept_records) holds a record of
 * its latest version. An ls_api_game_decorate_fn. */
void ls__http_add_kept(json_t *game, void *kept);

/* GET /api/folders: the game directory's folders the scan skips, each with
 * its reason (http_folders.c). */
enum MHD_Result ls__http_folders_list(ls_http_server_t *server, struct MHD_Connection *conn);
/* POST /api/catalog: adds a folder to the game directory's catalog (renamed
 * to its id, version.ini written when missing) and rescans it. */
enum MHD_Result ls__http_catalog_add(ls_http_server_t *server, struct MHD_Connection *conn,
                                     json_t *body);

#endif
