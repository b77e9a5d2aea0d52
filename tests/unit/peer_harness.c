/* Event log and raw QUIC peer for the runtime tests. */
#include "peer_harness.h"

#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"
#include "lanspread/serve.h"

#include <nettle/sha2.h>
#include <stdio.h>
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
    /* The tests' predicates read what the application shows: the event's JSON. */
    json_t *data = ls_peer_event_json(event);
    if (!data)
        return;
    uv_mutex_lock(&log->lock);
    if (log->count == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 64;
        ls_logged_event_t *grown = realloc(log->events, cap * sizeof *grown);
        if (!grown) {
            uv_mutex_unlock(&log->lock);
            json_decref(data);
            return;
        }
        log->events = grown;
        log->cap = cap;
    }
    log->events[log->count].kind = event->kind;
    log->events[log->count].data = data;
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

size_t ls_event_log_index_of(ls_event_log_t *log, size_t since, ls_peer_event_kind_t kind,
                             ls_event_pred pred, const void *arg)
{
    size_t found = SIZE_MAX;
    uv_mutex_lock(&log->lock);
    for (size_t i = since; i < log->count && found == SIZE_MAX; i++)
        if (log->events[i].kind == kind && (!pred || pred(log->events[i].data, arg)))
            found = i;
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
    bool is_unread;    /* never consume: the window stays shut */
    bool is_allocated; /* freed when the stream closes */
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
    if (rp->conn != c)
        return; /* an earlier connection of this raw peer: not the one watched */
    rp->is_closed = true;
    rp->close_status = status;
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
    if (!st->is_unread)
        ls_net_stream_consume(s, len);
    raw_take(st, data, len);
    /* an unfinished request answered in full: our side ends too, so the
     * stream closes and the result is complete */
    if (is_fin && st->is_allocated)
        ls_net_stream_reset(s, LS_NET_APP_CANCELED);
    ls_raw_peer_t *rp = ls_net_conn_user_data(ls_net_stream_conn(s));
    if (is_fin && rp && rp->on_reply_end) {
        void (*then)(ls_raw_peer_t *) = rp->on_reply_end;
        rp->on_reply_end = NULL;
        then(rp);
    }
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
    out->is_done = true;
    out->stream = NULL;
}

static void raw_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    ls_raw_stream_t *st = ls_net_stream_user_data(s);
    raw_finish(st, status);
    if (st->is_allocated)
        free(st);
}

static const ls_net_stream_callbacks_t raw_stream_callbacks = {.read_cb = raw_read_cb,
                                                               .close_cb = raw_close_cb};

/* Streams the other side opens to us: count hellos; answer get_game with
 * rp->serve_manifest when set, and leave every other request unanswered
 * then; without it, reset them. */
#define RAW_REQUEST_MAX 65536

typedef struct {
    ls_raw_peer_t *rp;
    uint8_t buf[RAW_REQUEST_MAX];
    size_t len;
} ls_raw_incoming_t;

/* The whole request frame in `in`, decoded into *req (ls_msg_free it);
 * false when it is not one. */
static bool raw_decode(const ls_raw_incoming_t *in, ls_msg_t *req)
{
    uint32_t plen = 0;
    return in->len >= LS_FRAME_HEADER_LEN && ls_frame_parse_header(in->buf, in->len, &plen) == 0 &&
           plen == in->len - LS_FRAME_HEADER_LEN &&
           ls_msg_decode(in->buf + LS_FRAME_HEADER_LEN, plen, req, NULL, 0) == 0;
}

/* The manifest as the answer to a get_game in `in`; false when it is not one. */
static bool raw_answer_get_game(ls_raw_incoming_t *in, ls_net_stream_t *s)
{
    ls_msg_t req, reply = {.kind = LS_MSG_GAME};
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    bool is_answered = false;
    if (!in->rp->serve_manifest || !raw_decode(in, &req))
        return false;
    if (req.kind == LS_MSG_GET_GAME) {
        in->rp->incoming_get_games++;
        reply.u.game = *in->rp->serve_manifest;
        is_answered = ls_msg_encode(&reply, &frame, &frame_len) == 0 &&
                      ls_net_stream_write(s, frame, frame_len) == 0 &&
                      ls_net_stream_shutdown(s) == 0;
        free(frame);
    }
    ls_msg_free(&req);
    return is_answered;
}

