/* Event log and raw QUIC peer for the runtime tests. */
#include "peer_harness.h"

#include "lanspread/error.h"

#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

void ls_event_log_init(ls_event_log_t *log)
{
    memset(log, 0, sizeof *log);
    uv_mutex_init(&log->lock);
    uv_cond_init(&log->cond);
}

void ls_event_log_free(ls_event_log_t *log)
{
    for (size_t i = 0; i < log->count; i++)
        json_decref(log->events[i].data);
    free(log->events);
    uv_mutex_destroy(&log->lock);
    uv_cond_destroy(&log->cond);
}

void ls_event_log_sink(const ls_peer_event_t *event, void *userdata)
{
    ls_event_log_t *log = userdata;
    uv_mutex_lock(&log->lock);
    if (log->count == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 64;
        ls_logged_event_t *grown = realloc(log->events, cap * sizeof *grown);
        if (!grown) {
            uv_mutex_unlock(&log->lock);
            return;
        }
        log->events = grown;
        log->cap = cap;
    }
    log->events[log->count].kind = event->kind;
    log->events[log->count].data = json_deep_copy(event->data);
    log->count++;
    uv_cond_broadcast(&log->cond);
    uv_mutex_unlock(&log->lock);
}

size_t ls_event_log_mark(ls_event_log_t *log)
{
    uv_mutex_lock(&log->lock);
    size_t mark = log->count;
    uv_mutex_unlock(&log->lock);
    return mark;
}

json_t *ls_event_log_wait(ls_event_log_t *log, size_t since, ls_peer_event_kind_t kind,
                          ls_event_pred pred, const void *arg, int timeout_ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
    json_t *found = NULL;
    uv_mutex_lock(&log->lock);
    for (;;) {
        for (size_t i = since; i < log->count && !found; i++)
            if (log->events[i].kind == kind && (!pred || pred(log->events[i].data, arg)))
                found = json_deep_copy(log->events[i].data);
        uint64_t now = uv_hrtime();
        if (found || now >= deadline)
            break;
        since = log->count;
        /* Re-scan only the new ones next time; a timed wait bounds each round. */
        uv_cond_timedwait(&log->cond, &log->lock, deadline - now);
    }
    uv_mutex_unlock(&log->lock);
    return found;
}

bool ls_pred_games_include(const json_t *data, const void *game_id)
{
    json_t *games = json_object_get(data, "games");
    size_t i;
    json_t *g;
    json_array_foreach(games, i, g)
    {
        const char *id = json_string_value(json_object_get(g, "id"));
        if (id && strcmp(id, game_id) == 0)
            return true;
    }
    return false;
}

bool ls_pred_count_is(const json_t *data, const void *count)
{
    return json_integer_value(json_object_get(data, "count")) == *(const json_int_t *)count;
}

/* --- raw peer ------------------------------------------------------------ */

typedef struct {
    ls_raw_result_t *out;
    bool is_done;
    bool header_done;
    uint8_t header[LS_FRAME_HEADER_LEN];
    size_t header_len;
    uint8_t *payload;
    size_t payload_len;
    size_t payload_have;
    struct sha256_ctx body;
} ls_raw_stream_t;

static int raw_established_cb(ls_net_conn_t *c, const char *peer_id)
{
    ls_raw_peer_t *rp = ls_net_endpoint_user_data(ls_net_conn_endpoint(c));
    snprintf(rp->remote_peer_id, sizeof rp->remote_peer_id, "%s", peer_id);
    rp->is_established = true;
    return 0;
}

static void raw_closed_cb(ls_net_conn_t *c, int status, uint64_t app_error, const char *reason)
{
    ls_raw_peer_t *rp = ls_net_endpoint_user_data(ls_net_conn_endpoint(c));
    rp->is_closed = true;
    rp->close_status = status;
    if (rp->conn == c)
        rp->conn = NULL;
}

/* Feeds bytes into header, payload, then body. */
static void raw_take(ls_raw_stream_t *st, const uint8_t *data, size_t len)
{
    while (len > 0) {
        if (st->header_len < LS_FRAME_HEADER_LEN) {
            size_t n = LS_FRAME_HEADER_LEN - st->header_len;
            n = n < len ? n : len;
            memcpy(st->header + st->header_len, data, n);
            st->header_len += n;
            data += n;
            len -= n;
            if (st->header_len == LS_FRAME_HEADER_LEN) {
                uint32_t plen = 0;
                if (ls_frame_parse_header(st->header, LS_FRAME_HEADER_LEN, &plen) != 0)
                    return;
                st->payload_len = plen;
                st->payload = malloc(plen ? plen : 1);
            }
            continue;
        }
        if (st->payload_have < st->payload_len) {
            size_t n = st->payload_len - st->payload_have;
            n = n < len ? n : len;
            memcpy(st->payload + st->payload_have, data, n);
            st->payload_have += n;
            data += n;
            len -= n;
            continue;
        }
        sha256_update(&st->body, len, data);
        st->out->body_len += len;
        len = 0;
    }
}

static void raw_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls_raw_stream_t *st = ls_net_stream_user_data(s);
    ls_net_stream_consume(s, len);
    raw_take(st, data, len);
}

static void raw_finish(ls_raw_stream_t *st, int status)
{
    ls_raw_result_t *out = st->out;
    out->close_status = status;
    sha256_digest(&st->body, LS_SHA256_LEN, out->body_sha256);
    if (st->payload && st->payload_have == st->payload_len) {
        out->decode_status = ls_msg_decode(st->payload, st->payload_len, &out->reply, NULL, 0);
        out->has_reply = out->decode_status == 0;
    }
    free(st->payload);
    st->payload = NULL;
    st->is_done = true;
}

