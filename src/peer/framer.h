/* Collects the bytes of one length-prefixed frame as they arrive on a
 * stream, growing its buffer only as bytes come (never to the announced
 * length up front), and refusing frames above a limit. */
#ifndef LS_PEER_FRAMER_H
#define LS_PEER_FRAMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t limit;         /* largest payload accepted */
    uint32_t payload_len; /* known once the header is in */
} ls_framer_t;

void ls_framer_init(ls_framer_t *f, size_t limit);
void ls_framer_free(ls_framer_t *f);

/* Takes bytes up to the end of the frame; *used says how many it took (the
 * rest belongs to what follows the frame, e.g. a file body). Returns 0 when
 * the frame is complete, LS_EAGAIN when more is needed, LS_EFRAME_TOO_BIG or
 * LS_EJSON (zero length) when the header is bad, LS_ENOMEM. */
int ls_framer_push(ls_framer_t *f, const uint8_t *data, size_t len, size_t *used);

/* The payload of a complete frame; borrowed from the framer. */
const uint8_t *ls_framer_payload(const ls_framer_t *f, size_t *len);

#endif
