/* The control API's state: folds runtime events into the documents the HTTP
 * API serves (games with their state, peers, status) and keeps recent events
 * in a ring for Server-Sent Events clients. */
#include "app/api_state.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LS_API_FAILURES_MAX 16

struct ls_api_state {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *game_dir;
    char *http_url;
    /* The lists of the last local-library and list-games events, each with
     * an index by id. Never changed once stored (an event replaces them
     * whole), so readers take references and build documents unlocked. */
    json_t *local;
    json_t *remote;
    json_t *local_by_id; /* id -> element of local */
    json_t *remote_by_id;
    json_t *peers;                 /* peer_id -> {peer_id, name, address, game_count} */
    json_t *ops;                   /* game_id -> {op, phase, progress, reason} */
    json_t *failures;              /* the last runtime-failure events, oldest first */
    json_t *ready;                 /* data of the ready event, or NULL */
    json_t *uploads;               /* data of the last upload-progress event, or NULL */
    json_t *limits;                /* data of the last limits event, or NULL */
    char *ring[LS_API_EVENT_RING]; /* SSE text of events first_seq..seq */
    size_t ring_len[LS_API_EVENT_RING];
    size_t ring_bytes;  /* their total, at most LS_API_EVENT_RING_BYTES */
    uint64_t seq;       /* sequence number of the newest event */
    uint64_t first_seq; /* of the oldest one kept; seq + 1 when none */
    bool is_closing;
};

int ls_api_state_new(const char *game_dir, ls_api_state_t **out)
{
    ls_api_state_t *st = calloc(1, sizeof *st);
    pthread_condattr_t attr;
    if (!st)
        return LS_ENOMEM;
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->changed, &attr);
    pthread_condattr_destroy(&attr);
    st->game_dir = game_dir ? strdup(game_dir) : NULL;
    st->local = json_array();
    st->remote = json_array();
    st->local_by_id = json_object();
    st->remote_by_id = json_object();
    st->peers = json_object();
    st->ops = json_object();
    st->failures = json_array();
    st->first_seq = 1;
    if (!st->local || !st->remote || !st->local_by_id || !st->remote_by_id || !st->peers ||
        !st->ops || !st->failures) {
        ls_api_state_free(st);
        return LS_ENOMEM;
    }
    *out = st;
    return 0;
}

void ls_api_state_free(ls_api_state_t *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < LS_API_EVENT_RING; i++)
        free(st->ring[i]);
    json_decref(st->local);
    json_decref(st->remote);
    json_decref(st->local_by_id);
    json_decref(st->remote_by_id);
    json_decref(st->peers);
    json_decref(st->ops);
    json_decref(st->failures);
    json_decref(st->ready);
    json_decref(st->uploads);
    json_decref(st->limits);
    free(st->game_dir);
    free(st->http_url);
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* --- folding events ------------------------------------------------------ */

static const char *event_game_id(const json_t *data)
{
    const char *id = json_string_value(json_object_get(data, "game_id"));
    return id ? id : json_string_value(json_object_get(data, "id"));
}

static void set_op(ls_api_state_t *st, const char *id, const char *op, const char *phase,
                   const char *reason)
{
    json_object_set_new(
        st->ops, id,
        json_pack("{s:s,s:s,s:s?,s:n}", "op", op, "phase", phase, "reason", reason, "progress"));
}

/* Runtime failures (a scan, the monitor, a refused game directory) are
 * kept for the status document; a game's own failures come as its
 * *-failed events. */
static void add_failure(ls_api_state_t *st, const json_t *data)
{
    json_array_append(st->failures, (json_t *)data);
    while (json_array_size(st->failures) > LS_API_FAILURES_MAX)
        json_array_remove(st->failures, 0);
}

/* A lifecycle event: which operation, and how far it got. peer.h lists
 * download and install events in the order BEGIN, PROGRESS, FINISHED,
 * FAILED, the order of ls_phase_t. */
