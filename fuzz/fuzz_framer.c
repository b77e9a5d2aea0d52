/* libFuzzer target for the stream framer (src/peer/framer.c) and the reply
 * state machine of an exchange (src/peer/reply_rx.c): a peer's bytes, cut
 * into pieces at places the input chooses, the way QUIC delivers them.
 *
 * Input: byte 0 picks the framer's limit and whether a body is wanted,
 * byte 1 the body limit, byte 2 seeds the cut sizes; the rest is the
 * stream. Checked: the framer never takes more than it is given nor more
 * than one frame; a complete frame's payload has the length its header
 * announced, within the limit; fed the same stream in one piece, the
 * framer and the reply machine reach the same verdict as fed in pieces;
 * a complete body has exactly the announced length. */
#include "peer/framer.h"
#include "peer/reply_rx.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Limits small enough that the fuzzer reaches "too big" with short inputs,
 * and the real ones. */
static const size_t limits[] = {0, 1, 16, 300, 4096, LS_FRAME_MAX};

typedef struct {
    size_t seed;
    size_t pos;
} cutter_t;

/* The size of the next piece: 1..64 bytes, from a tiny generator. */
static size_t next_cut(cutter_t *c, size_t left)
{
    c->seed = c->seed * 1103515245u + 12345u;
    size_t n = 1 + (c->seed >> 8) % 64;
    return n < left ? n : left;
}

/* Frames one after another; returns the number of complete frames and the
 * last verdict in *last. */
static size_t run_framer(const uint8_t *data, size_t size, size_t limit, size_t seed, int *last)
{
    cutter_t cut = {.seed = seed};
    ls_framer_t f;
    size_t frames = 0, pos = 0;
    int rc = LS_EAGAIN;
    ls_framer_init(&f, limit);
    while (pos < size) {
        size_t n = seed ? next_cut(&cut, size - pos) : size - pos;
        size_t used = 0;
        rc = ls_framer_push(&f, data + pos, n, &used);
        if (used > n)
            abort();
        if (rc != 0 && rc != LS_EAGAIN)
            break;
        if (rc == LS_EAGAIN && used != n)
            abort(); /* waiting for more, yet left bytes unread */
        pos += used;
        if (rc == 0) {
            size_t len;
            uint32_t announced = 0;
            const uint8_t *payload = ls_framer_payload(&f, &len);
            if (len > limit || len > LS_FRAME_MAX ||
                ls_frame_parse_header(payload - LS_FRAME_HEADER_LEN, LS_FRAME_HEADER_LEN,
                                      &announced) != 0 ||
                announced != len)
                abort();
            frames++;
            ls_framer_free(&f);
            ls_framer_init(&f, limit);
            rc = LS_EAGAIN;
        }
    }
    ls_framer_free(&f);
    *last = rc;
    return frames;
}

/* Returns the machine's verdict; a complete body is checked. *unread: the
 * bytes never given to it. */
static int run_reply(const uint8_t *data, size_t size, size_t limit, bool wants_body,
                     size_t body_max, size_t seed, size_t *unread)
{
    cutter_t cut = {.seed = seed};
    ls__reply_rx_t rx;
    size_t pos = 0;
    int rc = LS_EAGAIN;
    ls__reply_rx_init(&rx, limit, wants_body, body_max);
    while (pos < size && rc == LS_EAGAIN) {
        size_t n = seed ? next_cut(&cut, size - pos) : size - pos;
        rc = ls__reply_rx_push(&rx, data + pos, n);
        pos += n;
    }
    if (rc == 0 && wants_body &&
        (rx.body_len != rx.body_expected || rx.body_len > body_max ||
         rx.body_len != rx.reply.u.file_header.length))
        abort();
    if (rc == 0 && !rx.has_reply)
        abort();
    ls__reply_rx_free(&rx);
    *unread = size - pos;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t limit = limits[data[0] % (sizeof limits / sizeof limits[0])];
    bool wants_body = data[0] & 0x80;
    size_t body_max = (size_t)data[1] * 64;
    size_t seed = (size_t)data[2] + 1; /* never 0: 0 means one piece */
    const uint8_t *stream = data + 3;
    size_t len = size - 3;

    int whole_rc, cut_rc;
    size_t whole = run_framer(stream, len, limit, 0, &whole_rc);
    size_t cut = run_framer(stream, len, limit, seed, &cut_rc);
    if (whole != cut || whole_rc != cut_rc)
        abort(); /* where the pieces end must not change what is read */

    size_t a_unread = 0, b_unread = 0;
    int a = run_reply(stream, len, limit, wants_body, body_max, 0, &a_unread);
    int b = run_reply(stream, len, limit, wants_body, body_max, seed, &b_unread);
    /* The same verdict, except where bytes follow a complete body: in one
     * piece they are "more than announced", cut at the body's end they are
     * never read. */
    bool is_excess = a == LS_ECORRUPT && b == 0 && b_unread > 0;
    if (a != b && !is_excess)
        abort();
    return 0;
}
