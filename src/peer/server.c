/* Streams other peers open to us: one request frame in, one reply out. A
 * reply with a file body is handed to the transport's file source, which
 * reads ahead on the thread pool only as the peer's window opens. */
#include "server.h"
#include "framer.h"
#include "shaper.h"

#include "lanspread/array.h"
#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/serve.h"
#include "lanspread/workq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct ls_serve_stream {
    struct ls_serve_stream *next_held; /* in the server's list of held hellos */
    /* in the server's list of get_library waiting for a fetch */
    struct ls_serve_stream *next_library;
    bool is_library_waiting;
    char library_of[LS_PEER_ID_HEX_LEN + 1]; /* the owner it asked for, while waiting */
    ls__server_t *server;
    ls_link_t *link;
    ls_net_stream_t *stream; /* NULL once the transport closed it */
    ls_framer_t framer;
    bool has_request;
    ls_msg_t held_hello; /* a hello waiting for the first scan (kind 0: none) */
    ls_serve_reply_t reply;
    int fd;                                /* the served file until the body source takes it */
    int open_status;                       /* the open job's result */
    ls_net_file_source_t *body;            /* reads the file for the transport; owns its fd */
    uint8_t *batch;                        /* a file_batch body, read whole by the open job */
    bool is_busy;                          /* the open job is in flight */
    bool is_transfer;                      /* counted in the server's transfer limits */
    bool is_sent;                          /* a swarm chunk's every byte went out once */
    bool holds_fd;                         /* counted in open_files, until the source takes it */
    size_t buffered;                       /* request bytes counted in the buffer budgets */
    bool is_buffered_unverified;           /* ...in the budget of unverified connections */
    uint64_t counted;                      /* its bytes already in its game's upload bytes */
    uint64_t acked_seen;                   /* body bytes the receiver had acknowledged... */
    uint64_t progress_ms;                  /* ...when last seen to grow (0: not yet sending) */
    struct ls_serve_stream *next_transfer; /* in the server's list of transfers */
    char game_id[LS_GAME_ID_MAX + 1];      /* of a transfer: whose bytes it serves */
    bool is_partial;                       /* the reply is from a partial copy (swarm) */
    bool is_waiting;                       /* in the server's list of waiting requests */
    struct ls_serve_stream *next_waiting;  /* ...oldest first */
    uint64_t wait_since_ms;
    uint64_t wait_pass; /* the timer pass that found it unable to take a free slot */
    uv_work_t open_req;
} ls_serve_stream_t;

/* Transfers in progress per peer: a small table, bounded by the number of
 * links (the endpoint's connection limit). */
typedef struct {
    const ls_link_t *link;
    uint32_t count;
    uint32_t waiting; /* its requests waiting for a slot */
    size_t buffered;  /* request bytes of its streams not yet a whole frame */
} ls_link_load_t;

/* Bytes served per game: a small table, at most LS_UPLOAD_GAMES_MAX games
 * (the oldest idle one makes room). */
#define LS_UPLOAD_GAMES_MAX 64

typedef struct {
    char game_id[LS_GAME_ID_MAX + 1];
    uint64_t bytes;
    uint64_t bytes_at_sample;
} ls_upload_t;

/* A chunk of a complete game lately given to a swarm peer (see
 * is_given_recently). */
typedef struct {
    uint64_t key; /* chunk_key() of the range */
    const ls_link_t *link;
    uint64_t at_ms;
} ls_given_t;

/* A swarm peer that lately asked for a game's manifest or chunks (see
 * LS_SERVE_SWARM_INTEREST_MS). */
typedef struct {
    const ls_link_t *link; /* compared, never followed */
    char game_id[LS_GAME_ID_MAX + 1];
    uint64_t at_ms; /* 0: an empty entry */
} ls_interest_t;

struct ls__server {
    uv_loop_t *loop;
    ls_interest_t interest[LS_SERVE_INTEREST_MAX]; /* the oldest is overwritten */
    ls_given_t given[LS_SERVE_GIVEN_MAX];          /* a ring, oldest overwritten */
    const ls_link_t *swarm_refused_link;           /* the last refused by swarm_admits */
    uint64_t swarm_refused_ms;
    size_t given_next;
    ls_upload_t uploads[LS_UPLOAD_GAMES_MAX];
    size_t upload_count;
    uint64_t sample_ms;
    ls__server_hooks_t hooks;
    bool is_partial_on;
    ls_library_t *library;
    ls_serve_stream_t *held;            /* hellos held until the first scan ends, one per link */
    ls_serve_stream_t *library_waiting; /* get_library waiting for a fetch */
    uint32_t library_waiters;           /* at most LS_SERVE_LIBRARY_WAITERS_MAX */
    uint32_t transfers;                 /* file bodies being sent */
    ls_serve_stream_t *sending;         /* those transfers */
    ls_link_load_t *loads;
    size_t load_count;
    size_t load_cap;
    size_t unverified_buffered; /* request bytes of links not yet ready */
    uint32_t open_files;        /* files serving holds open (fd budget) */
    uint32_t fds_max;
    uint32_t stall_ms;
    uint32_t wait_ms;           /* LS_SERVE_WAIT_MS unless a test set it */
    uint32_t total_max;         /* LS_SERVE_TOTAL_MAX unless a test set it */
    ls__shaper_t *shaper;       /* the upload limit every body passes (NULL: none) */
    ls_serve_stream_t *waiting; /* requests waiting for a slot, oldest first */
    uint32_t waiting_count;
    uint64_t wait_pass;    /* counts the wait timer's passes */
    uv_timer_t wait_timer; /* admits waiting requests, expires old ones */
    bool is_closed;        /* the timer is closed: nothing waits any more */
};

static ls_link_load_t *load_of(ls__server_t *server, const ls_link_t *link, bool create)
{
    for (size_t i = 0; i < server->load_count; i++)
        if (server->loads[i].link == link)
            return &server->loads[i];
    if (!create)
        return NULL;
    if (server->load_count == server->load_cap) {
        ls_link_load_t *grown = ls_array_grow(server->loads, &server->load_cap, sizeof *grown, 8);
        if (!grown)
            return NULL;
        server->loads = grown;
    }
    server->loads[server->load_count] = (ls_link_load_t){.link = link};
    return &server->loads[server->load_count++];
}

/* An entry with nothing counted goes: the table stays bounded by the links
 * that have requests in progress. */
static void load_drop_if_idle(ls__server_t *server, ls_link_load_t *load)
{
    if (load && load->count == 0 && load->waiting == 0 && load->buffered == 0)
        *load = server->loads[--server->load_count];
}