typedef enum { PHASE_BEGIN, PHASE_PROGRESS, PHASE_FINISHED, PHASE_FAILED } ls_phase_t;

static bool lifecycle_of(ls_peer_event_kind_t kind, const char **op, ls_phase_t *phase)
{
    switch (kind) {
    case LS_EVENT_DOWNLOAD_BEGIN:
    case LS_EVENT_DOWNLOAD_PROGRESS:
    case LS_EVENT_DOWNLOAD_FINISHED:
    case LS_EVENT_DOWNLOAD_FAILED:
        *op = "download";
        *phase = (ls_phase_t)(kind - LS_EVENT_DOWNLOAD_BEGIN);
        return true;
    case LS_EVENT_INSTALL_BEGIN:
    case LS_EVENT_INSTALL_PROGRESS:
    case LS_EVENT_INSTALL_FINISHED:
    case LS_EVENT_INSTALL_FAILED:
        *op = "install";
        *phase = (ls_phase_t)(kind - LS_EVENT_INSTALL_BEGIN);
        return true;
    case LS_EVENT_UNINSTALL_BEGIN:
        *op = "uninstall";
        *phase = PHASE_BEGIN;
        return true;
    case LS_EVENT_UNINSTALL_FINISHED:
        *op = "uninstall";
        *phase = PHASE_FINISHED;
        return true;
    case LS_EVENT_UNINSTALL_FAILED:
        *op = "uninstall";
        *phase = PHASE_FAILED;
        return true;
    default:
        return false;
    }
}

static void apply_lifecycle(ls_api_state_t *st, const char *op, ls_phase_t phase,
                            const json_t *data)
{
    const char *id = event_game_id(data);
    if (!id)
        return;
    if (phase == PHASE_FINISHED) {
        json_object_del(st->ops, id);
    } else if (phase == PHASE_FAILED && json_is_true(json_object_get(data, "canceled"))) {
        json_object_del(st->ops, id); /* back to what is on disk */
    } else if (phase == PHASE_FAILED) {
        const char *reason = json_string_value(json_object_get(data, "reason"));
        if (!reason)
            reason = json_string_value(json_object_get(data, "error"));
        set_op(st, id, op, "failed", reason ? reason : "failed");
    } else if (phase == PHASE_BEGIN) {
        set_op(st, id, op, "running", NULL);
    } else {
        json_t *entry = json_object_get(st->ops, id);
        if (!entry) {
            set_op(st, id, op, "running", NULL);
            entry = json_object_get(st->ops, id);
        }
        json_object_set_new(entry, "progress", json_deep_copy(data));
    }
}

static void apply_peer(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data)
{
    const char *id = json_string_value(json_object_get(data, "peer_id"));
    if (!id)
        return;
    if (kind == LS_EVENT_PEER_DISCOVERED)
        json_object_set_new(st->peers, id, json_deep_copy(data));
    else
        json_object_del(st->peers, id);
}

/* A game list and its index by id, built before the lock is taken. */
typedef struct {
    json_t *games;
    json_t *by_id;
} ls__list_t;

static bool is_list_event(ls_peer_event_kind_t kind)
{
    return kind == LS_EVENT_LOCAL_LIBRARY || kind == LS_EVENT_LIST_GAMES;
}

static ls__list_t list_of(const json_t *data)
{
    json_t *games = json_object_get(data, "games");
    ls__list_t list = {.games = json_is_array(games) ? json_incref(games) : json_array(),
                       .by_id = json_object()};
    size_t i;
    json_t *g;
    json_array_foreach(list.games, i, g)
    {
        const char *id = json_string_value(json_object_get(g, "id"));
        if (id && list.by_id)
            json_object_set(list.by_id, id, g);
    }
    return list;
}

