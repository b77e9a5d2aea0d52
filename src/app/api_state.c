/* The control API's state: folds runtime events into the documents the HTTP
 * API serves (games with their state, peers, status) and keeps recent events
 * in a ring for Server-Sent Events clients. */
#include "app/api_state.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/strmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LS_API_FAILURES_MAX 16

/* The remote game list as the runtime sent it, in one block per kind: the
 * games, their peer id arrays and every string. A jansson tree of the same
 * list costs about 1.7 KiB a game (17 MiB for a peer announcing 10,000);
 * this is the strings plus 72 bytes. Immutable once built: readers share
 * it by reference count and read it without the lock. */
typedef struct {
    atomic_size_t refs;
    ls_peer_ev_remote_game_t *games; /* pointers into peer_ids and text */
    size_t count;
    const char **peer_ids;
    char *text;
    ls_strmap_t by_id; /* id -> index in games; only read once built */
} ls__remote_list_t;

struct ls_api_state {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *game_dir;
    char *http_url;
    /* The lists of the last local-library and list-games events, each with
     * an index by id. Never changed once stored (an event replaces them
     * whole), so readers take references and build documents unlocked. The
     * local library is the event's JSON; the remote list, which a peer
     * fills (LS_SNAPSHOT_GAMES_MAX titles), is a compact copy. */
    json_t *local;
    json_t *local_by_id; /* id -> element of local */
    ls__remote_list_t *remote;
    json_t *peers; /* peer_id -> {peer_id, name, address, game_count} */
    json_t *ops;   /* game_id -> {op, phase, progress, reason} */
    /* game_id -> {name, size, latest_version, description, genre, cover}:
     * what the network said of a game when an operation on it was asked
     * for, kept while the operation lasts, so a download whose seeders all
     * left stays listed ("waiting for peers", then failed with its kept
     * bytes) instead of vanishing. At most one per entry of ops. */
    json_t *gone;
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

/* --- the remote list ------------------------------------------------------ */

static void remote_list_release(ls__remote_list_t *list)
{
    if (!list || atomic_fetch_sub(&list->refs, 1) != 1)
        return;
    ls_strmap_free(&list->by_id);
    free(list->games);
    free(list->peer_ids);
    free(list->text);
    free(list);
}

static ls__remote_list_t *remote_list_ref(ls__remote_list_t *list)
{
    atomic_fetch_add(&list->refs, 1);
    return list;
}

/* A game the list can show: the strings json_pack needs (a game missing
 * one was left out of the event's JSON too). */
static bool remote_is_whole(const ls_peer_ev_remote_game_t *g)
{
    bool whole = g->id && g->name && g->latest_version;
    for (size_t j = 0; whole && j < g->peer_id_count; j++)
        whole = g->peers[j] != NULL;
    return whole;
}

/* Catalog text: none rather than "" (the documents show null). */
static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static size_t text_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *text_copy(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*at, s, n);
    *at += n;
    return copy;
}

/* A compact copy of the games (two passes: sizes, then copies into three
 * blocks) with its index; NULL when memory ran out. */
static ls__remote_list_t *remote_list_new(const ls_peer_ev_remote_game_t *games, size_t count)
{
    size_t text_bytes = 1, peer_total = 0, kept = 0;
    for (size_t i = 0; i < count; i++) {
        const ls_peer_ev_remote_game_t *g = &games[i];
        if (!remote_is_whole(g))
            continue;
        kept++;
        peer_total += g->peer_id_count;
        text_bytes += text_size(g->id) + text_size(g->name) + text_size(g->latest_version) +
                      text_size(nonempty(g->description)) + text_size(nonempty(g->genre)) +
                      text_size(g->cover);
        for (size_t j = 0; j < g->peer_id_count; j++)
            text_bytes += text_size(g->peers[j]);
    }
    ls__remote_list_t *list = calloc(1, sizeof *list);
    if (!list)
        return NULL;
    atomic_init(&list->refs, 1);
    list->by_id = LS_STRMAP_INIT;
    list->games = calloc(kept ? kept : 1, sizeof *list->games);
    list->peer_ids = calloc(peer_total ? peer_total : 1, sizeof *list->peer_ids);
    list->text = malloc(text_bytes);
    if (!list->games || !list->peer_ids || !list->text || ls_strmap_reserve(&list->by_id, kept)) {
        remote_list_release(list);
        return NULL;
    }
    char *at = list->text;
    const char **ids = list->peer_ids;
    for (size_t i = 0; i < count; i++) {
        const ls_peer_ev_remote_game_t *g = &games[i];
        if (!remote_is_whole(g))
            continue;
        for (size_t j = 0; j < g->peer_id_count; j++)
            ids[j] = text_copy(&at, g->peers[j]);
        list->games[list->count] = (ls_peer_ev_remote_game_t){
            .id = text_copy(&at, g->id),
            .name = text_copy(&at, g->name),
            .latest_version = text_copy(&at, g->latest_version),
            .size = g->size,
            .peer_count = g->peer_count,
            .peers = ids,
            .peer_id_count = g->peer_id_count,
            .description = text_copy(&at, nonempty(g->description)),
            .genre = text_copy(&at, nonempty(g->genre)),
            .cover = text_copy(&at, g->cover),
        };
        ids += g->peer_id_count;
        /* reserved above: cannot fail; a repeated id names its last game */
        ls_strmap_put(&list->by_id, list->games[list->count].id, list->count, true, NULL);
        list->count++;
    }
    return list;
}

