/* The JSON routes of the control API: reads answer from the API state, and
 * actions are checked against it before they become runtime commands. */
#include "app/config.h"
#include "app/http_internal.h"
#include "app/limits.h"

#include "lanspread/cover.h"
#include "lanspread/download.h"
#include "lanspread/error.h"
#include "lanspread/path.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- kept bytes of downloads not running ----------------------------------- */

static void note_kept(const ls_resume_t *r, void *ctx)
{
    /* a record of an older version: no byte counts, or made with larger
     * chunks than peers of this version hash at (the download starts over) */
    if (r->bytes_total == 0 || !ls_resume_fits_chunk_size(r, LS_CHUNK_SIZE))
        return;
    json_object_set_new(ctx, r->game_id,
                        json_pack("{s:s,s:I,s:I}", "version", r->version, "bytes_done",
                                  (json_int_t)r->bytes_done, "bytes_total",
                                  (json_int_t)r->bytes_total));
}

json_t *ls__http_kept_records(ls_http_server_t *server)
{
    json_t *kept = server->state_dir ? json_object() : NULL;
    if (kept)
        ls_resume_scan(server->state_dir, LS_HTTP_KEPT_SCAN_MAX, note_kept, kept);
    return kept;
}

void ls__http_add_kept(json_t *game, void *kept)
{
    const char *id = json_string_value(json_object_get(game, "id"));
    json_t *k = id && kept ? json_object_get(kept, id) : NULL;
    const char *latest = json_string_value(json_object_get(game, "latest_version"));
    /* a record of another version is dropped when the download starts */
    if (k && !json_is_true(json_object_get(game, "downloaded")) &&
        (!latest || strcmp(latest, json_string_value(json_object_get(k, "version"))) == 0))
        json_object_set(game, "kept", k);
}

static enum MHD_Result send_command(ls_http_server_t *server, struct MHD_Connection *conn,
                                    const ls_peer_command_t *cmd, json_t *answer)
{
    int rc = ls_peer_submit(server->peer, cmd);
    if (rc != 0) {
        json_decref(answer);
        return ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "peer runtime: %s",
                                  ls_strerror(rc));
    }
    return ls_http_send_json(conn, MHD_HTTP_ACCEPTED, answer);
}

/* --- game actions ------------------------------------------------------- */

typedef struct {
    const char *name;
    ls_peer_command_kind_t command;
    const char *needs;   /* field of the game that must be true, or NULL */
    const char *refusal; /* why, when it is not */
} ls_game_action_t;

static const ls_game_action_t game_actions[] = {
    {"download", LS_CMD_DOWNLOAD, NULL, NULL},
    {"update", LS_CMD_DOWNLOAD, NULL, NULL}, /* the latest version, then update */
    {"install", LS_CMD_INSTALL, "downloaded", "is not downloaded"},
    {"uninstall", LS_CMD_UNINSTALL, "installed", "is not installed"},
};

static enum MHD_Result send_busy(struct MHD_Connection *conn, const char *id, const char *running)
{
    return ls_http_send_error(conn, MHD_HTTP_CONFLICT, "game '%s' is busy: %s %s", id, running,
                              strcmp(running, "download") == 0 || strcmp(running, "update") == 0
                                  ? "in progress (cancel it first)"
                                  : "in progress");
}

/* One operation per game: a download, update, install or uninstall asked
 * for while another is requested or running (including the commit at the
 * end of a download) is refused, not queued behind it. */
static enum MHD_Result request_action(ls_http_server_t *server, struct MHD_Connection *conn,
                                      const ls_game_action_t *a, const char *id)
{
    const char *running;
    if (ls_api_state_request(server->state, id, a->name, &running) != 0)
        return send_busy(conn, id, running);
    ls_peer_command_t cmd = {.kind = a->command, .game_id = id};
    return send_command(
        server, conn, &cmd,
        json_pack("{s:b,s:s,s:s}", "accepted", 1, "game_id", id, "action", a->name));
}

