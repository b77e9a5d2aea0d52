/* A request this peer sends: a fresh bidirectional stream carrying one
 * request frame, answered by one reply frame and, for file requests, the
 * file bytes that follow it. */
#include "exchange.h"
#include "reply_rx.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <stdlib.h>
#include <string.h>

/* Replies larger than this are refused: the largest is a manifest. */
#define EXCHANGE_REPLY_MAX LS_FRAME_MAX

struct ls__exchange {
    ls_link_t *link;
    ls_net_stream_t *stream;
    ls__reply_rx_t rx;
    ls__exchange_cb cb;    /* reply-only exchanges */
    ls__fetch_cb fetch_cb; /* exchanges with a body */
    void *userdata;
    bool is_done;
    bool has_data; /* a byte of its reply came */
};

static void finish(ls__exchange_t *ex, int status)
{
    if (ex->is_done)
        return;
    ex->is_done = true;
    const ls_msg_t *reply = ex->rx.has_reply ? &ex->rx.reply : NULL;
    if (ex->fetch_cb) {
        uint8_t *body = status == 0 ? ex->rx.body : NULL;
        if (status == 0)
            ex->rx.body = NULL; /* handed over */
        ex->fetch_cb(ex->link, status, reply, body, status == 0 ? ex->rx.body_len : 0,
                     ex->userdata);
    } else if (ex->cb) {
        ex->cb(ex->link, status, reply, ex->userdata);
    }
}

static void exchange_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls__exchange_t *ex = ls_net_stream_user_data(s);
    ls_net_stream_consume(s, len);
    if (len) {
        ex->link->last_data_ms = ls__links_now(ex->link->links);
        ex->has_data = true;
    }
    if (ex->is_done)
        return;
    int rc = ls__reply_rx_push(&ex->rx, data, len);
    if (rc == 0) {
        finish(ex, 0);
        return;
    }
    if (rc == LS_EAGAIN) {
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
    ls__reply_rx_free(&ex->rx);
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
                         size_t body_max, bool *is_owned)
{
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    *is_owned = false;
    int rc = ls_msg_encode(request, &frame, &frame_len);
    if (rc != 0)
        return rc;
    ex->link = link;
    ls__reply_rx_init(&ex->rx, EXCHANGE_REPLY_MAX, ex->fetch_cb != NULL, body_max);
    rc = ls_net_stream_open(link->conn, &exchange_callbacks, ex, &ex->stream);
    if (rc != 0) {
        ls__reply_rx_free(&ex->rx);
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
    return ls__exchange_ask(link, request, cb, userdata, NULL);
}

int ls__exchange_ask(ls_link_t *link, const ls_msg_t *request, ls__exchange_cb cb, void *userdata,
                     ls__exchange_t **handle)
{
    bool is_owned;
    ls__exchange_t *ex = calloc(1, sizeof *ex);
    if (handle)
        *handle = NULL;
    if (!ex)
        return LS_ENOMEM;
    ex->cb = cb;
    ex->userdata = userdata;
    int rc = exchange_open(link, request, ex, 0, &is_owned);
    if (rc != 0 && !is_owned)
        free(ex);
    if (rc == 0 && handle)
        *handle = ex;
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
    int rc = exchange_open(link, request, ex, max_body, &is_owned);
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

ls_link_t *ls__exchange_link(const ls__exchange_t *ex)
{
    return ex->link;
}

bool ls__exchange_has_data(const ls__exchange_t *ex)
{
    return ex->has_data;
}

size_t ls__exchange_body_len(const ls__exchange_t *ex)
{
    return ex->rx.body_len;
}
