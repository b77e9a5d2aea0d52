/* ls_hostile: plays the stranger against one peer (issue #14), for the
 * hostile-peer test (tests/netns/test_hostile.sh). Every attack goes
 * through the project's own transport and codec (src/net, src/proto) and
 * mDNS responder (avahi-core, as src/discovery runs it), so what reaches the
 * target is what a modified Lanspread could send. Modes (--modes, a comma
 * list; default all):
 *   flood     connections (--conns per --bind address) that never send a
 *             hello, each opening --streams streams that announce a request
 *             frame of REQUEST_FRAME_MAX and send a few bytes of it
 *   oversize  on those connections, streams that send such a frame's bytes
 *             (paced: --oversize-rate, at most --oversize-mib in all, never
 *             the last byte), and frames announced above the request limit
 *             and above LS_FRAME_MAX
 *   trickle   on those connections, streams that send one byte of a frame
 *             every --trickle-ms
 *   games     a verified peer (a valid hello) announcing --games games, that
 *             re-handshakes with a changed library every --rehello-ms
 *   chunks    --identities verified peers, each opening --chunk-streams
 *             get_game_file_chunk streams for --game and never reading the
 *             bodies: its receive window (CHUNK_STREAM_WINDOW) is never
 *             extended; a `busy` answer is asked again after
 *             BUSY_BACKOFF_MS, at most --chunk-rate requests a second
 *   mdns      --mdns-services bogus `_lanspread._udp` services whose
 *             addresses cycle through the --mdns-addr list (loopback,
 *             off-subnet, unused or our own --listen address), ids that make
 *             the target dial at once, and TXT records that change every
 *             --mdns-churn-ms (and --mdns-spoof-id's, if given)
 * With --listen, an endpoint accepts what the target dials (the mDNS
 * services that point at us) and holds it: TLS completes, no hello_ack.
 * Flood connections the target closes are opened again (bounded by
 * RECONNECT_MS); verified peers reconnect too, and answer what the target
 * asks them (ping, library_delta, hello, have) so that they stay connected.
 * Runs --seconds or until SIGTERM/SIGINT; prints a progress line on stderr
 * every STATS_MS and, at the end, one JSON object on stdout with the
 * counters (see print_stats). Exit status: 0, 2 on bad usage, 1 when
 * nothing could start. */
#include "discovery/uv_avahi_poll.h"
#include "peer/framer.h"

#include "lanspread/discovery.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/identity.h"
#include "lanspread/log.h"
#include "lanspread/net.h"
#include "lanspread/proto.h"

#include <arpa/inet.h>
#include <avahi-common/address.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-core/core.h>
#include <avahi-core/publish.h>
#include <getopt.h>
#include <jansson.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* The request frame a responder reads (REQUEST_FRAME_MAX, src/peer/server.c):
 * what flood and oversize streams announce. */
#define ANNOUNCED_FRAME (4u * 1024u * 1024u)
#define TICK_MS 50
#define STATS_MS 5000
#define RECONNECT_MS 250
#define BUSY_BACKOFF_MS 1000
#define OVERSIZE_WRITE (64u * 1024u)
/* An oversize stream queues more only while the target acknowledged all but
 * this much: a target that gives no credit does not make us buffer. */
#define OVERSIZE_UNACKED_MAX (256u * 1024u)
/* The receive window of a chunk stream: the header and a little body, then
 * the target's file source waits for credit that never comes. */
#define CHUNK_STREAM_WINDOW 1024u
#define CHUNKS_MAX 4096   /* chunks of the game we cycle through */
#define OPENS_PER_TICK 16 /* new chunk streams per verified peer per tick */
#define REHELLO_PENDING_MAX 4
#define BIND_MAX 64
#define MDNS_ADDRS_MAX 16
#define MDNS_SERVICES_MAX 4096
#define MDNS_CHURN_PER_TICK 16 /* TXT records changed per churn */
#define MDNS_HOST_FORMAT "lsx-a%zu"
#define REPLY_FRAME_MAX (64u * 1024u)
#define MODE_FLOOD 0x01u
#define MODE_OVERSIZE 0x02u
#define MODE_TRICKLE 0x04u
#define MODE_GAMES 0x08u
#define MODE_CHUNKS 0x10u
#define MODE_MDNS 0x20u
#define MODES_PRE_HELLO (MODE_FLOOD | MODE_OVERSIZE | MODE_TRICKLE)

typedef struct hostile hostile_t;
typedef struct agent agent_t;
typedef struct hconn hconn_t;

typedef enum {
    ST_HOLD,     /* a request frame announced, a few bytes sent, then nothing */
    ST_OVERSIZE, /* a request frame's bytes, paced, never the last one */
    ST_TRICKLE,  /* one byte at a time */
    ST_TOO_BIG,  /* a frame announced above a limit; the answer is read */
    ST_HELLO,    /* our hello; the hello_ack is read */
    ST_GET_GAME, /* the manifest of --game */
    ST_CHUNK,    /* a chunk request whose body is never read */
    ST_ANSWER,   /* a request the target sent us (ping, delta, hello, have) */
    ST_TARPIT,   /* a stream the target opened on a connection it dialled */
} stream_kind_t;

typedef struct hstream {
    struct hstream *next; /* in its connection's list */
    hconn_t *conn;
    ls_net_stream_t *s;
    stream_kind_t kind;
    ls_framer_t framer;
    bool is_framed; /* the reply (or request) frame is in */
    bool is_held;   /* a chunk stream whose file_chunk header came */
    uint64_t sent;  /* payload bytes sent (oversize, trickle) */
} hstream_t;

struct hconn {
    struct hconn *next; /* in its agent's list */
    agent_t *agent;
    ls_net_conn_t *c;
    hstream_t *streams;
    bool is_established;
    bool is_stream_limited; /* the target's stream limit was hit */
    uint32_t opened;        /* streams opened on it */
};

typedef enum { AG_FLOOD, AG_GAMES, AG_CHUNKS, AG_TARPIT } agent_role_t;

struct agent {
    hostile_t *h;
    agent_role_t role;
    unsigned index;
    ls_identity_t *identity;
    ls_net_endpoint_t *ep;
    hconn_t *conns;
    uint32_t live; /* connections not yet closed */
    uint64_t next_connect_ms;
    hconn_t *verified; /* games/chunks: the connection that sent our hello */
    bool is_ready;     /* its hello_ack came */
    uint64_t rev;
    uint64_t next_rehello_ms;
    uint32_t rehellos_pending;
    uint32_t chunk_streams; /* open chunk streams (pending or held) */
    uint64_t busy_until_ms;
    bool wants_manifest;
};

typedef struct {
    char *path;
    uint64_t offset;
    uint64_t length;
} chunk_ref_t;

typedef struct {
    AvahiSEntryGroup *group;
    char name[64];
    size_t host; /* index in hostile_t.hosts */
    char peer_id[LS_SHA256_HEX_LEN + 1];
    uint64_t rev;
} mdns_service_t;

