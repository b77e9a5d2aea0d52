/* The peer runtime: its thread and loop, the command queue, events, the
 * local library, and the timers of the ping service and static peers. */
#include "runtime_internal.h"

#include "lanspread/cover.h"
#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/path.h"
#include "lanspread/workq.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ls_rt_emit(ls_peer_runtime_t *rt, const ls_peer_event_t *event)
{
    ls__emit(&rt->events, event);
}

void ls_rt_emit_failure(ls_peer_runtime_t *rt, const char *what, int code)
{
    ls__emit_failure(&rt->events, what, code);
}

static bool install_busy(const char *game_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    return rt->installs && ls_install_runner_is_busy(rt->installs, game_id);
}

static bool game_busy(ls_peer_runtime_t *rt, const char *game_id)
{
    return install_busy(game_id, rt) || ls__fetcher_is_active(rt->fetcher, game_id);
}

static void emit_peer_count(ls_peer_runtime_t *rt)
{
    ls_peer_event_t event = {.kind = LS_EVENT_PEER_COUNT,
                             .u.peer_count.count = ls_peerdb_count(rt->peerdb)};
    ls_rt_emit(rt, &event);
}

static void emit_games(ls_peer_runtime_t *rt)
{
    ls_remote_game_t *games;
    size_t count;
    if (ls_peerdb_games(rt->peerdb, &games, &count) != 0)
        return;
    ls_peer_ev_remote_game_t *list = calloc(count ? count : 1, sizeof *list);
    const char ***seeders = calloc(count ? count : 1, sizeof *seeders);
    for (size_t i = 0; list && seeders && i < count; i++) {
        /* What this peer's own catalog says of the title, when it knows it. */
        const ls_catalog_entry_t *meta =
            ls_catalog_find(ls_library_catalog(rt->library), games[i].id);
        size_t seeder_count = 0;
        if (ls_peerdb_seeders(rt->peerdb, games[i].id, &seeders[i], &seeder_count) != 0)
            seeders[i] = NULL;
        list[i] = (ls_peer_ev_remote_game_t){
            .id = games[i].id,
            .name = games[i].name,
            .latest_version = games[i].latest_version,
            .size = games[i].size,
            .peer_count = games[i].peer_count,
            .peers = (const char *const *)seeders[i],
            .peer_id_count = seeders[i] ? seeder_count : 0,
            .description = meta ? meta->description : NULL,
            .genre = meta ? meta->genre : NULL,
            .cover = games[i].cover[0] ? games[i].cover : NULL,
        };
    }
    if (list && seeders) {
        ls_peer_event_t event = {.kind = LS_EVENT_LIST_GAMES,
                                 .u.list_games = {.games = list, .game_count = count}};
        ls_rt_emit(rt, &event);
    }
    for (size_t i = 0; seeders && i < count; i++)
        free(seeders[i]);
    free(seeders);
    free(list);
    ls_remote_games_free(games, count);
}

uint64_t ls__games_emit_interval_ms(uint64_t cost_ns)
{
    /* compared before multiplying: a huge cost cannot overflow */
    if (cost_ns >= (uint64_t)LS_GAMES_EMIT_MAX_MS * 1000000u / LS_GAMES_EMIT_COST_FACTOR)
        return LS_GAMES_EMIT_MAX_MS;
    uint64_t ms = cost_ns * LS_GAMES_EMIT_COST_FACTOR / 1000000u;
    return ms < LS_GAMES_EMIT_MIN_MS ? LS_GAMES_EMIT_MIN_MS : ms;
}

/* The CPU time this thread has used, in ns (0 if the clock fails: the
 * interval is then the shortest, as for a cheap list). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What follows a change of the peers' libraries, at most once per interval
 * (games_changed): the game list, and running downloads looking for new
 * seeders. Both read the PeerGameDB's title index, which a change makes
 * stale: a burst of hellos and deltas costs one rebuild. This pass's own
 * CPU time sizes the short interval (games_interval_ms): a fixed 500 ms
 * kept a party's last library off the list for up to half a second after
 * it came (a 100-peer start converged ~0.4 s later than its logs say), while
 * 10,000 games cost tens of ms a list and still need the long interval. */
static void publish_games(ls_peer_runtime_t *rt)
{
    uint64_t cpu0 = thread_cpu_ns();
    rt->games_emitted_ms = uv_now(&rt->loop);
    rt->has_emitted_games = true;
    emit_games(rt);
    ls__fetcher_peers_changed(rt->fetcher);
    uint64_t cpu1 = thread_cpu_ns();
    rt->games_interval_ms = ls__games_emit_interval_ms(cpu1 > cpu0 ? cpu1 - cpu0 : 0);
}

static void games_timer_cb(uv_timer_t *timer)
{
    ls_peer_runtime_t *rt = timer->data;
    if (!rt->is_shutting_down)
        publish_games(rt);
}

/* Once every other peer heard of (the party's size as links.c counts it)
 * has a library in the PeerGameDB, a burst of libraries coming in has
 * ended, and the list need not wait. */
uint64_t ls__games_wait_ms(size_t listed, size_t party_size, uint64_t short_ms)
{
    return listed >= party_size ? short_ms : LS_GAMES_EMIT_MAX_MS;
}

/* The list goes at once after a quiet interval, else when the interval
 * ends; this change rides along with one already due as soon. While peers
 * heard of still lack a library, more are coming: the interval is then
 * LS_GAMES_EMIT_MAX_MS (a party's start costs a list per half second, as
 * many as a fixed interval did), else games_interval_ms, so the list that
 * completes the party goes about LS_GAMES_EMIT_MIN_MS after the last. */
static void games_changed(ls_peer_runtime_t *rt)
{
    if (rt->is_shutting_down)
        return;
    uint64_t now = uv_now(&rt->loop);
    uint64_t interval = ls__games_wait_ms(ls_peerdb_count(rt->peerdb),
                                          ls__links_party_size(rt->links), rt->games_interval_ms);
    if (!rt->has_emitted_games || now - rt->games_emitted_ms >= interval) {
        uv_timer_stop(&rt->games_timer);
        publish_games(rt);
        return;
    }
    uint64_t in_ms = rt->games_emitted_ms + interval - now;
    if (uv_is_active((uv_handle_t *)&rt->games_timer) &&
        uv_timer_get_due_in(&rt->games_timer) <= in_ms)
        return;
    uv_timer_start(&rt->games_timer, games_timer_cb, in_ms, 0);
}

static void emit_local_library(ls_peer_runtime_t *rt)
{
    size_t count;
    const ls_local_game_t *games = ls_library_games(rt->library, &count);
    ls_peer_event_t event = {.kind = LS_EVENT_LOCAL_LIBRARY,
                             .u.local_library = {.rev = rt->announced.library_rev,
                                                 .digest = rt->announced.digest,
                                                 .games = games,
                                                 .game_count = count}};
    ls_rt_emit(rt, &event);
}

/* --- library changes and LibraryDelta ------------------------------------ */

static const ls_game_summary_t *find_summary(const ls_library_snapshot_t *s, const char *id)
{
    for (size_t i = 0; i < s->game_count; i++)
        if (strcmp(s->games[i].id, id) == 0)
            return &s->games[i];
    return NULL;
}

static bool summary_equal(const ls_game_summary_t *a, const ls_game_summary_t *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->version, b->version) == 0 &&
           a->size == b->size && a->file_count == b->file_count &&
           strcmp(a->cover ? a->cover : "", b->cover ? b->cover : "") == 0;
}

