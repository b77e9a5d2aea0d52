/* Local game monitor on libuv fs events: one watch on the game directory,
 * one per game root, a settle timer that batches bursts of events into one
 * rescan per game (or one full rescan when the game directory's catalog
 * changed), and a fallback timer for a periodic full scan. */
#include "monitor.h"

#include "lanspread/catalog.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

typedef struct ls_game_watch {
    struct ls_game_watch *next;
    ls_monitor_t *monitor;
    uv_fs_event_t handle;
    char id[LS_GAME_ID_MAX + 1];
    bool is_dirty; /* changed since the last rescan request */
    bool is_held;  /* changed while busy: rescan when released */
} ls_game_watch_t;

struct ls_monitor {
    uv_loop_t *loop;
    char *game_dir;
    ls_monitor_config_t config;
    uv_fs_event_t top;
    uv_timer_t settle;
    uv_timer_t fallback;
    ls_game_watch_t *games;
    bool is_catalog_dirty;  /* the catalog changed since the last full rescan request */
    bool is_full_scan_held; /* a full scan waits for operations to end */
    int open_handles;       /* freed when the last handle has closed */
};

static void free_if_closed(ls_monitor_t *m)
{
    if (m->open_handles > 0)
        return;
    free(m->game_dir);
    free(m);
}

static void handle_closed_cb(uv_handle_t *handle)
{
    ls_monitor_t *m = handle->data;
    m->open_handles--;
    free_if_closed(m);
}

static void watch_closed_cb(uv_handle_t *handle)
{
    ls_game_watch_t *w = handle->data;
    ls_monitor_t *m = w->monitor;
    free(w);
    m->open_handles--;
    free_if_closed(m);
}