static const ls_peer_ev_remote_game_t *remote_find(const ls__remote_list_t *list, const char *id)
{
    size_t i;
    return ls_strmap_get(&list->by_id, id, &i) ? &list->games[i] : NULL;
}

/* A list-games event given as JSON (tests, tools): read into the event's
 * typed form, borrowing the strings, then copied like the runtime's. */
static ls__remote_list_t *remote_list_of_json(const json_t *data)
{
    const json_t *array = json_object_get(data, "games");
    size_t count = json_array_size(array), peer_total = 0, i, j;
    json_t *g, *id;
    json_array_foreach(array, i, g) peer_total += json_array_size(json_object_get(g, "peers"));
    ls_peer_ev_remote_game_t *games = calloc(count ? count : 1, sizeof *games);
    const char **peers = calloc(peer_total ? peer_total : 1, sizeof *peers);
    ls__remote_list_t *list = NULL;
    if (games && peers) {
        const char **at = peers;
        json_array_foreach(array, i, g)
        {
            json_t *ids = json_object_get(g, "peers");
            json_array_foreach(ids, j, id) at[j] = json_string_value(id);
            games[i] = (ls_peer_ev_remote_game_t){
                .id = json_string_value(json_object_get(g, "id")),
                .name = json_string_value(json_object_get(g, "name")),
                .latest_version = json_string_value(json_object_get(g, "latest_version")),
                .size = (uint64_t)json_integer_value(json_object_get(g, "size")),
                .peer_count = (size_t)json_integer_value(json_object_get(g, "peer_count")),
                .peers = at,
                .peer_id_count = json_array_size(ids),
                .description = json_string_value(json_object_get(g, "description")),
                .genre = json_string_value(json_object_get(g, "genre")),
                .cover = json_string_value(json_object_get(g, "cover")),
            };
            at += json_array_size(ids);
        }
        list = remote_list_new(games, count);
    }
    free(games);
    free(peers);
    return list;
}

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
    st->local_by_id = json_object();
    st->remote = remote_list_new(NULL, 0);
    st->peers = json_object();
    st->ops = json_object();
    st->gone = json_object();
    st->failures = json_array();
    st->first_seq = 1;
    if (!st->local || !st->remote || !st->local_by_id || !st->peers || !st->ops || !st->gone ||
        !st->failures) {
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
    json_decref(st->local_by_id);
    remote_list_release(st->remote);
    json_decref(st->peers);
    json_decref(st->ops);
    json_decref(st->gone);
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
        json_object_del(st->gone, id);
    } else if (phase == PHASE_FAILED && json_is_true(json_object_get(data, "canceled"))) {
        json_object_del(st->ops, id); /* back to what is on disk */
        json_object_del(st->gone, id);
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

/* A new list, built before the lock is taken: the local library's JSON
 * and its index by id, or the remote list's compact copy. */
typedef struct {
    json_t *games;
    json_t *by_id;
    ls__remote_list_t *remote;
} ls__list_t;

static bool is_list_event(ls_peer_event_kind_t kind)
{
    return kind == LS_EVENT_LOCAL_LIBRARY || kind == LS_EVENT_LIST_GAMES;
}

static ls__list_t local_list_of(const json_t *data)
{
    json_t *games = json_object_get(data, "games");
    ls__list_t list = {.games = json_is_array(games) ? json_incref(games) : json_array(),
                       .by_id = json_object(),
                       .remote = NULL};
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

static void swap_local(ls_api_state_t *st, ls__list_t *list)
{
    if (!list->games || !list->by_id)
        return; /* out of memory: the previous list stays */
    json_decref(st->local);
    json_decref(st->local_by_id);
    st->local = list->games;
    st->local_by_id = list->by_id;
    list->games = NULL;
    list->by_id = NULL;
}

/* The old remote list goes back in *list, released after the lock. */
static void swap_remote(ls_api_state_t *st, ls__list_t *list)
{
    if (!list->remote)
        return; /* out of memory: the previous list stays */
    ls__remote_list_t *old = st->remote;
    st->remote = list->remote;
    list->remote = old;
}

static void list_release(ls__list_t *list)
{
    json_decref(list->games); /* NULL unless the swap failed */
    json_decref(list->by_id);
    remote_list_release(list->remote);
}

static void apply_locked(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data,
                         ls__list_t *list)
{
    const char *op;
    ls_phase_t phase;
    switch (kind) {
    case LS_EVENT_LOCAL_LIBRARY:
        swap_local(st, list);
        break;
    case LS_EVENT_LIST_GAMES:
        swap_remote(st, list);
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
                             "remote_games", (json_int_t)st->remote->count);
    if (data)
        ring_push_locked(st, "games-changed", data);
    json_decref(data);
}

/* Folds an event whose new list (if it is a list event) is built. */
static void apply_with_list(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data,
                            ls__list_t *list)
{
    pthread_mutex_lock(&st->lock);
    apply_locked(st, kind, data, list);
    if (is_list_event(kind))
        ring_push_games_changed_locked(st);
    else
        ring_push_locked(st, ls_peer_event_name(kind), data);
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    list_release(list); /* the list replaced, or the new one if it was not */
}

void ls_api_state_apply_json(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data)
{
    ls__list_t list = {.games = NULL, .by_id = NULL, .remote = NULL};
    if (kind == LS_EVENT_LOCAL_LIBRARY)
        list = local_list_of(data); /* O(games), outside the lock */
    else if (kind == LS_EVENT_LIST_GAMES)
        list.remote = remote_list_of_json(data);
    apply_with_list(st, kind, data, &list);
}

/* A game list is copied from the typed event, never made a JSON tree. */
void ls_api_state_apply(ls_api_state_t *st, const ls_peer_event_t *event)
{
    if (event->kind == LS_EVENT_LIST_GAMES) {
        const ls_peer_ev_list_games_t *ev = &event->u.list_games;
        ls__list_t list = {
            .games = NULL, .by_id = NULL, .remote = remote_list_new(ev->games, ev->game_count)};
        apply_with_list(st, event->kind, NULL, &list);
        return;
    }
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

/* Under the lock: st->gone[id] from the remote list, when it has the game. */
static void remember_remote(ls_api_state_t *st, const char *id)
{
    const ls_peer_ev_remote_game_t *g = remote_find(st->remote, id);
    if (g)
        json_object_set_new(st->gone, id,
                            json_pack("{s:s,s:I,s:s,s:s?,s:s?,s:s?}", "name", g->name, "size",
                                      (json_int_t)g->size, "latest_version", g->latest_version,
                                      "description", g->description, "genre", g->genre, "cover",
                                      g->cover));
}

/* The operation a stored op entry holds as requested or running (a static
 * name), or NULL: none, or one that failed. Under the lock. */
static const char *op_running_locked(ls_api_state_t *st, const char *game_id)
{
    static const char *const names[] = {"download", "update", "install", "uninstall"};
    json_t *current = json_object_get(st->ops, game_id);
    const char *phase = json_string_value(json_object_get(current, "phase"));
    const char *kind = json_string_value(json_object_get(current, "op"));
    if (!phase || strcmp(phase, "failed") == 0)
        return NULL;
    for (size_t i = 0; kind && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(kind, names[i]) == 0)
            return names[i];
    return "operation";
}

int ls_api_state_request(ls_api_state_t *st, const char *game_id, const char *op,
                         const char **running)
{
    json_t *data = json_pack("{s:s,s:s}", "game_id", game_id, "op", op);
    int rc = 0;
    pthread_mutex_lock(&st->lock);
    *running = op_running_locked(st, game_id);
    if (*running) {
        rc = LS_EBUSY;
    } else {
        set_op(st, game_id, op, "requested", NULL);
        remember_remote(st, game_id);
        ring_push_locked(st, "request", data);
        pthread_cond_broadcast(&st->changed);
    }
    pthread_mutex_unlock(&st->lock);
    json_decref(data);
    return rc;
}

const char *ls_api_state_running(ls_api_state_t *st, const char *game_id)
{
    pthread_mutex_lock(&st->lock);
    const char *running = op_running_locked(st, game_id);
    pthread_mutex_unlock(&st->lock);
    return running;
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
    json_t *local, *local_by_id;
    ls__remote_list_t *remote;
    json_t *ops;   /* copy */
    json_t *gone;  /* copy */
    json_t *peers; /* copy */
} ls__view_t;

static ls__view_t view_take(ls_api_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    ls__view_t v = {.local = json_incref(st->local),
                    .local_by_id = json_incref(st->local_by_id),
                    .remote = remote_list_ref(st->remote),
                    .ops = json_deep_copy(st->ops),
                    .gone = json_deep_copy(st->gone),
                    .peers = json_deep_copy(st->peers)};
    pthread_mutex_unlock(&st->lock);
    return v;
}

static void view_release(ls__view_t *v)
{
    json_decref(v->local);
    json_decref(v->local_by_id);
    remote_list_release(v->remote);
    json_decref(v->ops);
    json_decref(v->gone);
    json_decref(v->peers);
}

/* The ids of the peers that hold a game (for scripts), and their names
 * (for people). */
static json_t *peer_ids(const ls_peer_ev_remote_game_t *remote)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < remote->peer_id_count; i++)
        json_array_append_new(ids, json_string(remote->peers[i]));
    return ids;
}

static json_t *peer_names(const ls__view_t *v, const ls_peer_ev_remote_game_t *remote)
{
    json_t *names = json_array();
    for (size_t i = 0; names && remote && i < remote->peer_id_count; i++) {
        json_t *name = json_object_get(json_object_get(v->peers, remote->peers[i]), "name");
        json_array_append_new(names, name ? json_incref(name) : json_string(remote->peers[i]));
    }
    return names;
}

static bool is_newer(const char *latest, const char *local)
{
    return latest && local && strverscmp(latest, local) > 0;
}

static const char *game_state(const json_t *local, const ls_peer_ev_remote_game_t *remote,
                              const json_t *op)
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
        return is_newer(remote ? remote->latest_version : NULL, v) ? "update-available"
                                                                   : "installed";
    }
    if (local && json_is_true(json_object_get(local, "downloaded")))
        return "downloaded";
    return remote ? "remote" : "local";
}