/* Counts a stream's buffered request bytes as `now` in the budgets. */
static void buffer_set(ls_serve_stream_t *ss, size_t now)
{
    ls__server_t *server = ss->server;
    ls_link_load_t *load = load_of(server, ss->link, false);
    if (!load)
        return;
    load->buffered = load->buffered - ss->buffered + now;
    if (ss->is_buffered_unverified)
        server->unverified_buffered = server->unverified_buffered - ss->buffered + now;
    ss->buffered = now;
    load_drop_if_idle(server, load);
}

/* Whether `len` more request bytes fit the connection's budget and, before
 * its hello verified, the budget all strangers share. Answers `busy` (and
 * closes a stranger) when they do not. */
static bool buffer_admits(ls_serve_stream_t *ss, size_t len)
{
    ls__server_t *server = ss->server;
    ls_link_load_t *load = load_of(server, ss->link, true);
    if (!load)
        return false;
    if (ss->buffered == 0)
        ss->is_buffered_unverified = !ss->link->is_ready;
    if (ss->is_buffered_unverified &&
        server->unverified_buffered + len > LS_SERVE_UNVERIFIED_BUFFER_MAX) {
        ls_info("serve", "%s: too many request bytes from unverified peers; connection closed",
                ss->link->address);
        ls__link_close(ss->link, LS_NET_APP_REFUSED, "busy");
        load_drop_if_idle(server, load);
        return false;
    }
    if (load->buffered + len > LS_SERVE_CONN_BUFFER_MAX) {
        load_drop_if_idle(server, load);
        return false;
    }
    return true;
}

/* Swarm transfers in progress, and how many of them go to ss's peer. */
static uint32_t swarm_sends(const ls_serve_stream_t *ss, uint32_t *to_requester)
{
    uint32_t n = 0;
    *to_requester = 0;
    for (const ls_serve_stream_t *o = ss->server->sending; o; o = o->next_transfer) {
        if (!o->link->wants_swarm)
            continue;
        n++;
        *to_requester += o->link == ss->link;
    }
    return n;
}

/* A swarm peer asks for a game: remembered in its entry, or in the oldest
 * (O(LS_SERVE_INTEREST_MAX) per request). */
static void note_interest(ls__server_t *server, const ls_link_t *link, const char *game_id)
{
    ls_interest_t *slot = &server->interest[0];
    if (!link->wants_swarm || !game_id)
        return;
    for (size_t i = 0; i < LS_SERVE_INTEREST_MAX; i++) {
        ls_interest_t *e = &server->interest[i];
        if (e->link == link && strcmp(e->game_id, game_id) == 0) {
            slot = e;
            break;
        }
        if (e->at_ms < slot->at_ms)
            slot = e;
    }
    slot->link = link;
    snprintf(slot->game_id, sizeof slot->game_id, "%s", game_id);
    slot->at_ms = uv_now(server->loop) + 1; /* never 0 */
}

/* Whether another swarm peer asked for ss's game lately. */
static bool is_wanted_by_another(const ls_serve_stream_t *ss, uint64_t now)
{
    for (size_t i = 0; i < LS_SERVE_INTEREST_MAX; i++) {
        const ls_interest_t *e = &ss->server->interest[i];
        if (e->at_ms && e->link != ss->link && now + 1 - e->at_ms < LS_SERVE_SWARM_INTEREST_MS &&
            strcmp(e->game_id, ss->game_id) == 0)
            return true;
    }
    return false;
}

/* The shared swarm limit (ls_serve_swarm_admits); a refusal is noted as
 * another peer's demand for the next LS_SERVE_SWARM_WANTED_MS. */
static bool swarm_admits(ls_serve_stream_t *ss)
{
    ls__server_t *server = ss->server;
    uint32_t mine, n;
    if (!ss->link->wants_swarm)
        return true;
    n = swarm_sends(ss, &mine);
    uint64_t now = uv_now(server->loop);
    bool other_wants = (server->swarm_refused_link && server->swarm_refused_link != ss->link &&
                        now - server->swarm_refused_ms < LS_SERVE_SWARM_WANTED_MS) ||
                       is_wanted_by_another(ss, now);
    for (const ls_serve_stream_t *w = server->waiting; w && !other_wants; w = w->next_waiting)
        other_wants = w->link != ss->link && w->link->wants_swarm;
    if (ls_serve_swarm_admits(n, mine, other_wants, LS_SERVE_SWARM_SHARED_MAX))
        return true;
    server->swarm_refused_link = ss->link; /* compared, never followed */
    server->swarm_refused_ms = now;
    return false;
}

/* A body transfer starts: false (and nothing counted) when over a limit. */
static void transfer_end(ls_serve_stream_t *ss);
static void wait_kick(ls__server_t *server, uint64_t in_ms);
static void wait_remove(ls_serve_stream_t *ss);

/* Ends a transfer at once: the stream reset, the file and its buffers
 * freed now rather than when the receiver acknowledges the reset. */
static void transfer_abandon(ls_serve_stream_t *ss)
{
    ls_net_stream_reset(ss->stream, LS_NET_APP_CANCELED);
    ls_net_file_source_free(ss->body);
    ss->body = NULL;
    transfer_end(ss);
}

/* When a transfer's receiver last acknowledged bytes; one the stall check
 * has not seen yet counts as now. */
static uint64_t last_progress(const ls_serve_stream_t *ss)
{
    return ss->progress_ms ? ss->progress_ms : UINT64_MAX;
}

/* All total_max (LS_SERVE_TOTAL_MAX) transfers run. Several identities of one stranger
 * (each within LS_SERVE_PER_PEER_MAX) could hold every slot with streams
 * they never read, so a requester with fewer transfers than the busiest
 * peer by two or more takes one of that peer's whose receiver acknowledged
 * nothing for LS_SERVE_PREEMPT_STALL_MS (the longest stalled). A peer at its fair
 * share cannot take from another, and nobody takes a transfer that moves. */
static bool preempt_for(ls_serve_stream_t *ss, const ls_link_load_t *load)
{
    ls__server_t *server = ss->server;
    const ls_link_load_t *busiest = NULL;
    ls_serve_stream_t *victim = NULL;
    for (size_t i = 0; i < server->load_count; i++)
        if (!busiest || server->loads[i].count > busiest->count)
            busiest = &server->loads[i];
    if (!busiest || busiest->count < load->count + 2)
        return false;
    for (ls_serve_stream_t *o = server->sending; o; o = o->next_transfer)
        if (o->link == busiest->link && o->body && o->stream &&
            (!victim || last_progress(o) < last_progress(victim)))
            victim = o;
    if (!victim || last_progress(victim) == UINT64_MAX ||
        uv_now(server->loop) - last_progress(victim) < LS_SERVE_PREEMPT_STALL_MS)
        return false;
    ls_debug("serve", "%.12s: stalled transfer of %s given up for %.12s (fair share)",
             victim->link->peer_id, victim->reply.path, ss->link->peer_id);
    transfer_abandon(victim);
    return true;
}

