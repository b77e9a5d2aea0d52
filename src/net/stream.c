/* Streams: the bytes each stream owes the peer (copied frames and pulled
 * body chunks, kept until acknowledged), pull sources that are asked for more
 * only while the peer's window has room, and receive-side credit. */
#include "net_internal.h"

#include "lanspread/bufpool.h"
#include "lanspread/error.h"
#include "lanspread/log.h"

#include <stdlib.h>
#include <string.h>

/* A source is asked for at most this much per pull... */
#define PULL_CHUNK (1024 * 1024)
/* ...and only while less than this is waiting to be handed to ngtcp2. */
#define PULL_LOW_WATER (256 * 1024)

ls_net_stream_t *ls_net_stream_new(ls_net_conn_t *c, int64_t id)
{
    ls_net_stream_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->conn = c;
    s->id = id;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    return s;
}

/* Released buffers of LS_NET_READ_SIZE bytes (a file source's full reads)
 * wait in a pool for the next read (bufpool.h: a fresh one cost a seeder
 * ~7 % of its CPU at MTU 1500). A transfer frees about one buffer per read
 * it starts (as ACKs arrive), but in bursts: a peer serving 8 transfers at
 * N=12 in bench_fanout.sh held 24-33 at once. While its owner serves, the
 * pool keeps READ_KEEP of them; while it is idle, READ_KEEP_IDLE, as many as
 * one transfer's reads take, so a seeder of one downloader, whose transfers
 * often all end between two requests, still reads into warm buffers. Every
 * loop of the process shares the pool. */
#define READ_KEEP 32
#define READ_KEEP_IDLE 8
static ls_bufpool_t read_pool =
    LS_BUFPOOL_INIT(sizeof(struct ls_net_buf) + LS_NET_READ_SIZE, READ_KEEP_IDLE);

struct ls_net_buf *ls_net_buf_new(size_t cap)
{
    struct ls_net_buf *b =
        cap == LS_NET_READ_SIZE ? ls_bufpool_get(&read_pool) : malloc(sizeof(*b) + cap);

    if (b) {
        b->refs = 1;
        b->cap = cap;
    }
    return b;
}

void ls_net_buf_release(struct ls_net_buf *b)
{
    if (!b || --b->refs > 0)
        return;
    if (b->cap == LS_NET_READ_SIZE)
        ls_bufpool_put(&read_pool, b);
    else
        free(b);
}

void ls_net_file_source_keep_buffers(bool is_serving)
{
    ls_bufpool_set_keep(&read_pool, is_serving ? READ_KEEP : READ_KEEP_IDLE);
}

static void chunk_free(struct ls_net_chunk *ch)
{
    ls_net_buf_release(ch->ref);
    free(ch);
}

static void free_chunks(ls_net_stream_t *s)
{
    struct ls_net_chunk *ch = s->head;
    while (ch) {
        struct ls_net_chunk *next = ch->next;
        chunk_free(ch);
        ch = next;
    }
    s->head = s->tail = s->send_chunk = NULL;
}

/* Tells the application the stream is over and frees it. */
void ls_net_stream_finish(ls_net_stream_t *s, int status, uint64_t app_error)
{
    ls_net_conn_t *c = s->conn;

    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (c->rr == s)
        c->rr = s->next;
    if (c->q) {
        ngtcp2_conn_set_stream_user_data(c->q, s->id, NULL);
        /* bytes the application never consumed must not shrink the
         * connection's window forever */
        if (s->rx_delivered > s->rx_consumed)
            ls_net_conn_credit(c, s->rx_delivered - s->rx_consumed);
    }
    s->is_finishing = true;
    if (s->cb.close_cb)
        s->cb.close_cb(s, status, app_error);
    free_chunks(s);
    free(s);
}

void ls_net_stream_on_data(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    s->rx_delivered += len;
    if (s->cb.read_cb) {
        s->cb.read_cb(s, data, len, is_fin);
        return;
    }
    /* nobody reads this stream: drop the bytes but keep the window open */
    ls_net_stream_consume(s, len);
}

void ls_net_stream_on_acked(ls_net_stream_t *s, uint64_t end)
{
    if (end > s->acked_offset)
        s->acked_offset = end;
    while (s->head && s->head->offset + s->head->len <= s->acked_offset) {
        struct ls_net_chunk *done = s->head;
        s->head = done->next;
        chunk_free(done);
    }
    if (!s->head)
        s->tail = NULL;
}