/* The delta from `old` to `now`; its arrays borrow from the snapshots. */
static int build_delta(const ls_library_snapshot_t *old, const ls_library_snapshot_t *now,
                       ls_library_delta_t *delta)
{
    memset(delta, 0, sizeof *delta);
    delta->from_rev = old->library_rev;
    delta->to_rev = now->library_rev;
    memcpy(delta->digest, now->digest, sizeof delta->digest);
    delta->changed = calloc(now->game_count + 1, sizeof *delta->changed);
    delta->removed = calloc(old->game_count + 1, sizeof *delta->removed);
    if (!delta->changed || !delta->removed)
        return LS_ENOMEM;
    for (size_t i = 0; i < now->game_count; i++) {
        const ls_game_summary_t *before = find_summary(old, now->games[i].id);
        if (!before || !summary_equal(before, &now->games[i]))
            delta->changed[delta->changed_count++] = now->games[i];
    }
    for (size_t i = 0; i < old->game_count; i++)
        if (!find_summary(now, old->games[i].id))
            delta->removed[delta->removed_count++] = old->games[i].id;
    return 0;
}

static void announce_library(ls_peer_runtime_t *rt)
{
    ls_library_snapshot_t now;
    ls_library_delta_t delta;
    if (ls_library_snapshot(rt->library, &now) != 0)
        return;
    if (now.library_rev == rt->announced.library_rev) {
        ls_snapshot_free(&now);
        return;
    }
    if (build_delta(&rt->announced, &now, &delta) == 0) {
        ls_info("peer", "library rev %llu -> %llu: %zu changed, %zu removed",
                (unsigned long long)delta.from_rev, (unsigned long long)delta.to_rev,
                delta.changed_count, delta.removed_count);
        ls__links_broadcast_delta(rt->links, &delta);
    }
    free(delta.changed);
    free(delta.removed);
    ls_snapshot_free(&rt->announced);
    rt->announced = now;
    ls__mdns_update(rt->mdns, rt->announced.library_rev, rt->announced.digest);
}

/* The playing watch reads /proc only while a library game is installed:
 * nothing can run from a local/ that does not exist. */
static void arm_playing(ls_peer_runtime_t *rt)
{
    size_t count;
    const ls_local_game_t *games = ls_library_games(rt->library, &count);
    bool is_any_installed = false;
    for (size_t i = 0; i < count && !is_any_installed; i++)
        is_any_installed = games[i].is_installed;
    ls__playing_set_armed(rt->playing, is_any_installed);
}

static void library_changed(ls_peer_runtime_t *rt)
{
    announce_library(rt);
    emit_local_library(rt);
    arm_playing(rt);
}

static void clear_rescan_queue(ls_peer_runtime_t *rt)
{
    for (size_t i = 0; i < rt->rescan_queue_count; i++)
        free(rt->rescan_queue[i]);
    free(rt->rescan_queue);
    rt->rescan_queue = NULL;
    rt->rescan_queue_count = 0;
}

static void queue_rescan(ls_peer_runtime_t *rt, const char *game_id)
{
    size_t n = rt->rescan_queue_count;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rt->rescan_queue[i], game_id) == 0)
            return;
    char **grown = realloc(rt->rescan_queue, (n + 1) * sizeof *grown);
    if (grown)
        rt->rescan_queue = grown;
    if (!grown || !(grown[n] = strdup(game_id))) {
        rt->rescan_pending = true; /* out of memory: scan everything instead */
        return;
    }
    rt->rescan_queue_count++;
}

/* The next queued scan. A game that became busy meanwhile is skipped: the
 * end of its operation rescans it. */
static void start_queued_rescan(ls_peer_runtime_t *rt)
{
    if (rt->rescan_pending) {
        rt->rescan_pending = false;
        clear_rescan_queue(rt);
        ls_rt_rescan(rt, NULL);
        return;
    }
    while (rt->rescan_queue_count > 0) {
        char *id = rt->rescan_queue[0];
        rt->rescan_queue_count--;
        memmove(rt->rescan_queue, rt->rescan_queue + 1,
                rt->rescan_queue_count * sizeof *rt->rescan_queue);
        bool is_busy = game_busy(rt, id);
        if (!is_busy)
            ls_rt_rescan(rt, id);
        free(id);
        if (!is_busy)
            return;
    }
}

/* One line per scan that read file contents (every first scan): what a
 * restart cost is visible in the log. */
static void log_scan(const char *what, const ls_scan_stats_t *stats)
{
    if (stats->files_hashed > 0 || strcmp(what, "first scan") == 0)
        ls_info("library", "%s: %llu games, %llu files seen, %llu hashed (%llu bytes)", what,
                (unsigned long long)stats->games_seen, (unsigned long long)stats->files_seen,
                (unsigned long long)stats->files_hashed, (unsigned long long)stats->bytes_hashed);
}

/* A game directory catalog that does not load is the user's to fix: it is
 * reported where the UI shows failures, naming the file, entry and field. */
static void report_catalog(ls_peer_runtime_t *rt, const ls_scan_stats_t *stats)
{
    const char *why = ls_library_catalog_error(rt->library);
    ls_peer_event_t event = {.kind = LS_EVENT_RUNTIME_FAILURE,
                             .u.failure = {.what = "local catalog", .reason = why}};
    if (stats->catalog_refused && why)
        ls_rt_emit(rt, &event);
}

static void emit_held_installs(ls_peer_runtime_t *rt);

static void rescan_done_cb(ls_library_t *library, int status, const ls_scan_stats_t *stats,
                           void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    rt->is_scanning = false;
    log_scan("rescan", stats);
    if (rt->is_shutting_down)
        return;
    if (status != 0)
        ls_rt_emit_failure(rt, "library scan", status);
    report_catalog(rt, stats);
    library_changed(rt);
    if (stats->catalog_changed)
        games_changed(rt);              /* their catalog text may have changed */
    if (!ls_rt_game_dir_scan_ended(rt)) /* else its full scan replaces any pending one */
        start_queued_rescan(rt);
    if (!rt->is_scanning)
        emit_held_installs(rt);
}

void ls_rt_rescan(ls_peer_runtime_t *rt, const char *game_id)
{
    int rc = ls_library_scan_start(rt->library, &rt->loop, game_id, rescan_done_cb, rt);
    if (rc == 0)
        rt->is_scanning = true;
    else if (rc == LS_EBUSY && game_id)
        queue_rescan(rt, game_id); /* once the running scan ends */
    else if (rc == LS_EBUSY)
        rt->rescan_pending = true;
    else if (rc != 0)
        ls_rt_emit_failure(rt, "library scan", rc);
}

/* --- timers ------------------------------------------------------------- */

static void connect_static_peers(ls_peer_runtime_t *rt)
{
    for (size_t i = 0; i < rt->static_peer_count; i++)
        ls__links_dial_if_due(rt->links, &rt->static_peers[i]);
    ls__known_dial_due(rt->known);
}

/* What this peer serves, while it does (and once more when it stopped, so
 * that a UI shows the rate fall to 0). */