static void swap_list(json_t **games, json_t **by_id, ls__list_t *list)
{
    if (!list->games || !list->by_id)
        return; /* out of memory: the previous list stays */
    json_decref(*games);
    json_decref(*by_id);
    *games = list->games;
    *by_id = list->by_id;
    *list = (ls__list_t){.games = NULL, .by_id = NULL};
}

static void apply_locked(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data,
                         ls__list_t *list)
{
    const char *op;
    ls_phase_t phase;
    switch (kind) {
    case LS_EVENT_LOCAL_LIBRARY:
        swap_list(&st->local, &st->local_by_id, list);
        break;
    case LS_EVENT_LIST_GAMES:
        swap_list(&st->remote, &st->remote_by_id, list);
        break;
    case LS_EVENT_PEER_DISCOVERED:
    case LS_EVENT_PEER_LOST:
        apply_peer(st, kind, data);
        break;
    case LS_EVENT_READY:
        json_decref(st->ready);
        st->ready = json_deep_copy(data);
        break;
    case LS_EVENT_RUNTIME_FAILURE:
        add_failure(st, data);
        break;
    case LS_EVENT_UPLOAD_PROGRESS:
        json_decref(st->uploads);
        st->uploads = json_deep_copy(data);
        break;
    case LS_EVENT_LIMITS:
        json_decref(st->limits);
        st->limits = json_deep_copy(data);
        break;
    case LS_EVENT_GAME_DIR_CHANGED: {
        const char *dir = json_string_value(json_object_get(data, "game_dir"));
        char *copy = dir ? strdup(dir) : NULL;
        if (copy) {
            free(st->game_dir);
            st->game_dir = copy;
        }
        break;
    }
    default:
        if (lifecycle_of(kind, &op, &phase))
            apply_lifecycle(st, op, phase, data);
        break;
    }
}

static const char ls__resync_text[] = "event: resync\ndata: {}\n\n";

static void ring_drop_oldest_locked(ls_api_state_t *st)
{
    size_t slot = st->first_seq % LS_API_EVENT_RING;
    free(st->ring[slot]);
    st->ring[slot] = NULL;
    st->ring_bytes -= st->ring_len[slot];
    st->first_seq++;
}

/* Keeps the event's SSE text, dropping the oldest until both the slot and
 * the byte bounds hold. A client whose next event was dropped resyncs. */
static void ring_push_locked(ls_api_state_t *st, const char *event, const json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    char *line = text ? ls_strdup_printf("event: %s\ndata: %s\n\n", event, text) : NULL;
    free(text);
    if (line && strlen(line) > LS_API_EVENT_BYTES_MAX) {
        free(line);
        line = strdup(ls__resync_text);
    }
    if (!line)
        return;
    size_t len = strlen(line);
    while (st->first_seq <= st->seq && (st->seq - st->first_seq + 1 >= LS_API_EVENT_RING ||
                                        st->ring_bytes + len > LS_API_EVENT_RING_BYTES))
        ring_drop_oldest_locked(st);
    st->seq++;
    st->ring[st->seq % LS_API_EVENT_RING] = line;
    st->ring_len[st->seq % LS_API_EVENT_RING] = len;
    st->ring_bytes += len;
}

/* What the stream says of a new game list: that it changed, and the
 * counts; clients read the list with GET /api/games. */
static void ring_push_games_changed_locked(ls_api_state_t *st)
{
    json_t *data = json_pack("{s:I,s:I}", "local_games", (json_int_t)json_array_size(st->local),
                             "remote_games", (json_int_t)json_array_size(st->remote));
    if (data)
        ring_push_locked(st, "games-changed", data);
    json_decref(data);
}

void ls_api_state_apply_json(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data)
{
    ls__list_t list = {.games = NULL, .by_id = NULL};
    if (is_list_event(kind))
        list = list_of(data); /* O(games), outside the lock */
    pthread_mutex_lock(&st->lock);
    apply_locked(st, kind, data, &list);
    if (is_list_event(kind))
        ring_push_games_changed_locked(st);
    else
        ring_push_locked(st, ls_peer_event_name(kind), data);
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    json_decref(list.games); /* NULL unless the swap failed */
    json_decref(list.by_id);
}