static enum MHD_Result game_action(ls_http_server_t *server, struct MHD_Connection *conn,
                                   const char *id, const char *action)
{
    const ls_game_action_t *a = NULL;
    json_t *game = ls_api_state_game(server->state, id);
    enum MHD_Result ret;
    for (size_t i = 0; i < sizeof game_actions / sizeof game_actions[0]; i++)
        if (strcmp(action, game_actions[i].name) == 0)
            a = &game_actions[i];
    if (!game) {
        ret = ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "unknown game '%s'", id);
    } else if (strcmp(action, "cancel") == 0) {
        const char *state = json_string_value(json_object_get(game, "state"));
        if (!state || (strcmp(state, "downloading") != 0 && strcmp(state, "requested") != 0))
            ret = ls_http_send_error(conn, MHD_HTTP_CONFLICT, "no download of game '%s' is running",
                                     id);
        else
            ret = send_command(
                server, conn, &(ls_peer_command_t){.kind = LS_CMD_CANCEL, .game_id = id},
                json_pack("{s:b,s:s,s:s}", "accepted", 1, "game_id", id, "action", action));
    } else if (!a) {
        ret = ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "unknown action '%s'", action);
    } else if (a->command == LS_CMD_DOWNLOAD) {
        /* a local game is named as such: "no peer has it" would hide that
         * there is nothing to download */
        bool is_local = json_is_true(json_object_get(game, "downloaded"));
        const char *here =
            json_is_true(json_object_get(game, "installed")) ? "installed" : "downloaded";
        /* a download whose seeders all left is still running (it waits
         * for one): "no peer has it" would hide that cancel ends it */
        const char *running = ls_api_state_running(server->state, id);
        if (running) {
            ret = send_busy(conn, id, running);
        } else if (strcmp(a->name, "download") == 0 && is_local) {
            ret = ls_http_send_error(conn, MHD_HTTP_CONFLICT,
                                     "game '%s' is already %s here (update fetches a newer "
                                     "version)",
                                     id, here);
        } else if (json_integer_value(json_object_get(game, "peer_count")) == 0) {
            ret = ls_http_send_error(conn, MHD_HTTP_CONFLICT, "no peer has game '%s'%s%s%s", id,
                                     is_local ? " (it is " : "", is_local ? here : "",
                                     is_local ? " here)" : "");
        } else {
            ret = request_action(server, conn, a, id);
        }
    } else if (!json_is_true(json_object_get(game, a->needs))) {
        ret = ls_http_send_error(conn, MHD_HTTP_CONFLICT, "game '%s' %s", id, a->refusal);
    } else {
        ret = request_action(server, conn, a, id);
    }
    json_decref(game);
    return ret;
}

/* --- game directory -------------------------------------------------------- */

static enum MHD_Result set_game_dir(ls_http_server_t *server, struct MHD_Connection *conn,
                                    json_t *body)
{
    char real[PATH_MAX], why[PATH_MAX + 128];
    const char *path = json_string_value(json_object_get(body, "path"));
    if (!path || json_object_size(body) != 1)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST,
                                  "expected {\"path\": \"/absolute/dir\"}");
    if (ls_fs_check_game_dir(path, real, why, sizeof why) != 0)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", why);
    if (ls_api_state_is_busy(server->state))
        return ls_http_send_error(conn, MHD_HTTP_CONFLICT,
                                  "a download or install is running; try again when it ends");
    /* The runtime checks again, swaps, rescans and announces; the daemon
     * saves the directory in the config when it reports game-dir-changed. */
    ls_info("http", "game directory change to %s requested", real);
    return send_command(server, conn,
                        &(ls_peer_command_t){.kind = LS_CMD_SET_GAME_DIR, .path = real},
                        json_pack("{s:b,s:s,s:s?}", "accepted", 1, "game_dir", real, "config",
                                  server->config_path));
}

/* --- known peers ----------------------------------------------------------- */

/* The runtime's list: remembered peers (STATE/peers.json) and added
 * addresses. Returns how many; *out is the caller's (free). */