/* What transfer_begin (or admit_new) found. */
typedef enum {
    ADMIT_OK = 0,     /* the transfer is counted: start it */
    ADMIT_WAIT,       /* the total limit is full: may wait for a slot */
    ADMIT_WAIT_SWARM, /* the swarm limit is full (a total slot may be free): may wait */
    ADMIT_QUEUE,      /* others wait already: queue behind them (admit_new) */
    ADMIT_BUSY,       /* over the requester's own limit: `busy` */
} admit_t;

/* may_preempt: a request just arrived (a waiting one takes freed slots). */
static admit_t transfer_begin(ls_serve_stream_t *ss, bool may_preempt)
{
    ls__server_t *server = ss->server;
    ls_link_load_t *load = load_of(server, ss->link, true);
    if (!load || load->count >= LS_SERVE_PER_PEER_MAX)
        return ADMIT_BUSY;
    if (server->transfers >= server->total_max) {
        if (!may_preempt || !preempt_for(ss, load))
            return ADMIT_WAIT;
        /* the victim's entry may have left the table, moving another into
         * its slot: look ours up again rather than trust the pointer */
        if (!(load = load_of(server, ss->link, true)))
            return ADMIT_BUSY;
    }
    if (!swarm_admits(ss))
        return ADMIT_WAIT_SWARM;
    load->count++;
    if (server->transfers++ == 0)
        ls_net_file_source_keep_buffers(true);
    ss->is_transfer = true;
    ss->next_transfer = server->sending;
    server->sending = ss;
    return ADMIT_OK;
}

/* FNV-1a over the range's game, path, offset and length: a collision only
 * makes one request wait for LS_SERVE_GIVEN_HOLD_MS. */
static uint64_t chunk_key(const ls_serve_reply_t *r)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[2] = {r->game_root, r->path};
    for (int i = 0; i < 2; i++)
        for (const char *c = parts[i]; c && *c; c++)
            h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    h = (h ^ r->offset) * 0x100000001b3ull;
    return (h ^ r->length) * 0x100000001b3ull;
}

static bool is_seeding_to_swarm(const ls_serve_stream_t *ss)
{
    return ss->link->wants_swarm && ss->reply.header.kind == LS_MSG_FILE_CHUNK && !ss->is_partial;
}

static bool is_any_swarm_send(const ls__server_t *server)
{
    for (const ls_serve_stream_t *o = server->sending; o; o = o->next_transfer)
        if (o->link->wants_swarm)
            return true;
    return false;
}

/* Swarm, a complete game (super-seeding): a chunk given to one swarm peer
 * within LS_SERVE_GIVEN_HOLD_MS is not given to another while our upload
 * carries other swarm chunks. The first receiver announces it once
 * verified and the others get it from there, while our upload feeds the
 * swarm chunks it does not have yet. An idle upload serves it (an
 * endgame duplicate costs nothing then), and so does any upload once the
 * hold is over (the receiver may be slow or gone). */
static bool is_given_recently(const ls_serve_stream_t *ss)
{
    const ls__server_t *server = ss->server;
    if (!is_seeding_to_swarm(ss) || !is_any_swarm_send(server))
        return false;
    uint64_t key = chunk_key(&ss->reply), now = uv_now(server->loop);
    for (size_t i = 0; i < LS_SERVE_GIVEN_MAX; i++) {
        const ls_given_t *g = &server->given[i];
        if (g->at_ms && g->key == key && g->link != ss->link &&
            now - g->at_ms < LS_SERVE_GIVEN_HOLD_MS)
            return true;
    }
    return false;
}

static void note_given(ls_serve_stream_t *ss)
{
    ls__server_t *server = ss->server;
    if (!is_seeding_to_swarm(ss))
        return;
    server->given[server->given_next] =
        (ls_given_t){.key = chunk_key(&ss->reply), .link = ss->link, .at_ms = uv_now(server->loop)};
    server->given_next = (server->given_next + 1) % LS_SERVE_GIVEN_MAX;
}

/* Swarm: a chunk this peer is sending to one downloader right now is not
 * sent to another at the same time — that one gets it from the first
 * (which announces it once verified) while our upload carries a chunk the
 * swarm does not have yet. Only between swarm peers: a peer without the
 * feature has nobody else to ask. */
static bool is_sent_to_another(const ls_serve_stream_t *ss)
{
    if (!ss->link->wants_swarm || ss->reply.header.kind != LS_MSG_FILE_CHUNK ||
        !ls_serve_refuses_parallel_copy(ss->is_partial))
        return false;
    for (const ls_serve_stream_t *o = ss->server->sending; o; o = o->next_transfer)
        if (o->link != ss->link && o->link->wants_swarm && o->reply.offset == ss->reply.offset &&
            o->reply.length == ss->reply.length && strcmp(o->reply.path, ss->reply.path) == 0 &&
            strcmp(o->reply.game_root, ss->reply.game_root) == 0)
            return true;
    return false;
}

static void transfer_end(ls_serve_stream_t *ss)
{
    ls__server_t *server = ss->server;
    ls_link_load_t *load = ss->is_transfer ? load_of(server, ss->link, false) : NULL;
    if (!ss->is_transfer)
        return;
    ss->is_transfer = false;
    if (--server->transfers == 0)
        ls_net_file_source_keep_buffers(false);
    for (ls_serve_stream_t **p = &server->sending; *p; p = &(*p)->next_transfer)
        if (*p == ss) {
            *p = ss->next_transfer;
            break;
        }
    if (load) {
        load->count--;
        load_drop_if_idle(server, load);
    }
    wait_kick(server, 0);
}

/* The fd budget: a file opened for serving holds a slot until closed,
 * by us or by the body source that took it. */
static void fd_release(ls_serve_stream_t *ss)
{
    if (!ss->holds_fd)
        return;
    ss->holds_fd = false;
    ss->server->open_files--;
}

static void unhold(ls_serve_stream_t *ss)
{
    for (ls_serve_stream_t **p = &ss->server->held; *p; p = &(*p)->next_held)
        if (*p == ss) {
            *p = ss->next_held;
            ss->next_held = NULL;
            return;
        }
}

static void library_unwait(ls_serve_stream_t *ss)
{
    if (!ss->is_library_waiting)
        return;
    for (ls_serve_stream_t **p = &ss->server->library_waiting; *p; p = &(*p)->next_library)
        if (*p == ss) {
            *p = ss->next_library;
            break;
        }
    ss->next_library = NULL;
    ss->is_library_waiting = false;
    ss->server->library_waiters--;
}