typedef struct {
    uint64_t conns_opened, conns_established, conns_closed_by_target, conns_refused;
    uint64_t conns_failed, streams_opened, stream_limit_hits, bytes_sent;
    uint64_t err_too_large, err_unauthorized, err_busy, err_invalid, err_other;
    uint64_t stream_resets, hellos_acked, rehellos_sent, hellos_refused;
    uint64_t chunk_requests, chunk_held_now, chunk_held_max, manifests;
    uint64_t answered, mdns_published, mdns_txt_changes, dials_in, inbound_hellos;
    uint64_t inbound_library_games;
} stats_t;

typedef struct {
    unsigned modes;
    const char *target;
    const char *binds[BIND_MAX];
    size_t bind_count;
    const char *verified_binds[BIND_MAX];
    size_t verified_bind_count;
    const char *work;
    const char *listen;
    const char *game;
    double seconds;
    uint32_t conns, streams, trickle_ms, games, rehello_ms, identities, chunk_streams, chunk_rate;
    uint64_t oversize_bytes, oversize_rate;
    uint32_t mdns_services, mdns_churn_ms;
    const char *mdns_addrs[MDNS_ADDRS_MAX];
    size_t mdns_addr_count;
    const char *mdns_iface;
    const char *mdns_spoof_id;
} opts_t;

struct hostile {
    opts_t o;
    uv_loop_t *loop;
    struct sockaddr_in target;
    uv_timer_t tick, stats_timer;
    uv_signal_t sig_term, sig_int;
    uint64_t started_ms, deadline_ms;
    bool is_stopping;
    agent_t *agents;
    size_t agent_count;
    ls_identity_t *flood_identity;
    stats_t st;
    double oversize_tokens;
    double chunk_tokens; /* chunk requests we may send now (--chunk-rate) */
    uint64_t oversize_sent;
    uint64_t next_trickle_ms;
    chunk_ref_t chunks[CHUNKS_MAX];
    size_t chunk_count;
    size_t chunk_cursor;
    ls_msg_t library; /* kind HELLO: the games agent's library (games field) */
    ls_avahi_poll_t poll;
    AvahiServer *avahi;
    AvahiSEntryGroup *host_group;
    struct sockaddr_in hosts[MDNS_ADDRS_MAX];
    size_t host_count;
    mdns_service_t *services;
    size_t service_count;
    uint64_t next_churn_ms;
    size_t churn_next; /* the next service whose TXT record changes */
};

static void conn_free(hconn_t *hc);

static uint64_t now_ms(const hostile_t *h)
{
    return uv_now(h->loop);
}

/* ---- streams ------------------------------------------------------------ */

static hstream_t *stream_new(hconn_t *hc, ls_net_stream_t *s, stream_kind_t kind)
{
    hstream_t *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->conn = hc;
    hs->s = s;
    hs->kind = kind;
    ls_framer_init(&hs->framer, REPLY_FRAME_MAX);
    hs->next = hc->streams;
    hc->streams = hs;
    return hs;
}

static void stream_unlink(hstream_t *hs)
{
    for (hstream_t **p = &hs->conn->streams; *p; p = &(*p)->next)
        if (*p == hs) {
            *p = hs->next;
            break;
        }
}

static int write_bytes(hstream_t *hs, const void *data, size_t len)
{
    int rc = ls_net_stream_write(hs->s, data, len);
    if (rc == 0)
        hs->conn->agent->h->st.bytes_sent += len;
    return rc;
}

static int write_msg(hstream_t *hs, const ls_msg_t *msg, bool is_last)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ls_msg_encode(msg, &frame, &len);
    if (rc == 0)
        rc = write_bytes(hs, frame, len);
    if (rc == 0 && is_last)
        rc = ls_net_stream_shutdown(hs->s);
    free(frame);
    return rc;
}

static void count_error(hostile_t *h, ls_wire_error_t code)
{
    if (code == LS_WIRE_TOO_LARGE)
        h->st.err_too_large++;
    else if (code == LS_WIRE_UNAUTHORIZED)
        h->st.err_unauthorized++;
    else if (code == LS_WIRE_BUSY)
        h->st.err_busy++;
    else if (code == LS_WIRE_INVALID_REQUEST)
        h->st.err_invalid++;
    else
        h->st.err_other++;
}

static void collect_chunks(hostile_t *h, const ls_game_manifest_t *m)
{
    if (h->chunk_count)
        return;
    for (size_t i = 0; i < m->file_count && h->chunk_count < CHUNKS_MAX; i++) {
        const ls_file_desc_t *f = &m->files[i];
        for (uint64_t off = 0; !f->is_dir && off < f->size && h->chunk_count < CHUNKS_MAX;
             off += LS_CHUNK_SIZE) {
            chunk_ref_t *c = &h->chunks[h->chunk_count];
            if (!(c->path = strdup(f->path)))
                return;
            c->offset = off;
            c->length = f->size - off < LS_CHUNK_SIZE ? f->size - off : LS_CHUNK_SIZE;
            h->chunk_count++;
        }
    }
    fprintf(stderr, "ls_hostile: manifest of %s: %zu chunks to ask for\n", m->game_id,
            h->chunk_count);
}

/* A reply frame on a stream we opened. */
static void on_reply(hstream_t *hs, const ls_msg_t *reply)
{
    agent_t *a = hs->conn->agent;
    hostile_t *h = a->h;
    if (reply->kind == LS_MSG_ERROR) {
        count_error(h, reply->u.error.code);
        if (hs->kind == ST_HELLO) {
            h->st.hellos_refused++;
            a->rehellos_pending -= a->rehellos_pending > 0;
        }
        if (reply->u.error.code == LS_WIRE_BUSY && hs->kind == ST_CHUNK)
            a->busy_until_ms = now_ms(h) + BUSY_BACKOFF_MS;
        return;
    }
    if (hs->kind == ST_HELLO && reply->kind == LS_MSG_HELLO_ACK) {
        h->st.hellos_acked++;
        a->rehellos_pending -= a->rehellos_pending > 0;
        a->is_ready = true;
    } else if (hs->kind == ST_GET_GAME && reply->kind == LS_MSG_GAME) {
        h->st.manifests++;
        collect_chunks(h, &reply->u.game);
    } else if (hs->kind == ST_CHUNK && reply->kind == LS_MSG_FILE_CHUNK) {
        hs->is_held = true;
        if (++h->st.chunk_held_now > h->st.chunk_held_max)
            h->st.chunk_held_max = h->st.chunk_held_now;
    }
}

static void out_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    hstream_t *hs = ls_net_stream_user_data(s);
    size_t used = 0;
    /* A chunk body is never read: its credit never goes back. */
    if (hs->kind != ST_CHUNK)
        ls_net_stream_consume(s, len);
    if (hs->is_framed || !len)
        return;
    int rc = ls_framer_push(&hs->framer, data, len, &used);
    if (rc == LS_EAGAIN)
        return;
    hs->is_framed = true;
    if (rc == 0) {
        size_t plen;
        const uint8_t *payload = ls_framer_payload(&hs->framer, &plen);
        ls_msg_t reply;
        if (ls_msg_decode(payload, plen, &reply, NULL, 0) == 0) {
            on_reply(hs, &reply);
            ls_msg_free(&reply);
        }
    }
    ls_framer_free(&hs->framer);
}