/* Counts a chunk request in `in` and, with rp->chunk_error, answers it
 * with that error; false when it is not one or nothing was sent. */
static bool raw_answer_chunk(ls_raw_incoming_t *in, ls_net_stream_t *s)
{
    ls_msg_t req, reply;
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    bool is_answered = false;
    if (!raw_decode(in, &req))
        return false;
    if (req.kind == LS_MSG_GET_FILE_CHUNK) {
        in->rp->incoming_chunk_requests++;
        if (in->rp->chunk_error && ls_serve_error_msg(&reply, (ls_wire_error_t)in->rp->chunk_error,
                                                      "refused by the test") == 0) {
            is_answered = ls_msg_encode(&reply, &frame, &frame_len) == 0 &&
                          ls_net_stream_write(s, frame, frame_len) == 0 &&
                          ls_net_stream_shutdown(s) == 0;
            ls_msg_free(&reply);
            free(frame);
        }
    }
    ls_msg_free(&req);
    return is_answered;
}

/* rp->serve_library as the answer to a get_library; false when not sent. */
static bool raw_answer_get_library(ls_raw_peer_t *rp, ls_net_stream_t *s)
{
    ls_msg_t reply = {.kind = LS_MSG_SIGNED_LIBRARY, .u.signed_library = *rp->serve_library};
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    bool is_answered = ls_msg_encode(&reply, &frame, &frame_len) == 0 &&
                       ls_net_stream_write(s, frame, frame_len) == 0 &&
                       ls_net_stream_shutdown(s) == 0;
    free(frame);
    return is_answered;
}

/* The set bits of a `have` bitmap. */
static uint32_t have_set_bits(const ls_have_t *have)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < have->chunk_count; i++)
        n += have->bitmap[i / 8] >> (i % 8) & 1u;
    return n;
}

/* Counts a whole `peers` request in `in` and its entries, and notes a
 * `have`. */
static void raw_note_request(ls_raw_incoming_t *in)
{
    ls_msg_t req;
    if (!raw_decode(in, &req))
        return;
    if (req.kind == LS_MSG_PEERS) {
        int i = in->rp->incoming_peer_lists++;
        if (i < LS_RAW_PEER_LISTS_MAX)
            in->rp->incoming_peer_entries[i] = req.u.peer_list.count;
    }
    if (req.kind == LS_MSG_HAVE) {
        int i = in->rp->incoming_haves++;
        in->rp->last_have_chunks = req.u.have.chunk_count;
        in->rp->last_have_set = have_set_bits(&req.u.have);
        if (i < LS_RAW_PEER_LISTS_MAX)
            in->rp->have_set[i] = in->rp->last_have_set;
    }
    ls_msg_free(&req);
}

static void incoming_read_cb(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    ls_raw_incoming_t *in = ls_net_stream_user_data(s);
    ls_net_stream_consume(s, len);
    if (len > LS_FRAME_HEADER_LEN && memmem(data, len, "\"hello\"", 7))
        in->rp->incoming_hellos++;
    if (len > LS_FRAME_HEADER_LEN && memmem(data, len, "\"ping\"", 6))
        in->rp->incoming_pings++;
    size_t n = len < sizeof in->buf - in->len ? len : sizeof in->buf - in->len;
    memcpy(in->buf + in->len, data, n);
    in->len += n;
    bool is_get_library = is_fin && memmem(in->buf, in->len, "\"get_library\"", 13);
    in->rp->incoming_get_libraries += is_get_library;
    if (is_fin)
        raw_note_request(in);
    /* A serving raw peer leaves other requests unanswered (it stalls). */
    if (is_get_library && in->rp->serve_library && raw_answer_get_library(in->rp, s))
        return;
    if (is_get_library && in->rp->is_silent_relay)
        return; /* left unanswered: the stream stays open */
    if (is_fin && raw_answer_chunk(in, s))
        return;
    if (is_fin && !raw_answer_get_game(in, s) && !in->rp->serve_manifest)
        ls_net_stream_reset(s, LS_NET_APP_CANCELED);
}