static ls_game_watch_t *find_watch(ls_monitor_t *m, const char *id)
{
    for (ls_game_watch_t *w = m->games; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static void settle_cb(uv_timer_t *timer);

/* Restarting the timer on every event waits for a burst to settle. */
static void mark_dirty(ls_monitor_t *m, ls_game_watch_t *w)
{
    w->is_dirty = true;
    uv_timer_start(&m->settle, settle_cb, m->config.settle_ms, 0);
}

static void game_event_cb(uv_fs_event_t *handle, const char *filename, int events, int status)
{
    ls_game_watch_t *w = handle->data;
    (void)filename;
    (void)events;
    if (status == 0)
        mark_dirty(w->monitor, w);
}

static void drop_watch(ls_monitor_t *m, ls_game_watch_t *w)
{
    for (ls_game_watch_t **p = &m->games; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    uv_fs_event_stop(&w->handle);
    uv_close((uv_handle_t *)&w->handle, watch_closed_cb);
}

/* Watches one game root; a missing folder is fine (it was just removed). */
static ls_game_watch_t *add_watch(ls_monitor_t *m, const char *id)
{
    ls_game_watch_t *w = find_watch(m, id);
    char *root = NULL;
    if (w)
        return w;
    w = calloc(1, sizeof *w);
    root = ls_path_join(m->game_dir, id);
    if (!w || !root) {
        free(w);
        free(root);
        return NULL;
    }
    w->monitor = m;
    snprintf(w->id, sizeof w->id, "%s", id);
    uv_fs_event_init(m->loop, &w->handle);
    w->handle.data = w;
    m->open_handles++;
    w->next = m->games;
    m->games = w;
    if (ls_fs_is_dir(root) == 1 && uv_fs_event_start(&w->handle, game_event_cb, root, 0) != 0)
        ls_warn("monitor", "%s: cannot watch; the periodic scan will catch changes", id);
    free(root);
    return w;
}

static void top_event_cb(uv_fs_event_t *handle, const char *filename, int events, int status)
{
    ls_monitor_t *m = handle->data;
    if (status == 0 && filename && strcmp(filename, LS_LOCAL_CATALOG_FILE) == 0) {
        m->is_catalog_dirty = true;
        uv_timer_start(&m->settle, settle_cb, m->config.settle_ms, 0);
        return;
    }
    if (status != 0 || !filename || !ls_game_id_is_valid(filename))
        return;
    /* The folder may have been removed or re-created: its old watch would
     * point at nothing, so every top-level event renews the game's watch. */
    ls_game_watch_t *w = find_watch(m, filename);
    if (w)
        drop_watch(m, w);
    w = add_watch(m, filename);
    if (w)
        mark_dirty(m, w);
}

static bool any_busy(ls_monitor_t *m, const char *except);

/* The catalog gates every game: its change rescans them all, which covers
 * every game marked dirty too. Like the fallback scan, that waits while an
 * operation runs; the games marked meanwhile are rescanned one by one. */
static bool settle_catalog(ls_monitor_t *m)
{
    if (!m->is_catalog_dirty)
        return false;
    m->is_catalog_dirty = false;
    if (any_busy(m, NULL)) {
        m->is_full_scan_held = true;
        return false;
    }
    for (ls_game_watch_t *w = m->games; w; w = w->next)
        w->is_dirty = false;
    m->config.rescan_cb(NULL, m->config.userdata);
    return true;
}

static void settle_cb(uv_timer_t *timer)
{
    ls_monitor_t *m = timer->data;
    if (settle_catalog(m))
        return;
    for (ls_game_watch_t *w = m->games; w; w = w->next) {
        if (!w->is_dirty)
            continue;
        w->is_dirty = false;
        if (m->config.busy_cb && m->config.busy_cb(w->id, m->config.userdata)) {
            w->is_held = true;
            continue;
        }
        m->config.rescan_cb(w->id, m->config.userdata);
    }
}

/* Is any game other than `except` (may be NULL) in an operation? */
static bool any_busy(ls_monitor_t *m, const char *except)
{
    if (!m->config.busy_cb)
        return false;
    for (ls_game_watch_t *w = m->games; w; w = w->next)
        if ((!except || strcmp(w->id, except) != 0) && m->config.busy_cb(w->id, m->config.userdata))
            return true;
    return false;
}

/* A full scan would rescan a game in the middle of an operation too (a
 * download has moved its version.ini aside), so it waits until none runs. */
static void fallback_cb(uv_timer_t *timer)
{
    ls_monitor_t *m = timer->data;
    if (any_busy(m, NULL)) {
        m->is_full_scan_held = true;
        return;
    }
    m->config.rescan_cb(NULL, m->config.userdata);
}

static void watch_existing_games(ls_monitor_t *m)
{
    DIR *dir = opendir(m->game_dir);
    struct dirent *entry;
    if (!dir)
        return;
    while ((entry = readdir(dir)) != NULL)
        if (ls_game_id_is_valid(entry->d_name))
            add_watch(m, entry->d_name);
    closedir(dir);
}

int ls_monitor_start(uv_loop_t *loop, const ls_monitor_config_t *config, ls_monitor_t **out)
{
    ls_monitor_t *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m || !(m->game_dir = strdup(config->game_dir))) {
        free(m);
        return LS_ENOMEM;
    }
    m->loop = loop;
    m->config = *config;
    m->config.game_dir = m->game_dir;
    if (!m->config.settle_ms)
        m->config.settle_ms = 300;
    if (!m->config.fallback_ms)
        m->config.fallback_ms = 300000;
    uv_fs_event_init(loop, &m->top);
    uv_timer_init(loop, &m->settle);
    uv_timer_init(loop, &m->fallback);
    m->top.data = m->settle.data = m->fallback.data = m;
    m->open_handles = 3;
    int rc = uv_fs_event_start(&m->top, top_event_cb, m->game_dir, 0);
    if (rc != 0) {
        ls_error("monitor", "cannot watch %s: %s", m->game_dir, uv_strerror(rc));
        ls_monitor_stop(m);
        return LS_EIO;
    }
    watch_existing_games(m);
    uv_timer_start(&m->fallback, fallback_cb, m->config.fallback_ms, m->config.fallback_ms);
    *out = m;
    return 0;
}

void ls_monitor_release(ls_monitor_t *m, const char *game_id)
{
    if (!m)
        return;
    ls_game_watch_t *w = find_watch(m, game_id);
    if (m->is_full_scan_held && !any_busy(m, game_id)) {
        m->is_full_scan_held = false;
        if (w)
            w->is_held = false; /* the full scan covers it */
        m->config.rescan_cb(NULL, m->config.userdata);
        return;
    }
    if (!w || !w->is_held)
        return;
    w->is_held = false;
    m->config.rescan_cb(w->id, m->config.userdata);
}

void ls_monitor_stop(ls_monitor_t *m)
{
    if (!m)
        return;
    while (m->games)
        drop_watch(m, m->games);
    uv_close((uv_handle_t *)&m->top, handle_closed_cb);
    uv_close((uv_handle_t *)&m->settle, handle_closed_cb);
    uv_close((uv_handle_t *)&m->fallback, handle_closed_cb);
}
