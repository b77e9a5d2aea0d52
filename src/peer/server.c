/* Streams other peers open to us: one request frame in, one reply out. A
 * reply with a file body is handed to the transport's file source, which
 * reads ahead on the thread pool only as the peer's window opens. */
#include "runtime_internal.h"

#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/serve.h"
#include "lanspread/workq.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Requests are small; a hello carries a whole library snapshot. */
#define REQUEST_FRAME_MAX (4u * 1024u * 1024u)

typedef struct ls_serve_stream {
    ls_link_t *link;
    ls_net_stream_t *stream; /* NULL once the transport closed it */
    ls_framer_t framer;
    bool has_request;
    ls_msg_t held_hello; /* a hello waiting for the first scan (kind 0: none) */
    ls_serve_reply_t reply;
    int fd;                     /* the served file until the body source takes it */
    ls_net_file_source_t *body; /* reads the file for the transport; owns its fd */
    bool is_busy;               /* the open job is in flight */
    uv_work_t open_req;
} ls_serve_stream_t;

static void serve_stream_free(ls_serve_stream_t *ss)
{
    ls_msg_free(&ss->held_hello);
    ls_net_file_source_free(ss->body); /* closes the fd it took */
    if (ss->fd >= 0)
        close(ss->fd);
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

static void open_work(uv_work_t *req)
{
    ls_serve_stream_t *ss = req->data;
    int rc = ls_serve_open(&ss->reply, &ss->fd);
    if (rc != 0)
        ss->fd = rc; /* negative: carried to open_done */
}

static void open_done(uv_work_t *req, int status)
{
    ls_serve_stream_t *ss = req->data;
    ss->is_busy = false;
    if (!ss->stream) {
        serve_stream_free(ss);
        return;
    }
    if (status != 0 || ss->fd < 0) {
        int rc = status != 0 ? LS_ECANCELED : ss->fd;
        ss->fd = -1;
        send_error(ss, ls_wire_error_from_code(rc), ls_strerror(rc));
        return;
    }
    if (send_frame(ss, &ss->reply.header, false) != 0)
        return;
    if (ls_net_file_source_new(&ss->link->rt->loop, ss->fd, ss->reply.offset, ss->reply.length,
                               &ss->body) != 0) {
        ls_net_stream_reset(ss->stream, LS_NET_APP_INTERNAL);
        return;
    }
    ss->fd = -1; /* the body source owns it now */
    if (ls_net_stream_send_file(ss->stream, ss->body) != 0)
        ls_net_stream_reset(ss->stream, LS_NET_APP_INTERNAL);
}

static void serve_request(ls_serve_stream_t *ss, const ls_msg_t *request)
{
    int rc = ls_serve_prepare(ss->link->rt->library, request, &ss->reply);
    if (rc != 0) {
        send_error(ss, LS_WIRE_INTERNAL, ls_strerror(rc));
        return;
    }
    if (!ls_serve_reply_has_body(&ss->reply)) {
        send_frame(ss, &ss->reply.header, true);
        return;
    }
    ls_debug("serve", "%.12s: %s [%llu +%llu]", ss->link->peer_id, ss->reply.path,
             (unsigned long long)ss->reply.offset, (unsigned long long)ss->reply.length);
    ss->open_req.data = ss;
    ss->is_busy = true;
    if (ls_workq_queue(&ss->link->rt->loop, &ss->open_req, LS_WORKQ_LATENCY, open_work,
                       open_done) != 0) {
        ss->is_busy = false;
        send_error(ss, LS_WIRE_INTERNAL, "cannot queue the file open");
    }
}

static void handle_hello(ls_serve_stream_t *ss, const ls_hello_t *hello)
{
    ls_link_t *link = ss->link;
    ls_msg_t ack;
    int rc = ls_link_check_hello(link, hello);
    if (rc == LS_EVERSION) {
        ls_warn("peer", "%s: protocol version %u, we speak %u: ignored", link->address,
                hello->protocol_version, link->rt->protocol_version);
        send_error(ss, LS_WIRE_VERSION_MISMATCH, "protocol version mismatch");
        return;
    }
    if (rc != 0) {
        ls_warn("peer", "refused %s: %s", link->address,
                strcmp(hello->peer_id, link->peer_id) != 0
                    ? "peer_id does not match its certificate"
                    : "wrong party key");
        send_error(ss, LS_WIRE_UNAUTHORIZED, "refused");
        return;
    }
    char digest[LS_SHA256_HEX_LEN + 1];
    if (ls_snapshot_digest(hello->library.games, hello->library.game_count, digest) != 0 ||
        strcmp(digest, hello->library.digest) != 0) {
        ls_warn("peer", "%s: hello library digest does not match its games", link->address);
        send_error(ss, LS_WIRE_INVALID_REQUEST, "library digest does not match its games");
        return;
    }
    rc = ls_link_make_hello(link, LS_MSG_HELLO_ACK, &ack);
    if (rc == 0) {
        /* Applied before the ack is queued: once the dialer sees our
         * library, we already show theirs. */
        ls_link_handshake_done(link, hello);
        send_frame(ss, &ack, true);
        ls_msg_free(&ack);
    }
}

static void handle_delta(ls_serve_stream_t *ss, const ls_library_delta_t *delta)
{
    ls_link_t *link = ss->link;
    ls_msg_t ack = {.kind = LS_MSG_LIBRARY_DELTA_ACK, .u.acked_rev = delta->to_rev};
    int rc = ls_peerdb_apply_delta(link->rt->peerdb, link->peer_id, delta);
    if (rc == LS_ESTATE) {
        /* A gap or a digest mismatch: never show a stale library. */
        ls_info("peer", "%s: delta %llu->%llu does not apply; re-handshaking", link->address,
                (unsigned long long)delta->from_rev, (unsigned long long)delta->to_rev);
        const ls_peer_t *peer = ls_peerdb_find(link->rt->peerdb, link->peer_id);
        ack.u.acked_rev = peer ? peer->library.library_rev : 0;
        ls_link_send_hello(link);
    } else if (rc == 0) {
        ls_rt_emit_games(link->rt);
    }
    send_frame(ss, &ack, true);
}

/* Until the first scan has ended there is no library to answer with (and
 * the dialler would take an empty one for the truth), so a hello waits on
 * its stream: at most one per connection, a newer one replacing the older,
 * which is refused as busy. */
static void hold_hello(ls_serve_stream_t *ss, ls_msg_t *request)
{
    ls_link_t *link = ss->link;
    ls_serve_stream_t *older = link->pending_hello;
    if (older) {
        link->pending_hello = NULL;
        ls_msg_free(&older->held_hello);
        send_error(older, LS_WIRE_BUSY, "a newer hello replaced this one");
    }
    ls_info("peer", "%s: hello held until the first library scan ends", link->address);
    ss->held_hello = *request;
    memset(request, 0, sizeof *request);
    link->pending_hello = ss;
}

void ls_server_answer_held_hellos(ls_peer_runtime_t *rt)
{
    for (ls_link_t *l = rt->links; l; l = l->next) {
        ls_serve_stream_t *ss = l->pending_hello;
        if (!ss)
            continue;
        l->pending_hello = NULL;
        if (!l->is_closing)
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
    if (request.kind == LS_MSG_HELLO && !ss->link->rt->is_library_ready) {
        hold_hello(ss, &request);
        return; /* the stream owns the request now */
    }
    if (request.kind == LS_MSG_HELLO)
        handle_hello(ss, &request.u.hello);
    else if (!ss->link->is_ready)
        send_error(ss, LS_WIRE_UNAUTHORIZED, "hello first");
    else if (request.kind == LS_MSG_LIBRARY_DELTA)
        handle_delta(ss, &request.u.delta);
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
    int rc = len ? ls_framer_push(&ss->framer, data, len, &used) : LS_EAGAIN;
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
}

static void server_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    ls_serve_stream_t *ss = ls_net_stream_user_data(s);
    ss->stream = NULL;
    if (ss->link->pending_hello == ss)
        ss->link->pending_hello = NULL;
    if (!ss->is_busy)
        serve_stream_free(ss); /* else the pending job frees it */
}

static const ls_net_stream_callbacks_t server_callbacks = {
    .read_cb = server_read_cb,
    .close_cb = server_close_cb,
};

void ls_server_accept_stream(ls_link_t *link, ls_net_stream_t *stream)
{
    ls_serve_stream_t *ss = calloc(1, sizeof *ss);
    if (!ss) {
        ls_net_stream_reset(stream, LS_NET_APP_INTERNAL);
        return;
    }
    ss->link = link;
    ss->stream = stream;
    ss->fd = -1;
    ls_framer_init(&ss->framer, REQUEST_FRAME_MAX);
    ls_net_stream_set_callbacks(stream, &server_callbacks, ss);
}