static void incoming_close_cb(ls_net_stream_t *s, int status, uint64_t app_error)
{
    free(ls_net_stream_user_data(s));
}

static const ls_net_stream_callbacks_t incoming_callbacks = {.read_cb = incoming_read_cb,
                                                             .close_cb = incoming_close_cb};

static void raw_stream_cb(ls_net_conn_t *c, ls_net_stream_t *s)
{
    ls_raw_incoming_t *in = calloc(1, sizeof *in);
    if (!in) {
        ls_net_stream_reset(s, LS_NET_APP_CANCELED);
        return;
    }
    in->rp = ls_net_endpoint_user_data(ls_net_conn_endpoint(c));
    ls_net_stream_set_callbacks(s, &incoming_callbacks, in);
}

int ls_raw_open(ls_raw_peer_t *rp, const char *state_dir)
{
    return ls_raw_open_limited(rp, state_dir, NULL);
}

int ls_raw_open_limited(ls_raw_peer_t *rp, const char *state_dir, const ls_net_limits_t *limits)
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
        .cb = {.established_cb = raw_established_cb,
               .closed_cb = raw_closed_cb,
               .stream_cb = raw_stream_cb},
        .limits = limits ? *limits : (ls_net_limits_t){0},
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
    ls_raw_stream_t st = {.out = out, .is_unread = rp->is_not_reading};
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

int ls_raw_send_unfinished(ls_raw_peer_t *rp, const void *bytes, size_t len, ls_raw_result_t *out)
{
    ls_raw_stream_t *st = calloc(1, sizeof *st);
    ls_net_stream_t *s;
    memset(out, 0, sizeof *out);
    if (!st)
        return LS_ENOMEM;
    *st = (ls_raw_stream_t){.out = out, .is_allocated = true, .is_unread = rp->is_not_reading};
    sha256_init(&st->body);
    int rc = rp->conn ? ls_net_stream_open(rp->conn, &raw_stream_callbacks, st, &s) : LS_ESTATE;
    if (rc != 0) {
        free(st);
        return rc;
    }
    out->stream = s;
    return ls_net_stream_write(s, bytes, len);
}

/* Encodes msg and hands the frame to send (exchange or send_unfinished). */
static int raw_send_msg(ls_raw_peer_t *rp, const ls_msg_t *msg, ls_raw_result_t *out,
                        int (*send)(ls_raw_peer_t *, const void *, size_t, ls_raw_result_t *))
{
    uint8_t *frame;
    size_t len;
    int rc = ls_msg_encode(msg, &frame, &len);
    if (rc != 0)
        return rc;
    rc = send(rp, frame, len, out);
    free(frame);
    return rc;
}

int ls_raw_request_async(ls_raw_peer_t *rp, const ls_msg_t *msg, ls_raw_result_t *out)
{
    return raw_send_msg(rp, msg, out, ls_raw_send_unfinished);
}

int ls_raw_request(ls_raw_peer_t *rp, const ls_msg_t *msg, ls_raw_result_t *out)
{
    return raw_send_msg(rp, msg, out, ls_raw_exchange);
}

int ls_raw_handshake(ls_raw_peer_t *rp, const ls_party_key_t *party_key, ls_raw_result_t *out)
{
    char *features[] = {"chunk-sha256"};
    return ls_raw_handshake_with(rp, party_key, features, 1, out);
}