/* Catalog text comes with the events, so it follows the runtime's catalog
 * reloads: the local library's entry first, else what this peer's catalog
 * says of a remote title. */
static json_t *catalog_text(const json_t *local, const char *remote_text, const char *key)
{
    json_t *text = json_object_get(local, key);
    if (json_is_string(text))
        return json_incref(text);
    return remote_text ? json_string(remote_text) : json_null();
}

static json_t *game_view(const ls__view_t *v, const char *id)
{
    json_t *local = json_object_get(v->local_by_id, id);
    const ls_peer_ev_remote_game_t *remote = remote_find(v->remote, id);
    json_t *op = json_object_get(v->ops, id);
    json_t *version = json_object_get(local, "version");
    json_t *gone = op ? json_object_get(v->gone, id) : NULL;
    /* a game no peer lists any more, while its operation lasts: what the
     * network last said of it, with no peer */
    ls_peer_ev_remote_game_t last = {
        .id = id,
        .name = json_string_value(json_object_get(gone, "name")),
        .latest_version = json_string_value(json_object_get(gone, "latest_version")),
        .size = (uint64_t)json_integer_value(json_object_get(gone, "size")),
        .description = json_string_value(json_object_get(gone, "description")),
        .genre = json_string_value(json_object_get(gone, "genre")),
        .cover = json_string_value(json_object_get(gone, "cover")),
    };
    const ls_peer_ev_remote_game_t *said = remote ? remote : gone && last.name ? &last : NULL;
    if (!local && !said)
        return NULL;
    json_t *name = local ? json_incref(json_object_get(local, "name")) : json_string(said->name);
    /* a folder not downloaded yet (a stopped download's kept files) has the
     * size the network announces, not what is on disk so far */
    bool is_whole = local && (json_is_true(json_object_get(local, "downloaded")) || !said);
    json_t *size = is_whole ? json_incref(json_object_get(local, "size"))
                            : json_integer((json_int_t)said->size);
    return json_pack("{s:s,s:o?,s:o,s:o,s:o?,s:O?,s:s?,s:o,s:o?,s:I,s:b,s:b,s:s,s:O?,s:O?,s:o}",
                     "id", id, "name", name, "description",
                     catalog_text(local, said ? said->description : NULL, "description"), "genre",
                     catalog_text(local, said ? said->genre : NULL, "genre"), "size", size,
                     "version", version, "latest_version", said ? said->latest_version : NULL,
                     "peers", peer_names(v, remote), "peer_ids", remote ? peer_ids(remote) : NULL,
                     "peer_count", (json_int_t)(remote ? remote->peer_count : 0), "downloaded",
                     local && json_is_true(json_object_get(local, "downloaded")), "installed",
                     local && json_is_true(json_object_get(local, "installed")), "state",
                     game_state(local, remote, op), "operation", op, "reason",
                     json_object_get(op, "reason"), "cover",
                     catalog_text(local, said ? said->cover : NULL, "cover"));
}

