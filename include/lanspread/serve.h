/* Serving: the answer a peer gives to each request. Deciding it reads only
 * the published library (loop thread), and a file request looks its path up
 * in place (ls_library_file: O(log n), no copy of the manifest); opening a
 * file is left to the latency lane (workq.h). Only catalog-gated,
 * downloaded games are served, and only paths that the game's manifest
 * lists, opened without following any symlink. */
#ifndef LANSPREAD_SERVE_H
#define LANSPREAD_SERVE_H

#include "lanspread/library.h"
#include "lanspread/proto.h"

/* One range of a file_batch reply. */
typedef struct {
    char *path;
    uint64_t file_size; /* as indexed */
    uint64_t offset;
    uint64_t length;
} ls_serve_range_t;

typedef struct {
    ls_msg_t header;    /* the response frame (an error frame on refusal) */
    char *game_root;    /* file replies only: where the file lives */
    char *path;         /* file replies only: relative path */
    uint64_t file_size; /* as indexed; a different size on open means it changed */
    uint64_t offset;    /* bytes [offset, offset + length) follow the header */
    uint64_t length;
    ls_serve_range_t *ranges; /* file_batch replies only: the ranges, in order */
    size_t range_count;
} ls_serve_reply_t;

/* Fills *reply for one decoded request: a response, or an error frame
 * whose code says why (unknown_game, not_downloaded, invalid_path,
 * invalid_request). Returns 0 whenever a reply was built (errors included),
 * LS_ENOMEM otherwise. Free with ls_serve_reply_free(). */
int ls_serve_prepare(const ls_library_t *library, const ls_msg_t *request, ls_serve_reply_t *reply);

/* Adds this peer's catalog entry to a `game` reply (game.meta), for a
 * requester that advertised LS_FEATURE_GAME_META; other replies are left as
 * they are. 0 or LS_ENOMEM. */
int ls_serve_add_meta(const ls_library_t *library, ls_serve_reply_t *reply);

/* True when the reply streams file bytes after its header. */
bool ls_serve_reply_has_body(const ls_serve_reply_t *reply);

/* Opens a file reply's file (blocking: call on the latency lane). Refuses a
 * path that now crosses a symlink (LS_EPATH_SYMLINK) or a file whose size
 * changed since it was indexed (LS_ECORRUPT). *fd is the caller's to close. */
int ls_serve_open(const ls_serve_reply_t *reply, int *fd);

/* Reads a file_batch reply's ranges back to back into buf (reply->length
 * bytes; blocking: call on the latency lane). Each file is opened as
 * ls_serve_open does, read and closed before the next, so a batch holds
 * at most one descriptor at a time. */
int ls_serve_read_batch(const ls_serve_reply_t *reply, uint8_t *buf);

void ls_serve_reply_free(ls_serve_reply_t *reply);

/* Swarm upload sharing (server.c): whether one more swarm chunk may start
 * for a requester. `sends` swarm chunks are being sent, `sends_to_requester`
 * of them to it; `other_wants` is true when another swarm peer was refused
 * one lately. Once more than one peer wants them, at most `shared_max` at a
 * time, whoever asks: a requester that held every send while the others
 * were answered `busy` kept the upload (a seeder sent one downloader 110 of
 * 112 MiB, window 16, while refusing the five others). A requester alone
 * takes what its window asks. */
bool ls_serve_swarm_admits(uint32_t sends, uint32_t sends_to_requester, bool other_wants,
                           uint32_t shared_max);

/* Fair order between requests waiting for an upload slot (server.c):
 * sends[i] is how many transfers the peer of the i-th waiting request (the
 * oldest first) has running now. The one to admit next: of the peer with
 * the fewest, the oldest. n > 0. */
size_t ls_serve_wait_pick(const uint32_t *sends, size_t n);

/* Whether a swarm request for a chunk this peer is sending to another swarm
 * peer right now is refused (`busy`) rather than sent again at once: only
 * from a complete copy (super-seeding: its upload feeds chunks nobody has
 * yet). A partial copy sends it again when it has room: its requesters ask
 * it only for chunks it holds (rarest first: mostly the one it just
 * announced), and a `busy` keeps a requester off it for a backoff, so
 * refusing left its upload idle (N=6 fan-out: 1.70-2.03 x with it, 1.50-1.79
 * without). */
bool ls_serve_refuses_parallel_copy(bool is_partial_copy);

/* Builds an error frame message; *msg owned by the caller (ls_msg_free). */
int ls_serve_error_msg(ls_msg_t *msg, ls_wire_error_t code, const char *message);

#endif
