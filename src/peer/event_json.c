/* The JSON edge of the event API: an ls_peer_event_t as the object the
 * CLI prints, the control API streams and the tests match (docs/API.md).
 * The runtime never builds JSON for an event; the application calls this. */
#include "lanspread/peer.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

const char *ls_peer_event_name(ls_peer_event_kind_t kind)
{
    switch (kind) {
    case LS_EVENT_LOCAL_LIBRARY:
        return "local-library";
    case LS_EVENT_LIST_GAMES:
        return "list-games";
    case LS_EVENT_PEER_DISCOVERED:
        return "peer-discovered";
    case LS_EVENT_PEER_LOST:
        return "peer-lost";
    case LS_EVENT_PEER_COUNT:
        return "peer-count";
    case LS_EVENT_GOT_GAME_FILES:
        return "got-game-files";
    case LS_EVENT_DOWNLOAD_BEGIN:
        return "download-begin";
    case LS_EVENT_DOWNLOAD_PROGRESS:
        return "download-progress";
    case LS_EVENT_DOWNLOAD_FINISHED:
        return "download-finished";
    case LS_EVENT_DOWNLOAD_FAILED:
        return "download-failed";
    case LS_EVENT_INSTALL_BEGIN:
        return "install-begin";
    case LS_EVENT_INSTALL_PROGRESS:
        return "install-progress";
    case LS_EVENT_INSTALL_FINISHED:
        return "install-finished";
    case LS_EVENT_INSTALL_FAILED:
        return "install-failed";
    case LS_EVENT_UNINSTALL_BEGIN:
        return "uninstall-begin";
    case LS_EVENT_UNINSTALL_FINISHED:
        return "uninstall-finished";
    case LS_EVENT_UNINSTALL_FAILED:
        return "uninstall-failed";
    case LS_EVENT_RUNTIME_FAILURE:
        return "runtime-failure";
    case LS_EVENT_READY:
        return "ready";
    case LS_EVENT_GAME_DIR_CHANGED:
        return "game-dir-changed";
    case LS_EVENT_UPLOAD_PROGRESS:
        return "upload-progress";
    case LS_EVENT_LIMITS:
        return "limits";
    }
    return "unknown";
}

/* Catalog text: null rather than "" when the catalog has none. */
static const char *text_or_null(const char *s)
{
    return s && *s ? s : NULL;
}

static json_t *string_array(const char *const *items, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < count; i++)
        json_array_append_new(array, json_string(items[i]));
    return array;
}

static json_t *local_library_json(const ls_peer_ev_local_library_t *ev)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < ev->game_count; i++) {
        const ls_local_game_t *g = &ev->games[i];
        json_array_append_new(
            list,
            json_pack("{s:s,s:s,s:s?,s:s?,s:i,s:i,s:s?,s:b,s:b,s:I,s:I,s:s*}", "id", g->id, "name",
                      g->name, "description", text_or_null(g->description), "genre",
                      text_or_null(g->genre), "max_players", (int)g->max_players, "release_year",
                      (int)g->release_year, "version", g->version, "downloaded", g->is_downloaded,
                      "installed", g->is_installed, "size", (json_int_t)g->size, "file_count",
                      (json_int_t)g->file_count, "cover", text_or_null(g->cover)));
    }
    return json_pack("{s:I,s:s,s:o}", "rev", (json_int_t)ev->rev, "digest", ev->digest, "games",
                     list);
}

static json_t *remote_game_json(const ls_peer_ev_remote_game_t *g)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:s?,s:s?,s:s*}", "id", g->id, "name", g->name,
                     "latest_version", g->latest_version, "size", (json_int_t)g->size, "peer_count",
                     (json_int_t)g->peer_count, "peers", string_array(g->peers, g->peer_id_count),
                     "description", text_or_null(g->description), "genre", text_or_null(g->genre),
                     "cover", g->cover);
}

static json_t *list_games_json(const ls_peer_ev_list_games_t *ev)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < ev->game_count; i++)
        json_array_append_new(list, remote_game_json(&ev->games[i]));
    return json_pack("{s:o}", "games", list);
}

#define LS_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static int dump_text(json_dump_callback_t cb, void *data, const char *text)
{
    return cb(text, strlen(text), data);
}

