/* Install, update and uninstall of one game as crash-safe transactions, the
 * startup recovery that finishes or undoes an interrupted one, and a runner
 * that executes them on the install lane (workq.h), off libuv's pool.
 *
 * A game root holds the downloaded files (version.ini and archives) and,
 * once installed, the unpacked game in local/. Every operation records what
 * it is doing in the intent log .lanspread.json before it touches local/;
 * see docs/ARCHITECTURE.md, "Install transactions". */
#ifndef LANSPREAD_INSTALL_H
#define LANSPREAD_INSTALL_H

#include "lanspread/unpack.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LS_INTENT_FORMAT 1
/* The intent log is refused unread when larger than this. */
#define LS_INTENT_MAX 4096
/* Enough for every reason an operation writes. */
#define LS_REASON_MAX 768

typedef enum {
    LS_INSTALL_OP_INSTALL = 1,
    LS_INSTALL_OP_UPDATE,
    LS_INSTALL_OP_UNINSTALL,
} ls_install_op_t;

/* Phases, in the order an operation passes them. Each is written to the
 * intent log before the step it names begins.
 * install:   UNPACKING -> COMMITTING
 * update:    UNPACKING -> SWAPPING -> CLEANUP
 * uninstall: MOVING -> REMOVING */
typedef enum {
    LS_PHASE_UNPACKING = 1, /* filling .local.installing/ */
    LS_PHASE_COMMITTING,    /* .local.installing/ is complete, becomes local/ */
    LS_PHASE_SWAPPING,      /* local/ -> .local.backup/local, .local.installing/ -> local/ */
    LS_PHASE_CLEANUP,       /* new local/ in place, removing .local.backup/ */
    LS_PHASE_MOVING,        /* local/ -> .local.backup/local */
    LS_PHASE_REMOVING,      /* removing .local.backup/ */
} ls_install_phase_t;

/* Bits of ls_intent_t.owns: reserved folders the operation created. */
#define LS_OWNS_INSTALLING 0x1u /* .local.installing/ */
#define LS_OWNS_BACKUP 0x2u     /* .local.backup/ */

/* The decoded intent log. */
typedef struct {
    ls_install_op_t op;
    ls_install_phase_t phase;
    unsigned owns;
} ls_intent_t;

const char *ls_install_op_name(ls_install_op_t op);
const char *ls_install_phase_name(ls_install_phase_t phase);

/* Strict decoder: {"format":1,"op":"...","phase":"...","owns":[...]} with
 * no other field, no duplicate key, a phase that belongs to the op, owned
 * names from the two reserved folders, each at most once and only those the
 * phase may have created (recovery deletes what is owned). Refuses input
 * over LS_INTENT_MAX bytes. Returns 0, LS_EINTENT or LS_EVERSION; writes a
 * message into detail when non-NULL. No memory to free. */
int ls_intent_decode(const char *buf, size_t len, ls_intent_t *out, char *detail,
                     size_t detail_len);

/* Encodes canonically; *out is NUL-terminated, owned by the caller (free()). */
int ls_intent_encode(const ls_intent_t *intent, char **out, size_t *out_len);

/* Reads game_root/.lanspread.json: 0 and *out filled, LS_ENOENT when there
 * is none, LS_EINTENT (or LS_ETOOBIG) when it cannot be trusted. */
int ls_intent_read(const char *game_root, ls_intent_t *out, char *detail, size_t detail_len);

/* Writes game_root/.lanspread.json atomically (temp, fsync, rename, dir fsync). */
int ls_intent_write(const char *game_root, const ls_intent_t *intent);

typedef void (*ls_install_progress_cb)(uint64_t done, uint64_t total, void *userdata);

typedef struct {
    const ls_unpacker_t *unpacker; /* NULL: ls_unpacker_libarchive() */
    uint64_t max_entry_size;       /* see ls_unpack_opts_t; 0: free space */
    /* Bytes of archive files consumed / their total size. Called from the
     * thread running the operation. May be NULL. */
    ls_install_progress_cb progress;
    void *userdata;
} ls_install_opts_t;

/* The blocking transactions. `game_root` is the game's folder; `opts` may be
 * NULL; `reason` receives a message on failure (may be NULL). Each first
 * runs ls_install_recover() when an intent log is present. On failure
 * everything is rolled back: the game is as it was before the call.
 *
 * Install: refuses a game that is not downloaded (LS_ENOT_DOWNLOADED) or
 * already installed (LS_EINSTALLED); unpacks every archive at the root, in
 * name order, into .local.installing/, then renames it to local/. A game
 * without archives gets an empty local/.
 * Update: needs local/ (LS_ENOT_INSTALLED); unpacks into .local.installing/,
 * moves local/ to .local.backup/local, renames .local.installing/ to local/,
 * removes the backup.
 * Uninstall: needs local/; moves it to .local.backup/local and removes that.
 * A reserved folder in the way that carries no .lanspread_owned marker is the
 * user's: the operation fails with LS_ENOT_OWNED and leaves it alone.
 * Operations (and recovery) on one game never overlap: each holds an
 * exclusive flock(2) on the game folder, and one that finds it held by
 * another thread or process fails at once with LS_EBUSY. */