static void out_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    hstream_t *hs = ls_net_stream_user_data(s);
    agent_t *a = hs->conn->agent;
    hostile_t *h = a->h;
    if (status == LS_EREMOTE)
        h->st.stream_resets++;
    if (hs->kind == ST_CHUNK) {
        a->chunk_streams--;
        h->st.chunk_held_now -= hs->is_held;
    }
    if (hs->kind == ST_GET_GAME && !h->chunk_count)
        a->wants_manifest = true; /* ask again */
    stream_unlink(hs);
    ls_framer_free(&hs->framer);
    free(hs);
}

static const ls_net_stream_callbacks_t out_callbacks = {
    .read_cb = out_read_cb,
    .close_cb = out_close_cb,
};

static hstream_t *open_stream(hconn_t *hc, stream_kind_t kind)
{
    hostile_t *h = hc->agent->h;
    ls_net_stream_t *s = NULL;
    hstream_t *hs = NULL;
    if (hc->is_stream_limited || !hc->is_established)
        return NULL;
    int rc = ls_net_stream_open(hc->c, &out_callbacks, NULL, &s);
    if (rc == LS_ELIMIT) {
        hc->is_stream_limited = true;
        h->st.stream_limit_hits++;
        return NULL;
    }
    if (rc != 0)
        return NULL;
    if (!(hs = stream_new(hc, s, kind))) {
        ls_net_stream_reset(s, LS_NET_APP_INTERNAL);
        return NULL;
    }
    ls_net_stream_set_callbacks(s, &out_callbacks, hs);
    hc->opened++;
    h->st.streams_opened++;
    return hs;
}

/* ---- pre-hello streams (flood, oversize, trickle) ------------------------- */

static void put_be32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

/* The start of a frame that announces `len` payload bytes: its header and
 * `prefix` bytes of a hello-looking payload. */
static int start_frame(hstream_t *hs, uint32_t len, size_t prefix)
{
    static const char hello[] = "{\"kind\":\"hello\",\"protocol_version\":5,\"name\":\"";
    uint8_t head[LS_FRAME_HEADER_LEN + sizeof hello];
    size_t n = prefix < sizeof hello - 1 ? prefix : sizeof hello - 1;
    put_be32(head, len);
    memcpy(head + LS_FRAME_HEADER_LEN, hello, n);
    hs->sent = n;
    return write_bytes(hs, head, LS_FRAME_HEADER_LEN + n);
}

/* The kinds a flood connection's streams take, in turn. */
static stream_kind_t pre_hello_kind(const hostile_t *h, uint32_t i)
{
    stream_kind_t kinds[3];
    size_t n = 0;
    if (h->o.modes & MODE_FLOOD)
        kinds[n++] = ST_HOLD;
    if (h->o.modes & MODE_OVERSIZE)
        kinds[n++] = ST_OVERSIZE;
    if (h->o.modes & MODE_TRICKLE)
        kinds[n++] = ST_TRICKLE;
    return kinds[i % n];
}

static void open_pre_hello_streams(hconn_t *hc)
{
    hostile_t *h = hc->agent->h;
    while (hc->opened < h->o.streams) {
        /* The first two streams of an oversize connection announce frames
         * above the responder's request limit and above the codec's. */
        bool is_too_big = (h->o.modes & MODE_OVERSIZE) && hc->opened < 2;
        stream_kind_t kind = is_too_big ? ST_TOO_BIG : pre_hello_kind(h, hc->opened);
        hstream_t *hs = open_stream(hc, kind);
        if (!hs)
            return;
        int rc;
        if (kind == ST_TOO_BIG)
            rc = start_frame(hs, hc->opened == 1 ? ANNOUNCED_FRAME + 1 : LS_FRAME_MAX + 1, 0);
        else
            rc = start_frame(hs, ANNOUNCED_FRAME, kind == ST_TRICKLE ? 1 : 16);
        if (rc != 0)
            ls_net_stream_reset(hs->s, LS_NET_APP_CANCELED);
    }
}

/* Junk that is valid UTF-8 and looks like the inside of a JSON string. */
static uint8_t junk[OVERSIZE_WRITE];

static void pace_oversize(hostile_t *h, double dt_s)
{
    h->oversize_tokens += (double)h->o.oversize_rate * dt_s;
    if (h->oversize_tokens > (double)h->o.oversize_rate)
        h->oversize_tokens = (double)h->o.oversize_rate; /* a second's burst */
    for (size_t i = 0; i < h->agent_count; i++) {
        for (hconn_t *hc = h->agents[i].conns; hc; hc = hc->next) {
            for (hstream_t *hs = hc->streams; hs; hs = hs->next) {
                if (hs->kind != ST_OVERSIZE || h->oversize_sent >= h->o.oversize_bytes ||
                    h->oversize_tokens < OVERSIZE_WRITE)
                    continue;
                uint64_t left = ANNOUNCED_FRAME - 1 - hs->sent;
                if (!left || ls_net_stream_unacked_bytes(hs->s) > OVERSIZE_UNACKED_MAX)
                    continue;
                size_t n = left < OVERSIZE_WRITE ? (size_t)left : OVERSIZE_WRITE;
                if (write_bytes(hs, junk, n) != 0)
                    continue;
                hs->sent += n;
                h->oversize_sent += n;
                h->oversize_tokens -= (double)n;
            }
        }
    }
}

static void trickle(hostile_t *h)
{
    for (size_t i = 0; i < h->agent_count; i++)
        for (hconn_t *hc = h->agents[i].conns; hc; hc = hc->next)
            for (hstream_t *hs = hc->streams; hs; hs = hs->next)
                if (hs->kind == ST_TRICKLE && hs->sent + 1 < ANNOUNCED_FRAME &&
                    write_bytes(hs, "x", 1) == 0)
                    hs->sent++;
}

/* ---- verified peers (games, chunks) -------------------------------------- */

static int make_hello(agent_t *a, ls_msg_t *out)
{
    hostile_t *h = a->h;
    char name[32];
    ls_hello_t *hello = &out->u.hello;
    memset(out, 0, sizeof *out);
    out->kind = LS_MSG_HELLO;
    snprintf(name, sizeof name, "hostile-%u", a->index);
    hello->protocol_version = LS_PROTOCOL_VERSION;
    hello->peer_id = strdup(ls_identity_peer_id(a->identity));
    hello->name = strdup(name);
    hello->library.library_rev = a->rev;
    if (!hello->peer_id || !hello->name)
        return LS_ENOMEM;
    if (a->role != AG_GAMES)
        return ls_snapshot_digest(NULL, 0, hello->library.digest);
    /* Borrowed from h->library: the caller takes the games back before
     * freeing the message. */
    hello->library.games = h->library.u.hello.library.games;
    hello->library.game_count = h->library.u.hello.library.game_count;
    return ls_snapshot_digest(hello->library.games, hello->library.game_count,
                              hello->library.digest);
}

static void send_hello(agent_t *a)
{
    hostile_t *h = a->h;
    hstream_t *hs = open_stream(a->verified, ST_HELLO);
    ls_msg_t msg;
    if (!hs)
        return;
    int rc = make_hello(a, &msg);
    if (rc == 0)
        rc = write_msg(hs, &msg, true);
    msg.u.hello.library.games = NULL;
    msg.u.hello.library.game_count = 0;
    ls_msg_free(&msg);
    if (rc != 0) {
        ls_net_stream_reset(hs->s, LS_NET_APP_INTERNAL);
        return;
    }
    a->rehellos_pending++;
    if (a->rev > 1)
        h->st.rehellos_sent++;
}

