/* The local game monitor: watches the game directory and each game root
 * (non-recursively) and asks for a rescan of just the game that changed,
 * holding a game back while an operation runs on it. A change of the game
 * directory's catalog (LS_LOCAL_CATALOG_FILE) asks for a full rescan, and a
 * periodic full scan catches what the watches miss; both wait while any
 * operation runs. */
#ifndef LS_PEER_MONITOR_H
#define LS_PEER_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct ls_monitor ls_monitor_t;

/* Is an operation (download, install, uninstall) running on this game? */
typedef bool (*ls_monitor_busy_cb)(const char *game_id, void *userdata);
/* Rescan one game, or everything when game_id is NULL. */
typedef void (*ls_monitor_rescan_cb)(const char *game_id, void *userdata);

typedef struct {
    const char *game_dir;
    uint32_t settle_ms;   /* quiet time before a change is acted on; default 300 */
    uint32_t fallback_ms; /* full scan period; default 300000 */
    ls_monitor_busy_cb busy_cb;
    ls_monitor_rescan_cb rescan_cb;
    void *userdata;
} ls_monitor_config_t;

/* Starts watching on loop. *out freed by ls_monitor_stop. */
int ls_monitor_start(uv_loop_t *loop, const ls_monitor_config_t *config, ls_monitor_t **out);

/* An operation on game_id ended: if changes were held back, rescan it once;
 * if a full scan (periodic or for the catalog) was held back and no other
 * operation runs, run that instead. */
void ls_monitor_release(ls_monitor_t *monitor, const char *game_id);

/* Closes every watch; the memory goes once libuv has closed the handles. */
void ls_monitor_stop(ls_monitor_t *monitor);

#endif