static size_t known_peers(ls_http_server_t *server, ls_known_peer_t **out)
{
    size_t max = LS_KNOWN_PEERS_MAX + LS_STATIC_PEERS_MAX;
    *out = calloc(max, sizeof **out);
    if (!*out)
        return 0;
    size_t n = ls_peer_known_peers(server->peer, *out, max);
    return n < max ? n : max;
}

static json_t *known_peer_json(const ls_known_peer_t *p)
{
    return json_pack("{s:s?,s:s?,s:s,s:o,s:b,s:b}", "peer_id", p->peer_id[0] ? p->peer_id : NULL,
                     "name", p->name[0] ? p->name : NULL, "address", p->address, "last_seen",
                     p->last_seen ? json_integer(p->last_seen) : json_null(), "connected",
                     p->is_connected, "added", p->is_added);
}

static enum MHD_Result list_known_peers(ls_http_server_t *server, struct MHD_Connection *conn)
{
    ls_known_peer_t *peers;
    size_t n = known_peers(server, &peers);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        json_array_append_new(list, known_peer_json(&peers[i]));
    free(peers);
    if (!list)
        return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return ls_http_send_json(conn, MHD_HTTP_OK,
                             json_pack("{s:I,s:o}", "count", (json_int_t)n, "peers", list));
}

/* Dialled from now on, and saved in the config as a `peer = ADDR:PORT`
 * line, so the next start dials it too. */
static enum MHD_Result add_known_peer(ls_http_server_t *server, struct MHD_Connection *conn,
                                      json_t *body)
{
    const char *address = json_string_value(json_object_get(body, "address"));
    if (!address || json_object_size(body) != 1)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST,
                                  "expected {\"address\": \"ADDR:PORT\"}");
    if (!ls_peer_address_is_valid(address))
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST,
                                  "'%.64s' is not ADDR:PORT (IPv4:PORT or [IPv6]:PORT)", address);
    int rc = server->config_path ? ls_config_add(server->config_path, "peer", address) : 0;
    if (rc != 0)
        return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot save %s in %s: %s",
                                  address, server->config_path, ls_strerror(rc));
    ls_info("http", "peer %s added%s%s", address, server->config_path ? " and saved in " : "",
            server->config_path ? server->config_path : "");
    return send_command(server, conn,
                        &(ls_peer_command_t){.kind = LS_CMD_ADD_PEER, .peer = address},
                        json_pack("{s:b,s:s,s:s?}", "accepted", 1, "address", address, "config",
                                  server->config_path));
}

/* No longer remembered nor dialled; its `peer =` lines leave the config. */
static enum MHD_Result forget_known_peer(ls_http_server_t *server, struct MHD_Connection *conn,
                                         json_t *body)
{
    const char *what = json_string_value(json_object_get(body, "peer"));
    if (!what || !*what || strlen(what) >= LS_ADDRESS_MAX + 1 || json_object_size(body) != 1)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST,
                                  "expected {\"peer\": \"ADDR:PORT, ADDR or peer id\"}");
    ls_known_peer_t *peers;
    size_t n = known_peers(server, &peers);
    json_t *forgotten = json_array();
    int rc = 0;
    for (size_t i = 0; forgotten && rc == 0 && i < n; i++) {
        if (!ls_known_peer_matches(&peers[i], what))
            continue;
        json_array_append_new(forgotten, known_peer_json(&peers[i]));
        if (peers[i].is_added && server->config_path)
            rc = ls_config_remove(server->config_path, "peer", peers[i].address);
    }
    free(peers);
    if (!forgotten || rc != 0) {
        json_decref(forgotten);
        return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "cannot update the config: %s", ls_strerror(rc ? rc : LS_ENOMEM));
    }
    if (json_array_size(forgotten) == 0) {
        json_decref(forgotten);
        return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "no known peer matches '%s'", what);
    }
    ls_info("http", "forgetting %zu peer(s) matching %s", json_array_size(forgotten), what);
    return send_command(
        server, conn, &(ls_peer_command_t){.kind = LS_CMD_FORGET_PEER, .peer = what},
        json_pack("{s:b,s:s,s:o}", "accepted", 1, "peer", what, "forgotten", forgotten));
}