static void serve_stream_free(ls_serve_stream_t *ss)
{
    library_unwait(ss);
    wait_remove(ss);
    transfer_end(ss);
    buffer_set(ss, 0);
    ls_msg_free(&ss->held_hello);
    ls_net_file_source_free(ss->body); /* closes the fd it took */
    free(ss->batch);
    if (ss->fd >= 0)
        close(ss->fd);
    fd_release(ss);
    ls_serve_reply_free(&ss->reply);
    ls_framer_free(&ss->framer);
    free(ss);
}

/* Writes msg as the whole reply (or as the header of a body). */
static int send_frame(ls_serve_stream_t *ss, const ls_msg_t *msg, bool is_last)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ls_msg_encode(msg, &frame, &len);
    if (rc == 0)
        rc = ls_net_stream_write(ss->stream, frame, len);
    if (rc == 0 && is_last)
        rc = ls_net_stream_shutdown(ss->stream);
    free(frame);
    if (rc != 0)
        ls_net_stream_reset(ss->stream, LS_NET_APP_INTERNAL);
    return rc;
}

static void send_error(ls_serve_stream_t *ss, ls_wire_error_t code, const char *message)
{
    ls_msg_t msg;
    if (ls_serve_error_msg(&msg, code, message) == 0)
        send_frame(ss, &msg, true);
    ls_msg_free(&msg);
}

/* A file_batch body (at most LS_BATCH_BYTES_MAX) is read whole in this one
 * job: one pool round trip for many small files, and no descriptor held
 * once it ends. */
static void open_work(uv_work_t *req)
{
    ls_serve_stream_t *ss = req->data;
    if (ss->reply.header.kind != LS_MSG_FILE_BATCH) {
        ss->open_status = ls_serve_open(&ss->reply, &ss->fd);
        return;
    }
    ss->batch = malloc(ss->reply.length);
    ss->open_status = ss->batch ? ls_serve_read_batch(&ss->reply, ss->batch) : LS_ENOMEM;
}

/* The batch's bytes go out as one queued write after its header. */
static void send_batch(ls_serve_stream_t *ss)
{
    int rc = ls_net_stream_write(ss->stream, ss->batch, ss->reply.length);
    if (rc == 0 && ss->server->shaper) /* at most LS_BATCH_BYTES_MAX: paid after */
        ls__shaper_upload_charge(ss->server->shaper, ss->link, ss->reply.length);
    if (rc == 0)
        rc = ls_net_stream_shutdown(ss->stream);
    free(ss->batch);
    ss->batch = NULL;
    if (rc != 0)
        ls_net_stream_reset(ss->stream, LS_NET_APP_INTERNAL);
}

/* The body's gate: its bytes go at the pace of the upload limit. */
static size_t upload_gate(ls_net_stream_t *s, size_t want, void *gate_data)
{
    ls__server_t *server = gate_data;
    ls_serve_stream_t *ss = ls_net_stream_user_data(s);
    return ls__shaper_upload_grant(server->shaper, ss->link, s, want);
}

static void open_done(uv_work_t *req, int status)
{
    ls_serve_stream_t *ss = req->data;
    ss->is_busy = false;
    if (!ss->stream) {
        serve_stream_free(ss);
        return;
    }
    if (status != 0 || ss->open_status != 0) {
        int rc = status != 0 ? LS_ECANCELED : ss->open_status;
        if (ss->fd < 0)
            fd_release(ss);
        send_error(ss, ls_wire_error_from_code(rc), ls_strerror(rc));
        return;
    }
    if (send_frame(ss, &ss->reply.header, false) != 0)
        return;
    if (ss->reply.header.kind == LS_MSG_FILE_BATCH) {
        fd_release(ss); /* the job closed every file it read */
        send_batch(ss);
        return;
    }
    if (ls_net_file_source_new(ss->server->loop, ss->fd, ss->reply.offset, ss->reply.length,
                               &ss->body) != 0) {
        ls_net_stream_reset(ss->stream, LS_NET_APP_INTERNAL);
        return;
    }
    ss->fd = -1; /* the body source owns it now, and closes it */
    ss->holds_fd = false;
    ls_net_file_source_count_fd(ss->body, &ss->server->open_files);
    if (ss->server->shaper)
        ls_net_file_source_set_gate(ss->body, upload_gate, ss->server);
    if (ls_net_stream_send_file(ss->stream, ss->body) != 0)
        ls_net_stream_reset(ss->stream, LS_NET_APP_INTERNAL);
}

/* A chunk this peer does not serve from its library may be one of a game it
 * is still downloading: served once verified and written (swarm). */
static int try_partial(ls_serve_stream_t *ss, const ls_msg_t *request)
{
    ls__server_t *server = ss->server;
    const ls_msg_t *h = &ss->reply.header;
    ls__partial_chunk_t chunk = {0};
    if (!server->is_partial_on || !server->hooks.partial_chunk ||
        request->kind != LS_MSG_GET_FILE_CHUNK || h->kind != LS_MSG_ERROR ||
        (h->u.error.code != LS_WIRE_UNKNOWN_GAME && h->u.error.code != LS_WIRE_NOT_DOWNLOADED))
        return 0;
    const char *game_id = request->u.file_request.game_id;
    const char *path = request->u.file_request.path;
    uint64_t offset = request->u.file_request.offset, length = request->u.file_request.length;
    int rc =
        server->hooks.partial_chunk(game_id, path, offset, length, &chunk, server->hooks.userdata);
    if (rc == LS_ENOT_DOWNLOADED) {
        char message[LS_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s at %llu: not verified here yet", path,
                 (unsigned long long)offset);
        ls_serve_reply_free(&ss->reply);
        return ls_serve_error_msg(&ss->reply.header, LS_WIRE_NOT_DOWNLOADED, message);
    }
    if (rc != 0)
        return 0;
    ls_serve_reply_free(&ss->reply);
    memset(&ss->reply, 0, sizeof ss->reply);
    ss->reply.game_root = chunk.game_root;
    ss->reply.path = strdup(path);
    if (!ss->reply.path)
        return LS_ENOMEM;
    ss->reply.file_size = chunk.file_size;
    ss->reply.offset = offset;
    ss->reply.length = length;
    ss->reply.header.kind = LS_MSG_FILE_CHUNK;
    ss->is_partial = true;
    ss->reply.header.u.file_header.offset = offset;
    ss->reply.header.u.file_header.length = length;
    return 0;
}

/* `busy` (or `given`) for a body request; a debug line per answer (the
 * fan-out benchmark's trace counts them per reason). */