static void append_chunk(ls_net_stream_t *s, struct ls_net_chunk *ch)
{
    ch->next = NULL;
    ch->offset = s->queued_end;
    s->queued_end += ch->len;
    if (s->tail)
        s->tail->next = ch;
    else
        s->head = ch;
    s->tail = ch;
    if (!s->send_chunk)
        s->send_chunk = ch;
}

static uint64_t unsent(const ls_net_stream_t *s)
{
    return s->queued_end - s->send_offset;
}

/* Asks the source for more only when ngtcp2 may send it: bytes held by the
 * sender stay within the peer's stream window. */
static void pull_more(ls_net_stream_t *s)
{
    size_t cap, len = 0;
    bool is_eof = false;
    struct ls_net_chunk *ch;
    uint64_t left;
    int rc;

    if ((!s->pull && !s->lend) || s->is_source_eof || s->is_source_waiting || s->is_write_closed)
        return;
    if (unsent(s) >= PULL_LOW_WATER)
        return;
    left = ngtcp2_conn_get_max_stream_data_left(s->conn->q, s->id);
    if (left <= unsent(s))
        return; /* window full: MAX_STREAM_DATA will bring us back */
    cap = left - unsent(s) < PULL_CHUNK ? (size_t)(left - unsent(s)) : PULL_CHUNK;
    /* a lender's chunk only points at its bytes */
    ch = malloc(sizeof(*ch) + (s->lend ? 0 : cap));
    if (!ch)
        return; /* retried on the next write pass */
    ch->ref = NULL;
    ch->bytes = ch->data;
    rc = s->lend ? s->lend(s, cap, &ch->bytes, &ch->ref, &len, &is_eof)
                 : s->pull(s, ch->data, cap, &len, &is_eof);
    if (rc < 0 || len > cap) {
        chunk_free(ch);
        ls_warn("net", "stream %lld: source failed: %s", (long long)s->id,
                ls_strerror(rc < 0 ? rc : LS_EINVAL));
        ls_net_stream_reset(s, LS_NET_APP_INTERNAL);
        return;
    }
    if (len > 0) {
        if (!s->lend && len < cap) {
            struct ls_net_chunk *shrunk = realloc(ch, sizeof(*ch) + len);
            ch = shrunk ? shrunk : ch;
            ch->bytes = ch->data;
        }
        ch->len = len;
        append_chunk(s, ch);
    } else {
        chunk_free(ch);
    }
    if (is_eof) {
        s->is_source_eof = true;
        s->is_fin_wanted = true;
    } else if (len == 0) {
        s->is_source_waiting = true;
    }
}

bool ls_net_stream_wants_write(ls_net_stream_t *s, bool may_pull)
{
    if (s->is_blocked || s->is_write_closed)
        return false;
    if (may_pull && unsent(s) < PULL_LOW_WATER)
        pull_more(s);
    if (s->is_write_closed)
        return false;
    return unsent(s) > 0 || (s->is_fin_wanted && !s->is_fin_sent);
}

size_t ls_net_stream_vec(const ls_net_stream_t *s, ngtcp2_vec *v, size_t max, bool *is_fin)
{
    const struct ls_net_chunk *ch = s->send_chunk;
    size_t skip = ch ? (size_t)(s->send_offset - ch->offset) : 0;
    size_t n = 0;

    for (; ch && n < max; ch = ch->next, n++) {
        v[n].base = (uint8_t *)ch->bytes + skip;
        v[n].len = ch->len - skip;
        skip = 0;
    }
    *is_fin = !ch && s->is_fin_wanted && !s->is_fin_sent;
    return n;
}

void ls_net_stream_on_sent(ls_net_stream_t *s, size_t n, bool was_fin)
{
    s->send_offset += n;
    while (s->send_chunk && s->send_chunk->offset + s->send_chunk->len <= s->send_offset)
        s->send_chunk = s->send_chunk->next;
    if (was_fin && s->send_offset == s->queued_end && !s->is_fin_sent) {
        s->is_fin_sent = true;
        if (s->cb.sent_cb)
            s->cb.sent_cb(s);
    }
}

int ls_net_stream_open(ls_net_conn_t *c, const ls_net_stream_callbacks_t *cb, void *user_data,
                       ls_net_stream_t **out)
{
    int64_t id;
    ls_net_stream_t *s;
    int rv;

    *out = NULL;
    if (!ls_net_conn_is_open(c))
        return LS_ESTATE;
    rv = ngtcp2_conn_open_bidi_stream(c->q, &id, NULL);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
        return LS_ELIMIT;
    if (rv != 0)
        return LS_EQUIC;
    s = ls_net_stream_new(c, id);
    if (!s) {
        ngtcp2_conn_shutdown_stream(c->q, id, LS_NET_APP_INTERNAL);
        return LS_ENOMEM;
    }
    ngtcp2_conn_set_stream_user_data(c->q, id, s);
    ls_net_stream_set_callbacks(s, cb, user_data);
    *out = s;
    return 0;
}