/* --- bandwidth limits ------------------------------------------------------ */

/* A limit's value as text: a JSON string as is ("50M"), a whole number in
 * decimal. false for anything else. */
static bool limit_text(const json_t *value, char *out, size_t len)
{
    if (json_is_string(value))
        return snprintf(out, len, "%s", json_string_value(value)) < (int)len;
    if (json_is_integer(value) && json_integer_value(value) >= 0)
        return snprintf(out, len, "%lld", (long long)json_integer_value(value)) < (int)len;
    return false;
}

/* Changes the limits named in body now, and saves them in the config so
 * the next start keeps them. */
static enum MHD_Result set_limits(ls_http_server_t *server, struct MHD_Connection *conn,
                                  json_t *body)
{
    ls_peer_command_t cmd = {.kind = LS_CMD_SET_LIMITS};
    char texts[LS_APP_LIMITS_N][LS_APP_LIMIT_TEXT_MAX];
    const ls_app_limit_t *given[LS_APP_LIMITS_N];
    size_t count = 0;
    const char *key;
    json_t *value;
    if (!json_is_object(body) || json_object_size(body) == 0)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST,
                                  "expected {\"max_upload\": \"50M\", ...}: one or more of "
                                  "max_upload, max_download, peer_upload_share, playing_upload");
    json_object_foreach(body, key, value)
    {
        const ls_app_limit_t *lim = ls_app_limit_find(key);
        if (!lim || count == LS_APP_LIMITS_N)
            return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST, "unknown limit '%s'", key);
        if (!limit_text(value, texts[count], sizeof texts[count]) ||
            ls_app_limit_parse(lim, texts[count], &cmd.limits, &cmd.limit_fields) != 0)
            return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST, "%s: %s", lim->json_key,
                                      lim->help);
        given[count++] = lim;
    }
    int rc = ls_peer_submit(server->peer, &cmd);
    if (rc != 0)
        return ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "peer runtime: %s",
                                  ls_strerror(rc));
    /* saved once the runtime has the change: the next start keeps it */
    for (size_t i = 0; server->config_path && i < count; i++) {
        rc = ls_config_set(server->config_path, given[i]->option, texts[i]);
        if (rc != 0)
            ls_warn("http", "cannot save %s in %s: %s", given[i]->option, server->config_path,
                    ls_strerror(rc));
    }
    ls_info("http", "bandwidth limits changed (%zu)", count);
    return ls_http_send_json(conn, MHD_HTTP_ACCEPTED,
                             json_pack("{s:b,s:s?}", "accepted", 1, "config", server->config_path));
}

static enum MHD_Result get_limits(ls_http_server_t *server, struct MHD_Connection *conn)
{
    json_t *limits = ls_api_state_limits(server->state);
    if (!limits)
        return ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "the peer is not ready yet; try again in a moment");
    return ls_http_send_json(conn, MHD_HTTP_OK, limits);
}

/* --- web UI login --------------------------------------------------------- */

/* For `lanspread open`: whoever holds the token may hand a browser a
 * one-time link (the token itself never goes into a URL). */
static enum MHD_Result new_login_url(ls_http_server_t *server, struct MHD_Connection *conn)
{
    char *url = ls_http_login_url(server);
    if (!url)
        return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make a login link");
    json_t *doc =
        json_pack("{s:s,s:I}", "url", url, "expires_in_ms", (json_int_t)LS_HTTP_LOGIN_TTL_MS);
    free(url);
    return ls_http_send_json(conn, MHD_HTTP_OK, doc);
}

/* --- routing --------------------------------------------------------------- */

/* A rescan of one game needs its folder, or a local game whose folder may
 * just have gone (the rescan notices that). */
