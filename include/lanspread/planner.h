/* The download planner: which chunk each serving peer should fetch next.
 *
 * Pure logic: no I/O, no threads, no clock of its own (every call that needs
 * the time takes `now_ms`, any monotonic millisecond clock). It runs on the
 * loop thread; nothing in it blocks. Not thread-safe: one owner.
 *
 * Chunks of the selected files go into one shared queue. Each peer pulls the
 * next chunk while its window of chunks in flight has room; the window follows
 * the peer's measured throughput and latency (1 + enough chunks to cover
 * throughput x latency, between 3 and max_window; latency is measured from
 * requests sent to an idle peer) and halves on a failure, so a
 * fast peer takes more and a slow or failing one less. Endgame: once the queue
 * is empty, an idle peer may be given a duplicate of a chunk still in flight
 * elsewhere; the first verified answer wins and the planner names the other
 * request to cancel. */
#ifndef LANSPREAD_PLANNER_H
#define LANSPREAD_PLANNER_H

#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_PLANNER_PEERS_MAX 64    /* serving peers per download */
#define LS_PLANNER_PEER_ID_MAX 128 /* bytes of a peer id */
#define LS_MAX_RETRY_COUNT 5       /* tries per chunk before the download fails */
#define LS_PLANNER_REASON_MAX 512
/* A chunk a peer answered `busy` for is not asked of that peer again for
 * a while (it is being sent to another downloader: get it from them):
 * LS_PLANNER_BUSY_BACKOFF_MS_PER_MIB per MiB of the manifest's chunk size,
 * about 1.5 chunk times on a 200 Mbit/s link. A fixed 250 ms (chosen with
 * 4 MiB chunks) was six 1 MiB chunk times: the chunk was whole at the other
 * downloader, or the peer free again, long before it was asked again. */
#define LS_PLANNER_BUSY_BACKOFF_MS_PER_MIB 62
#define LS_PLANNER_MIB (1024u * 1024u)
/* `given` answers in a row (no chunk delivered between) after which a
 * peer is backed off like after `busy` (ls_planner_given). */
#define LS_PLANNER_GIVEN_RUN_MAX 2
/* A chunk a peer answered `given` for is not asked of it again for this
 * many `busy` backoffs (its receiver announces it meanwhile). */
#define LS_PLANNER_GIVEN_HOLD_BACKOFFS 4

typedef enum {
    LS_PLAN_ADAPTIVE = 0,
    /* The seed's plan, kept for comparison: chunk i belongs to peer i mod n,
     * fixed window, no endgame, a failed chunk moves to the next peer. */
    LS_PLAN_ROUND_ROBIN = 1,
} ls_plan_mode_t;

typedef struct {
    ls_plan_mode_t mode;
    uint32_t initial_window; /* chunks in flight before a rate is measured; 0 = 2 */
    uint32_t max_window;     /* 0 = 16 */
    uint32_t latency_ms;     /* latency estimate until measured per peer; 0 = 50 */
    uint32_t max_retry;      /* tries per chunk; 0 = LS_MAX_RETRY_COUNT */
    uint32_t max_bad_chunks; /* bad chunks before a peer is dropped; 0 = 2 */
    /* Swarm: never-sent chunks are picked rarest first (fewest active peers
     * hold them), ties broken at random, instead of in file order, so that
     * downloaders of one seeder fetch different chunks and can trade them.
     * seed: the random generator's (give each downloader its own). */
    bool is_rarest_first;
    uint64_t seed;
    /* Losing every peer does not fail the download: the caller waits for
     * one to join (ls_planner_has_active_peer) and decides when to give up.
     * false: it fails at once with LS_ENOPEERS. */
    bool waits_for_peers;
} ls_planner_config_t;

/* One request: a chunk given to one peer. `ticket` identifies the request
 * (an endgame duplicate of the same chunk has its own ticket). */
typedef struct {
    uint64_t ticket;
    size_t file_index;  /* into manifest->files */
    size_t chunk_index; /* within that file */
    size_t chunk_id;    /* over the whole manifest (resume bitmap index) */
    uint64_t offset;
    uint64_t length;
    uint32_t peer; /* peer slot, see ls_planner_peer_id() */
} ls_assignment_t;

/* What ls_planner_done() decided. */
typedef struct {
    bool counted;           /* the chunk is now done: write it */
    bool has_cancel;        /* a duplicate request must be cancelled: */
    ls_assignment_t cancel; /*   this one (its peer slot is cancel.peer) */
    bool peer_dropped;      /* the reporting peer is dropped from this download */
} ls_plan_outcome_t;

