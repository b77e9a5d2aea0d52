/* One reply frame and the body that follows it, bounded. */
#include "reply_rx.h"

#include "lanspread/bufpool.h"
#include "lanspread/error.h"

#include <stdlib.h>
#include <string.h>

/* Chunk answers' bodies of more than BODY_POOL_MIN, up to LS_CHUNK_SIZE
 * bytes, come from a pool, warm (bufpool.h): copying each answer into fresh
 * pages was two thirds of a swarm downloader's page faults. Smaller bodies
 * (batches, covers, short last chunks) and an older peer's bigger chunks do
 * not: a body's length alone tells where it came from. A downloader at N=12
 * in bench_fanout.sh held 11-14 at once; the pool keeps BODY_KEEP while a
 * download runs (ls__reply_body_keep) and none otherwise. */
#define BODY_POOL_MIN (LS_CHUNK_SIZE / 4)
#define BODY_KEEP 16
static ls_bufpool_t body_pool = LS_BUFPOOL_INIT(LS_CHUNK_SIZE, 0);

static bool is_pooled(size_t len)
{
    return len > BODY_POOL_MIN && len <= LS_CHUNK_SIZE;
}

static uint8_t *body_new(size_t len)
{
    return is_pooled(len) ? ls_bufpool_get(&body_pool) : malloc(len ? len : 1);
}

void ls__reply_body_free(uint8_t *body, size_t len)
{
    if (is_pooled(len))
        ls_bufpool_put(&body_pool, body);
    else
        free(body);
}

void ls__reply_body_keep(bool is_downloading)
{
    ls_bufpool_set_keep(&body_pool, is_downloading ? BODY_KEEP : 0);
}

void ls__reply_rx_init(ls__reply_rx_t *rx, size_t reply_max, bool wants_body, size_t body_max)
{
    memset(rx, 0, sizeof *rx);
    ls_framer_init(&rx->framer, reply_max);
    rx->wants_body = wants_body;
    rx->body_max = body_max;
}

void ls__reply_rx_free(ls__reply_rx_t *rx)
{
    if (rx->has_reply)
        ls_msg_free(&rx->reply);
    ls_framer_free(&rx->framer);
    ls__reply_body_free(rx->body, rx->body_expected);
    memset(rx, 0, sizeof *rx);
}

/* The reply header decides whether a body follows and how long it is. */
static int start_body(ls__reply_rx_t *rx)
{
    const ls_msg_t *r = &rx->reply;
    if (r->kind == LS_MSG_ERROR)
        return LS_EREMOTE;
    if (r->kind != LS_MSG_FILE_CHUNK && r->kind != LS_MSG_FILE_DATA &&
        r->kind != LS_MSG_FILE_BATCH && r->kind != LS_MSG_COVER)
        return LS_EJSON;
    if (r->u.file_header.length > rx->body_max)
        return LS_ETOOBIG;
    rx->body_expected = (size_t)r->u.file_header.length;
    rx->body = body_new(rx->body_expected);
    return rx->body ? 0 : LS_ENOMEM;
}

static int take_reply(ls__reply_rx_t *rx, const uint8_t *data, size_t len, size_t *used)
{
    int rc = ls_framer_push(&rx->framer, data, len, used);
    if (rc != 0)
        return rc;
    size_t payload_len;
    const uint8_t *payload = ls_framer_payload(&rx->framer, &payload_len);
    rc = ls_msg_decode(payload, payload_len, &rx->reply, NULL, 0);
    rx->has_reply = rc == 0;
    ls_framer_free(&rx->framer);
    return rc;
}

int ls__reply_rx_push(ls__reply_rx_t *rx, const uint8_t *data, size_t len)
{
    size_t used = 0;
    if (!rx->has_reply) {
        int rc = len ? take_reply(rx, data, len, &used) : LS_EAGAIN;
        if (rc != 0)
            return rc;
        if (!rx->wants_body)
            return 0; /* a reply-only exchange ends with its frame */
        if ((rc = start_body(rx)) != 0)
            return rc;
    }
    if (len - used > rx->body_expected - rx->body_len)
        return LS_ECORRUPT; /* more bytes than the header announced */
    if (len > used) {
        memcpy(rx->body + rx->body_len, data + used, len - used);
        rx->body_len += len - used;
    }
    return rx->body_len == rx->body_expected ? 0 : LS_EAGAIN;
}
