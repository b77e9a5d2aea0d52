/* The playing watch: is a game of the library running on this PC?
 *
 * A game runs when some process's executable lies under a game's install
 * directory: GAME_DIR/<id>/LS_INSTALL_DIR/... (as /proc/PID/exe names it).
 * Every LS_PLAYING_SCAN_MS a job on libuv's pool (the latency lane) walks
 * /proc; changed_cb tells the loop when the game found changes (NULL: none
 * runs any more). Processes of other users whose exe we may not read are
 * not seen: games run as the user who runs the daemon.
 *
 * What it costs an idle PC: the runtime disarms the watch while no library
 * game is installed (nothing can run from a local/ that does not exist),
 * and a walk lists /proc but reads a process's exe only when it is new or
 * young, or the game found, and every other process once per
 * LS_PLAYING_RECHECK_WALKS walks (ls__playing_walk).
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
/* Whether any library game (one the library lists: in its catalog) is
 * installed; the runtime also arms it while a new game directory is not
 * scanned yet. Unarmed (the state after start) the watch reads nothing,
 * finds no game and remembers no process. */
void ls__playing_set_armed(ls__playing_t *p, bool is_armed);
/* Walk jobs ended since the game directory was last set (tests); none
 * runs while the watch is unarmed. */
uint32_t ls__playing_walks(const ls__playing_t *p);
/* The game found by the last scan ("" when none). */
const char *ls__playing_game(const ls__playing_t *p);
void ls__playing_stop(ls__playing_t *p);
void ls__playing_free(ls__playing_t *p);

/* A process first listed fewer than this many walks ago has its exe read
 * every walk: a launcher script that execs its game does so within
 * seconds of its start. */
#define LS_PLAYING_YOUNG_WALKS 5
/* Every other process has its exe read once per this many walks, at a
 * phase its pid sets (so the reads spread evenly): a long-running process
 * that execs a game, or a pid reused between two walks, is noticed within
 * this many walks. */
#define LS_PLAYING_RECHECK_WALKS 10
/* The most processes remembered from one walk to the next; any beyond
 * have their exe read every walk. */
#define LS_PLAYING_REMEMBER_MAX 65536

typedef struct {
    long pid;
    uint32_t first_walk; /* the walk that first listed it */
    bool is_game;        /* its exe lay under a game's local/ when last read */
} ls__playing_proc_t;

/* What one walk remembers for the next. Zeroed is a fresh state. */
typedef struct {
    ls__playing_proc_t *procs; /* the last walk's processes, by pid */
    size_t count;
    uint32_t walks; /* walks done */
    size_t reads;   /* exe links the last walk read */
} ls__playing_walk_t;

/* One walk (any thread; one walk state per thread at a time): the id of a
 * game whose local/ holds the executable of a process listed in proc_dir,
 * into id (size LS_GAME_ID_MAX + 1); "" when none. game_dir must be
 * canonical (no symlinks, no trailing slash), as /proc shows executables;
 * a walk state belongs to one game_dir (free it when that changes). */
void ls__playing_walk(ls__playing_walk_t *walk, const char *proc_dir, const char *game_dir,
                      char *id);
void ls__playing_walk_free(ls__playing_walk_t *walk);

#endif