static void upload_timer_cb(uv_timer_t *timer)
{
    ls_peer_runtime_t *rt = timer->data;
    ls__upload_stat_t stats[16];
    uint64_t rate;
    ls__server_check_stalls(rt->server, uv_now(&rt->loop));
    size_t n = ls__server_uploads(rt->server, uv_now(&rt->loop), stats, 16, &rate);
    size_t transfers = 0;
    for (size_t i = 0; i < n; i++)
        transfers += stats[i].peers;
    /* bytes count when a transfer ends, so a second may show none while
     * transfers run: the event that says "stopped" waits until none runs,
     * else a UI would keep showing the last ones as still running */
    if (rate == 0 && transfers == 0 && !rt->was_uploading)
        return;
    rt->was_uploading = rate > 0 || transfers > 0;
    ls_peer_ev_upload_game_t games[16];
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (stats[i].bytes > 0 || stats[i].peers > 0)
            games[count++] = (ls_peer_ev_upload_game_t){.game_id = stats[i].game_id,
                                                        .bytes = stats[i].bytes,
                                                        .rate_bps = stats[i].rate_bps,
                                                        .peers = (uint32_t)stats[i].peers};
    ls_peer_event_t event = {.kind = LS_EVENT_UPLOAD_PROGRESS,
                             .u.upload = {.rate_bps = rate, .games = games, .game_count = count}};
    ls_rt_emit(rt, &event);
}

static void dial_slot_free(void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    connect_static_peers(rt);
    ls__mdns_dial_due(rt->mdns);
}

static void reconnect_timer_cb(uv_timer_t *timer)
{
    ls_peer_runtime_t *rt = timer->data;
    ls__links_tick(rt->links);
    connect_static_peers(rt);
    ls__mdns_tick(rt->mdns);
    ls__fetcher_tick(rt->fetcher);
}

/* --- installs ----------------------------------------------------------- */

static ls_peer_event_kind_t install_event_kind(ls_install_op_t op, ls_install_event_kind_t kind)
{
    bool is_uninstall = op == LS_INSTALL_OP_UNINSTALL;
    switch (kind) {
    case LS_INSTALL_EV_BEGIN:
        return is_uninstall ? LS_EVENT_UNINSTALL_BEGIN : LS_EVENT_INSTALL_BEGIN;
    case LS_INSTALL_EV_FINISHED:
        return is_uninstall ? LS_EVENT_UNINSTALL_FINISHED : LS_EVENT_INSTALL_FINISHED;
    case LS_INSTALL_EV_FAILED:
    default:
        return is_uninstall ? LS_EVENT_UNINSTALL_FAILED : LS_EVENT_INSTALL_FAILED;
    }
}

/* An install or uninstall end waiting for its rescan (see runtime_internal.h). */
typedef struct ls__held_install {
    struct ls__held_install *next;
    ls_peer_event_kind_t kind;
    ls_install_op_t op;
    char *game_id;
    char *reason;
} ls__held_install_t;

static void emit_held_installs(ls_peer_runtime_t *rt)
{
    ls__held_install_t *h = rt->held_installs;
    rt->held_installs = NULL;
    while (h) {
        ls__held_install_t *next = h->next;
        ls_peer_event_t event = {.kind = h->kind, .u.install = {h->game_id, h->op, h->reason}};
        if (!rt->is_shutting_down)
            ls_rt_emit(rt, &event);
        free(h->game_id);
        free(h->reason);
        free(h);
        h = next;
    }
}

/* Held until every scan asked for so far has ended (a game's rescan may
 * queue behind another); emitted at once when it cannot be held. */
static void hold_install_event(ls_peer_runtime_t *rt, const ls_peer_event_t *event)
{
    ls__held_install_t *h = calloc(1, sizeof *h);
    const ls_peer_ev_install_t *in = &event->u.install;
    if (h) {
        h->kind = event->kind;
        h->op = in->op;
        h->game_id = strdup(in->game_id);
        h->reason = in->reason ? strdup(in->reason) : NULL;
    }
    if (!h || !h->game_id || (in->reason && !h->reason) || !rt->is_scanning) {
        if (h) {
            free(h->game_id);
            free(h->reason);
        }
        free(h);
        ls_rt_emit(rt, event);
        return;
    }
    ls__held_install_t **tail = &rt->held_installs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
}

void ls_rt_install_event_cb(const ls_install_event_t *ev, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (ev->kind == LS_INSTALL_EV_PROGRESS) {
        ls_peer_event_t event = {
            .kind = LS_EVENT_INSTALL_PROGRESS,
            .u.install_progress = {ev->game_id, ev->op, .done = ev->done, .total = ev->total}};
        ls_rt_emit(rt, &event);
        return;
    }
    ls_peer_event_t event = {
        .kind = install_event_kind(ev->op, ev->kind),
        .u.install = {ev->game_id, ev->op, ev->kind == LS_INSTALL_EV_FAILED ? ev->reason : NULL}};
    if (ev->kind == LS_INSTALL_EV_BEGIN || rt->is_shutting_down) {
        ls_rt_emit(rt, &event);
        return;
    }
    /* The game is free again: its installed state changed, rescan it (and
     * whatever the monitor held back meanwhile); the end is told once the
     * rescan has published that state. */
    ls_monitor_release(rt->monitor, ev->game_id);
    ls_rt_rescan(rt, ev->game_id);
    hold_install_event(rt, &event);
}

/* The fetcher's hook: a download ended. */
static void download_ended(const char *game_id, bool ok, bool has_local, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (rt->is_shutting_down)
        return;
    ls_monitor_release(rt->monitor, game_id);
    ls_rt_rescan(rt, game_id);
    if (!ok)
        return;
    /* The seed's behaviour: a finished download installs by itself. */
    int rc = ls_install_runner_submit(
        rt->installs, has_local ? LS_INSTALL_OP_UPDATE : LS_INSTALL_OP_INSTALL, game_id);
    ls_peer_event_t event = {.kind = LS_EVENT_INSTALL_FAILED,
                             .u.install = {game_id, .reason = ls_strerror(rc)}};
    if (rc != 0)
        ls_rt_emit(rt, &event);
}

static void submit_install(ls_peer_runtime_t *rt, bool is_uninstall, const char *game_id)
{
    const ls_local_game_t *game = game_id ? ls_library_find(rt->library, game_id) : NULL;
    ls_install_op_t op = is_uninstall                   ? LS_INSTALL_OP_UNINSTALL
                         : (game && game->is_installed) ? LS_INSTALL_OP_UPDATE
                                                        : LS_INSTALL_OP_INSTALL;
    int rc = !game                                     ? LS_EUNKNOWN_GAME
             : (!is_uninstall && !game->is_downloaded) ? LS_ENOT_DOWNLOADED
             : (is_uninstall && !game->is_installed)   ? LS_ENOT_INSTALLED
                                                       : 0;
    if (rc == 0)
        rc = ls_install_runner_submit(rt->installs, op, game_id);
    ls_peer_event_t event = {.kind = install_event_kind(op, LS_INSTALL_EV_FAILED),
                             .u.install = {game_id ? game_id : "", op, ls_strerror(rc)}};
    if (rc != 0)
        ls_rt_emit(rt, &event);
}

/* --- bandwidth limits ------------------------------------------------------ */

/* The upload limit now: the playing rate caps it while a game runs. */
static uint64_t upload_limit(const ls_peer_runtime_t *rt)
{
    uint64_t limit = rt->limits.max_upload, playing = rt->limits.playing_upload;
    if (!rt->playing || !ls__playing_game(rt->playing)[0] || playing == 0)
        return limit;
    return limit == 0 || playing < limit ? playing : limit;
}