int ls_raw_party_proof(ls_raw_peer_t *rp, const ls_party_key_t *party_key, bool is_ours,
                       char proof[LS_SHA256_HEX_LEN + 1])
{
    uint8_t exporter[LS_PARTY_EXPORTER_LEN];
    const char *ours = ls_identity_peer_id(rp->identity);
    int rc = ls_net_conn_export_keying_material(rp->conn, LS_PARTY_EXPORTER_LABEL, exporter,
                                                sizeof exporter);
    if (rc == 0)
        ls_party_proof(party_key, exporter, is_ours ? ours : rp->remote_peer_id,
                       is_ours ? rp->remote_peer_id : ours, proof);
    return rc;
}

static int send_hello(ls_raw_peer_t *rp, char *proof, char **features, size_t feature_count,
                      ls_game_summary_t *games, size_t game_count, ls_raw_result_t *out)
{
    ls_msg_t hello = {.kind = LS_MSG_HELLO};
    hello.u.hello.protocol_version = LS_PROTOCOL_VERSION;
    hello.u.hello.peer_id = (char *)ls_identity_peer_id(rp->identity);
    hello.u.hello.name = "raw-test-peer";
    hello.u.hello.listen_port = 1;
    hello.u.hello.features = features;
    hello.u.hello.feature_count = feature_count;
    hello.u.hello.party_proof = proof;
    hello.u.hello.library.library_rev = game_count ? 1 : 0;
    hello.u.hello.library.games = games;
    hello.u.hello.library.game_count = game_count;
    ls_snapshot_digest(games, game_count, hello.u.hello.library.digest);
    return ls_raw_request(rp, &hello, out);
}

int ls_raw_hello_with_proof(ls_raw_peer_t *rp, const char *proof, ls_raw_result_t *out)
{
    char *features[] = {"chunk-sha256"};
    return send_hello(rp, (char *)proof, features, 1, NULL, 0, out);
}

int ls_raw_handshake_with(ls_raw_peer_t *rp, const ls_party_key_t *party_key, char **features,
                          size_t feature_count, ls_raw_result_t *out)
{
    return ls_raw_handshake_library(rp, party_key, features, feature_count, NULL, 0, out);
}

