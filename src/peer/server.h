/* Serving: the streams other peers open to us, one request frame in and one
 * reply out. The handshake and library deltas are the link's business (this
 * only carries them); file requests are answered from the library through
 * the transport's file source. Loop thread only. */
#ifndef LS_PEER_SERVER_H
#define LS_PEER_SERVER_H

#include "link.h"
#include "shaper.h"

#include "lanspread/library.h"
#include "lanspread/path.h"

#include <uv.h>

typedef struct ls__server ls__server_t;

/* A chunk of a game this peer is still downloading, when the download has
 * verified and written it: where its file lives. */
typedef struct {
    char *game_root; /* owned by the caller of the hook after it returns true */
    uint64_t file_size;
} ls__partial_chunk_t;

typedef struct {
    /* 0 when (game, path, offset, length) is exactly one verified and
     * written chunk of a running download (the fetcher's), *out filled;
     * LS_ENOT_DOWNLOADED when such a download runs but that is not (yet)
     * such a chunk; LS_ENOENT when no download of the game runs. */
    int (*partial_chunk)(const char *game_id, const char *path, uint64_t offset, uint64_t length,
                         ls__partial_chunk_t *out, void *userdata);
    /* A `have` from a ready peer (answered have_ack here). */
    void (*have)(ls_link_t *link, const ls_have_t *have, void *userdata);
    /* A get_library from a ready peer: *answer becomes signed_library or an
     * error frame (sent and freed here); or, with may_wait, it returns true
     * and sets nothing: the library is being fetched, and the stream waits
     * for ls__server_library_recheck (see LS_SERVE_LIBRARY_WAITERS_MAX). */
    bool (*library)(const ls_link_t *asker, const char *peer_id, bool may_wait, ls_msg_t *answer,
                    void *userdata);
    void *userdata;
} ls__server_hooks_t;

/* Upload activity, summed per game over LS_UPLOAD_INTERVAL_MS. */
typedef struct {
    char game_id[LS_GAME_ID_MAX + 1];
    uint64_t bytes; /* served since the server started */
    uint64_t rate_bps;
    uint32_t peers; /* transfers of it running now, to distinct peers */
} ls__upload_stat_t;

/* Transfers served at once: per peer and in all. A request over the
 * per-peer limit is answered `busy` (the requester asks elsewhere); the
 * per-peer limit is the planner's largest window, so one downloader alone is
 * never refused. A request over the total (or the swarm) limit waits for a
 * slot (see LS_SERVE_WAIT_MS). */
#define LS_SERVE_PER_PEER_MAX 16
#define LS_SERVE_TOTAL_MAX 96
/* While several swarm peers fetch from us at once, at most this many chunks
 * are sent at a time: sent a few at a time, chunks are complete (and
 * announced, and passed on) early, instead of all at the end of a round.
 * Few, not one or three: each downloader needs enough uploaders sending to
 * it at once to fill its own link, and with 3 slots per uploader a
 * 12-downloader fan-out left a quarter of every downlink idle (downloaders
 * at 77 % of their rate, their uploads at 66 %; 1.60-1.79 x the ideal at
 * 100 and 200 Mbit/s, against 1.43-1.53 x with 8; 16 was worse again). */
#define LS_SERVE_SWARM_SHARED_MAX 8
/* ...and "several" counts a swarm peer waiting for one now, or refused one
 * within this long (it asks again after its busy backoff, 62 ms per MiB of
 * chunk). */
#define LS_SERVE_SWARM_WANTED_MS 250
/* ...or another swarm peer asking for the same game (its manifest or a
 * chunk) within this long: at the start of a fan-out the first downloader
 * to ask alone took 14 chunks at once (its window grew on two answers that
 * ended together), and the 11 others, whose chunk requests came a few ms
 * later, waited 1 s for that round to end (N=12: nothing but the seeder
 * sent for the first 1.6 s). The last LS_SERVE_INTEREST_MAX requesters are
 * remembered. */
#define LS_SERVE_SWARM_INTEREST_MS 2000
#define LS_SERVE_INTEREST_MAX 32
/* A body request that finds the total or the swarm limit full waits for a
 * slot, up to this long, instead of being answered `busy` at once: a
 * refusal left a gap of a round trip plus the requester's backoff in its
 * pipeline, and 60 % of the requests in a 6-downloader fan-out were refused
 * while every downloader's link ran at 75 %. When a transfer ends the
 * waiting request of the peer with the fewest transfers now goes next
 * (oldest first between equals). Waits are bounded per peer and in all;
 * a request over those, or still waiting after this long, gets `busy`. */
#define LS_SERVE_WAIT_MS 400
#define LS_SERVE_WAIT_PER_PEER_MAX 8
#define LS_SERVE_WAIT_MAX 64
/* Super-seeding: a chunk of a complete game given to one swarm peer is
 * refused (`busy`) to the others for this long while our upload carries
 * other swarm chunks; the ring remembers this many chunks given. */
#define LS_SERVE_GIVEN_HOLD_MS 1500
#define LS_SERVE_GIVEN_MAX 256