/* {"games":[...]} one game at a time; a game json_pack refuses (a missing
 * string) is left out, as json_array_append_new leaves it out of the tree. */
static int list_games_dump(const ls_peer_ev_list_games_t *ev, json_dump_callback_t cb, void *data)
{
    int rc = dump_text(cb, data, "{\"games\":[");
    bool is_first = true;
    for (size_t i = 0; rc == 0 && i < ev->game_count; i++) {
        json_t *game = remote_game_json(&ev->games[i]);
        if (!game)
            continue;
        if (!is_first)
            rc = dump_text(cb, data, ",");
        if (rc == 0)
            rc = json_dump_callback(game, cb, data, LS_DUMP_FLAGS);
        is_first = false;
        json_decref(game);
    }
    return rc == 0 ? dump_text(cb, data, "]}") : -1;
}

static json_t *peer_json(ls_peer_event_kind_t kind, const ls_peer_ev_peer_t *ev)
{
    if (kind == LS_EVENT_PEER_LOST)
        return json_pack("{s:s,s:s,s:s}", "peer_id", ev->peer_id, "name", ev->name, "reason",
                         ev->reason);
    return json_pack("{s:s,s:s,s:s,s:I,s:b}", "peer_id", ev->peer_id, "name", ev->name, "address",
                     ev->address, "game_count", (json_int_t)ev->game_count, "relayed",
                     ev->is_relayed);
}

static json_t *download_progress_json(const ls_peer_ev_download_progress_t *ev)
{
    json_t *peers = json_array();
    for (size_t i = 0; peers && i < ev->peer_count; i++) {
        const ls_peer_ev_source_t *p = &ev->peers[i];
        json_array_append_new(peers, json_pack("{s:s,s:I,s:I,s:b,s:b,s:i,s:i}", "peer_id",
                                               p->peer_id, "bytes", (json_int_t)p->bytes,
                                               "rate_bps", (json_int_t)p->rate_bps, "active",
                                               p->is_active, "partial", p->is_partial, "window",
                                               (int)p->window, "latency_ms", (int)p->latency_ms));
    }
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "game_id", ev->game_id, "bytes_done",
                     (json_int_t)ev->bytes_done, "bytes_total", (json_int_t)ev->bytes_total,
                     "rate_bps", (json_int_t)ev->rate_bps, "from_seeders",
                     (json_int_t)ev->from_seeders, "from_downloaders",
                     (json_int_t)ev->from_downloaders, "peers", peers);
}

static json_t *download_failed_json(const ls_peer_ev_download_failed_t *ev)
{
    if (!ev->has_canceled)
        return json_pack("{s:s,s:s}", "game_id", ev->game_id, "reason", ev->reason);
    return json_pack("{s:s,s:s,s:b}", "game_id", ev->game_id, "reason", ev->reason, "canceled",
                     ev->is_canceled);
}

static json_t *install_json(const ls_peer_ev_install_t *ev)
{
    if (ev->op == 0)
        return json_pack("{s:s,s:s}", "game_id", ev->game_id, "reason", ev->reason);
    return json_pack("{s:s,s:s,s:s?}", "game_id", ev->game_id, "op", ls_install_op_name(ev->op),
                     "reason", ev->reason);
}

static json_t *failure_json(const ls_peer_ev_failure_t *ev)
{
    if (!ev->game_dir)
        return json_pack("{s:s,s:s}", "what", ev->what, "reason", ev->reason);
    return json_pack("{s:s,s:s,s:s}", "what", ev->what, "reason", ev->reason, "game_dir",
                     ev->game_dir);
}

static json_t *upload_json(const ls_peer_ev_upload_t *ev)
{
    json_t *games = json_array();
    for (size_t i = 0; games && i < ev->game_count; i++) {
        const ls_peer_ev_upload_game_t *g = &ev->games[i];
        json_array_append_new(games, json_pack("{s:s,s:I,s:I,s:i}", "game_id", g->game_id, "bytes",
                                               (json_int_t)g->bytes, "rate_bps",
                                               (json_int_t)g->rate_bps, "peers", (int)g->peers));
    }
    return json_pack("{s:I,s:o}", "rate_bps", (json_int_t)ev->rate_bps, "games", games);
}

