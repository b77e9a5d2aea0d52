/* The playing watch: is a game of the library running on this PC?
 *
 * A game runs when some process's executable lies under a game's install
 * directory: GAME_DIR/<id>/LS_INSTALL_DIR/... (as /proc/PID/exe names it).
 * Every LS_PLAYING_SCAN_MS a job on libuv's pool (the latency lane: a
 * readlink per process, well under a millisecond for a few hundred) reads
 * /proc; changed_cb tells the loop when the game found changes (NULL: none
 * runs any more). Processes of other users whose exe we may not read are
 * not seen: games run as the user who runs the daemon.
 *
 * Threads: loop thread only, except the job. Lifetime: ls__playing_stop
 * when the runtime shuts down (a job in flight ends quietly), then
 * ls__playing_free after the loop ended. */
#ifndef LS_PEER_PLAYING_H
#define LS_PEER_PLAYING_H

#include "lanspread/library.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How often /proc is read: a game that starts or ends is noticed within
 * this (plus the job's time). */
#define LS_PLAYING_SCAN_MS 1000
/* Where processes are listed; tests point elsewhere only by not running. */
#define LS_PLAYING_PROC_DIR "/proc"

typedef struct ls__playing ls__playing_t;

/* game_id: the running game, NULL when none runs any more. */
typedef void (*ls__playing_cb)(const char *game_id, void *userdata);

int ls__playing_start(uv_loop_t *loop, const char *game_dir, ls__playing_cb changed_cb,
                      void *userdata, ls__playing_t **out);
/* The game directory changed: later scans look there. */
int ls__playing_set_game_dir(ls__playing_t *p, const char *game_dir);
/* The game found by the last scan ("" when none). */
const char *ls__playing_game(const ls__playing_t *p);
void ls__playing_stop(ls__playing_t *p);
void ls__playing_free(ls__playing_t *p);

/* The scan itself (any thread): the id of a game whose local/ holds the
 * executable of a process listed in proc_dir, into id (size
 * LS_GAME_ID_MAX + 1); "" when none. game_dir must be canonical (no
 * symlinks, no trailing slash), as /proc shows executables. */
void ls__playing_scan(const char *proc_dir, const char *game_dir, char *id);

#endif