typedef struct {
    const char *peer_id; /* owned by the planner */
    uint64_t bytes_done; /* verified bytes this peer delivered */
    uint64_t rate_bps;   /* verified bytes per second from it over the window of rate_bps
                            in ls_plan_progress_t (0 before the second sample) */
    uint32_t latency_ms; /* measured request latency (config value until measured) */
    uint32_t window;
    uint32_t in_flight;
    uint32_t bad_chunks;
    uint32_t requests;     /* requests handed out to it (diagnostics) */
    uint32_t busy_answers; /* of them answered `busy` (diagnostics) */
    bool is_active;        /* false once lost or dropped */
    bool is_partial;       /* a downloader serving its partial copy, not a complete seeder */
} ls_plan_peer_stat_t;

typedef struct {
    uint64_t bytes_done;  /* verified, including chunks resumed from disk */
    uint64_t bytes_total; /* of the selected files */
    uint64_t rate_bps;    /* overall, since the previous progress sample */
    size_t chunks_done;
    size_t chunks_total;
    size_t peer_count; /* entries filled in peers[] */
} ls_plan_progress_t;

typedef struct ls_planner ls_planner_t;

/* Builds a plan for the chunks of `selected` (indices into manifest->files;
 * NULL means every file) served by `peer_ids`. `resume_bitmap`, when not
 * NULL, has one bit per manifest chunk (LSB first, see ls_resume_*): chunks
 * set there are already verified on disk and are not planned. `config` may be
 * NULL for the defaults. The manifest must outlive the planner; peer ids are
 * copied. *out is freed with ls_planner_free(). */
int ls_planner_new(const ls_game_manifest_t *manifest, const size_t *selected,
                   size_t selected_count, const char *const *peer_ids, size_t peer_count,
                   const uint8_t *resume_bitmap, const ls_planner_config_t *config,
                   ls_planner_t **out);
void ls_planner_free(ls_planner_t *planner);

/* How long a chunk a peer answered `busy` for stays off that peer (see
 * LS_PLANNER_BUSY_BACKOFF_MS_PER_MIB): when to ask again. */
uint64_t ls_planner_busy_backoff_ms(const ls_planner_t *planner);

/* A complete seeder that starts serving mid-download, or a lost one that
 * reconnects (same slot; LS_EEXIST if it is active, LS_EPEER_GONE if it was
 * dropped for bad data or failing streams). It holds every chunk: a peer
 * known from a partial copy (ls_planner_peer_has) that was lost and joins
 * again as a seeder (it finished) forgets its old bitmap. *slot receives
 * its slot. A download that has already failed stays failed. */
int ls_planner_add_peer(ls_planner_t *planner, const char *peer_id, uint32_t *slot);
/* True when ls_planner_add_peer would take the peer: it is new to this
 * download, or was lost (not dropped) and may come back. */
bool ls_planner_peer_can_join(const ls_planner_t *planner, const char *peer_id);
/* The chunks a peer holds: a bitmap over the manifest's chunk ids (as in the
 * resume file) of chunk_total bits, copied; NULL: every chunk (a complete
 * seeder, what a peer is when added). A peer is given only chunks it holds,
 * endgame duplicates included. LS_EINVAL for an unknown slot or a bitmap
 * of another size. */
int ls_planner_set_have(ls_planner_t *planner, uint32_t slot, const uint8_t *bitmap,
                        size_t chunk_total);
/* A peer announced the chunks it holds (`have`): added if new to this
 * download, back in if it was lost (a replaced link drops a peer from the
 * download, and its next `have` comes on the new link: without this a
 * downloader whose link was replaced at the start was never asked again by
 * that peer), then given the bitmap as ls_planner_set_have. LS_EPEER_GONE
 * for a peer dropped for bad data or failing streams, LS_ECANCELED once the
 * download failed. */
int ls_planner_peer_has(ls_planner_t *planner, const char *peer_id, const uint8_t *bitmap,
                        size_t chunk_total, uint32_t *slot);
/* A peer that takes many small requests at once (LS_FEATURE_BATCH): its
 * window counts bytes (the window in chunks x chunk_size) rather than
 * requests, with at most requests_max requests in flight; 0 restores the
 * window in requests. LS_EINVAL for an unknown slot. */
int ls_planner_set_requests_max(ls_planner_t *planner, uint32_t slot, uint32_t requests_max);
/* True for a peer that holds part of the game (ls_planner_set_have). */
bool ls_planner_peer_is_partial(const ls_planner_t *planner, uint32_t slot);
/* A peer in this download as a partial copy whose bitmap holds every chunk
 * of the manifest, and that now lists the game complete: from here on it
 * is a complete seeder (ls_planner_set_have with NULL), with no get_game
 * round trip. False, changing nothing, for an unknown, lost or dropped
 * peer, a complete seeder already, or a copy that lacks a chunk (one of
 * fewer files, say). O(peers): the bitmap was counted when it was set. */