static json_t *limits_json(const ls_peer_ev_limits_t *ev)
{
    return json_pack("{s:I,s:I,s:i,s:I,s:I,s:s?}", "max_upload", (json_int_t)ev->limits.max_upload,
                     "max_download", (json_int_t)ev->limits.max_download, "peer_upload_share",
                     (int)ev->limits.peer_upload_share, "playing_upload",
                     (json_int_t)ev->limits.playing_upload, "upload", (json_int_t)ev->upload,
                     "playing", ev->playing);
}

json_t *ls_peer_event_json(const ls_peer_event_t *event)
{
    const ls_peer_event_t *e = event;
    switch (e->kind) {
    case LS_EVENT_LOCAL_LIBRARY:
        return local_library_json(&e->u.local_library);
    case LS_EVENT_LIST_GAMES:
        return list_games_json(&e->u.list_games);
    case LS_EVENT_PEER_DISCOVERED:
    case LS_EVENT_PEER_LOST:
        return peer_json(e->kind, &e->u.peer);
    case LS_EVENT_PEER_COUNT:
        return json_pack("{s:I}", "count", (json_int_t)e->u.peer_count.count);
    case LS_EVENT_GOT_GAME_FILES:
        return json_pack("{s:s,s:s,s:I,s:I,s:o}", "game_id", e->u.game_files.game_id, "version",
                         e->u.game_files.version, "file_count",
                         (json_int_t)e->u.game_files.file_count, "size",
                         (json_int_t)e->u.game_files.size, "peers",
                         string_array(e->u.game_files.peers, e->u.game_files.peer_count));
    case LS_EVENT_DOWNLOAD_BEGIN:
        return json_pack("{s:s,s:s,s:I,s:I,s:I}", "game_id", e->u.download_begin.game_id, "version",
                         e->u.download_begin.version, "bytes_total",
                         (json_int_t)e->u.download_begin.bytes_total, "bytes_done",
                         (json_int_t)e->u.download_begin.bytes_done, "peers",
                         (json_int_t)e->u.download_begin.peer_count);
    case LS_EVENT_DOWNLOAD_PROGRESS:
        return download_progress_json(&e->u.download_progress);
    case LS_EVENT_DOWNLOAD_FINISHED:
        return json_pack("{s:s,s:s}", "game_id", e->u.download_finished.game_id, "version",
                         e->u.download_finished.version);
    case LS_EVENT_DOWNLOAD_FAILED:
        return download_failed_json(&e->u.download_failed);
    case LS_EVENT_INSTALL_BEGIN:
    case LS_EVENT_INSTALL_FINISHED:
    case LS_EVENT_INSTALL_FAILED:
    case LS_EVENT_UNINSTALL_BEGIN:
    case LS_EVENT_UNINSTALL_FINISHED:
    case LS_EVENT_UNINSTALL_FAILED:
        return install_json(&e->u.install);
    case LS_EVENT_INSTALL_PROGRESS:
        return json_pack("{s:s,s:s,s:I,s:I}", "game_id", e->u.install_progress.game_id, "op",
                         ls_install_op_name(e->u.install_progress.op), "done",
                         (json_int_t)e->u.install_progress.done, "total",
                         (json_int_t)e->u.install_progress.total);
    case LS_EVENT_RUNTIME_FAILURE:
        return failure_json(&e->u.failure);
    case LS_EVENT_READY:
        return json_pack("{s:s,s:i,s:I,s:b}", "peer_id", e->u.ready.peer_id, "port",
                         e->u.ready.port, "rev", (json_int_t)e->u.ready.rev, "mdns",
                         e->u.ready.has_mdns);
    case LS_EVENT_GAME_DIR_CHANGED:
        return json_pack("{s:s}", "game_dir", e->u.game_dir.game_dir);
    case LS_EVENT_UPLOAD_PROGRESS:
        return upload_json(&e->u.upload);
    case LS_EVENT_LIMITS:
        return limits_json(&e->u.limits);
    }
    return NULL;
}

int ls_peer_event_json_dump(const ls_peer_event_t *event, json_dump_callback_t cb, void *data)
{
    if (event->kind == LS_EVENT_LIST_GAMES)
        return list_games_dump(&event->u.list_games, cb, data);
    json_t *doc = ls_peer_event_json(event);
    int rc = doc ? json_dump_callback(doc, cb, data, LS_DUMP_FLAGS) : -1;
    json_decref(doc);
    return rc;
}