static void refuse(ls_serve_stream_t *ss, ls_wire_error_t code, const char *why)
{
    /* not the "[offset +length]" of a served range: tests count those */
    ls_debug("serve", "%.12s: %s, %s: %s at %llu (%llu bytes)", ss->link->peer_id,
             ls_wire_error_name(code), why, ss->reply.path ? ss->reply.path : "(batch)",
             (unsigned long long)ss->reply.offset, (unsigned long long)ss->reply.length);
    send_error(ss, code, why);
}

static void refuse_busy(ls_serve_stream_t *ss, const char *why)
{
    refuse(ss, LS_WIRE_BUSY, why);
}

/* A super-seeding refusal: of this chunk only. A requester that decodes
 * `given` asks this peer for another chunk at once; `busy` kept it off the
 * whole upload for the backoff and halved its window, and a seeder whose
 * every requester had just been refused a chunk in flight left its link
 * idle (traced N=6 fan-outs: ~190 such refusals for ~125 chunks sent). */
static void refuse_chunk(ls_serve_stream_t *ss, const char *why)
{
    refuse(ss, ss->link->takes_given ? LS_WIRE_GIVEN : LS_WIRE_BUSY, why);
}

/* Super-seeding: a chunk on its way to (or just given to) another swarm
 * peer is refused at once, waiting or not. The reason, or NULL. Asked
 * before the request is counted as a transfer: is_given_recently lets an
 * otherwise idle upload serve it, which a counted request never is. */
static const char *swarm_refusal(const ls_serve_stream_t *ss)
{
    if (is_sent_to_another(ss))
        return "this chunk is on its way to another peer; ask the swarm";
    if (is_given_recently(ss))
        return "this chunk was just given to another peer; ask the swarm";
    return NULL;
}

/* A counted transfer (transfer_begin said ADMIT_OK): its file is opened on
 * the pool, its body sent from open_done. */
static void transfer_start(ls_serve_stream_t *ss)
{
    if (ss->server->open_files >= ss->server->fds_max) {
        transfer_end(ss);
        refuse_busy(ss, "too many files open for serving; ask another peer");
        return;
    }
    note_given(ss);
    ss->server->open_files++;
    ss->holds_fd = true;
    ls_debug("serve", "%.12s: %s [%llu +%llu]", ss->link->peer_id,
             ss->reply.path ? ss->reply.path : "(batch)", (unsigned long long)ss->reply.offset,
             (unsigned long long)ss->reply.length);
    ss->open_req.data = ss;
    ss->is_busy = true;
    if (ls_workq_queue(ss->server->loop, &ss->open_req, LS_WORKQ_LATENCY, open_work, open_done) !=
        0) {
        ss->is_busy = false;
        send_error(ss, LS_WIRE_INTERNAL, "cannot queue the file open");
    }
}

/* Queues a request the limits have no slot for; false (nothing queued)
 * when the queue of its peer or the whole queue is full. */
static bool wait_add(ls_serve_stream_t *ss)
{
    ls__server_t *server = ss->server;
    ls_link_load_t *load = load_of(server, ss->link, true);
    if (server->is_closed || !load || load->waiting >= LS_SERVE_WAIT_PER_PEER_MAX ||
        server->waiting_count >= LS_SERVE_WAIT_MAX)
        return false;
    load->waiting++;
    server->waiting_count++;
    ss->is_waiting = true;
    ss->wait_since_ms = uv_now(server->loop);
    ss->next_waiting = NULL;
    ls_serve_stream_t **p = &server->waiting;
    while (*p)
        p = &(*p)->next_waiting;
    *p = ss;
    if (server->waiting == ss)
        wait_kick(server, server->wait_ms);
    return true;
}

static void wait_remove(ls_serve_stream_t *ss)
{
    ls__server_t *server = ss->server;
    if (!ss->is_waiting)
        return;
    for (ls_serve_stream_t **p = &server->waiting; *p; p = &(*p)->next_waiting)
        if (*p == ss) {
            *p = ss->next_waiting;
            break;
        }
    ss->is_waiting = false;
    ss->next_waiting = NULL;
    server->waiting_count--;
    ls_link_load_t *load = load_of(server, ss->link, false);
    if (load) {
        load->waiting--;
        load_drop_if_idle(server, load);
    }
}

/* The waiting request to admit next (ls_serve_wait_pick's order), of
 * those this timer pass has not found unable to take a free slot. */
static ls_serve_stream_t *wait_next(ls__server_t *server)
{
    uint32_t sends[LS_SERVE_WAIT_MAX];
    ls_serve_stream_t *by_age[LS_SERVE_WAIT_MAX];
    size_t n = 0;
    for (ls_serve_stream_t *w = server->waiting; w && n < LS_SERVE_WAIT_MAX; w = w->next_waiting) {
        if (w->wait_pass == server->wait_pass)
            continue;
        const ls_link_load_t *load = load_of(server, w->link, false);
        by_age[n] = w;
        sends[n++] = load ? load->count : 0;
    }
    return n ? by_age[ls_serve_wait_pick(sends, n)] : NULL;
}

/* Expires the requests waiting for the wait time (`busy`), then admits
 * waiting requests, fairly, while slots are free: each free slot goes to
 * the first request in the fair order that can take it. One the swarm
 * limit keeps waiting is passed over for this pass (a request behind it
 * may need only a total slot: it used to stop the pass, and that one
 * waited for `busy` beside a free slot); a full total stops it. Each step
 * admits or passes over one request: at most LS_SERVE_WAIT_MAX picks of
 * O(LS_SERVE_WAIT_MAX) per free slot and per request. Runs from the
 * timer, never inside a transfer's end, so no stream goes away under a
 * caller. */
static void wait_timer_cb(uv_timer_t *timer)
{
    ls__server_t *server = timer->data;
    uint64_t now = uv_now(server->loop);
    server->wait_pass++;
    while (server->waiting && now - server->waiting->wait_since_ms >= server->wait_ms) {
        ls_serve_stream_t *ss = server->waiting;
        wait_remove(ss);
        refuse_busy(ss, "at the upload limit; ask another peer");
    }
    ls_serve_stream_t *ss;
    while ((ss = wait_next(server)) != NULL) {
        if (ss->link->is_closing) {
            wait_remove(ss); /* its link's teardown frees it */
            continue;
        }
        const char *why = swarm_refusal(ss);
        if (why) { /* given to another meanwhile */
            wait_remove(ss);
            refuse_chunk(ss, why);
            continue;
        }
        admit_t admit = transfer_begin(ss, false);
        if (admit == ADMIT_WAIT)
            break; /* no slot free: the next transfer's end kicks again */
        if (admit == ADMIT_WAIT_SWARM) {
            ss->wait_pass = server->wait_pass; /* the next may fit a total slot */
            continue;
        }
        wait_remove(ss);
        if (admit != ADMIT_OK)
            refuse_busy(ss, "at the upload limit; ask another peer");
        else
            transfer_start(ss);
    }
    if (server->waiting)
        wait_kick(server, server->waiting->wait_since_ms + server->wait_ms - now);
}