/* Hands the limits to the shaper and tells the application. */
static void apply_limits(ls_peer_runtime_t *rt)
{
    const char *playing = rt->playing ? ls__playing_game(rt->playing) : "";
    ls__shaper_set_upload(rt->shaper, upload_limit(rt), rt->limits.peer_upload_share);
    ls__shaper_set_download(rt->shaper, rt->limits.max_download);
    ls_peer_event_t event = {.kind = LS_EVENT_LIMITS,
                             .u.limits = {.limits = rt->limits,
                                          .upload = upload_limit(rt),
                                          .playing = playing[0] ? playing : NULL}};
    ls_rt_emit(rt, &event);
}

static void set_limits(ls_peer_runtime_t *rt, const ls_peer_limits_t *in, uint32_t fields)
{
    ls_peer_limits_t *l = &rt->limits;
    if (fields & LS_LIMIT_MAX_UPLOAD)
        l->max_upload = in->max_upload;
    if (fields & LS_LIMIT_MAX_DOWNLOAD)
        l->max_download = in->max_download;
    if (fields & LS_LIMIT_PEER_UPLOAD_SHARE)
        l->peer_upload_share = in->peer_upload_share;
    if (fields & LS_LIMIT_PLAYING_UPLOAD)
        l->playing_upload = in->playing_upload;
    if (l->peer_upload_share == 0 || l->peer_upload_share > LS_SHAPER_SHARE_FULL)
        l->peer_upload_share = LS_SHAPER_SHARE_FULL;
    apply_limits(rt);
}

static void playing_changed_cb(const char *game_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (rt->is_shutting_down)
        return;
    if (game_id)
        ls_info("peer", "%s is running here: uploads limited to %llu bytes/s", game_id,
                (unsigned long long)upload_limit(rt));
    else
        ls_info("peer", "no game runs here any more: upload limit back to %llu bytes/s (0: none)",
                (unsigned long long)upload_limit(rt));
    apply_limits(rt);
}

static void download_ready_cb(void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (!rt->is_shutting_down)
        ls__fetcher_pump_all(rt->fetcher);
}

/* --- commands ----------------------------------------------------------- */

static void shutdown_runtime(ls_peer_runtime_t *rt);

/* An install or uninstall asked for while the game downloads. */
static void emit_busy(ls_peer_runtime_t *rt, const char *game_id)
{
    ls_peer_event_t event = {
        .kind = LS_EVENT_INSTALL_FAILED,
        .u.install = {game_id, .reason = "a download of this game is running"}};
    ls_rt_emit(rt, &event);
}

/* ADD_PEER: dialled from now on like a --peer (the address was checked
 * when the command was queued). */
static void add_static_peer(ls_peer_runtime_t *rt, const char *address)
{
    for (size_t i = 0; i < rt->static_peer_count; i++)
        if (strcmp(rt->static_peers[i].address, address) == 0)
            return;
    if (rt->static_peer_count == LS_STATIC_PEERS_MAX) {
        ls_rt_emit(rt, &(ls_peer_event_t){
                           .kind = LS_EVENT_RUNTIME_FAILURE,
                           .u.failure = {.what = "add peer", .reason = "too many added peers"}});
        return;
    }
    ls__dial_target_t *t = &rt->static_peers[rt->static_peer_count];
    *t = (ls__dial_target_t){.next_dial_ms = 0};
    snprintf(t->address, sizeof t->address, "%s", address);
    if (ls__parse_address(address, false, &t->sockaddr) != 0)
        return;
    rt->static_peer_count++;
    ls_info("peer", "peer %s added", address);
    ls__known_publish(rt->known);
    ls__links_dial_if_due(rt->links, t);
}

/* FORGET_PEER: out of the remembered list and the added addresses. A link
 * to a forgotten target stays up; only its target goes. */
static void forget_known_peer(ls_peer_runtime_t *rt, const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < rt->static_peer_count;) {
        ls__dial_target_t *t = &rt->static_peers[i];
        ls_known_peer_t as_known = {.is_added = true};
        snprintf(as_known.address, sizeof as_known.address, "%s", t->address);
        snprintf(as_known.peer_id, sizeof as_known.peer_id, "%s", t->peer_id);
        if (!ls_known_peer_matches(&as_known, what)) {
            i++;
            continue;
        }
        /* the last target moves into the gap: links pointing at either are
         * told first */
        ls__dial_target_t *last = &rt->static_peers[--rt->static_peer_count];
        ls__links_detach_target(rt->links, t);
        ls_link_t *moved = last->link;
        ls__links_detach_target(rt->links, last);
        if (t != last) {
            *t = *last;
            t->link = moved;
            if (moved)
                moved->target = t;
        }
        memset(last, 0, sizeof *last);
        n++;
    }
    n += ls__known_forget(rt->known, what);
    ls_info("peer", "forgot %zu peer entr%s matching %s", n, n == 1 ? "y" : "ies", what);
}

static void fetch_cover(ls_peer_runtime_t *rt, const char *game_id, const char *sha256)
{
    ls__cover_sources_t sources = {
        .loop = &rt->loop,
        .library = rt->library,
        .peerdb = rt->peerdb,
        .links = rt->links,
    };
    if (!rt->library || !rt->links) {
        ls__covers_finish(rt->covers, sha256, LS_ENOENT);
        return;
    }
    ls__covers_fetch(rt->covers, &sources, game_id, sha256);
}

static void run_command(ls_peer_runtime_t *rt, const ls__rt_command_t *cmd)
{
    switch (cmd->kind) {
    case LS_CMD_LIST_GAMES:
        emit_local_library(rt);
        games_changed(rt);
        break;
    case LS_CMD_GET_PEER_COUNT:
        emit_peer_count(rt);
        break;
    case LS_CMD_RESCAN:
        ls_rt_rescan(rt, cmd->game_id);
        break;
    case LS_CMD_INSTALL:
    case LS_CMD_UNINSTALL:
        if (ls__fetcher_is_active(rt->fetcher, cmd->game_id))
            emit_busy(rt, cmd->game_id);
        else
            submit_install(rt, cmd->kind == LS_CMD_UNINSTALL, cmd->game_id);
        break;
    case LS_CMD_DOWNLOAD:
        ls__fetcher_start(rt->fetcher, cmd->game_id, (const char *const *)cmd->files,
                          cmd->file_count, cmd->flags);
        break;
    case LS_CMD_CANCEL:
        ls__fetcher_cancel(rt->fetcher, cmd->game_id);
        break;
    case LS_CMD_SET_GAME_DIR:
        ls_rt_set_game_dir(rt, cmd->path);
        break;
    case LS_CMD_ADD_PEER:
        add_static_peer(rt, cmd->peer);
        break;
    case LS_CMD_FORGET_PEER:
        forget_known_peer(rt, cmd->peer);
        break;
    case LS_CMD_SET_LIMITS:
        set_limits(rt, &cmd->limits, cmd->limit_fields);
        break;
    case LS_CMD_FETCH_COVER:
        fetch_cover(rt, cmd->game_id, cmd->cover);
        break;
    case LS_CMD_SHUTDOWN:
        shutdown_runtime(rt);
        break;
    default:
        ls_rt_emit(
            rt, &(ls_peer_event_t){.kind = LS_EVENT_RUNTIME_FAILURE,
                                   .u.failure = {.what = "command", .reason = "unknown command"}});
        break;
    }
}