void ls_api_state_apply(ls_api_state_t *st, const ls_peer_event_t *event)
{
    json_t *data = ls_peer_event_json(event);
    if (!data)
        return;
    ls_api_state_apply_json(st, event->kind, data);
    json_decref(data);
}

size_t ls_api_state_ring_bytes(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    size_t bytes = st->ring_bytes;
    pthread_mutex_unlock(&st->lock);
    return bytes;
}

int ls_api_state_request(ls_api_state_t *st, const char *game_id, const char *op,
                         const char **running)
{
    static const char *const names[] = {"download", "update", "install", "uninstall"};
    json_t *data = json_pack("{s:s,s:s}", "game_id", game_id, "op", op);
    int rc = 0;
    *running = NULL;
    pthread_mutex_lock(&st->lock);
    json_t *current = json_object_get(st->ops, game_id);
    const char *phase = json_string_value(json_object_get(current, "phase"));
    const char *kind = json_string_value(json_object_get(current, "op"));
    if (phase && strcmp(phase, "failed") != 0) {
        rc = LS_EBUSY;
        *running = "operation";
        for (size_t i = 0; kind && i < sizeof names / sizeof names[0]; i++)
            if (strcmp(kind, names[i]) == 0)
                *running = names[i];
    } else {
        set_op(st, game_id, op, "requested", NULL);
        ring_push_locked(st, "request", data);
        pthread_cond_broadcast(&st->changed);
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(data);
    return rc;
}

void ls_api_state_set_http(ls_api_state_t *st, const char *url)
{
    pthread_mutex_lock(&st->lock);
    free(st->http_url);
    st->http_url = strdup(url);
    pthread_mutex_unlock(&st->lock);
}

bool ls_api_state_is_busy(ls_api_state_t *st)
{
    const char *id;
    json_t *op;
    bool busy = false;
    pthread_mutex_lock(&st->lock);
    json_object_foreach(st->ops, id, op)
    {
        const char *phase = json_string_value(json_object_get(op, "phase"));
        busy |= phase && strcmp(phase, "failed") != 0;
    }
    pthread_mutex_unlock(&st->lock);
    return busy;
}

/* --- documents ------------------------------------------------------------ */

/* What the documents are built from, taken under the lock and read without
 * it: references to the lists and their indexes (never changed once
 * stored), copies of the small objects that change in place. */
typedef struct {
    json_t *local, *remote;
    json_t *local_by_id, *remote_by_id;
    json_t *ops;   /* copy */
    json_t *peers; /* copy */
} ls__view_t;

static ls__view_t view_take(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    ls__view_t v = {.local = json_incref(st->local),
                    .remote = json_incref(st->remote),
                    .local_by_id = json_incref(st->local_by_id),
                    .remote_by_id = json_incref(st->remote_by_id),
                    .ops = json_deep_copy(st->ops),
                    .peers = json_deep_copy(st->peers)};
    pthread_mutex_unlock(&st->lock);
    return v;
}

static void view_release(ls__view_t *v)
{
    json_decref(v->local);
    json_decref(v->remote);
    json_decref(v->local_by_id);
    json_decref(v->remote_by_id);
    json_decref(v->ops);
    json_decref(v->peers);
}

/* The names of the peers that hold a game, for people; ids for scripts. */
static json_t *peer_names(const ls__view_t *v, const json_t *ids)
{
    json_t *names = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *peer = json_object_get(v->peers, json_string_value(id));
        json_t *name = json_object_get(peer, "name");
        json_array_append(names, name ? name : id);
    }
    return names;
}

static bool is_newer(const char *latest, const char *local)
{
    return latest && local && strverscmp(latest, local) > 0;
}