/* The timer runs the waiting list in in_ms (0: on the next loop turn). */
static void wait_kick(ls__server_t *server, uint64_t in_ms)
{
    if (server->is_closed || !server->waiting)
        return;
    if (in_ms > 0 && uv_is_active((uv_handle_t *)&server->wait_timer) &&
        uv_timer_get_due_in(&server->wait_timer) <= in_ms)
        return; /* due sooner already */
    uv_timer_start(&server->wait_timer, wait_timer_cb, in_ms, 0);
}

/* A request that just arrived. While others wait, it queues behind them
 * and the timer admits it in the fair order, on this loop turn's pass:
 * admitted at once, it took a slot freed in the same turn (a downloader's
 * acknowledgement that ends one chunk comes with its next request) before
 * the timer gave it to the request waiting longest. Over its own limits
 * (transfers or waiting places) it gets `busy` at once as before, and when
 * every slot is taken it may still free a stalled one (preempt_for),
 * which then goes to the queue. */
static admit_t admit_new(ls_serve_stream_t *ss)
{
    ls__server_t *server = ss->server;
    if (!server->waiting)
        return transfer_begin(ss, true);
    ls_link_load_t *load = load_of(server, ss->link, true);
    if (!load || load->count >= LS_SERVE_PER_PEER_MAX ||
        load->waiting >= LS_SERVE_WAIT_PER_PEER_MAX)
        return ADMIT_BUSY;
    /* The slot a preemption frees is the requester's: given to the queue,
     * it went to whichever identity waited first, and a stranger's waiting
     * identities caught every slot the defence freed (a review). */
    if (server->transfers >= server->total_max && preempt_for(ss, load))
        return transfer_begin(ss, false);
    return ADMIT_QUEUE;
}

static void serve_request(ls_serve_stream_t *ss, const ls_msg_t *request)
{
    ls_library_t *library = ss->server->library;
    note_interest(ss->server, ss->link,
                  request->kind == LS_MSG_GET_GAME         ? request->u.game_id
                  : request->kind == LS_MSG_GET_FILE_CHUNK ? request->u.file_request.game_id
                  : request->kind == LS_MSG_GET_FILE_BATCH ? request->u.batch_request.game_id
                                                           : NULL);
    int rc = ls_serve_prepare(library, request, &ss->reply);
    if (rc == 0 && ss->link->wants_game_meta)
        rc = ls_serve_add_meta(library, &ss->reply);
    if (rc == 0 && ss->reply.header.kind == LS_MSG_GAMES && !ss->link->wants_cover)
        ls_snapshot_strip_covers(ss->reply.header.u.games.games,
                                 ss->reply.header.u.games.game_count);
    if (rc == 0)
        rc = try_partial(ss, request);
    if (rc != 0) {
        send_error(ss, LS_WIRE_INTERNAL, ls_strerror(rc));
        return;
    }
    if (!ls_serve_reply_has_body(&ss->reply)) {
        send_frame(ss, &ss->reply.header, true);
        return;
    }
    snprintf(ss->game_id, sizeof ss->game_id, "%s",
             request->kind == LS_MSG_GET_FILE_BATCH ? request->u.batch_request.game_id
             : request->kind == LS_MSG_GET_COVER    ? request->u.cover_request.game_id
                                                    : request->u.file_request.game_id);
    const char *why = swarm_refusal(ss);
    if (why) {
        refuse_chunk(ss, why);
        return;
    }
    admit_t admit = admit_new(ss);
    if (admit == ADMIT_QUEUE) {
        if (wait_add(ss)) {
            /* a slot may be free for it or those before it; with the
             * total full a pass admits nothing (the next end kicks) */
            if (ss->server->transfers < ss->server->total_max)
                wait_kick(ss->server, 0);
            return;
        }
        admit = transfer_begin(ss, false); /* the whole queue is full */
    }
    if ((admit == ADMIT_WAIT || admit == ADMIT_WAIT_SWARM) && wait_add(ss))
        return;
    if (admit != ADMIT_OK) {
        refuse_busy(ss, "at the upload limit; ask another peer");
        return;
    }
    transfer_start(ss);
}

static void handle_hello(ls_serve_stream_t *ss, ls_hello_t *hello)
{
    ls_msg_t answer;
    ls__link_answer_hello(ss->link, hello, &answer);
    send_frame(ss, &answer, true);
    ls_msg_free(&answer);
}

static void handle_hello_library(ls_serve_stream_t *ss, ls_library_snapshot_t *library)
{
    ls_msg_t answer;
    ls__link_take_library(ss->link, library, &answer);
    send_frame(ss, &answer, true);
    ls_msg_free(&answer);
}

static void handle_delta(ls_serve_stream_t *ss, const ls_library_delta_t *delta)
{
    ls_msg_t ack;
    ls__link_apply_delta(ss->link, delta, &ack);
    send_frame(ss, &ack, true);
}

static void handle_peers(ls_serve_stream_t *ss, const ls_peer_list_t *list)
{
    ls_msg_t ack;
    ls__link_take_peers(ss->link, list, &ack);
    send_frame(ss, &ack, true);
    ls_msg_free(&ack); /* a busy answer carries a message */
}

static void handle_get_library(ls_serve_stream_t *ss, const char *peer_id)
{
    ls__server_t *server = ss->server;
    ls_msg_t answer = {.kind = LS_MSG_ERROR};
    bool may_wait = server->library_waiters < LS_SERVE_LIBRARY_WAITERS_MAX;
    if (!ss->link->takes_relay || !server->hooks.library) {
        send_error(ss, LS_WIRE_INVALID_REQUEST, "this peer relays no library to you");
        return;
    }
    if (server->hooks.library(ss->link, peer_id, may_wait, &answer, server->hooks.userdata) &&
        may_wait) {
        snprintf(ss->library_of, sizeof ss->library_of, "%s", peer_id);
        ss->is_library_waiting = true;
        ss->next_library = server->library_waiting;
        server->library_waiting = ss;
        server->library_waiters++;
        return; /* answered by ls__server_library_recheck */
    }
    send_frame(ss, &answer, true);
    ls_msg_free(&answer);
}

void ls__server_library_recheck(ls__server_t *server)
{
    ls_serve_stream_t *next;
    for (ls_serve_stream_t *ss = server->library_waiting; ss; ss = next) {
        next = ss->next_library;
        ls_msg_t answer = {.kind = LS_MSG_ERROR};
        if (server->hooks.library(ss->link, ss->library_of, true, &answer, server->hooks.userdata))
            continue; /* still being fetched */
        library_unwait(ss);
        send_frame(ss, &answer, true);
        ls_msg_free(&answer);
    }
}