static ls__rt_command_t *take_commands(ls_peer_runtime_t *rt)
{
    uv_mutex_lock(&rt->queue_lock);
    ls__rt_command_t *head = rt->queue_head;
    rt->queue_head = rt->queue_tail = NULL;
    uv_mutex_unlock(&rt->queue_lock);
    return head;
}

static void free_command(ls__rt_command_t *cmd)
{
    for (size_t i = 0; i < cmd->file_count; i++)
        free(cmd->files[i]);
    free(cmd->files);
    free(cmd->game_id);
    free(cmd->path);
    free(cmd->peer);
    free(cmd);
}

static void free_commands(ls__rt_command_t *cmd)
{
    while (cmd) {
        ls__rt_command_t *next = cmd->next;
        free_command(cmd);
        cmd = next;
    }
}

static void wake_cb(uv_async_t *async)
{
    ls_peer_runtime_t *rt = async->data;
    ls__rt_command_t *cmds = take_commands(rt);
    for (ls__rt_command_t *c = cmds; c && !rt->is_shutting_down; c = c->next)
        run_command(rt, c);
    free_commands(cmds);
}

static bool needs_game_id(ls_peer_command_kind_t kind)
{
    return kind == LS_CMD_DOWNLOAD || kind == LS_CMD_INSTALL || kind == LS_CMD_UNINSTALL ||
           kind == LS_CMD_CANCEL || kind == LS_CMD_FETCH_COVER;
}

/* The runtime thread gets its own copy: nothing it reads belongs to the
 * caller's thread. Game ids are checked here, so the loop never sees an
 * invalid one. */
static int copy_command(const ls_peer_command_t *in, ls__rt_command_t **out)
{
    ls__rt_command_t *cmd = calloc(1, sizeof *cmd);
    int rc = 0;
    *out = NULL;
    if (!cmd)
        return LS_ENOMEM;
    cmd->kind = in->kind;
    cmd->flags = in->flags;
    cmd->limits = in->limits;
    cmd->limit_fields = in->limit_fields;
    if ((needs_game_id(in->kind) && !in->game_id) ||
        (in->game_id && !ls_game_id_is_valid(in->game_id)) ||
        (in->kind == LS_CMD_SET_GAME_DIR && !in->path) || (in->file_count && !in->files) ||
        (in->kind == LS_CMD_ADD_PEER && !ls_peer_address_is_valid(in->peer)) ||
        (in->kind == LS_CMD_FORGET_PEER && (!in->peer || !*in->peer)) ||
        (in->kind == LS_CMD_FETCH_COVER && (!in->cover || strlen(in->cover) != LS_SHA256_HEX_LEN ||
                                            !ls_cover_hash_is_valid(in->cover))) ||
        in->file_count > LS_MANIFEST_FILES_MAX)
        rc = LS_EINVAL;
    if (in->kind == LS_CMD_FETCH_COVER && rc == 0)
        memcpy(cmd->cover, in->cover, sizeof cmd->cover);
    if (rc == 0 && in->game_id && !(cmd->game_id = strdup(in->game_id)))
        rc = LS_ENOMEM;
    if (rc == 0 && in->path && !(cmd->path = strdup(in->path)))
        rc = LS_ENOMEM;
    if (rc == 0 && in->peer && !(cmd->peer = strndup(in->peer, LS_ADDRESS_MAX + 1)))
        rc = LS_ENOMEM;
    if (rc == 0 && in->file_count && !(cmd->files = calloc(in->file_count, sizeof *cmd->files)))
        rc = LS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < in->file_count; i++, cmd->file_count++)
        if (!in->files[i] || !(cmd->files[i] = strdup(in->files[i])))
            rc = in->files[i] ? LS_ENOMEM : LS_EINVAL;
    if (rc != 0) {
        free_command(cmd);
        return rc;
    }
    *out = cmd;
    return 0;
}

int ls_peer_submit(ls_peer_runtime_t *rt, const ls_peer_command_t *in)
{
    ls__rt_command_t *cmd;
    int rc = copy_command(in, &cmd);
    if (rc != 0)
        return rc;
    uv_mutex_lock(&rt->queue_lock);
    if (rt->queue_tail)
        rt->queue_tail->next = cmd;
    else
        rt->queue_head = cmd;
    rt->queue_tail = cmd;
    uv_mutex_unlock(&rt->queue_lock);
    uv_async_send(&rt->wake);
    return 0;
}

int ls_peer_download(ls_peer_runtime_t *rt, const char *game_id, const char *const *files,
                     size_t file_count, uint32_t flags)
{
    ls_peer_command_t cmd = {.kind = LS_CMD_DOWNLOAD,
                             .game_id = game_id,
                             .files = files,
                             .file_count = file_count,
                             .flags = flags};
    return ls_peer_submit(rt, &cmd);
}

int ls_peer_command(ls_peer_runtime_t *rt, ls_peer_command_kind_t kind, const char *game_id)
{
    ls_peer_command_t cmd = {.kind = kind, .game_id = game_id};
    return kind == LS_CMD_SET_GAME_DIR ? LS_EINVAL : ls_peer_submit(rt, &cmd);
}

int ls_peer_set_game_dir(ls_peer_runtime_t *rt, const char *path)
{
    ls_peer_command_t cmd = {.kind = LS_CMD_SET_GAME_DIR, .path = path};
    return ls_peer_submit(rt, &cmd);
}

/* --- lifecycle ---------------------------------------------------------- */

/* The endpoint's user data is the links object; ours is its hooks' data. */
static void endpoint_closed_cb(void *links)
{
    ls_peer_runtime_t *rt = ls__links_hook_data(links);
    rt->endpoint = NULL;
    uv_close((uv_handle_t *)&rt->wake, NULL);
}

static void shutdown_runtime(ls_peer_runtime_t *rt)
{
    if (rt->is_shutting_down)
        return;
    if (rt->fetcher)
        ls__fetcher_shutdown(rt->fetcher);
    rt->is_shutting_down = true;
    emit_held_installs(rt); /* freed, not sent */
    uv_timer_stop(&rt->reconnect_timer);
    uv_close((uv_handle_t *)&rt->reconnect_timer, NULL);
    uv_timer_stop(&rt->upload_timer);
    uv_close((uv_handle_t *)&rt->upload_timer, NULL);
    uv_timer_stop(&rt->games_timer);
    uv_close((uv_handle_t *)&rt->games_timer, NULL);
    ls__known_stop(rt->known);
    ls__shaper_close_handles(rt->shaper);
    ls__server_close_handles(rt->server);
    ls__playing_stop(rt->playing);
    if (rt->links)
        ls__links_stop(rt->links);
    ls__relay_stop(rt->relay);
    ls_monitor_stop(rt->monitor);
    rt->monitor = NULL;
    ls__mdns_stop(rt->mdns);
    if (rt->installs)
        ls_install_runner_close(rt->installs);
    rt->installs = NULL;
    if (rt->endpoint)
        ls_net_endpoint_close(rt->endpoint, endpoint_closed_cb);
    else
        uv_close((uv_handle_t *)&rt->wake, NULL);
}

static bool game_is_busy(const char *game_id, void *userdata)
{
    return game_busy(userdata, game_id);
}