static const char *game_state(const json_t *local, const json_t *remote, const json_t *op)
{
    const char *phase = json_string_value(json_object_get(op, "phase"));
    const char *kind = json_string_value(json_object_get(op, "op"));
    if (phase && strcmp(phase, "failed") == 0)
        return "failed";
    if (phase && kind) {
        if (strcmp(kind, "download") == 0 || strcmp(kind, "update") == 0)
            return strcmp(phase, "running") == 0 ? "downloading" : "requested";
        if (strcmp(kind, "install") == 0)
            return "installing";
        if (strcmp(kind, "uninstall") == 0)
            return "uninstalling";
    }
    if (local && json_is_true(json_object_get(local, "installed"))) {
        const char *v = json_string_value(json_object_get(local, "version"));
        const char *latest = json_string_value(json_object_get(remote, "latest_version"));
        return is_newer(latest, v) ? "update-available" : "installed";
    }
    if (local && json_is_true(json_object_get(local, "downloaded")))
        return "downloaded";
    return remote ? "remote" : "local";
}

/* Catalog text comes with the events, so it follows the runtime's catalog
 * reloads: the local library's entry first, else what this peer's catalog
 * says of a remote title. */
static json_t *catalog_text(const json_t *local, const json_t *remote, const char *key)
{
    json_t *text = json_object_get(local, key);
    if (!json_is_string(text))
        text = json_object_get(remote, key);
    return json_is_string(text) ? text : json_null();
}

static json_t *game_view(const ls__view_t *v, const char *id)
{
    json_t *local = json_object_get(v->local_by_id, id);
    json_t *remote = json_object_get(v->remote_by_id, id);
    json_t *op = json_object_get(v->ops, id);
    json_t *src = local ? local : remote;
    json_t *ids = json_object_get(remote, "peers");
    json_t *size = json_object_get(src, "size");
    if (!local && !remote)
        return NULL;
    return json_pack(
        "{s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:o,s:O,s:I,s:b,s:b,s:s,s:O,s:O?,s:O}", "id", id, "name",
        json_object_get(src, "name"), "description", catalog_text(local, remote, "description"),
        "genre", catalog_text(local, remote, "genre"), "size", size ? size : json_null(), "version",
        local && json_object_get(local, "version") ? json_object_get(local, "version")
                                                   : json_null(),
        "latest_version", remote ? json_object_get(remote, "latest_version") : json_null(), "peers",
        ids ? peer_names(v, ids) : json_array(), "peer_ids", ids ? ids : json_null(), "peer_count",
        (json_int_t)json_integer_value(json_object_get(remote, "peer_count")), "downloaded",
        local && json_is_true(json_object_get(local, "downloaded")), "installed",
        local && json_is_true(json_object_get(local, "installed")), "state",
        game_state(local, remote, op), "operation", op ? op : json_null(), "reason",
        json_object_get(op, "reason"), "cover", catalog_text(local, remote, "cover"));
}

/* Local games first, then remote ones not local, each list in its order. */
static void add_views(const ls__view_t *v, json_t *list, json_t *games, json_t *skip_by_id)
{
    size_t i;
    json_t *g;
    json_array_foreach(list, i, g)
    {
        const char *id = json_string_value(json_object_get(g, "id"));
        json_t *view = id && !json_object_get(skip_by_id, id) ? game_view(v, id) : NULL;
        if (view)
            json_array_append_new(games, view);
    }
}

json_t *ls_api_state_games(ls_api_state_t *st)
{
    ls__view_t v = view_take(st);
    json_t *games = json_array();
    add_views(&v, v.local, games, NULL);
    add_views(&v, v.remote, games, v.local_by_id);
    view_release(&v);
    return json_pack("{s:o}", "games", games);
}

json_t *ls_api_state_game(ls_api_state_t *st, const char *game_id)
{
    ls__view_t v = view_take(st);
    json_t *view = game_view(&v, game_id);
    view_release(&v);
    return view;
}