static void handle_have(ls_serve_stream_t *ss, const ls_have_t *have)
{
    ls__server_t *server = ss->server;
    ls_msg_t ack = {.kind = LS_MSG_HAVE_ACK};
    if (server->is_partial_on && server->hooks.have)
        server->hooks.have(ss->link, have, server->hooks.userdata);
    send_frame(ss, &ack, true);
}

/* Until the first scan has ended there is no library to answer with (and
 * the dialler would take an empty one for the truth), so a hello waits on
 * its stream: at most one per connection, a newer one replacing the older,
 * which is refused as busy. */
static void hold_hello(ls_serve_stream_t *ss, ls_msg_t *request)
{
    ls__server_t *server = ss->server;
    for (ls_serve_stream_t *older = server->held; older; older = older->next_held) {
        if (older->link != ss->link)
            continue;
        unhold(older);
        ls_msg_free(&older->held_hello);
        send_error(older, LS_WIRE_BUSY, "a newer hello replaced this one");
        break;
    }
    ss->link->has_hello = true; /* held, not missing: no deadline for it */
    ls_info("peer", "%s: hello held until the first library scan ends", ss->link->address);
    ss->held_hello = *request;
    memset(request, 0, sizeof *request);
    ss->next_held = server->held;
    server->held = ss;
}

void ls__server_answer_held_hellos(ls__server_t *server)
{
    while (server->held) {
        ls_serve_stream_t *ss = server->held;
        unhold(ss);
        if (!ss->link->is_closing)
            handle_hello(ss, &ss->held_hello.u.hello);
        ls_msg_free(&ss->held_hello);
    }
}

static void handle_request(ls_serve_stream_t *ss, const uint8_t *payload, size_t len)
{
    ls_msg_t request;
    char detail[256] = "";
    int rc = ls_msg_decode(payload, len, &request, detail, sizeof detail);
    if (rc != 0) {
        char message[LS_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s%s%s", ls_strerror(rc), detail[0] ? ": " : "", detail);
        send_error(ss, ls_wire_error_from_code(rc), message);
        return;
    }
    if (request.kind == LS_MSG_HELLO && !ls__links_has_library(ss->link->links)) {
        hold_hello(ss, &request);
        return; /* the stream owns the request now */
    }
    if (request.kind == LS_MSG_HELLO)
        handle_hello(ss, &request.u.hello);
    else if (request.kind == LS_MSG_HELLO_LIBRARY)
        handle_hello_library(ss, &request.u.games);
    else if (!ss->link->is_ready)
        send_error(ss, LS_WIRE_UNAUTHORIZED, "hello first");
    else if (request.kind == LS_MSG_LIBRARY_DELTA)
        handle_delta(ss, &request.u.delta);
    else if (request.kind == LS_MSG_HAVE)
        handle_have(ss, &request.u.have);
    else if (request.kind == LS_MSG_PEERS)
        handle_peers(ss, &request.u.peer_list);
    else if (request.kind == LS_MSG_GET_LIBRARY)
        handle_get_library(ss, request.u.library_request.peer_id);
    else
        serve_request(ss, &request);
    ls_msg_free(&request);
}

static void server_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls_serve_stream_t *ss = ls_net_stream_user_data(s);
    size_t used = 0;
    ls_net_stream_consume(s, len);
    if (ss->has_request)
        return; /* one request per stream; anything after it is ignored */
    if (len && !buffer_admits(ss, len)) {
        ss->has_request = true;
        ls_framer_free(&ss->framer);
        buffer_set(ss, 0);
        send_error(ss, LS_WIRE_BUSY, "too many request bytes buffered on this connection");
        return;
    }
    int rc = len ? ls_framer_push(&ss->framer, data, len, &used) : LS_EAGAIN;
    buffer_set(ss, ss->framer.len);
    if (rc == LS_EAGAIN && !is_fin)
        return;
    ss->has_request = true;
    if (rc == 0) {
        size_t payload_len;
        const uint8_t *payload = ls_framer_payload(&ss->framer, &payload_len);
        handle_request(ss, payload, payload_len);
    } else {
        send_error(ss, ls_wire_error_from_code(rc == LS_EAGAIN ? LS_EJSON : rc),
                   rc == LS_EAGAIN ? "stream ended inside a frame" : ls_strerror(rc));
    }
    ls_framer_free(&ss->framer);
    buffer_set(ss, 0);
}

static ls_upload_t *upload_of(ls__server_t *server, const char *game_id)
{
    for (size_t i = 0; i < server->upload_count; i++)
        if (strcmp(server->uploads[i].game_id, game_id) == 0)
            return &server->uploads[i];
    size_t slot = server->upload_count;
    if (slot == LS_UPLOAD_GAMES_MAX) {
        /* full: the game with the fewest bytes goes */
        slot = 0;
        for (size_t i = 1; i < server->upload_count; i++)
            if (server->uploads[i].bytes < server->uploads[slot].bytes)
                slot = i;
    } else {
        server->upload_count++;
    }
    memset(&server->uploads[slot], 0, sizeof server->uploads[slot]);
    snprintf(server->uploads[slot].game_id, sizeof server->uploads[slot].game_id, "%s", game_id);
    return &server->uploads[slot];
}

/* Counts a transfer's bytes up to `upto` (at most its body) in its game's
 * upload bytes, once each. */
static void count_upload(ls_serve_stream_t *ss, uint64_t upto)
{
    if (upto > ss->reply.length)
        upto = ss->reply.length;
    if (upto <= ss->counted)
        return;
    upload_of(ss->server, ss->game_id)->bytes += upto - ss->counted;
    ss->counted = upto;
}

/* Distinct peers a game's transfers go to now (a downloader's window has
 * several at once: counted per transfer, one downloader showed as "to 3
 * peers"). O(transfers^2) per game, once per LS_UPLOAD_INTERVAL_MS, with
 * transfers bounded by total_max. */
static uint32_t game_peers(const ls__server_t *server, const char *game_id)
{
    uint32_t peers = 0;
    for (const ls_serve_stream_t *o = server->sending; o; o = o->next_transfer) {
        if (strcmp(o->game_id, game_id) != 0)
            continue;
        const ls_serve_stream_t *first = server->sending;
        while (first != o && (first->link != o->link || strcmp(first->game_id, game_id) != 0))
            first = first->next_transfer;
        peers += first == o;
    }
    return peers;
}