static void raw_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    raw_finish(ls_net_stream_user_data(s), status);
}

static const ls_net_stream_callbacks_t raw_stream_callbacks = {raw_read_cb, raw_close_cb};

/* Streams the other side opens to us: count hellos, answer nothing. */
static void incoming_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls_raw_peer_t *rp = ls_net_stream_user_data(s);
    ls_net_stream_consume(s, len);
    if (len > LS_FRAME_HEADER_LEN && memmem(data, len, "\"hello\"", 7))
        rp->incoming_hellos++;
    if (is_fin)
        ls_net_stream_reset(s, LS_NET_APP_CANCELED);
}

static void incoming_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
}

static const ls_net_stream_callbacks_t incoming_callbacks = {incoming_read_cb, incoming_close_cb};

static void raw_stream_cb(ls_net_conn_t *c, ls_net_stream_t *s)
{
    ls_net_stream_set_callbacks(s, &incoming_callbacks,
                                ls_net_endpoint_user_data(ls_net_conn_endpoint(c)));
}

int ls_raw_open(ls_raw_peer_t *rp, const char *state_dir)
{
    struct sockaddr_in any;
    memset(rp, 0, sizeof *rp);
    uv_loop_init(&rp->loop);
    int rc = ls_identity_load_or_create(state_dir, &rp->identity);
    if (rc != 0)
        return rc;
    uv_ip4_addr("127.0.0.1", 0, &any);
    ls_net_config_t cfg = {
        .bind_addr = (const struct sockaddr *)&any,
        .identity = rp->identity,
        .cb = {raw_established_cb, raw_closed_cb, raw_stream_cb},
        .user_data = rp,
    };
    return ls_net_endpoint_create(&rp->loop, &cfg, &rp->ep);
}

static void tick_cb(uv_timer_t *timer)
{
    (void)timer; /* only wakes uv_run so the deadline is checked */
}

static void run_until(ls_raw_peer_t *rp, const bool *flag, int timeout_ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
    uv_timer_t tick;
    uv_timer_init(&rp->loop, &tick);
    uv_timer_start(&tick, tick_cb, 20, 20);
    while (!*flag && uv_hrtime() < deadline)
        uv_run(&rp->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&rp->loop, UV_RUN_NOWAIT);
}

void ls_raw_run_for(ls_raw_peer_t *rp, int ms)
{
    bool never = false;
    run_until(rp, &never, ms);
}

int ls_raw_connect(ls_raw_peer_t *rp, int port)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    rp->is_established = rp->is_closed = false;
    int rc = ls_net_connect(rp->ep, (const struct sockaddr *)&addr, rp, &rp->conn);
    if (rc != 0)
        return rc;
    bool done = false;
    uint64_t deadline = uv_hrtime() + 10000000000ull;
    while (!done && uv_hrtime() < deadline) {
        ls_raw_run_for(rp, 20);
        done = rp->is_established || rp->is_closed;
    }
    return rp->is_established && !rp->is_closed ? 0 : LS_ETIMEDOUT;
}

int ls_raw_exchange(ls_raw_peer_t *rp, const void *bytes, size_t len, ls_raw_result_t *out)
{
    ls_raw_stream_t st = {.out = out};
    ls_net_stream_t *s;
    memset(out, 0, sizeof *out);
    sha256_init(&st.body);
    if (!rp->conn)
        return LS_ESTATE;
    int rc = ls_net_stream_open(rp->conn, &raw_stream_callbacks, &st, &s);
    if (rc != 0)
        return rc;
    rc = ls_net_stream_write(s, bytes, len);
    if (rc == 0)
        rc = ls_net_stream_shutdown(s);
    run_until(rp, &st.is_done, 60000);
    if (!st.is_done) {
        ls_net_stream_reset(s, LS_NET_APP_CANCELED);
        run_until(rp, &st.is_done, 1000);
        return LS_ETIMEDOUT;
    }
    return rc;
}

int ls_raw_request(ls_raw_peer_t *rp, const ls_msg_t *msg, ls_raw_result_t *out)
{
    uint8_t *frame;
    size_t len;
    int rc = ls_msg_encode(msg, &frame, &len);
    if (rc != 0)
        return rc;
    rc = ls_raw_exchange(rp, frame, len, out);
    free(frame);
    return rc;
}

int ls_raw_handshake(ls_raw_peer_t *rp, const char *party_key, ls_raw_result_t *out)
{
    char proof[LS_SHA256_HEX_LEN + 1];
    char *features[] = {"chunk-sha256"};
    ls_msg_t hello = {.kind = LS_MSG_HELLO};
    hello.u.hello.protocol_version = LS_PROTOCOL_VERSION;
    hello.u.hello.peer_id = (char *)ls_identity_peer_id(rp->identity);
    hello.u.hello.name = "raw-test-peer";
    hello.u.hello.listen_port = 1;
    hello.u.hello.features = features;
    hello.u.hello.feature_count = 1;
    if (party_key) {
        ls_party_proof(party_key, hello.u.hello.peer_id, rp->remote_peer_id, proof);
        hello.u.hello.party_proof = proof;
    }
    ls_snapshot_digest(NULL, 0, hello.u.hello.library.digest);
    return ls_raw_request(rp, &hello, out);
}

void ls_raw_result_free(ls_raw_result_t *r)
{
    if (r->has_reply)
        ls_msg_free(&r->reply);
    memset(r, 0, sizeof *r);
}

static void raw_ep_closed(void *userdata)
{
}

void ls_raw_close(ls_raw_peer_t *rp)
{
    if (rp->ep)
        ls_net_endpoint_close(rp->ep, raw_ep_closed);
    uv_run(&rp->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rp->loop);
    ls_identity_free(rp->identity);
}