/* The library the games agent announces: --games games, one of which
 * changes with every re-handshake so each one is a new library. */
static int make_library(hostile_t *h)
{
    ls_library_snapshot_t *lib = &h->library.u.hello.library;
    h->library.kind = LS_MSG_HELLO;
    if (!h->o.games)
        return 0;
    lib->games = calloc(h->o.games, sizeof *lib->games);
    if (!lib->games)
        return LS_ENOMEM;
    for (uint32_t i = 0; i < h->o.games; i++, lib->game_count++) {
        char id[32], name[48];
        ls_game_summary_t *g = &lib->games[i];
        snprintf(id, sizeof id, "hostile-%05u", i);
        snprintf(name, sizeof name, "Hostile Game %u", i);
        g->id = strdup(id);
        g->name = strdup(name);
        g->version = strdup("1");
        g->size = (uint64_t)1 << 30;
        g->file_count = 1;
        if (!g->id || !g->name || !g->version)
            return LS_ENOMEM;
    }
    return 0;
}

static void change_library(hostile_t *h, uint64_t rev)
{
    ls_library_snapshot_t *lib = &h->library.u.hello.library;
    char version[24];
    if (!lib->game_count)
        return;
    ls_game_summary_t *g = &lib->games[rev % lib->game_count];
    snprintf(version, sizeof version, "%llu", (unsigned long long)rev);
    char *v = strdup(version);
    if (!v)
        return;
    free(g->version);
    g->version = v;
}

static void request_manifest(agent_t *a)
{
    hostile_t *h = a->h;
    hstream_t *hs = open_stream(a->verified, ST_GET_GAME);
    if (!hs)
        return;
    a->wants_manifest = false;
    ls_msg_t msg = {.kind = LS_MSG_GET_GAME, .u.game_id = (char *)h->o.game};
    if (write_msg(hs, &msg, true) != 0)
        ls_net_stream_reset(hs->s, LS_NET_APP_INTERNAL);
}

static void request_chunks(agent_t *a)
{
    hostile_t *h = a->h;
    uint32_t opened = 0;
    while (h->chunk_count && a->chunk_streams < h->o.chunk_streams && opened < OPENS_PER_TICK &&
           now_ms(h) >= a->busy_until_ms && h->chunk_tokens >= 1) {
        hstream_t *hs = open_stream(a->verified, ST_CHUNK);
        if (!hs)
            return;
        const chunk_ref_t *c = &h->chunks[h->chunk_cursor++ % h->chunk_count];
        ls_msg_t msg = {.kind = LS_MSG_GET_FILE_CHUNK,
                        .u.file_request = {.game_id = (char *)h->o.game,
                                           .path = c->path,
                                           .offset = c->offset,
                                           .length = c->length}};
        a->chunk_streams++;
        opened++;
        h->chunk_tokens -= 1;
        h->st.chunk_requests++;
        if (write_msg(hs, &msg, true) != 0)
            ls_net_stream_reset(hs->s, LS_NET_APP_INTERNAL);
    }
}

static void verified_tick(agent_t *a)
{
    hostile_t *h = a->h;
    uint64_t now = now_ms(h);
    if (!a->verified || !a->verified->is_established)
        return;
    if (!a->rev) {
        a->rev = 1;
        a->next_rehello_ms = now + h->o.rehello_ms;
        send_hello(a);
        return;
    }
    if (!a->is_ready)
        return;
    if (a->role == AG_GAMES && h->o.rehello_ms && now >= a->next_rehello_ms &&
        a->rehellos_pending < REHELLO_PENDING_MAX) {
        a->next_rehello_ms = now + h->o.rehello_ms;
        a->rev++;
        change_library(h, a->rev);
        send_hello(a);
    }
    if (a->role != AG_CHUNKS)
        return;
    if (a->wants_manifest)
        request_manifest(a);
    request_chunks(a);
}

/* ---- requests the target sends us ---------------------------------------- */

static void answer(hstream_t *hs, const ls_msg_t *req)
{
    agent_t *a = hs->conn->agent;
    ls_msg_t reply = {.kind = LS_MSG_ERROR};
    int rc;
    a->h->st.answered++;
    if (req->kind == LS_MSG_PING) {
        reply = (ls_msg_t){.kind = LS_MSG_PONG, .u.nonce = req->u.nonce};
    } else if (req->kind == LS_MSG_LIBRARY_DELTA) {
        reply = (ls_msg_t){.kind = LS_MSG_LIBRARY_DELTA_ACK, .u.acked_rev = req->u.delta.to_rev};
    } else if (req->kind == LS_MSG_HAVE) {
        reply = (ls_msg_t){.kind = LS_MSG_HAVE_ACK};
    } else if (req->kind == LS_MSG_HELLO) {
        if (make_hello(a, &reply) == 0) {
            reply.kind = LS_MSG_HELLO_ACK;
            write_msg(hs, &reply, true);
        }
        reply.u.hello.library.games = NULL;
        reply.u.hello.library.game_count = 0;
        ls_msg_free(&reply);
        return;
    } else {
        reply.u.error.code = LS_WIRE_INVALID_REQUEST;
        reply.u.error.message = (char *)"no";
    }
    rc = write_msg(hs, &reply, true);
    if (rc != 0)
        ls_net_stream_reset(hs->s, LS_NET_APP_INTERNAL);
}

static void in_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    hstream_t *hs = ls_net_stream_user_data(s);
    hostile_t *h = hs->conn->agent->h;
    size_t used = 0;
    ls_net_stream_consume(s, len);
    if (hs->is_framed || !len)
        return;
    int rc = ls_framer_push(&hs->framer, data, len, &used);
    if (rc == LS_EAGAIN)
        return;
    hs->is_framed = true;
    size_t plen = 0;
    const uint8_t *payload = rc == 0 ? ls_framer_payload(&hs->framer, &plen) : NULL;
    ls_msg_t req;
    if (payload && ls_msg_decode(payload, plen, &req, NULL, 0) == 0) {
        if (hs->kind == ST_ANSWER) {
            answer(hs, &req);
        } else if (req.kind == LS_MSG_HELLO) {
            /* The target dialled a service we advertised and told us its
             * library; it waits for a hello_ack that never comes. */
            h->st.inbound_hellos++;
            h->st.inbound_library_games += req.u.hello.library.game_count;
        }
        ls_msg_free(&req);
    }
    ls_framer_free(&hs->framer);
}

static void in_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    hstream_t *hs = ls_net_stream_user_data(s);
    stream_unlink(hs);
    ls_framer_free(&hs->framer);
    free(hs);
}

static const ls_net_stream_callbacks_t in_callbacks = {
    .read_cb = in_read_cb,
    .close_cb = in_close_cb,
};

/* ---- connections ---------------------------------------------------------- */

static hconn_t *conn_new(agent_t *a)
{
    hconn_t *hc = calloc(1, sizeof *hc);
    if (!hc)
        return NULL;
    hc->agent = a;
    hc->next = a->conns;
    a->conns = hc;
    a->live++;
    return hc;
}