int ls_raw_handshake_library(ls_raw_peer_t *rp, const ls_party_key_t *party_key, char **features,
                             size_t feature_count, ls_game_summary_t *games, size_t game_count,
                             ls_raw_result_t *out)
{
    char proof[LS_SHA256_HEX_LEN + 1];
    if (party_key) {
        int rc = ls_raw_party_proof(rp, party_key, true, proof);
        if (rc != 0)
            return rc;
    }
    return send_hello(rp, party_key ? proof : NULL, features, feature_count, games, game_count,
                      out);
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

/* ---- swarm of runtimes ---- */

static const char *swarm_catalog_json =
    "{\"games\":[{\"id\":\"alpha\",\"name\":\"Alpha\"},{\"id\":\"bravo\",\"name\":\"Bravo\"},"
    "{\"id\":\"charlie\",\"name\":\"Charlie\"},{\"id\":\"delta\",\"name\":\"Delta\"}]}";

static void swarm_capture_log(ls_log_level_t level, const char *module, const char *message,
                              void *ud)
{
    ls_swarm_t *f = ud;
    (void)level;
    if (getenv("LS_TEST_VERBOSE")) {
        uint64_t ms = uv_hrtime() / 1000000u;
        fprintf(stderr, "%llu.%03llu %s %s\n", (unsigned long long)(ms / 1000) % 1000,
                (unsigned long long)ms % 1000, module, message);
    }
    uv_mutex_lock(&f->log_lock);
    size_t used = strlen(f->log);
    if (used + strlen(message) + 2 < sizeof f->log)
        snprintf(f->log + used, sizeof f->log - used, "%s\n", message);
    uv_mutex_unlock(&f->log_lock);
}

size_t ls_swarm_log_count(ls_swarm_t *f, const char *needle)
{
    size_t n = 0;
    uv_mutex_lock(&f->log_lock);
    for (const char *p = f->log; (p = strstr(p, needle)); p++)
        n++;
    uv_mutex_unlock(&f->log_lock);
    return n;
}

int ls_swarm_setup(void **state)
{
    ls_swarm_t *f = calloc(1, sizeof *f);
    char err[128];
    assert_non_null(f);
    assert_int_equal(ls_catalog_new(&f->catalog), 0);
    assert_int_equal(ls_catalog_add_json(f->catalog, swarm_catalog_json, strlen(swarm_catalog_json),
                                         "t", err, sizeof err),
                     0);
    uv_mutex_init(&f->log_lock);
    ls_log_set_sink(swarm_capture_log, f);
    *state = f;
    return 0;
}

int ls_swarm_teardown(void **state)
{
    ls_swarm_t *f = *state;
    for (int i = 0; i < LS_SWARM_MAX; i++) {
        ls_peer_stop(f->peers[i].rt);
        ls_catalog_free(f->peers[i].catalog);
        if (f->peers[i].dir) {
            ls_event_log_free(&f->peers[i].events);
            ls_test_rmtree(f->peers[i].dir);
            free(f->peers[i].dir);
        }
    }
    ls_log_set_sink(NULL, NULL);
    ls_log_set_level(LS_LOG_INFO);
    uv_mutex_destroy(&f->log_lock);
    ls_catalog_free(f->catalog);
    free(f);
    return 0;
}

ls_test_peer_t *ls_swarm_make_peer(ls_swarm_t *f, int i)
{
    ls_test_peer_t *p = &f->peers[i];
    p->dir = ls_test_mkdtemp("peer");
    ls_event_log_init(&p->events);
    return p;
}

void ls_swarm_extend_catalog(ls_swarm_t *f, int i, const char *json)
{
    ls_test_peer_t *p = &f->peers[i];
    char err[256];
    if (!p->catalog) {
        assert_int_equal(ls_catalog_new(&p->catalog), 0);
        assert_int_equal(ls_catalog_add_json(p->catalog, swarm_catalog_json,
                                             strlen(swarm_catalog_json), "t", err, sizeof err),
                         0);
    }
    assert_int_equal(ls_catalog_add_json(p->catalog, json, strlen(json), "t", err, sizeof err), 0);
}

void ls_swarm_add_game(ls_test_peer_t *p, const char *id, size_t size)
{
    char path[128];
    uint8_t *data = malloc(size ? size : 1);
    assert_non_null(data);
    ls_test_fill(data, size, (uint32_t)size + (uint32_t)id[0]);
    snprintf(path, sizeof path, "games/%s/%s.pak", id, id);
    ls_test_write_file(p->dir, path, data, size);
    snprintf(path, sizeof path, "games/%s/version.ini", id);
    ls_test_write_text(p->dir, path, "version=1.0\n");
    free(data);
}

void ls_swarm_launch_peer(ls_swarm_t *f, int i, const int *targets, size_t n, const char *party_key,
                          uint32_t protocol_version)
{
    ls_test_peer_t *p = &f->peers[i];
    char games[512], state[512], addr[LS_SWARM_MAX][64];
    snprintf(games, sizeof games, "%s/games", p->dir);
    snprintf(state, sizeof state, "%s/state", p->dir);
    ls_fs_mkdir_p(games, 0755);
    ls_party_key_t key;
    if (party_key)
        assert_int_equal(ls_party_key_derive(party_key, strlen(party_key), &key, NULL), 0);
    ls_peer_config_t config = {.game_dir = games,
                               .state_dir = state,
                               .listen = "127.0.0.1:0",
                               .party_key = party_key ? &key : NULL,
                               .ping_interval_ms = LS_SWARM_PING_INTERVAL_MS,
                               .reconnect_ms = f->reconnect_ms ? f->reconnect_ms : 300,
                               .hello_deadline_ms = LS_SWARM_HELLO_DEADLINE_MS,
                               .serve_stall_ms = f->serve_stall_ms,
                               .serve_wait_ms = f->serve_wait_ms,
                               .serve_total_max = f->serve_total_max,
                               .links_target = f->links_target,
                               .test_commit_hook = f->commit_hook,
                               .test_commit_arg = f->commit_arg,
                               .protocol_version = protocol_version,
                               .monitor_settle_ms = 100};
    assert_true(n <= LS_SWARM_MAX);
    for (size_t t = 0; t < n; t++) {
        snprintf(addr[t], sizeof addr[t], "127.0.0.1:%d",
                 ls_peer_listen_port(f->peers[targets[t]].rt));
        config.static_peers[config.static_peer_count++] = addr[t];
    }
    assert_int_equal(ls_peer_start(&config, p->catalog ? p->catalog : f->catalog, ls_event_log_sink,
                                   &p->events, &p->rt),
                     0);
}

void ls_swarm_start_peer(ls_swarm_t *f, int i, const int *targets, size_t n, const char *party_key,
                         uint32_t protocol_version)
{
    ls_test_peer_t *p = &f->peers[i];
    ls_swarm_launch_peer(f, i, targets, n, party_key, protocol_version);
    json_t *ready =
        ls_event_log_wait(&p->events, 0, LS_EVENT_READY, NULL, NULL, LS_SWARM_READY_WAIT_MS);
    assert_non_null(ready);
    json_decref(ready);
}

int ls_swarm_start(ls_swarm_t *f, int seeders, size_t size)
{
    int targets[LS_SWARM_MAX];
    assert_true(seeders < LS_SWARM_MAX);
    for (int i = 0; i < seeders; i++) {
        if (!f->peers[i].dir)
            ls_swarm_make_peer(f, i);
        if (size)
            ls_swarm_add_game(&f->peers[i], "alpha", size);
        ls_swarm_start_peer(f, i, NULL, 0, NULL, 0);
        targets[i] = i;
    }
    int d = seeders;
    if (!f->peers[d].dir)
        ls_swarm_make_peer(f, d);
    ls_swarm_start_peer(f, d, targets, (size_t)seeders, NULL, 0);
    json_int_t count = seeders;
    json_t *ev = ls_event_log_wait(&f->peers[d].events, 0, LS_EVENT_PEER_COUNT, ls_pred_count_is,
                                   &count, LS_SWARM_WAIT_MS);
    assert_non_null(ev);
    json_decref(ev);
    return d;
}

json_t *ls_swarm_wait_download_end(ls_swarm_t *f, ls_test_peer_t *p, size_t since, int timeout_ms,
                                   bool *finished)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000ull;
    while (uv_hrtime() < deadline) {
        json_t *ev =
            ls_event_log_wait(&p->events, since, LS_EVENT_DOWNLOAD_FINISHED, NULL, NULL, 20);
        if (ev) {
            *finished = true;
            return ev;
        }
        ev = ls_event_log_wait(&p->events, since, LS_EVENT_DOWNLOAD_FAILED, NULL, NULL, 20);
        if (ev) {
            *finished = false;
            return ev;
        }
    }
    print_message("%s", f->log);
    fail_msg("download neither finished nor failed in %d ms", timeout_ms);
    return NULL;
}

void ls_swarm_expect_finished(ls_swarm_t *f, json_t *ev, bool finished)
{
    if (!finished) {
        print_message("%s", f->log);
        fail_msg("download failed: %s", json_string_value(json_object_get(ev, "reason")));
    }
}

void ls_swarm_assert_same_file(ls_swarm_t *f, int a, int b, const char *relpath)
{
    size_t la, lb;
    char *da = ls_test_read_file(f->peers[a].dir, relpath, &la);
    char *db = ls_test_read_file(f->peers[b].dir, relpath, &lb);
    assert_int_equal(la, lb);
    uint8_t ha[LS_SHA256_LEN], hb[LS_SHA256_LEN];
    ls_sha256(da, la, ha);
    ls_sha256(db, lb, hb);
    assert_memory_equal(ha, hb, LS_SHA256_LEN);
    free(da);
    free(db);
}