static void monitor_rescan_cb(const char *game_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (!rt->is_shutting_down)
        ls_rt_rescan(rt, game_id);
}

void ls_rt_start_monitor(ls_peer_runtime_t *rt)
{
    ls_monitor_config_t config = {
        .game_dir = ls_library_game_dir(rt->library),
        .settle_ms = rt->monitor_settle_ms,
        .busy_cb = game_is_busy,
        .rescan_cb = monitor_rescan_cb,
        .userdata = rt,
    };
    int rc = ls_monitor_start(&rt->loop, &config, &rt->monitor);
    if (rc != 0)
        ls_rt_emit_failure(rt, "game directory monitor", rc);
}

static int start_mdns(ls_peer_runtime_t *rt)
{
    if (!rt->is_mdns_enabled)
        return 0;
    ls__mdns_config_t config = {
        .loop = &rt->loop,
        .links = rt->links,
        .peerdb = rt->peerdb,
        .name = rt->name,
        .peer_id = rt->peer_id,
        .listen = rt->listen,
        .listen_port = rt->listen_port,
        .protocol_version = rt->protocol_version,
    };
    return ls__mdns_start(&config, rt->announced.library_rev, rt->announced.digest, &rt->mdns);
}

static void first_scan_done_cb(ls_library_t *library, int status, const ls_scan_stats_t *stats,
                               void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    rt->is_scanning = false;
    log_scan("first scan", stats);
    if (status != 0)
        ls_rt_emit_failure(rt, "library scan", status);
    report_catalog(rt, stats);
    ls_snapshot_free(&rt->announced);
    ls_library_snapshot(rt->library, &rt->announced);
    emit_local_library(rt);
    if (rt->is_shutting_down)
        return;
    rt->is_library_ready = true;
    ls__links_set_library(rt->links, &rt->announced);
    ls__server_answer_held_hellos(rt->server);
    ls_info("peer", "%.12s listening on port %d, announcing %zu games (rev %llu)", rt->peer_id,
            rt->listen_port, rt->announced.game_count,
            (unsigned long long)rt->announced.library_rev);
    int rc = start_mdns(rt);
    if (rc != 0)
        ls_rt_emit_failure(rt, "mDNS discovery (static --peer still works)", rc);
    /* Everything runs before `ready` says so: a change to the game
     * directory right after it is seen by the monitor. */
    ls_rt_start_monitor(rt);
    rc = ls__playing_start(&rt->loop, rt->game_dir, playing_changed_cb, rt, &rt->playing);
    if (rc != 0)
        ls_rt_emit_failure(rt, "playing watch (uploads keep their limit while a game runs)", rc);
    arm_playing(rt);
    connect_static_peers(rt);
    uv_timer_start(&rt->reconnect_timer, reconnect_timer_cb, rt->reconnect_ms, rt->reconnect_ms);
    uv_timer_start(&rt->upload_timer, upload_timer_cb, LS_UPLOAD_INTERVAL_MS,
                   LS_UPLOAD_INTERVAL_MS);
    ls__links_start(rt->links);
    ls_peer_event_t event = {.kind = LS_EVENT_READY,
                             .u.ready = {.peer_id = rt->peer_id,
                                         .port = rt->listen_port,
                                         .rev = rt->announced.library_rev,
                                         .has_mdns = rt->mdns != NULL}};
    ls_rt_emit(rt, &event);
    apply_limits(rt); /* the limits event: after ready, so it is the first one shown */
    ls_rt_game_dir_scan_ended(rt);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                           : ((const struct sockaddr_in *)ss)->sin_port);
}

/* Binds the listen address. With listen_fallback, a taken port gives way to
 * the next LS_PEER_PORT_FALLBACKS ports, then to any free one (the caller
 * compares ls_peer_listen_port with what it asked for and says so). */
static int open_endpoint(ls_peer_runtime_t *rt)
{
    struct sockaddr_storage bind_addr, bound;
    int rc = ls__parse_address(rt->listen, true, &bind_addr);
    if (rc != 0) {
        ls_error("peer", "listen address '%s' is not ADDR:PORT", rt->listen);
        return rc;
    }
    ls_net_config_t cfg = {
        .bind_addr = (const struct sockaddr *)&bind_addr,
        .identity = rt->identity,
        .cb = ls__links_net_callbacks,
        /* until its hello verifies, a connection sends one hello's worth */
        .limits = {.keep_alive_ms = rt->ping_interval_ms, .hello_window = LS_SERVE_HELLO_WINDOW},
        .user_data = rt->links,
    };
    int wanted = port_of(&bind_addr);
    for (int tries = 0;; tries++) {
        rc = ls_net_endpoint_create(&rt->loop, &cfg, &rt->endpoint);
        if (rc != LS_EADDRINUSE || !rt->listen_fallback || port_of(&bind_addr) == 0)
            break;
        int next = tries < LS_PEER_PORT_FALLBACKS ? wanted + tries + 1 : 0;
        ls_debug("peer", "UDP port %d is in use; trying %d", port_of(&bind_addr), next);
        set_port(&bind_addr, next > 65535 ? 0 : next);
    }
    if (rc != 0)
        return rc;
    rc = ls_net_endpoint_local_addr(rt->endpoint, &bound);
    if (rc == 0)
        rt->listen_port = port_of(&bound);
    if (rc == 0)
        ls__links_set_endpoint(rt->links, rt->endpoint, rt->listen_port);
    return rc;
}

static void recover_cb(const char *game_id, int rc, const ls_recover_report_t *report,
                       void *userdata)
{
    if (rc != 0)
        ls_warn("peer", "%s: recovery failed: %s", game_id, ls_strerror(rc));
    else if (report->action != LS_RECOVER_CLEAN || report->intent_corrupt)
        ls_info("peer", "%s: recovered an interrupted %s: %s", game_id,
                report->op ? ls_install_op_name(report->op) : "operation", report->reason);
}

/* --- wiring: the hooks that tie the objects together ------------------------ */

static void peers_changed(void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    emit_peer_count(rt);
    games_changed(rt);
}

static void peer_lost(const char *peer_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    ls__fetcher_peer_lost(rt->fetcher, peer_id);
    ls__known_lost(rt->known, peer_id);
    ls__relay_peer_lost(rt->relay, peer_id);
}

static void peer_linking(const char *peer_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    ls__relay_linking(rt->relay, peer_id);
}

static bool library_asked(const ls_link_t *asker, const char *peer_id, bool may_wait,
                          ls_msg_t *answer, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    return ls__relay_answer(rt->relay, asker->peer_id, peer_id, may_wait, answer);
}

static void library_settled(void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (rt->server)
        ls__server_library_recheck(rt->server);
}

static void peer_ready(const char *peer_id, const char *address, const char *name, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    ls__known_seen(rt->known, peer_id, address, name);
}

static void peers_heard(ls_link_t *link, const ls_peer_list_t *list, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    ls__mdns_learn(rt->mdns, list);
    ls__relay_heard(rt->relay, link, list);
}

static bool seeder_needed(const char *peer_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    return rt->relay && ls__relay_dial(rt->relay, peer_id);
}

static size_t relayed_to_tell(const ls_link_t *to, uint64_t after_seq, ls_peer_addr_t *out,
                              size_t room, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    return rt->relay ? ls__relay_collect(rt->relay, to, after_seq, out, room) : 0;
}

static void request_stream(ls_link_t *link, ls_net_stream_t *stream, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    ls__server_accept_stream(rt->server, link, stream);
}