static void conn_free(hconn_t *hc)
{
    agent_t *a = hc->agent;
    for (hconn_t **p = &a->conns; *p; p = &(*p)->next)
        if (*p == hc) {
            *p = hc->next;
            break;
        }
    a->live--;
    free(hc);
}

static void connect_one(agent_t *a)
{
    hostile_t *h = a->h;
    hconn_t *hc = conn_new(a);
    if (!hc)
        return;
    if (ls_net_connect(a->ep, (const struct sockaddr *)&h->target, hc, &hc->c) != 0) {
        conn_free(hc);
        h->st.conns_failed++;
        return;
    }
    h->st.conns_opened++;
    if (a->role == AG_GAMES || a->role == AG_CHUNKS) {
        a->verified = hc;
        a->is_ready = false;
        a->rev = 0;
        a->rehellos_pending = 0;
        a->wants_manifest = a->role == AG_CHUNKS;
    }
}

static int established_cb(ls_net_conn_t *c, const char *peer_id)
{
    agent_t *a = ls_net_endpoint_user_data(ls_net_conn_endpoint(c));
    hconn_t *hc = ls_net_conn_user_data(c);
    if (a->h->is_stopping)
        return LS_ECANCELED;
    if (!hc) { /* the target dialled us */
        if (!(hc = conn_new(a)))
            return LS_ENOMEM;
        hc->c = c;
        ls_net_conn_set_user_data(c, hc);
        a->h->st.dials_in++;
    } else {
        a->h->st.conns_established++;
    }
    hc->is_established = true;
    if (a->role == AG_FLOOD)
        open_pre_hello_streams(hc);
    return 0;
}

static void closed_cb(ls_net_conn_t *c, int status, uint64_t app_error, const char *reason)
{
    hconn_t *hc = ls_net_conn_user_data(c);
    if (!hc)
        return;
    agent_t *a = hc->agent;
    hostile_t *h = a->h;
    if (status == LS_EREFUSED || status == LS_ELIMIT)
        h->st.conns_refused++;
    else if (status == LS_EREMOTE || status == LS_EPEER_GONE)
        h->st.conns_closed_by_target++;
    else if (status != 0)
        h->st.conns_failed++;
    if (a->verified == hc) {
        a->verified = NULL;
        a->is_ready = false;
    }
    if (a->next_connect_ms < now_ms(h) + RECONNECT_MS)
        a->next_connect_ms = now_ms(h) + RECONNECT_MS;
    conn_free(hc);
}

static void stream_cb(ls_net_conn_t *c, ls_net_stream_t *s)
{
    hconn_t *hc = ls_net_conn_user_data(c);
    hstream_t *hs =
        hc ? stream_new(hc, s, hc->agent->role == AG_TARPIT ? ST_TARPIT : ST_ANSWER) : NULL;
    if (!hs) {
        ls_net_stream_reset(s, LS_NET_APP_INTERNAL);
        return;
    }
    ls_net_stream_set_callbacks(s, &in_callbacks, hs);
}

static void streams_available_cb(ls_net_conn_t *c)
{
    hconn_t *hc = ls_net_conn_user_data(c);
    if (!hc)
        return;
    hc->is_stream_limited = false;
    if (hc->agent->role == AG_FLOOD)
        open_pre_hello_streams(hc);
}

/* ---- agents --------------------------------------------------------------- */

static int parse_addr(const char *text, uint16_t default_port, struct sockaddr_in *out)
{
    char ip[INET_ADDRSTRLEN];
    const char *colon = strchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : default_port;
    if (n >= sizeof ip || port > 65535)
        return LS_EINVAL;
    memcpy(ip, text, n);
    ip[n] = '\0';
    return uv_ip4_addr(ip, (int)port, out) == 0 ? 0 : LS_EINVAL;
}

static int agent_start(hostile_t *h, agent_t *a, agent_role_t role, const char *bind,
                       ls_identity_t *shared)
{
    char dir[4096];
    struct sockaddr_in addr;
    a->h = h;
    a->role = role;
    a->index = (unsigned)(a - h->agents);
    int rc = parse_addr(bind, 0, &addr);
    if (rc != 0) {
        fprintf(stderr, "ls_hostile: bad address %s\n", bind);
        return rc;
    }
    if (shared) {
        a->identity = NULL;
    } else {
        snprintf(dir, sizeof dir, "%s/id-%u", h->o.work, a->index);
        if ((rc = ls_identity_load_or_create(dir, &a->identity)) != 0)
            return rc;
    }
    /* Our own limits must not be what stops the attack; a chunk stream's
     * window is what the target may send before it needs our credit. */
    ls_net_limits_t lim = {.keep_alive_ms = 5000,
                           .max_conns_per_addr = 4096,
                           .max_conns_in = 4096,
                           .max_conns_out = 4096,
                           .max_unverified_per_addr = 4096};
    if (role == AG_CHUNKS) {
        lim.stream_window = CHUNK_STREAM_WINDOW;
        lim.conn_window = 8u * 1024 * 1024;
    }
    ls_net_config_t cfg = {
        .bind_addr = (const struct sockaddr *)&addr,
        .identity = shared ? shared : a->identity,
        .cb = {.established_cb = established_cb,
               .closed_cb = closed_cb,
               .stream_cb = stream_cb,
               .streams_available_cb = streams_available_cb},
        .limits = lim,
        .user_data = a,
    };
    rc = ls_net_endpoint_create(h->loop, &cfg, &a->ep);
    if (rc != 0)
        fprintf(stderr, "ls_hostile: cannot bind %s: %s\n", bind, ls_strerror(rc));
    return rc;
}

static void agents_tick(hostile_t *h)
{
    uint64_t now = now_ms(h);
    for (size_t i = 0; i < h->agent_count; i++) {
        agent_t *a = &h->agents[i];
        uint32_t want = a->role == AG_FLOOD ? h->o.conns : a->role == AG_TARPIT ? 0 : 1;
        /* One new connection per agent per tick: a bounded connect rate. */
        if (a->ep && a->live < want && now >= a->next_connect_ms)
            connect_one(a);
        if (a->role == AG_GAMES || a->role == AG_CHUNKS)
            verified_tick(a);
    }
}

/* ---- mDNS ----------------------------------------------------------------- */

static int service_txt(const mdns_service_t *svc, AvahiStringList **out)
{
    ls_discovery_txt_t txt = {.protocol_version = LS_PROTOCOL_VERSION, .library_rev = svc->rev};
    uint8_t hash[LS_SHA256_LEN];
    uint8_t wire[LS_DISCOVERY_TXT_MAX];
    size_t len = 0;
    memcpy(txt.peer_id, svc->peer_id, sizeof txt.peer_id);
    ls_sha256(&svc->rev, sizeof svc->rev, hash);
    ls_hex_encode(hash, sizeof hash, txt.digest);
    int rc = ls_discovery_txt_encode(&txt, wire, sizeof wire, &len);
    if (rc == 0 && avahi_string_list_parse(wire, len, out) < 0)
        rc = LS_ENOMEM;
    return rc;
}

/* The address records, one host name per --mdns-addr, shared by the
 * services: avahi-core's cost grows with its records, and the target
 * resolves each service all the same. */