/* Requests are small; a hello carries a whole library snapshot. */
#define LS_SERVE_REQUEST_FRAME_MAX (4u * 1024u * 1024u)
/* What a connection may send before its hello verified (the transport's
 * hello_window): one hello frame. */
#define LS_SERVE_HELLO_WINDOW (LS_FRAME_HEADER_LEN + LS_SERVE_REQUEST_FRAME_MAX)
/* Request bytes buffered (frames not complete yet) across all the streams of
 * one connection: two of the largest requests (a hello and a delta) and room
 * for small ones. A request over it is answered `busy`. */
#define LS_SERVE_CONN_BUFFER_MAX (2u * LS_SERVE_REQUEST_FRAME_MAX + 1024u * 1024u)
/* Request bytes buffered by all connections not yet verified together: a
 * crowd of strangers each sending a maximal hello gets no more than this; a
 * stranger over it is closed. */
#define LS_SERVE_UNVERIFIED_BUFFER_MAX (16u * 1024u * 1024u)
/* A body transfer whose receiver acknowledges nothing (keeps its window
 * shut, stops reading) this long is reset: its file and buffers go. */
#define LS_SERVE_STALL_MS 30000
/* A transfer whose receiver acknowledged nothing for this long may be
 * given up for another peer's request when every slot is taken. Receivers
 * that read never qualify, so downloaders (in a swarm of many, all at their
 * limit) never lose a chunk in flight to each other. Progress is stamped by
 * the stall check, once per LS_UPLOAD_INTERVAL_MS: three intervals leave a
 * reading receiver's stamp always fresher than this. */
#define LS_SERVE_PREEMPT_STALL_MS (3 * LS_UPLOAD_INTERVAL_MS)
/* Files held open by serving at once: at most this many, and at most
 * 1/LS_SERVE_FDS_SHARE of the process's descriptor limit, so serving never
 * makes the daemon run out (EMFILE). Over it a request is answered `busy`. */
#define LS_SERVE_FDS_MAX 128
#define LS_SERVE_FDS_SHARE 4

/* get_library streams waiting at once for a library being fetched (a
 * relay linked to the owner fetches it on the first ask: the asker got an
 * error, waited and asked again, a round trip and a backoff per hop; 65%
 * of the last five libraries of each of 100 peers had such an error). A
 * stream waits while the hook says so, at most until the asker's deadline
 * resets it; over this many, the hook answers at once. */
#define LS_SERVE_LIBRARY_WAITERS_MAX 256

int ls__server_new(uv_loop_t *loop, const ls__server_hooks_t *hooks, ls__server_t **out);
/* Serving partial copies (swarm) on or off. */
void ls__server_set_partial(ls__server_t *server, bool is_on);
/* The stall timeout (0: LS_SERVE_STALL_MS). */
void ls__server_set_stall_ms(ls__server_t *server, uint32_t stall_ms);
/* How long a request over the limit waits for a slot (0: LS_SERVE_WAIT_MS). */
void ls__server_set_wait_ms(ls__server_t *server, uint32_t wait_ms);
/* Bodies served at once in all (0: LS_SERVE_TOTAL_MAX); tests fill it. */
void ls__server_set_total_max(ls__server_t *server, uint32_t total_max);
/* Resets transfers stalled for the stall timeout; call it about once a
 * second (the upload timer does). */
void ls__server_check_stalls(ls__server_t *server, uint64_t now_ms);
/* Files serving holds open now (for tests and the budget). */
uint32_t ls__server_open_files(const ls__server_t *server);
/* Upload activity: fills up to cap stats (games with bytes served), returns
 * how many; *rate_bps is the total over the last interval. Call it every
 * LS_UPLOAD_INTERVAL_MS: rates are over the time since the last call. */
size_t ls__server_uploads(ls__server_t *server, uint64_t now_ms, ls__upload_stat_t *out, size_t cap,
                          uint64_t *rate_bps);
/* Every body served passes the shaper's upload gate (borrowed; NULL: no
 * limit). Set before serving starts. */
void ls__server_set_shaper(ls__server_t *server, ls__shaper_t *shaper);
/* Closes the server's timer: call it when the loop is being shut down. */
void ls__server_close_handles(ls__server_t *server);
/* After the loop ended (every stream is gone by then). */
void ls__server_free(ls__server_t *server);
/* The library answered from; swapped when the game directory changes. */
void ls__server_set_library(ls__server_t *server, ls_library_t *library);
/* The links' stream hook: a request stream the peer opened on link. */
void ls__server_accept_stream(ls__server_t *server, ls_link_t *link, ls_net_stream_t *stream);
/* The first scan ended (the links have a library now): answers the hellos
 * held until then. */
void ls__server_answer_held_hellos(ls__server_t *server);
/* A library fetch ended: each waiting get_library is asked of the hook
 * again (may_wait: one still being fetched goes on waiting). O(waiters). */
void ls__server_library_recheck(ls__server_t *server);

#endif