bool ls_planner_promote_seeder(ls_planner_t *planner, const char *peer_id);
/* Slot of a peer id, or LS_ENOENT. */
int ls_planner_peer_slot(const ls_planner_t *planner, const char *peer_id, uint32_t *slot);
/* The id of a slot; NULL when out of range. Owned by the planner. */
const char *ls_planner_peer_id(const ls_planner_t *planner, uint32_t slot);

/* The next chunk `peer` should request now. Returns 0 with *out filled,
 * LS_EAGAIN when there is nothing for it now (window full, queue empty and no
 * useful duplicate), LS_EPEER_GONE for a lost or dropped peer, LS_ECANCELED
 * once the download has finished or failed. */
int ls_planner_next(ls_planner_t *planner, uint32_t peer, uint64_t now_ms, ls_assignment_t *out);

/* A request completed with `bytes` of data; `verified_ok` says whether they
 * matched the manifest's SHA-256. Returns LS_ESTATE for a ticket the planner
 * no longer knows (cancelled or lost): drop its data. */
int ls_planner_done(ls_planner_t *planner, const ls_assignment_t *a, uint64_t bytes,
                    uint64_t now_ms, bool verified_ok, ls_plan_outcome_t *outcome);

/* A request failed without data (stream reset, timeout, remote error): the
 * chunk goes back to the queue, counts a try, and the peer's window halves.
 * `reason` is kept for the failure message. LS_EBUSY (the peer answered
 * `busy`: at its upload limit) is no failure of the chunk: it goes back to
 * the queue without a try or a penalty, and the peer's window halves.
 * LS_EPEER_GONE (the connection it went out on closed: the peer restarted
 * and a new connection replaced the old one, with no ls_planner_peer_lost)
 * is what a loss does to a request: the chunk goes back to the queue, no
 * try, no failure counted against the peer. A seeder restarted again and
 * again is neither dropped nor fails the chunks it held. */
int ls_planner_failed(ls_planner_t *planner, const ls_assignment_t *a, int reason);

/* The peer answered `given`: it sent this chunk to another swarm peer just
 * now, and its upload takes other chunks (super-seeding). The chunk goes
 * back to the queue without a try and stays off this peer for
 * LS_PLANNER_GIVEN_HOLD_BACKOFFS `busy` backoffs; the peer keeps its
 * window and is asked for another chunk at once, unless this is its
 * LS_PLANNER_GIVEN_RUN_MAX-th `given` in a row with no chunk delivered
 * between: then it is backed off like `busy`. */
int ls_planner_given(ls_planner_t *planner, const ls_assignment_t *a);

/* The peer is gone: every chunk it held goes back to the queue without
 * counting a try. */
int ls_planner_peer_lost(ls_planner_t *planner, uint32_t peer);

/* Chunks never handed out and chunks handed back, waiting for a peer: 0
 * once every chunk left is in flight (the endgame). */
size_t ls_planner_unsent(const ls_planner_t *planner);

/* Bytes of a request to `peer` (its slot) that have arrived and are not
 * yet done (verified): the rates of the next ls_planner_progress count
 * them, which then forgets them. The caller adds every such request before
 * each call, so a rate follows the bytes as they come: chunks received
 * side by side under an upload limit were done together, and the rate
 * read 0 and then a burst. Progress rates only; no effect on scheduling. */
void ls_planner_add_arriving(ls_planner_t *planner, uint32_t peer, uint64_t bytes);
/* Fills `progress` and up to `peer_cap` entries of `peers` (may be NULL). */
void ls_planner_progress(ls_planner_t *planner, uint64_t now_ms, ls_plan_progress_t *progress,
                         ls_plan_peer_stat_t *peers, size_t peer_cap);
/* True at most about 4 times a second: when it returns true, emit a
 * progress event. */
bool ls_planner_progress_due(ls_planner_t *planner, uint64_t now_ms);

bool ls_planner_is_finished(const ls_planner_t *planner);
/* True while at least one peer serves this download (not lost or dropped). */
bool ls_planner_has_active_peer(const ls_planner_t *planner);
/* True once the download cannot finish; *code (LS_ERETRIES, LS_ENOPEERS) and
 * *reason (owned by the planner, names the file and chunk) explain why. */
bool ls_planner_has_failed(const ls_planner_t *planner, int *code, const char **reason);

/* Chunks over the whole manifest (directories have none), and the manifest
 * chunk id of (file, 0). */
size_t ls_manifest_chunk_total(const ls_game_manifest_t *manifest);
size_t ls_manifest_chunk_base(const ls_game_manifest_t *manifest, size_t file_index);

#endif