static int publish_hosts(hostile_t *h)
{
    int rc = 0;
    if (!(h->host_group = avahi_s_entry_group_new(h->avahi, NULL, NULL)))
        return avahi_server_errno(h->avahi);
    for (size_t i = 0; rc == 0 && i < h->host_count; i++) {
        char fqdn[80];
        AvahiAddress addr = {.proto = AVAHI_PROTO_INET};
        addr.data.ipv4.address = h->hosts[i].sin_addr.s_addr;
        snprintf(fqdn, sizeof fqdn, MDNS_HOST_FORMAT ".local", i);
        rc = avahi_server_add_address(h->avahi, h->host_group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET,
                                      AVAHI_PUBLISH_NO_REVERSE, fqdn, &addr);
    }
    return rc == 0 ? avahi_s_entry_group_commit(h->host_group) : rc;
}

static void publish_service(hostile_t *h, mdns_service_t *svc)
{
    AvahiStringList *txt = NULL;
    char fqdn[80];
    snprintf(fqdn, sizeof fqdn, MDNS_HOST_FORMAT ".local", svc->host);
    if (!svc->group && !(svc->group = avahi_s_entry_group_new(h->avahi, NULL, NULL)))
        return;
    if (service_txt(svc, &txt) != 0)
        return;
    int rc = avahi_server_add_service_strlst(
        h->avahi, svc->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET, 0, svc->name,
        LS_DISCOVERY_SERVICE_TYPE, NULL, fqdn, ntohs(h->hosts[svc->host].sin_port), txt);
    if (rc == 0)
        rc = avahi_s_entry_group_commit(svc->group);
    avahi_string_list_free(txt);
    if (rc == 0)
        h->st.mdns_published++;
    else
        fprintf(stderr, "ls_hostile: cannot publish %s: %s\n", svc->name, avahi_strerror(rc));
}

static void change_txt(hostile_t *h, mdns_service_t *svc)
{
    AvahiStringList *txt = NULL;
    if (!svc->group || avahi_s_entry_group_is_empty(svc->group))
        return;
    svc->rev++;
    if (service_txt(svc, &txt) != 0)
        return;
    if (avahi_server_update_service_txt_strlst(h->avahi, svc->group, AVAHI_IF_UNSPEC,
                                               AVAHI_PROTO_INET, 0, svc->name,
                                               LS_DISCOVERY_SERVICE_TYPE, NULL, txt) == 0)
        h->st.mdns_txt_changes++;
    avahi_string_list_free(txt);
}

static void mdns_churn(hostile_t *h)
{
    if (!h->avahi || !h->service_count)
        return;
    /* The spoofed id (the last service) every time, then a few others. */
    if (h->o.mdns_spoof_id)
        change_txt(h, &h->services[h->service_count - 1]);
    for (size_t i = 0; i < MDNS_CHURN_PER_TICK && i < h->service_count; i++)
        change_txt(h, &h->services[h->churn_next++ % h->service_count]);
}

static void avahi_server_cb(AvahiServer *server, AvahiServerState state, void *userdata)
{
    hostile_t *h = userdata;
    h->avahi = server;
    if (state != AVAHI_SERVER_RUNNING || h->host_group)
        return;
    int rc = publish_hosts(h);
    if (rc != 0) {
        fprintf(stderr, "ls_hostile: cannot publish addresses: %s\n", avahi_strerror(rc));
        return;
    }
    for (size_t i = 0; i < h->service_count; i++)
        publish_service(h, &h->services[i]);
    fprintf(stderr, "ls_hostile: %llu mDNS services published\n",
            (unsigned long long)h->st.mdns_published);
}

static int mdns_setup(hostile_t *h)
{
    size_t n = h->o.mdns_services + (h->o.mdns_spoof_id ? 1 : 0);
    /* Without --mdns-addr the services point at the target itself. */
    h->hosts[0] = h->target;
    h->host_count = h->o.mdns_addr_count ? h->o.mdns_addr_count : 1;
    for (size_t i = 0; i < h->o.mdns_addr_count; i++) {
        if (parse_addr(h->o.mdns_addrs[i], ntohs(h->target.sin_port), &h->hosts[i]) != 0) {
            fprintf(stderr, "ls_hostile: bad --mdns-addr %s\n", h->o.mdns_addrs[i]);
            return LS_EINVAL;
        }
    }
    if (!(h->services = calloc(n, sizeof *h->services)))
        return LS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        mdns_service_t *svc = &h->services[i];
        bool is_spoof = h->o.mdns_spoof_id && i == n - 1;
        uint8_t hash[LS_SHA256_LEN];
        char seed[32];
        snprintf(seed, sizeof seed, "hostile-mdns-%zu", i);
        ls_sha256(seed, strlen(seed), hash);
        ls_hex_encode(hash, sizeof hash, svc->peer_id);
        /* "00...": below any real id, so the target dials at once. */
        svc->peer_id[0] = svc->peer_id[1] = '0';
        if (is_spoof)
            snprintf(svc->peer_id, sizeof svc->peer_id, "%s", h->o.mdns_spoof_id);
        svc->rev = 1;
        snprintf(svc->name, sizeof svc->name, "hostile %zu [%.8s]", i, svc->peer_id);
        svc->host = i % h->host_count;
    }
    h->service_count = n;
    AvahiServerConfig sc;
    int err = 0;
    avahi_server_config_init(&sc);
    sc.host_name = avahi_strdup("lsx-hostile");
    sc.use_ipv4 = 1;
    sc.use_ipv6 = 0;
    sc.publish_hinfo = 0;
    sc.publish_addresses = 0;
    sc.publish_workstation = 0;
    sc.publish_domain = 0;
    sc.disallow_other_stacks = 0;
    sc.enable_wide_area = 0;
    if (h->o.mdns_iface)
        sc.allow_interfaces = avahi_string_list_add(NULL, h->o.mdns_iface);
    ls_avahi_poll_init(&h->poll, h->loop);
    h->avahi = avahi_server_new(&h->poll.api, &sc, avahi_server_cb, h, &err);
    avahi_server_config_free(&sc);
    if (!h->avahi) {
        fprintf(stderr, "ls_hostile: cannot start mDNS: %s\n", avahi_strerror(err));
        return LS_EMDNS;
    }
    return 0;
}

static void mdns_stop(hostile_t *h)
{
    /* avahi_server_free frees the groups too, and says goodbye for them. */
    if (h->avahi)
        avahi_server_free(h->avahi);
    h->avahi = NULL;
    h->host_group = NULL;
    free(h->services);
    h->services = NULL;
    h->service_count = 0;
}

/* ---- the run -------------------------------------------------------------- */