int ls_install_game(const char *game_root, const ls_install_opts_t *opts, char *reason,
                    size_t reason_len);
int ls_update_game(const char *game_root, const ls_install_opts_t *opts, char *reason,
                   size_t reason_len);
int ls_uninstall_game(const char *game_root, char *reason, size_t reason_len);

/* Runs one of the three above. */
int ls_install_run(ls_install_op_t op, const char *game_root, const ls_install_opts_t *opts,
                   char *reason, size_t reason_len);

typedef enum {
    LS_RECOVER_CLEAN = 0,      /* nothing was interrupted */
    LS_RECOVER_ROLLED_BACK,    /* the state before the operation was restored */
    LS_RECOVER_ROLLED_FORWARD, /* the interrupted operation was completed */
    LS_RECOVER_LEFTOVERS,      /* only Lanspread's leftover folders were removed */
} ls_recover_action_t;

typedef struct {
    ls_recover_action_t action;
    ls_install_op_t op;  /* 0 when there was no usable intent */
    bool intent_corrupt; /* the intent log could not be read; it was removed */
    char reason[LS_REASON_MAX];
} ls_recover_report_t;

/* Startup recovery of one game root: from the intent log and what is on
 * disk, leaves either the state before or after the interrupted operation,
 * removes the intent log, and deletes a reserved folder only when the intent
 * or its marker proves it is Lanspread's. A corrupt intent log is reported
 * (report->intent_corrupt) and handled conservatively: local/ is kept, or
 * restored from an owned backup. Returns 0 when the root is consistent,
 * otherwise a negative code and the intent log stays for another attempt
 * (LS_EBUSY while an operation on the game is running).
 * `report` may be NULL. Blocking. */
int ls_install_recover(const char *game_root, ls_recover_report_t *report);

/* Called once per game that needed recovery (or failed it). */
typedef void (*ls_recover_cb)(const char *game_id, int rc, const ls_recover_report_t *report,
                              void *userdata);

/* Recovers every game folder (valid game id) under games_dir. Returns 0 when
 * all succeeded, else the first failure's code; every game is attempted.
 * Call before the library is scanned or announced. `cb` may be NULL. */
int ls_install_recover_all(const char *games_dir, ls_recover_cb cb, void *userdata);

/* ---- Runner: one operation at a time per game, on the install lane ---- */

typedef enum {
    LS_INSTALL_EV_BEGIN = 1, /* the operation started on the install lane */
    LS_INSTALL_EV_PROGRESS,  /* done/total; coalesced, may be skipped */
    LS_INSTALL_EV_FINISHED,
    LS_INSTALL_EV_FAILED, /* error and reason */
} ls_install_event_kind_t;

typedef struct {
    ls_install_event_kind_t kind;
    ls_install_op_t op;
    const char *game_id;
    uint64_t done, total; /* PROGRESS */
    int error;            /* FAILED: LS_E* code */
    const char *reason;   /* FAILED: message */
} ls_install_event_t;

/* Called on the loop thread; strings in `ev` are valid only during the call.
 * It may call ls_install_runner_submit() and _is_busy(). The game is no
 * longer busy when FINISHED or FAILED is delivered. */
typedef void (*ls_install_event_cb)(const ls_install_event_t *ev, void *userdata);

typedef struct ls_install_runner ls_install_runner_t;

/* Creates a runner for the games under games_dir. `opts` is copied (the
 * unpacker it points to must outlive the runner). Free with
 * ls_install_runner_close(). */
int ls_install_runner_new(uv_loop_t *loop, const char *games_dir, const ls_install_opts_t *opts,
                          ls_install_event_cb cb, void *userdata, ls_install_runner_t **out);

/* Queues `op` for game_id. A game that already has an operation running is
 * refused with LS_EBUSY (nothing is queued); an invalid id with
 * LS_EINVALID_ID. Operations of different games share the install lane's
 * LS_WORKQ_INSTALL_THREADS thread(s): a later one begins (BEGIN) when an
 * earlier one ends. Loop thread only. */
int ls_install_runner_submit(ls_install_runner_t *r, ls_install_op_t op, const char *game_id);

/* True while an operation on game_id is queued or running: the local
 * monitor holds back rescans of that game meanwhile. Loop thread only. */
bool ls_install_runner_is_busy(const ls_install_runner_t *r, const char *game_id);

/* Stops delivering events and frees the runner once running operations have
 * finished (they cannot be interrupted); keep running the loop until then.
 * Loop thread only. */
void ls_install_runner_close(ls_install_runner_t *r);

#endif