static bool is_rescannable(ls_http_server_t *server, const char *id)
{
    json_t *status = ls_api_state_status(server->state);
    json_t *game = ls_api_state_game(server->state, id);
    const char *dir = json_string_value(json_object_get(status, "game_dir"));
    char *path = dir ? ls_path_join(dir, id) : NULL;
    bool is_known = (path && ls_fs_exists(path) == 1) ||
                    json_is_true(json_object_get(game, "downloaded")) ||
                    json_is_true(json_object_get(game, "installed"));
    free(path);
    json_decref(game);
    json_decref(status);
    return is_known;
}

/* "/api/games/ID" or "/api/games/ID/ACTION" -> id and action (or ""). */
static bool split_game_url(const char *url, char *id, char *action, size_t action_len)
{
    return ls__http_split_game_url(url + strlen("/api/games/"), id, action, action_len);
}

/* --- covers --------------------------------------------------------------- */

/* How long GET /api/games/ID/cover waits for a cover fetched from a peer. */
#define LS_HTTP_COVER_WAIT_MS 10000
/* A URL naming the cover's hash (?v=HASH, as the web UI writes it) always
 * means the same bytes: cached for good. Without it, revalidated by ETag. */
#define LS_HTTP_COVER_IMMUTABLE "private, max-age=31536000, immutable"
#define LS_HTTP_COVER_REVALIDATE "private, no-cache"

static enum MHD_Result send_cover(struct MHD_Connection *conn, const char *sha256,
                                  ls_peer_cover_t *cover)
{
    char etag[LS_SHA256_HEX_LEN + 3];
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "v");
    const char *match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    snprintf(etag, sizeof etag, "\"%s\"", sha256);
    bool is_fresh = match && strcmp(match, etag) == 0;
    struct MHD_Response *resp =
        is_fresh ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
                 : MHD_create_response_from_buffer(cover->len, cover->data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(cover->data);
        return MHD_NO;
    }
    if (is_fresh)
        free(cover->data);
    MHD_add_response_header(resp, "Content-Type", ls_cover_mime(cover->type));
    MHD_add_response_header(resp, "Cache-Control",
                            v && strcmp(v, sha256) == 0 ? LS_HTTP_COVER_IMMUTABLE
                                                        : LS_HTTP_COVER_REVALIDATE);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret =
        MHD_queue_response(conn, is_fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET /api/games/ID/cover: the cover the games list names (its `cover`),
 * from the cache, the local game folder or a peer that has it. */
static enum MHD_Result get_cover(ls_http_server_t *server, struct MHD_Connection *conn,
                                 const char *id)
{
    char sha256[LS_SHA256_HEX_LEN + 1];
    ls_peer_cover_t cover;
    json_t *game = ls_api_state_game(server->state, id);
    if (!game)
        return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "unknown game '%s'", id);
    const char *known = json_string_value(json_object_get(game, "cover"));
    snprintf(sha256, sizeof sha256, "%s", known ? known : "");
    json_decref(game);
    if (!sha256[0])
        return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "game '%s' has no cover", id);
    int rc = ls_peer_cover(server->peer, id, sha256, LS_HTTP_COVER_WAIT_MS, &cover);
    if (rc == 0)
        return send_cover(conn, sha256, &cover);
    if (rc == LS_ENOENT)
        return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND,
                                  "the cover of '%s' is on no reachable peer", id);
    if (rc == LS_ETIMEDOUT)
        return ls_http_send_error(conn, MHD_HTTP_GATEWAY_TIMEOUT,
                                  "the cover of '%s' did not arrive in time", id);
    if (rc == LS_EBUSY)
        return ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "too many covers being fetched; try again");
    return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cover of '%s': %s", id,
                              ls_strerror(rc));
}