size_t ls__server_uploads(ls__server_t *server, uint64_t now_ms, ls__upload_stat_t *out, size_t cap,
                          uint64_t *rate_bps)
{
    uint64_t span = now_ms > server->sample_ms ? now_ms - server->sample_ms : 1;
    size_t n = 0;
    *rate_bps = 0;
    /* Bytes count as the receiver acknowledges them (its reply header
     * too, a few hundred bytes early), not when a body ends: chunks
     * served side by side under an upload limit ended together, and the
     * rate read 0 ("uploads stopped") and then twice the limit. */
    for (ls_serve_stream_t *ss = server->sending; ss; ss = ss->next_transfer)
        if (ss->body && ss->stream)
            count_upload(ss, ls_net_stream_acked_bytes(ss->stream));
    for (size_t i = 0; i < server->upload_count; i++) {
        ls_upload_t *u = &server->uploads[i];
        uint64_t rate = (u->bytes - u->bytes_at_sample) * 1000u / span;
        u->bytes_at_sample = u->bytes;
        *rate_bps += rate;
        if (n == cap)
            continue;
        ls__upload_stat_t *st = &out[n++];
        snprintf(st->game_id, sizeof st->game_id, "%s", u->game_id);
        st->bytes = u->bytes;
        st->rate_bps = rate;
        st->peers = game_peers(server, u->game_id);
    }
    server->sample_ms = now_ms;
    return n;
}

static void server_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    ls_serve_stream_t *ss = ls_net_stream_user_data(s);
    /* A body that went out whole counts as uploaded. */
    if (status == 0 && (ss->is_transfer || ss->is_sent))
        count_upload(ss, ss->reply.length);
    if (ss->server->shaper)
        ls__shaper_forget(ss->server->shaper, s);
    ss->stream = NULL;
    unhold(ss);
    library_unwait(ss);
    wait_remove(ss); /* its link closed or its requester reset it */
    if (!ss->is_busy)
        serve_stream_free(ss); /* else the pending job frees it */
}

void ls__server_check_stalls(ls__server_t *server, uint64_t now_ms)
{
    ls_serve_stream_t *next;
    for (ls_serve_stream_t *ss = server->sending; ss; ss = next) {
        next = ss->next_transfer;
        if (!ss->body || !ss->stream)
            continue; /* the file is still being opened: not the receiver's doing */
        uint64_t acked = ls_net_stream_acked_bytes(ss->stream);
        if (ss->progress_ms == 0 || acked != ss->acked_seen) {
            ss->acked_seen = acked;
            ss->progress_ms = now_ms;
            continue;
        }
        if (now_ms - ss->progress_ms < server->stall_ms)
            continue;
        ls_info("serve", "%.12s: %s: nothing read for %u ms; transfer reset", ss->link->peer_id,
                ss->reply.path, (unsigned)server->stall_ms);
        transfer_abandon(ss);
    }
}

uint32_t ls__server_open_files(const ls__server_t *server)
{
    return server->open_files;
}

void ls__server_set_stall_ms(ls__server_t *server, uint32_t stall_ms)
{
    server->stall_ms = stall_ms ? stall_ms : LS_SERVE_STALL_MS;
}

/* LS_SERVE_FDS_MAX, or less when the descriptor limit is low. */
static uint32_t fd_budget(void)
{
    struct rlimit rl;
    uint32_t budget = LS_SERVE_FDS_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / LS_SERVE_FDS_SHARE < budget)
        budget = (uint32_t)(rl.rlim_cur / LS_SERVE_FDS_SHARE);
    return budget ? budget : 1;
}

/* A swarm chunk's last byte went out: its slot goes to the next request
 * now, not a round trip later when the receiver has acknowledged every
 * byte and the stream closes. Swarm uploads share a few slots
 * (LS_SERVE_SWARM_SHARED_MAX), and each held the slot through that round
 * trip and the next request's file open, with nothing of it to send. Only
 * file bodies to swarm peers: what is unacknowledged is at most the
 * connection's congestion window, retransmitted from the stream's own
 * buffers. */
static void server_sent_cb(ls_net_stream_t *s)
{
    ls_serve_stream_t *ss = ls_net_stream_user_data(s);
    if (!ss || !ss->is_transfer || !ss->body || !ss->link->wants_swarm ||
        ss->reply.header.kind != LS_MSG_FILE_CHUNK)
        return;
    ss->is_sent = true;
    transfer_end(ss);
}

static const ls_net_stream_callbacks_t server_callbacks = {
    .read_cb = server_read_cb,
    .close_cb = server_close_cb,
    .sent_cb = server_sent_cb,
};

void ls__server_accept_stream(ls__server_t *server, ls_link_t *link, ls_net_stream_t *stream)
{
    ls_serve_stream_t *ss = calloc(1, sizeof *ss);
    if (!ss) {
        ls_net_stream_reset(stream, LS_NET_APP_INTERNAL);
        return;
    }
    ss->server = server;
    ss->link = link;
    ss->stream = stream;
    ss->fd = -1;
    ls_framer_init(&ss->framer, LS_SERVE_REQUEST_FRAME_MAX);
    ls_net_stream_set_callbacks(stream, &server_callbacks, ss);
}

int ls__server_new(uv_loop_t *loop, const ls__server_hooks_t *hooks, ls__server_t **out)
{
    ls__server_t *server = calloc(1, sizeof *server);
    *out = server;
    if (!server)
        return LS_ENOMEM;
    server->loop = loop;
    server->hooks = *hooks;
    server->is_partial_on = true;
    server->fds_max = fd_budget();
    server->stall_ms = LS_SERVE_STALL_MS;
    server->wait_ms = LS_SERVE_WAIT_MS;
    server->total_max = LS_SERVE_TOTAL_MAX;
    uv_timer_init(loop, &server->wait_timer);
    server->wait_timer.data = server;
    return 0;
}

void ls__server_set_wait_ms(ls__server_t *server, uint32_t wait_ms)
{
    server->wait_ms = wait_ms ? wait_ms : LS_SERVE_WAIT_MS;
}

void ls__server_set_total_max(ls__server_t *server, uint32_t total_max)
{
    server->total_max = total_max ? total_max : LS_SERVE_TOTAL_MAX;
}

void ls__server_close_handles(ls__server_t *server)
{
    if (!server || server->is_closed)
        return;
    server->is_closed = true;
    uv_close((uv_handle_t *)&server->wait_timer, NULL);
}

void ls__server_set_partial(ls__server_t *server, bool is_on)
{
    server->is_partial_on = is_on;
}

void ls__server_set_shaper(ls__server_t *server, ls__shaper_t *shaper)
{
    server->shaper = shaper;
}

void ls__server_set_library(ls__server_t *server, ls_library_t *library)
{
    server->library = library;
}

void ls__server_free(ls__server_t *server)
{
    if (server)
        free(server->loads);
    free(server);
}
