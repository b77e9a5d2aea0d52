/* The receiving half of an exchange (exchange.c), apart from the stream so
 * it can be tested and fuzzed alone: one reply frame, then, for file
 * requests, exactly the body its header announces, bounded by body_max.
 * Single-threaded: the owner's. */
#ifndef LS_PEER_REPLY_RX_H
#define LS_PEER_REPLY_RX_H

#include "framer.h"

#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    ls_framer_t framer;
    bool wants_body; /* a file request: FILE_DATA/FILE_CHUNK and its bytes */
    bool has_reply;
    ls_msg_t reply;
    uint8_t *body; /* owned until taken */
    size_t body_len;
    size_t body_expected;
    size_t body_max;
} ls__reply_rx_t;

void ls__reply_rx_init(ls__reply_rx_t *rx, size_t reply_max, bool wants_body, size_t body_max);
void ls__reply_rx_free(ls__reply_rx_t *rx);

/* Takes the next bytes of the stream. Returns 0 once the reply (and its
 * body) is complete, LS_EAGAIN while more is needed, or the error: the
 * framer's, the decoder's, LS_EREMOTE for the peer's error frame (its reply
 * is kept), LS_EJSON for a reply of the wrong kind, LS_ETOOBIG for a body
 * over body_max, LS_ECORRUPT for more bytes than announced. After 0 or an
 * error it must not be fed again. */
int ls__reply_rx_push(ls__reply_rx_t *rx, const uint8_t *data, size_t len);

/* Frees a body taken from a completed reply, keeping it warm for the next
 * answer when it is a pooled one; `len` is its body_len (the length decides
 * where it came from). free() is also right, but loses the warm block. Any
 * thread. */
void ls__reply_body_free(uint8_t *body, size_t len);
/* Whether chunk bodies are kept for the next answers: true while a
 * download runs; false frees the kept ones, and those freed later. */
void ls__reply_body_keep(bool is_downloading);

#endif