static enum MHD_Result route_get(ls_http_server_t *server, struct MHD_Connection *conn,
                                 const char *url)
{
    char id[LS_HTTP_URL_ID_MAX + 1], action[32];
    if (strcmp(url, "/api/status") == 0)
        return ls_http_send_json(conn, MHD_HTTP_OK, ls_api_state_status(server->state));
    if (strcmp(url, "/api/games") == 0) {
        json_t *kept = ls__http_kept_records(server);
        char *text = ls_api_state_games_text_with(server->state, "{\"games\":", "}",
                                                  ls__http_add_kept, kept);
        json_decref(kept);
        return ls_http_send_json_text(conn, MHD_HTTP_OK, text);
    }
    if (strcmp(url, "/api/peers") == 0)
        return ls_http_send_json(conn, MHD_HTTP_OK, ls_api_state_peers(server->state));
    if (strcmp(url, "/api/known-peers") == 0)
        return list_known_peers(server, conn);
    if (strcmp(url, "/api/folders") == 0)
        return ls__http_folders_list(server, conn);
    if (strcmp(url, "/api/limits") == 0)
        return get_limits(server, conn);
    if (strncmp(url, "/api/games/", 11) == 0 && split_game_url(url, id, action, sizeof action) &&
        action[0] == '\0') {
        json_t *game = ls_api_state_game(server->state, id);
        if (!game)
            return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "unknown game '%s'", id);
        json_t *kept = ls__http_kept_records(server);
        ls__http_add_kept(game, kept);
        json_decref(kept);
        return ls_http_send_json(conn, MHD_HTTP_OK, game);
    }
    if (strncmp(url, "/api/games/", 11) == 0 && split_game_url(url, id, action, sizeof action) &&
        strcmp(action, "cover") == 0)
        return get_cover(server, conn, id);
    return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint: GET %s", url);
}

static enum MHD_Result route_post(ls_http_server_t *server, struct MHD_Connection *conn,
                                  const char *url, json_t *body)
{
    char id[LS_HTTP_URL_ID_MAX + 1], action[32];
    if (strcmp(url, "/api/rescan") == 0) {
        const char *game_id = json_string_value(json_object_get(body, "game_id"));
        if (game_id && !ls_game_id_is_valid(game_id))
            return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST, "'%s' is not a game id", game_id);
        if (game_id && !is_rescannable(server, game_id))
            return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND,
                                      "no game '%s' in the game directory", game_id);
        return send_command(server, conn,
                            &(ls_peer_command_t){.kind = LS_CMD_RESCAN, .game_id = game_id},
                            json_pack("{s:b,s:s?}", "accepted", 1, "game_id", game_id));
    }
    if (strcmp(url, "/api/game-dir") == 0)
        return set_game_dir(server, conn, body);
    if (strcmp(url, "/api/catalog") == 0)
        return ls__http_catalog_add(server, conn, body);
    if (strcmp(url, "/api/limits") == 0)
        return set_limits(server, conn, body);
    if (strcmp(url, "/api/login-url") == 0)
        return new_login_url(server, conn);
    if (strcmp(url, "/api/known-peers/add") == 0)
        return add_known_peer(server, conn, body);
    if (strcmp(url, "/api/known-peers/forget") == 0)
        return forget_known_peer(server, conn, body);
    if (strcmp(url, "/api/list-games") == 0)
        return send_command(server, conn, &(ls_peer_command_t){.kind = LS_CMD_LIST_GAMES},
                            json_pack("{s:b}", "accepted", 1));
    if (strcmp(url, "/api/peer-count") == 0)
        return send_command(server, conn, &(ls_peer_command_t){.kind = LS_CMD_GET_PEER_COUNT},
                            json_pack("{s:b}", "accepted", 1));
    if (strncmp(url, "/api/games/", 11) == 0 && split_game_url(url, id, action, sizeof action) &&
        action[0] != '\0')
        return game_action(server, conn, id, action);
    return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint: POST %s", url);
}

enum MHD_Result ls_http_api_route(ls_http_server_t *server, struct MHD_Connection *conn,
                                  const char *method, const char *url, const ls_http_request_t *req)
{
    char why[256];
    if (strcmp(method, "GET") == 0)
        return route_get(server, conn, url);
    if (strcmp(method, "POST") != 0)
        return ls_http_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "use GET to read and POST to act");
    json_t *body = ls__http_parse_body(req, why, sizeof why);
    if (!body)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", why);
    enum MHD_Result ret = route_post(server, conn, url, body);
    json_decref(body);
    return ret;
}