/* A growing text; `failed` once an append could not allocate. */
typedef struct {
    char *text;
    size_t len, cap;
    bool failed;
} ls__text_t;

/* Room for `more` bytes and a NUL after len. */
static bool text_reserve(ls__text_t *t, size_t more)
{
    if (!t->failed && t->len + more + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + more + 1)
            cap *= 2;
        char *grown = realloc(t->text, cap);
        t->failed = !grown;
        if (grown) {
            t->text = grown;
            t->cap = cap;
        }
    }
    return !t->failed;
}

static void text_add(ls__text_t *t, const char *s)
{
    size_t n = strlen(s);
    if (!text_reserve(t, n))
        return;
    memcpy(t->text + t->len, s, n + 1);
    t->len += n;
}

#define LS_API_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
/* What a game's view usually takes, reserved before dumping it in place. */
#define LS_API_VIEW_BYTES 1024

/* Dumps a document in place at the end of the text (json_dumpb: one call,
 * not one callback per token); a bigger one is dumped again once it fits. */
static void text_add_json(ls__text_t *t, const json_t *doc)
{
    if (!text_reserve(t, LS_API_VIEW_BYTES))
        return;
    size_t n = json_dumpb(doc, t->text + t->len, t->cap - t->len - 1, LS_API_DUMP_FLAGS);
    if (n > t->cap - t->len - 1 && text_reserve(t, n))
        n = json_dumpb(doc, t->text + t->len, t->cap - t->len - 1, LS_API_DUMP_FLAGS);
    if (n == 0 || n > t->cap - t->len - 1) {
        t->failed = true;
        return;
    }
    t->len += n;
    t->text[t->len] = '\0';
}