static json_t *stats_json(const hostile_t *h)
{
    const stats_t *s = &h->st;
    return json_pack(
        "{s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
        "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
        "seconds", (double)(now_ms(h) - h->started_ms) / 1000.0, "conns_opened",
        (json_int_t)s->conns_opened, "conns_established", (json_int_t)s->conns_established,
        "conns_closed_by_target", (json_int_t)s->conns_closed_by_target, "conns_refused",
        (json_int_t)s->conns_refused, "conns_failed", (json_int_t)s->conns_failed, "streams_opened",
        (json_int_t)s->streams_opened, "stream_limit_hits", (json_int_t)s->stream_limit_hits,
        "bytes_sent", (json_int_t)s->bytes_sent, "oversize_bytes", (json_int_t)h->oversize_sent,
        "err_too_large", (json_int_t)s->err_too_large, "err_unauthorized",
        (json_int_t)s->err_unauthorized, "err_busy", (json_int_t)s->err_busy, "err_invalid",
        (json_int_t)s->err_invalid, "err_other", (json_int_t)s->err_other, "stream_resets",
        (json_int_t)s->stream_resets, "hellos_acked", (json_int_t)s->hellos_acked, "rehellos_sent",
        (json_int_t)s->rehellos_sent, "hellos_refused", (json_int_t)s->hellos_refused,
        "chunk_requests", (json_int_t)s->chunk_requests, "chunk_held_now",
        (json_int_t)s->chunk_held_now, "chunk_held_max", (json_int_t)s->chunk_held_max, "manifests",
        (json_int_t)s->manifests, "answered", (json_int_t)s->answered, "mdns_published",
        (json_int_t)s->mdns_published, "mdns_txt_changes", (json_int_t)s->mdns_txt_changes,
        "dials_in", (json_int_t)s->dials_in, "inbound_hellos", (json_int_t)s->inbound_hellos,
        "inbound_library_games", (json_int_t)s->inbound_library_games);
}

static void print_stats(const hostile_t *h, FILE *out, const char *prefix)
{
    json_t *j = stats_json(h);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text)
        fprintf(out, "%s%s\n", prefix, text);
    fflush(out);
    free(text);
    json_decref(j);
}

static void stop(hostile_t *h)
{
    if (h->is_stopping)
        return;
    h->is_stopping = true;
    /* The counters first: the teardown (mDNS goodbyes) may outlast a
     * caller's patience. */
    print_stats(h, stdout, "");
    uv_timer_stop(&h->tick);
    uv_timer_stop(&h->stats_timer);
    uv_close((uv_handle_t *)&h->tick, NULL);
    uv_close((uv_handle_t *)&h->stats_timer, NULL);
    uv_close((uv_handle_t *)&h->sig_term, NULL);
    uv_close((uv_handle_t *)&h->sig_int, NULL);
    mdns_stop(h);
    for (size_t i = 0; i < h->agent_count; i++) {
        if (h->agents[i].ep)
            ls_net_endpoint_close(h->agents[i].ep, NULL);
        h->agents[i].ep = NULL;
    }
}

static void tick_cb(uv_timer_t *t)
{
    hostile_t *h = t->data;
    uint64_t now = now_ms(h);
    if (now >= h->deadline_ms) {
        stop(h);
        return;
    }
    h->chunk_tokens += (double)h->o.chunk_rate * TICK_MS / 1000.0;
    if (h->chunk_tokens > h->o.chunk_rate)
        h->chunk_tokens = h->o.chunk_rate; /* a second's burst */
    agents_tick(h);
    if (h->o.modes & MODE_OVERSIZE)
        pace_oversize(h, TICK_MS / 1000.0);
    if ((h->o.modes & MODE_TRICKLE) && now >= h->next_trickle_ms) {
        h->next_trickle_ms = now + h->o.trickle_ms;
        trickle(h);
    }
    if (h->avahi && h->o.mdns_churn_ms && now >= h->next_churn_ms) {
        h->next_churn_ms = now + h->o.mdns_churn_ms;
        mdns_churn(h);
    }
}

static void stats_cb(uv_timer_t *t)
{
    print_stats(t->data, stderr, "ls_hostile: ");
}

static void signal_cb(uv_signal_t *s, int signum)
{
    (void)signum;
    stop(s->data);
}

/* ---- options -------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: ls_hostile --target ADDR:PORT --work DIR [--modes LIST] [--seconds N]\n"
                 "        [--bind IP]... [--verified-bind IP]... [--listen IP:PORT]\n"
                 "        [--conns N] [--streams N] [--oversize-mib N] [--oversize-rate MIB/S]\n"
                 "        [--trickle-ms N] [--games N] [--rehello-ms N] [--identities N]\n"
                 "        [--chunk-streams N] [--chunk-rate N/S] [--game ID] [--mdns-services N]\n"
                 "        [--mdns-addr IP[:PORT]]... [--mdns-iface NAME] [--mdns-churn-ms N]\n"
                 "        [--mdns-spoof-id HEX64]\n"
                 "modes: flood,oversize,trickle,games,chunks,mdns (default: all)\n");
}

static int parse_modes(const char *text, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"flood", MODE_FLOOD}, {"oversize", MODE_OVERSIZE}, {"trickle", MODE_TRICKLE},
                 {"games", MODE_GAMES}, {"chunks", MODE_CHUNKS},     {"mdns", MODE_MDNS},
                 {"all", 0xffffffffu}};
    char buf[256];
    unsigned modes = 0;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(tok, names[i].name) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return LS_EINVAL;
        modes |= names[i].bit;
    }
    *out = modes & (MODES_PRE_HELLO | MODE_GAMES | MODE_CHUNKS | MODE_MDNS);
    return modes ? 0 : LS_EINVAL;
}

/* A number in [lo, hi], digits only. */
static int parse_u32(const char *text, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || v < lo || v > hi)
        return LS_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option options[] = {
        {"target", required_argument, NULL, 'T'},
        {"work", required_argument, NULL, 'w'},
        {"modes", required_argument, NULL, 'm'},
        {"seconds", required_argument, NULL, 's'},
        {"bind", required_argument, NULL, 'b'},
        {"verified-bind", required_argument, NULL, 'V'},
        {"listen", required_argument, NULL, 'l'},
        {"conns", required_argument, NULL, 'c'},
        {"streams", required_argument, NULL, 'S'},
        {"oversize-mib", required_argument, NULL, 'O'},
        {"oversize-rate", required_argument, NULL, 'R'},
        {"trickle-ms", required_argument, NULL, 't'},
        {"games", required_argument, NULL, 'g'},
        {"rehello-ms", required_argument, NULL, 'r'},
        {"identities", required_argument, NULL, 'i'},
        {"chunk-streams", required_argument, NULL, 'C'},
        {"chunk-rate", required_argument, NULL, 'k'},
        {"game", required_argument, NULL, 'G'},
        {"mdns-services", required_argument, NULL, 'n'},
        {"mdns-addr", required_argument, NULL, 'a'},
        {"mdns-iface", required_argument, NULL, 'f'},
        {"mdns-churn-ms", required_argument, NULL, 'u'},
        {"mdns-spoof-id", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    uint32_t v = 0;
    int opt, rc = 0;
    *o = (opts_t){.modes = MODES_PRE_HELLO | MODE_GAMES | MODE_CHUNKS | MODE_MDNS,
                  .seconds = 60,
                  .conns = 8,
                  .streams = 128,
                  .trickle_ms = 1000,
                  .games = LS_SNAPSHOT_GAMES_MAX,
                  .rehello_ms = 2000,
                  .identities = 8,
                  .chunk_streams = 128,
                  .chunk_rate = 500,
                  .oversize_bytes = 256ull << 20,
                  .oversize_rate = 16ull << 20,
                  .mdns_services = 1024,
                  .mdns_churn_ms = 1000};
    while (rc == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'T':
            o->target = optarg;
            break;
        case 'w':
            o->work = optarg;
            break;
        case 'm':
            rc = parse_modes(optarg, &o->modes);
            break;
        case 's':
            o->seconds = strtod(optarg, NULL);
            break;
        case 'b':
            if (o->bind_count == BIND_MAX)
                return LS_EINVAL;
            o->binds[o->bind_count++] = optarg;
            break;
        case 'V':
            if (o->verified_bind_count == BIND_MAX)
                return LS_EINVAL;
            o->verified_binds[o->verified_bind_count++] = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'c':
            rc = parse_u32(optarg, 1, 4096, &o->conns);
            break;
        case 'S':
            rc = parse_u32(optarg, 1, 65536, &o->streams);
            break;
        case 'O':
            rc = parse_u32(optarg, 0, 65536, &v);
            o->oversize_bytes = (uint64_t)v << 20;
            break;
        case 'R':
            rc = parse_u32(optarg, 1, 4096, &v);
            o->oversize_rate = (uint64_t)v << 20;
            break;
        case 't':
            rc = parse_u32(optarg, 1, 600000, &o->trickle_ms);
            break;
        case 'g':
            rc = parse_u32(optarg, 0, LS_SNAPSHOT_GAMES_MAX, &o->games);
            break;
        case 'r':
            rc = parse_u32(optarg, 0, 600000, &o->rehello_ms);
            break;
        case 'i':
            rc = parse_u32(optarg, 0, 1024, &o->identities);
            break;
        case 'C':
            rc = parse_u32(optarg, 1, 65536, &o->chunk_streams);
            break;
        case 'k':
            rc = parse_u32(optarg, 1, 100000, &o->chunk_rate);
            break;
        case 'G':
            o->game = optarg;
            break;
        case 'n':
            rc = parse_u32(optarg, 0, MDNS_SERVICES_MAX, &o->mdns_services);
            break;
        case 'a':
            if (o->mdns_addr_count == MDNS_ADDRS_MAX)
                return LS_EINVAL;
            o->mdns_addrs[o->mdns_addr_count++] = optarg;
            break;
        case 'f':
            o->mdns_iface = optarg;
            break;
        case 'u':
            rc = parse_u32(optarg, 0, 600000, &o->mdns_churn_ms);
            break;
        case 'x':
            o->mdns_spoof_id = optarg;
            break;
        default:
            return LS_EINVAL;
        }
    }
    if (rc != 0 || !o->target || !o->work || optind != argc || o->seconds <= 0 ||
        ((o->modes & MODE_CHUNKS) && !o->game) ||
        (o->mdns_spoof_id && (strlen(o->mdns_spoof_id) != LS_SHA256_HEX_LEN ||
                              strspn(o->mdns_spoof_id, "0123456789abcdef") != LS_SHA256_HEX_LEN)))
        return LS_EINVAL;
    if (!o->bind_count)
        o->binds[o->bind_count++] = "0.0.0.0";
    if (!o->verified_bind_count) {
        memcpy(o->verified_binds, o->binds, o->bind_count * sizeof o->binds[0]);
        o->verified_bind_count = o->bind_count;
    }
    return 0;
}