void ls_net_stream_set_callbacks(ls_net_stream_t *s, const ls_net_stream_callbacks_t *cb,
                                 void *user_data)
{
    if (cb)
        s->cb = *cb;
    else
        memset(&s->cb, 0, sizeof(s->cb));
    s->user_data = user_data;
}

void *ls_net_stream_user_data(const ls_net_stream_t *s)
{
    return s->user_data;
}

ls_net_conn_t *ls_net_stream_conn(const ls_net_stream_t *s)
{
    return s->conn;
}

int ls_net_stream_write(ls_net_stream_t *s, const void *data, size_t len)
{
    struct ls_net_chunk *ch;

    if (s->is_finishing || s->is_write_closed || s->is_fin_wanted || s->pull || s->lend)
        return LS_ESTATE;
    if (len == 0)
        return 0;
    if (len > LS_NET_WRITE_MAX)
        return LS_ETOOBIG;
    ch = malloc(sizeof(*ch) + len);
    if (!ch)
        return LS_ENOMEM;
    memcpy(ch->data, data, len);
    ch->bytes = ch->data;
    ch->ref = NULL;
    ch->len = len;
    append_chunk(s, ch);
    ls_net_conn_kick(s->conn);
    return 0;
}

static int set_source(ls_net_stream_t *s, ls_net_pull_cb pull, ls_net_lend_cb lend,
                      void *source_data)
{
    if (!pull && !lend)
        return LS_EINVAL;
    if (s->is_finishing || s->is_write_closed || s->is_fin_wanted || s->pull || s->lend)
        return LS_ESTATE;
    s->pull = pull;
    s->lend = lend;
    s->source_data = source_data;
    ls_net_conn_kick(s->conn);
    return 0;
}

int ls_net_stream_set_source(ls_net_stream_t *s, ls_net_pull_cb pull, void *source_data)
{
    return set_source(s, pull, NULL, source_data);
}

int ls_net_stream_set_lender(ls_net_stream_t *s, ls_net_lend_cb lend, void *source_data)
{
    return set_source(s, NULL, lend, source_data);
}

void *ls_net_stream_source_data(const ls_net_stream_t *s)
{
    return s->source_data;
}

void ls_net_stream_resume(ls_net_stream_t *s)
{
    if (!s->is_source_waiting || s->is_finishing)
        return;
    s->is_source_waiting = false;
    ls_net_conn_kick(s->conn);
}

int ls_net_stream_shutdown(ls_net_stream_t *s)
{
    if (s->is_finishing || s->is_write_closed)
        return LS_ESTATE;
    if (!s->pull && !s->lend)
        s->is_fin_wanted = true;
    ls_net_conn_kick(s->conn);
    return 0;
}

void ls_net_stream_reset(ls_net_stream_t *s, uint64_t app_error)
{
    ls_net_conn_t *c = s->conn;

    if (s->is_finishing || (s->is_write_closed && s->is_reset_locally))
        return;
    s->is_write_closed = true;
    s->is_reset_locally = true;
    /* only queues RESET_STREAM and STOP_SENDING; ngtcp2 reports the close
     * later through stream_close, so s stays valid here */
    if (c->q && !c->is_closed)
        ngtcp2_conn_shutdown_stream(c->q, s->id, app_error);
    ls_net_conn_kick(c);
}

void ls_net_stream_consume(ls_net_stream_t *s, size_t n)
{
    ls_net_conn_t *c = s->conn;

    if (n > s->rx_delivered - s->rx_consumed)
        n = (size_t)(s->rx_delivered - s->rx_consumed); /* credit only for bytes received */
    if (n == 0 || !c->q || c->is_closed || s->is_finishing)
        return;
    s->rx_consumed += n;
    if (!c->is_verified && ls_net_conn_is_gated(c)) {
        s->credit_held += n; /* returned by ls_net_conn_verify */
        c->credit_held += n;
        return;
    }
    ngtcp2_conn_extend_max_stream_offset(c->q, s->id, n);
    ls_net_conn_credit(c, n);
}

uint64_t ls_net_stream_unacked_bytes(const ls_net_stream_t *s)
{
    return s->queued_end - s->acked_offset;
}

uint64_t ls_net_stream_acked_bytes(const ls_net_stream_t *s)
{
    return s->acked_offset;
}