/* One game's view appended, a comma before all but the first. */
static void add_view(const ls__view_t *v, const char *id, ls__text_t *t, bool *is_first,
                     ls_api_game_decorate_fn decorate, void *arg)
{
    json_t *view = game_view(v, id);
    if (!view)
        return;
    if (decorate)
        decorate(view, arg);
    if (!*is_first)
        text_add(t, ",");
    *is_first = false;
    text_add_json(t, view);
    json_decref(view);
}

/* Local games first, then remote ones not local, each list in its order;
 * one game's tree at a time. */
char *ls_api_state_games_text_with(ls_api_state_t *st, const char *head, const char *tail,
                                   ls_api_game_decorate_fn decorate, void *arg)
{
    ls__view_t v = view_take(st);
    ls__text_t t = {.text = NULL, .len = 0, .cap = 0, .failed = false};
    bool is_first = true;
    size_t i;
    json_t *g;
    text_add(&t, head);
    text_add(&t, "[");
    json_array_foreach(v.local, i, g)
    {
        const char *id = json_string_value(json_object_get(g, "id"));
        if (id)
            add_view(&v, id, &t, &is_first, decorate, arg);
    }
    for (i = 0; i < v.remote->count && !t.failed; i++)
        if (!json_object_get(v.local_by_id, v.remote->games[i].id))
            add_view(&v, v.remote->games[i].id, &t, &is_first, decorate, arg);
    const char *id;
    json_object_foreach(v.gone, id, g)
    {
        if (!json_object_get(v.local_by_id, id) && !remote_find(v.remote, id))
            add_view(&v, id, &t, &is_first, decorate, arg);
    }
    text_add(&t, "]");
    text_add(&t, tail);
    view_release(&v);
    if (t.failed) {
        free(t.text);
        return NULL;
    }
    return t.text;
}

char *ls_api_state_games_text(ls_api_state_t *st, const char *head, const char *tail)
{
    return ls_api_state_games_text_with(st, head, tail, NULL, NULL);
}

json_t *ls_api_state_games(ls_api_state_t *st)
{
    char *text = ls_api_state_games_text(st, "{\"games\":", "}");
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return doc;
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
    for (size_t i = 0; counts && i < v->remote->count; i++) {
        const ls_peer_ev_remote_game_t *g = &v->remote->games[i];
        for (size_t j = 0; j < g->peer_id_count; j++)
            json_object_set_new(
                counts, g->peers[j],
                json_integer(json_integer_value(json_object_get(counts, g->peers[j])) + 1));
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
        (json_int_t)json_array_size(st->local), "remote_games", (json_int_t)st->remote->count,
        "failures", json_deep_copy(st->failures), "uploads",
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
