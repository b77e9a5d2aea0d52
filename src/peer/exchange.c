/* A request this peer sends: a fresh bidirectional stream carrying one
 * request frame, answered by one reply frame. */
#include "runtime_internal.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <stdlib.h>

/* Replies larger than this are refused: the largest is a manifest. */
#define EXCHANGE_REPLY_MAX LS_FRAME_MAX

typedef struct {
    ls_link_t *link;
    ls_framer_t framer;
    ls_exchange_cb cb;
    void *userdata;
    bool is_done;
} ls_exchange_t;

static void finish(ls_exchange_t *ex, int status, const ls_msg_t *reply)
{
    if (ex->is_done)
        return;
    ex->is_done = true;
    if (ex->cb)
        ex->cb(ex->link, status, reply, ex->userdata);
}

static void exchange_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls_exchange_t *ex = ls_net_stream_user_data(s);
    size_t used = 0;
    ls_net_stream_consume(s, len);
    if (ex->is_done)
        return;
    int rc = len ? ls_framer_push(&ex->framer, data, len, &used) : LS_EAGAIN;
    if (rc == LS_EAGAIN) {
        if (is_fin)
            finish(ex, LS_EPEER_GONE, NULL);
        return;
    }
    if (rc == 0) {
        ls_msg_t reply;
        size_t payload_len;
        const uint8_t *payload = ls_framer_payload(&ex->framer, &payload_len);
        rc = ls_msg_decode(payload, payload_len, &reply, NULL, 0);
        if (rc == 0) {
            finish(ex, 0, &reply);
            ls_msg_free(&reply);
            return;
        }
    }
    ls_warn("peer", "%.8s: unreadable reply: %s", ex->link->peer_id, ls_strerror(rc));
    finish(ex, rc, NULL);
    ls_net_stream_reset(s, LS_NET_APP_CANCELED);
}

static void exchange_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    ls_exchange_t *ex = ls_net_stream_user_data(s);
    finish(ex, status != 0 ? status : LS_EPEER_GONE, NULL);
    ls_framer_free(&ex->framer);
    free(ex);
}

static const ls_net_stream_callbacks_t exchange_callbacks = {
    .read_cb = exchange_read_cb,
    .close_cb = exchange_close_cb,
};

int ls_exchange_start(ls_link_t *link, const ls_msg_t *request, ls_exchange_cb cb,
                      void *userdata)
{
    ls_net_stream_t *stream = NULL;
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    ls_exchange_t *ex = calloc(1, sizeof *ex);
    int rc = ex ? ls_msg_encode(request, &frame, &frame_len) : LS_ENOMEM;
    if (rc != 0) {
        free(ex);
        return rc;
    }
    ex->link = link;
    ex->cb = cb;
    ex->userdata = userdata;
    ls_framer_init(&ex->framer, EXCHANGE_REPLY_MAX);
    rc = ls_net_stream_open(link->conn, &exchange_callbacks, ex, &stream);
    if (rc != 0) {
        ls_framer_free(&ex->framer);
        free(ex);
        free(frame);
        return rc;
    }
    /* From here the stream owns ex: failures surface through close_cb. */
    rc = ls_net_stream_write(stream, frame, frame_len);
    if (rc == 0)
        rc = ls_net_stream_shutdown(stream);
    if (rc != 0) {
        ex->is_done = true; /* the caller learns of it from the return value */
        ls_net_stream_reset(stream, LS_NET_APP_INTERNAL);
    }
    free(frame);
    return rc;
}