static void download_published(void *userdata)
{
    library_changed(userdata);
}

static void peer_has(ls_link_t *link, const ls_have_t *have, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    int rc = ls_peerdb_set_partial(rt->peerdb, link->peer_id, have);
    if (rc < 0)
        ls_debug("peer", "%s: have for %s not kept: %s", link->address, have->game_id,
                 ls_strerror(rc));
    else
        ls__fetcher_have(rt->fetcher, link->peer_id, have, rc == 1);
}

static int partial_chunk(const char *game_id, const char *path, uint64_t offset, uint64_t length,
                         ls__partial_chunk_t *out, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    return ls__fetcher_partial_chunk(rt->fetcher, game_id, path, offset, length, &out->game_root,
                                     &out->file_size);
}

static int make_objects(ls_peer_runtime_t *rt)
{
    ls__links_config_t links = {
        .loop = &rt->loop,
        .peerdb = rt->peerdb,
        .events = &rt->events,
        .peer_id = rt->peer_id,
        .name = rt->name,
        .party_key = rt->has_party_key ? &rt->party_key : NULL,
        .protocol_version = rt->protocol_version,
        .reconnect_ms = rt->reconnect_ms,
        .ping_interval_ms = rt->ping_interval_ms,
        .ping_misses_max = rt->ping_misses_max,
        .hello_deadline_ms = rt->hello_deadline_ms,
        .is_swarm = rt->is_swarm,
        .is_peer_exchange = rt->is_peer_exchange,
        .is_relay = rt->is_relay,
        .links_target = rt->links_target,
        .hooks = {.peers_changed = peers_changed,
                  .peer_lost = peer_lost,
                  .stream = request_stream,
                  .peer_ready = peer_ready,
                  .peers_heard = peers_heard,
                  .collect_relayed = relayed_to_tell,
                  .dial_slot_free = dial_slot_free,
                  .linking = peer_linking,
                  .userdata = rt},
    };
    ls__fetcher_config_t fetcher = {
        .loop = &rt->loop,
        .peerdb = rt->peerdb,
        .events = &rt->events,
        .state_dir = rt->state_dir,
        .plan_mode = rt->plan_mode,
        .fetch_stall_ms = rt->fetch_stall_ms,
        .commit_hook = rt->commit_hook,
        .commit_arg = rt->commit_arg,
        .hooks = {.ended = download_ended,
                  .published = download_published,
                  .is_busy = install_busy,
                  .need_link = seeder_needed,
                  .userdata = rt},
    };
    int rc = ls__shaper_new(&rt->loop, download_ready_cb, rt, &rt->shaper);
    if (rc == 0)
        rc = ls__links_new(&links, &rt->links);
    fetcher.links = rt->links;
    fetcher.shaper = rt->shaper;
    if (rc == 0)
        rc = ls__known_new(&(ls__known_config_t){.loop = &rt->loop,
                                                 .links = rt->links,
                                                 .state_dir = rt->state_dir,
                                                 .added = rt->static_peers,
                                                 .added_count = &rt->static_peer_count},
                           &rt->known);
    if (rc == 0)
        rc = ls__server_new(&rt->loop,
                            &(ls__server_hooks_t){.partial_chunk = partial_chunk,
                                                  .have = peer_has,
                                                  .library = library_asked,
                                                  .userdata = rt},
                            &rt->server);
    if (rc == 0)
        rc = ls__relay_new(&(ls__relay_config_t){.loop = &rt->loop,
                                                 .links = rt->links,
                                                 .peerdb = rt->peerdb,
                                                 .events = &rt->events,
                                                 .identity = rt->identity,
                                                 .name = rt->name,
                                                 .announced = &rt->announced,
                                                 .peers_changed = peers_changed,
                                                 .library_settled = library_settled,
                                                 .userdata = rt},
                           &rt->relay);
    if (rc == 0)
        rc = ls__fetcher_new(&fetcher, &rt->fetcher);
    if (rc == 0) {
        ls__server_set_partial(rt->server, rt->is_swarm);
        ls__server_set_stall_ms(rt->server, rt->serve_stall_ms);
        ls__server_set_wait_ms(rt->server, rt->serve_wait_ms);
        ls__server_set_total_max(rt->server, rt->serve_total_max);
        ls__server_set_shaper(rt->server, rt->shaper);
        ls__shaper_set_upload(rt->shaper, upload_limit(rt), rt->limits.peer_upload_share);
        ls__shaper_set_download(rt->shaper, rt->limits.max_download);
        ls__fetcher_set_swarm(rt->fetcher, rt->is_swarm);
    }
    return rc;
}

void ls_rt_use_library(ls_peer_runtime_t *rt, ls_library_t *library)
{
    rt->library = library;
    ls__server_set_library(rt->server, library);
    ls__fetcher_set_library(rt->fetcher, library);
}

/* Everything that must work before ls_peer_start returns. */
static int boot(ls_peer_runtime_t *rt)
{
    int rc = ls_identity_load_or_create(rt->state_dir, &rt->identity);
    if (rc != 0) {
        ls_error("peer", "identity in %s: %s", rt->state_dir, ls_strerror(rc));
        return rc;
    }
    snprintf(rt->peer_id, sizeof rt->peer_id, "%s", ls_identity_peer_id(rt->identity));
    /* Before anything is announced, every game ends in a consistent state. */
    rc = ls_install_recover_all(rt->game_dir, recover_cb, rt);
    if (rc != 0)
        ls_warn("peer", "install recovery of %s: %s", rt->game_dir, ls_strerror(rc));
    ls_install_opts_t install_opts = {.unpacker = rt->unpacker};
    rc = ls_install_runner_new(&rt->loop, rt->game_dir, &install_opts, ls_rt_install_event_cb, rt,
                               &rt->installs);
    if (rc != 0)
        return rc;
    ls_library_config_t lib_config = {
        .game_dir = rt->game_dir, .state_dir = rt->state_dir, .catalog = rt->catalog};
    rc = ls_library_open(&lib_config, &rt->library);
    if (rc == 0)
        rc = ls_peerdb_new(&rt->peerdb);
    if (rc == 0)
        rc = make_objects(rt);
    if (rc == 0)
        ls_rt_use_library(rt, rt->library);
    for (size_t i = 0; rc == 0 && i < rt->static_peer_count; i++) {
        rc = ls__parse_address(rt->static_peers[i].address, false, &rt->static_peers[i].sockaddr);
        if (rc != 0)
            ls_error("peer", "peer address '%s' is not ADDR:PORT", rt->static_peers[i].address);
    }
    if (rc == 0)
        rc = open_endpoint(rt);
    if (rc == 0)
        rc = ls_library_scan_start(rt->library, &rt->loop, NULL, first_scan_done_cb, rt);
    rt->is_scanning = rc == 0;
    return rc;
}

static void runtime_thread(void *arg)
{
    ls_peer_runtime_t *rt = arg;
    rt->start_status = boot(rt);
    int failed = rt->start_status != 0;
    if (failed)
        shutdown_runtime(rt);
    uv_sem_post(&rt->started);
    if (!failed)
        uv_run(&rt->loop, UV_RUN_DEFAULT);
}