/* Every agent: one flood endpoint per --bind address, the games peer, the
 * chunk peers spread over the --verified-bind addresses, the tarpit. */
static int start_agents(hostile_t *h)
{
    const opts_t *o = &h->o;
    size_t n = ((o->modes & MODES_PRE_HELLO) ? o->bind_count : 0) +
               ((o->modes & MODE_GAMES) ? 1 : 0) + ((o->modes & MODE_CHUNKS) ? o->identities : 0) +
               (o->listen ? 1 : 0);
    char dir[4096];
    int rc = 0;
    if (!(h->agents = calloc(n ? n : 1, sizeof *h->agents)))
        return LS_ENOMEM;
    if (o->modes & MODES_PRE_HELLO) {
        snprintf(dir, sizeof dir, "%s/id-flood", o->work);
        if ((rc = ls_identity_load_or_create(dir, &h->flood_identity)) != 0)
            return rc;
        for (size_t i = 0; rc == 0 && i < o->bind_count; i++)
            rc = agent_start(h, &h->agents[h->agent_count++], AG_FLOOD, o->binds[i],
                             h->flood_identity);
    }
    if (rc == 0 && (o->modes & MODE_GAMES))
        rc = agent_start(h, &h->agents[h->agent_count++], AG_GAMES, o->verified_binds[0], NULL);
    for (uint32_t i = 0; rc == 0 && (o->modes & MODE_CHUNKS) && i < o->identities; i++)
        rc = agent_start(h, &h->agents[h->agent_count++], AG_CHUNKS,
                         o->verified_binds[(i + 1) % o->verified_bind_count], NULL);
    if (rc == 0 && o->listen)
        rc = agent_start(h, &h->agents[h->agent_count++], AG_TARPIT, o->listen, NULL);
    return rc;
}

static void free_all(hostile_t *h)
{
    for (size_t i = 0; i < h->agent_count; i++)
        ls_identity_free(h->agents[i].identity);
    free(h->agents);
    ls_identity_free(h->flood_identity);
    for (size_t i = 0; i < h->chunk_count; i++)
        free(h->chunks[i].path);
    ls_msg_free(&h->library);
}

int main(int argc, char **argv)
{
    static hostile_t h;
    if (parse_args(argc, argv, &h.o) != 0 || parse_addr(h.o.target, 0, &h.target) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ls_log_set_level(LS_LOG_WARN);
    memset(junk, 'x', sizeof junk);
    h.loop = uv_default_loop();
    h.started_ms = uv_now(h.loop);
    h.deadline_ms = h.started_ms + (uint64_t)(h.o.seconds * 1000);
    int rc = make_library(&h);
    if (rc == 0)
        rc = start_agents(&h);
    if (rc == 0 && (h.o.modes & MODE_MDNS))
        rc = mdns_setup(&h);
    if (rc != 0) {
        fprintf(stderr, "ls_hostile: cannot start: %s\n", ls_strerror(rc));
        uv_timer_init(h.loop, &h.tick);
        uv_timer_init(h.loop, &h.stats_timer);
        uv_signal_init(h.loop, &h.sig_term);
        uv_signal_init(h.loop, &h.sig_int);
        stop(&h);
        uv_run(h.loop, UV_RUN_DEFAULT);
        free_all(&h);
        return 1;
    }
    uv_timer_init(h.loop, &h.tick);
    uv_timer_init(h.loop, &h.stats_timer);
    h.tick.data = h.stats_timer.data = &h;
    uv_timer_start(&h.tick, tick_cb, 0, TICK_MS);
    uv_timer_start(&h.stats_timer, stats_cb, STATS_MS, STATS_MS);
    uv_signal_init(h.loop, &h.sig_term);
    uv_signal_init(h.loop, &h.sig_int);
    h.sig_term.data = h.sig_int.data = &h;
    uv_signal_start(&h.sig_term, signal_cb, SIGTERM);
    uv_signal_start(&h.sig_int, signal_cb, SIGINT);
    fprintf(stderr, "ls_hostile: %zu agents against %s\n", h.agent_count, h.o.target);
    uv_run(h.loop, UV_RUN_DEFAULT);
    uv_loop_close(h.loop);
    free_all(&h);
    return 0;
}