json_t *ls_api_state_local_index(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    json_t *index = json_incref(st->local_by_id);
    pthread_mutex_unlock(&st->lock);
    return index;
}

/* How many titles each peer seeds: one pass over the remote list. */
static json_t *games_per_peer(const ls__view_t *v)
{
    json_t *counts = json_object();
    size_t i, j;
    json_t *g, *id;
    json_array_foreach(v->remote, i, g) json_array_foreach(json_object_get(g, "peers"), j, id)
    {
        const char *peer = json_string_value(id);
        if (peer)
            json_object_set_new(
                counts, peer, json_integer(json_integer_value(json_object_get(counts, peer)) + 1));
    }
    return counts;
}

json_t *ls_api_state_peers(ls_api_state_t *st)
{
    ls__view_t v = view_take(st);
    json_t *counts = games_per_peer(&v);
    json_t *list = json_array();
    const char *id;
    json_t *peer;
    json_object_foreach(v.peers, id, peer)
    {
        json_t *copy = json_deep_copy(peer);
        json_object_set_new(copy, "game_count",
                            json_integer(json_integer_value(json_object_get(counts, id))));
        json_array_append_new(list, copy);
    }
    json_decref(counts);
    view_release(&v);
    return json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(list), "peers", list);
}

/* {game_id} of the game running here, or null. */
static json_t *playing_of(const json_t *limits)
{
    const char *id = json_string_value(json_object_get(limits, "playing"));
    return id ? json_pack("{s:s}", "game_id", id) : json_null();
}

json_t *ls_api_state_status(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    json_t *status = json_pack(
        "{s:s,s:b,s:O?,s:O?,s:s?,s:s?,s:I,s:I,s:I,s:o,s:o,s:o?,s:o}", "version", "0.1.0", "ready",
        st->ready != NULL, "peer_id", json_object_get(st->ready, "peer_id"), "port",
        json_object_get(st->ready, "port"), "game_dir", st->game_dir, "http", st->http_url,
        "peer_count", (json_int_t)json_object_size(st->peers), "local_games",
        (json_int_t)json_array_size(st->local), "remote_games",
        (json_int_t)json_array_size(st->remote), "failures", json_deep_copy(st->failures),
        "uploads",
        st->uploads ? json_deep_copy(st->uploads) : json_pack("{s:i,s:[]}", "rate_bps", 0, "games"),
        "limits", json_deep_copy(st->limits), "playing", playing_of(st->limits));
    pthread_mutex_unlock(&st->lock);
    return status;
}

json_t *ls_api_state_limits(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    json_t *limits = json_deep_copy(st->limits);
    pthread_mutex_unlock(&st->lock);
    return limits;
}

/* --- event stream ----------------------------------------------------------- */

uint64_t ls_api_state_cursor(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    uint64_t seq = st->seq;
    pthread_mutex_unlock(&st->lock);
    return seq;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int ls_api_state_next_event(ls_api_state_t *st, uint64_t *cursor, int timeout_ms, char **out)
{
    struct timespec deadline;
    int result = 0;
    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&st->lock);
    while (!st->is_closing && st->seq == *cursor)
        if (pthread_cond_timedwait(&st->changed, &st->lock, &deadline) != 0)
            break;
    if (st->is_closing) {
        result = -1;
    } else if (st->seq != *cursor && *cursor + 1 < st->first_seq) {
        *out = strdup(ls__resync_text); /* its next event was dropped */
        *cursor = st->seq;
        result = *out ? 1 : 0;
    } else if (st->seq != *cursor) {
        *cursor += 1;
        *out = strdup(st->ring[*cursor % LS_API_EVENT_RING]);
        result = *out ? 1 : 0;
    }
    pthread_mutex_unlock(&st->lock);
    return result;
}

void ls_api_state_close(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    st->is_closing = true;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
}
