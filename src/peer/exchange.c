/* A request this peer sends: a fresh bidirectional stream carrying one
 * request frame, answered by one reply frame and, for file requests, the
 * file bytes that follow it. */
#include "exchange.h"
#include "framer.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <stdlib.h>
#include <string.h>

/* Replies larger than this are refused: the largest is a manifest. */
#define EXCHANGE_REPLY_MAX LS_FRAME_MAX

struct ls__exchange {
    ls_link_t *link;
    ls_net_stream_t *stream;
    ls_framer_t framer;
    ls__exchange_cb cb;    /* reply-only exchanges */
    ls__fetch_cb fetch_cb; /* exchanges with a body */
    void *userdata;
    bool is_done;
    bool has_reply;
    ls_msg_t reply;
    uint8_t *body;
    size_t body_len;
    size_t body_expected;
    size_t body_max;
};

static void finish(ls__exchange_t *ex, int status)
{
    if (ex->is_done)
        return;
    ex->is_done = true;
    const ls_msg_t *reply = ex->has_reply ? &ex->reply : NULL;
    if (ex->fetch_cb) {
        uint8_t *body = status == 0 ? ex->body : NULL;
        if (status == 0)
            ex->body = NULL; /* handed over */
        ex->fetch_cb(ex->link, status, reply, body, status == 0 ? ex->body_len : 0, ex->userdata);
    } else if (ex->cb) {
        ex->cb(ex->link, status, reply, ex->userdata);
    }
}

/* The reply header decides whether a body follows and how long it is. */
static int start_body(ls__exchange_t *ex)
{
    const ls_msg_t *r = &ex->reply;
    if (r->kind == LS_MSG_ERROR)
        return LS_EREMOTE;
    if (r->kind != LS_MSG_FILE_CHUNK && r->kind != LS_MSG_FILE_DATA && r->kind != LS_MSG_FILE_BATCH)
        return LS_EJSON;
    if (r->u.file_header.length > ex->body_max)
        return LS_ETOOBIG;
    ex->body_expected = (size_t)r->u.file_header.length;
    ex->body = malloc(ex->body_expected ? ex->body_expected : 1);
    return ex->body ? 0 : LS_ENOMEM;
}

static int take_reply(ls__exchange_t *ex, const uint8_t *data, size_t len, size_t *used)
{
    int rc = ls_framer_push(&ex->framer, data, len, used);
    if (rc != 0)
        return rc;
    size_t payload_len;
    const uint8_t *payload = ls_framer_payload(&ex->framer, &payload_len);
    rc = ls_msg_decode(payload, payload_len, &ex->reply, NULL, 0);
    ex->has_reply = rc == 0;
    ls_framer_free(&ex->framer);
    return rc;
}

static void exchange_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls__exchange_t *ex = ls_net_stream_user_data(s);
    size_t used = 0;
    int rc = 0;
    ls_net_stream_consume(s, len);
    if (len)
        ex->link->last_data_ms = ls__links_now(ex->link->links);
    if (ex->is_done)
        return;
    if (!ex->has_reply) {
        rc = len ? take_reply(ex, data, len, &used) : LS_EAGAIN;
        if (rc == 0 && ex->fetch_cb)
            rc = start_body(ex);
        else if (rc == 0) {
            finish(ex, 0);
            return;
        }
    }
    if (rc == 0 && len > used) {
        if (len - used > ex->body_expected - ex->body_len) {
            rc = LS_ECORRUPT; /* more bytes than the header announced */
        } else {
            memcpy(ex->body + ex->body_len, data + used, len - used);
            ex->body_len += len - used;
        }
    }
    if (rc == 0 && ex->has_reply && ex->body_len == ex->body_expected) {
        finish(ex, 0);
        return;
    }
    if (rc == LS_EAGAIN || rc == 0) {
        if (is_fin)
            finish(ex, LS_EPEER_GONE);
        return;
    }
    if (rc != LS_EREMOTE)
        ls_warn("peer", "%.12s: bad reply: %s", ex->link->peer_id, ls_strerror(rc));
    finish(ex, rc);
    ls_net_stream_reset(s, LS_NET_APP_CANCELED);
}

static void exchange_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    ls__exchange_t *ex = ls_net_stream_user_data(s);
    finish(ex, status != 0 ? status : LS_EPEER_GONE);
    if (ex->has_reply)
        ls_msg_free(&ex->reply);
    ls_framer_free(&ex->framer);
    free(ex->body);
    free(ex);
}

static const ls_net_stream_callbacks_t exchange_callbacks = {
    .read_cb = exchange_read_cb,
    .close_cb = exchange_close_cb,
};

/* Opens the stream and queues the request. Once the stream is open it owns
 * ex (its close_cb frees it): *is_owned tells the caller not to free ex on
 * an error after that point. */
static int exchange_open(ls_link_t *link, const ls_msg_t *request, ls__exchange_t *ex,
                         bool *is_owned)
{
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    *is_owned = false;
    int rc = ls_msg_encode(request, &frame, &frame_len);
    if (rc != 0)
        return rc;
    ex->link = link;
    ls_framer_init(&ex->framer, EXCHANGE_REPLY_MAX);
    rc = ls_net_stream_open(link->conn, &exchange_callbacks, ex, &ex->stream);
    if (rc != 0) {
        ls_framer_free(&ex->framer);
        free(frame);
        return rc;
    }
    *is_owned = true;
    rc = ls_net_stream_write(ex->stream, frame, frame_len);
    if (rc == 0)
        rc = ls_net_stream_shutdown(ex->stream);
    if (rc != 0) {
        ex->is_done = true; /* the caller learns of it from the return value */
        ls_net_stream_reset(ex->stream, LS_NET_APP_INTERNAL);
    }
    free(frame);
    return rc;
}

int ls__exchange_start(ls_link_t *link, const ls_msg_t *request, ls__exchange_cb cb, void *userdata)
{
    bool is_owned;
    ls__exchange_t *ex = calloc(1, sizeof *ex);
    if (!ex)
        return LS_ENOMEM;
    ex->cb = cb;
    ex->userdata = userdata;
    int rc = exchange_open(link, request, ex, &is_owned);
    if (rc != 0 && !is_owned)
        free(ex);
    return rc;
}

int ls__exchange_fetch(ls_link_t *link, const ls_msg_t *request, size_t max_body, ls__fetch_cb cb,
                       void *userdata, ls__exchange_t **handle)
{
    bool is_owned;
    ls__exchange_t *ex = calloc(1, sizeof *ex);
    if (handle)
        *handle = NULL;
    if (!ex)
        return LS_ENOMEM;
    ex->fetch_cb = cb;
    ex->userdata = userdata;
    ex->body_max = max_body;
    int rc = exchange_open(link, request, ex, &is_owned);
    if (rc != 0 && !is_owned)
        free(ex);
    if (rc == 0 && handle)
        *handle = ex;
    return rc;
}

void ls__exchange_cancel(ls__exchange_t *ex)
{
    if (ex->is_done)
        return;
    finish(ex, LS_ECANCELED);
    ls_net_stream_reset(ex->stream, LS_NET_APP_CANCELED);
}