static int copy_config(ls_peer_runtime_t *rt, const ls_peer_config_t *config)
{
    char host[256] = "lanspread";
    gethostname(host, sizeof host - 1);
    rt->game_dir = strdup(config->game_dir);
    rt->state_dir = strdup(config->state_dir);
    rt->name = strndup(config->name ? config->name : host, LS_NAME_MAX);
    rt->listen = strdup(config->listen ? config->listen : "0.0.0.0:0");
    rt->listen_fallback = config->listen_fallback;
    rt->has_party_key = config->party_key != NULL;
    if (config->party_key)
        rt->party_key = *config->party_key;
    rt->ping_interval_ms = config->ping_interval_ms ? config->ping_interval_ms : 5000;
    rt->ping_misses_max = config->ping_misses_max ? config->ping_misses_max : 3;
    rt->reconnect_ms = config->reconnect_ms ? config->reconnect_ms : 2000;
    rt->plan_mode = config->plan_mode;
    rt->fetch_stall_ms = config->fetch_stall_ms ? config->fetch_stall_ms : 60000;
    rt->commit_hook = config->test_commit_hook;
    rt->commit_arg = config->test_commit_arg;
    rt->protocol_version =
        config->protocol_version ? config->protocol_version : LS_PROTOCOL_VERSION;
    rt->monitor_settle_ms = config->monitor_settle_ms;
    rt->is_mdns_enabled = !config->no_mdns;
    rt->is_swarm = !config->no_swarm;
    rt->is_peer_exchange = !config->no_peer_exchange;
    rt->is_relay = !config->no_relay;
    rt->links_target = config->links_target;
    rt->hello_deadline_ms = config->hello_deadline_ms;
    rt->serve_stall_ms = config->serve_stall_ms;
    rt->serve_wait_ms = config->serve_wait_ms;
    rt->serve_total_max = config->serve_total_max;
    rt->limits = config->limits;
    if (rt->limits.peer_upload_share == 0 || rt->limits.peer_upload_share > LS_SHAPER_SHARE_FULL)
        rt->limits.peer_upload_share = LS_SHAPER_SHARE_FULL;
    rt->unpacker = config->unpacker;
    if (config->static_peer_count > LS_STATIC_PEERS_MAX)
        return LS_EINVAL;
    rt->static_peer_count = config->static_peer_count;
    for (size_t i = 0; i < config->static_peer_count; i++)
        snprintf(rt->static_peers[i].address, sizeof rt->static_peers[i].address, "%s",
                 config->static_peers[i]);
    if (!rt->game_dir || !rt->state_dir || !rt->name || !rt->listen)
        return LS_ENOMEM;
    return 0;
}

static void runtime_free(ls_peer_runtime_t *rt)
{
    free_commands(take_commands(rt));
    ls__mdns_free(rt->mdns);
    ls__playing_free(rt->playing);
    ls__shaper_free(rt->shaper);
    ls__fetcher_free(rt->fetcher);
    ls__server_free(rt->server);
    ls__known_free(rt->known);
    ls__links_free(rt->links);
    ls__relay_free(rt->relay); /* after the links: their requests' callbacks ran */
    ls__covers_free(rt->covers);
    clear_rescan_queue(rt);
    ls_snapshot_free(&rt->announced);
    free(rt->pending_game_dir);
    ls_peerdb_free(rt->peerdb);
    ls_library_close(rt->library);
    ls_identity_free(rt->identity);
    free(rt->game_dir);
    free(rt->state_dir);
    free(rt->name);
    free(rt->listen);
    explicit_bzero(&rt->party_key, sizeof rt->party_key);
    uv_mutex_destroy(&rt->queue_lock);
    uv_sem_destroy(&rt->started);
    free(rt);
}

static int init_loop(ls_peer_runtime_t *rt)
{
    if (uv_loop_init(&rt->loop) != 0)
        return LS_EIO;
    uv_async_init(&rt->loop, &rt->wake, wake_cb);
    rt->wake.data = rt;
    uv_timer_init(&rt->loop, &rt->reconnect_timer);
    uv_timer_init(&rt->loop, &rt->upload_timer);
    uv_timer_init(&rt->loop, &rt->games_timer);
    rt->reconnect_timer.data = rt;
    rt->upload_timer.data = rt;
    rt->games_timer.data = rt;
    return 0;
}

int ls_peer_start(const ls_peer_config_t *config, const ls_catalog_t *catalog,
                  ls_peer_event_cb sink, void *userdata, ls_peer_runtime_t **out)
{
    ls_peer_runtime_t *rt = calloc(1, sizeof *rt);
    int rc;
    *out = NULL;
    if (!rt)
        return LS_ENOMEM;
    ls_workq_set_pool_size(); /* before this runtime first uses libuv's pool */
    rt->catalog = catalog;
    rt->events.sink = sink;
    rt->events.userdata = userdata;
    uv_mutex_init(&rt->queue_lock);
    uv_sem_init(&rt->started, 0);
    rc = copy_config(rt, config);
    if (rc == 0)
        rc = ls__covers_open(rt->state_dir, LS_COVER_CACHE_MAX, &rt->covers);
    if (rc == 0)
        rc = init_loop(rt);
    if (rc == 0 && uv_thread_create(&rt->thread, runtime_thread, rt) != 0)
        rc = LS_EIO;
    if (rc == 0) {
        uv_sem_wait(&rt->started);
        rc = rt->start_status;
        if (rc != 0) {
            uv_thread_join(&rt->thread);
            uv_run(&rt->loop, UV_RUN_DEFAULT); /* lets the closed handles finish */
            uv_loop_close(&rt->loop);
        }
    }
    if (rc != 0) {
        runtime_free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

void ls_peer_stop(ls_peer_runtime_t *rt)
{
    if (!rt)
        return;
    ls_peer_command(rt, LS_CMD_SHUTDOWN, NULL);
    uv_thread_join(&rt->thread);
    if (uv_loop_close(&rt->loop) != 0)
        ls_warn("peer", "loop closed with handles still open");
    runtime_free(rt);
}

const char *ls_peer_id(const ls_peer_runtime_t *rt)
{
    return rt->peer_id;
}

int ls_peer_listen_port(const ls_peer_runtime_t *rt)
{
    return rt->listen_port;
}

typedef struct {
    ls_peer_runtime_t *rt;
    const char *game_id;
} ls__cover_ask_t;

static int start_cover_fetch(const char *sha256, void *userdata)
{
    const ls__cover_ask_t *ask = userdata;
    ls_peer_command_t cmd = {.kind = LS_CMD_FETCH_COVER, .game_id = ask->game_id, .cover = sha256};
    return ls_peer_submit(ask->rt, &cmd);
}

int ls_peer_cover(ls_peer_runtime_t *rt, const char *game_id, const char *sha256,
                  uint32_t timeout_ms, ls_peer_cover_t *out)
{
    ls__cover_ask_t ask = {.rt = rt, .game_id = game_id};
    memset(out, 0, sizeof *out);
    if (!game_id || !ls_game_id_is_valid(game_id) || !sha256 ||
        strlen(sha256) != LS_SHA256_HEX_LEN || !ls_cover_hash_is_valid(sha256))
        return LS_EINVAL;
    return ls__covers_get(rt->covers, sha256, timeout_ms, start_cover_fetch, &ask, out);
}

size_t ls_peer_known_peers(ls_peer_runtime_t *rt, ls_known_peer_t *out, size_t max)
{
    return rt->known ? ls__known_copy(rt->known, out, max) : 0;
}
