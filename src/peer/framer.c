/* One frame at a time from a byte stream, bounded. */
#include "framer.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <stdlib.h>
#include <string.h>

void ls_framer_init(ls_framer_t *f, size_t limit)
{
    memset(f, 0, sizeof *f);
    f->limit = limit < LS_FRAME_MAX ? limit : LS_FRAME_MAX;
}

void ls_framer_free(ls_framer_t *f)
{
    free(f->buf);
    memset(f, 0, sizeof *f);
}

static int ensure(ls_framer_t *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *grown = realloc(f->buf, cap);
    if (!grown)
        return LS_ENOMEM;
    f->buf = grown;
    f->cap = cap;
    return 0;
}

int ls_framer_push(ls_framer_t *f, const uint8_t *data, size_t len, size_t *used)
{
    size_t total = LS_FRAME_HEADER_LEN + (size_t)f->payload_len;
    int rc;
    *used = 0;
    if (f->len < LS_FRAME_HEADER_LEN) {
        size_t take = LS_FRAME_HEADER_LEN - f->len;
        take = take < len ? take : len;
        if ((rc = ensure(f, LS_FRAME_HEADER_LEN)) != 0)
            return rc;
        memcpy(f->buf + f->len, data, take);
        f->len += take;
        *used = take;
        if (f->len < LS_FRAME_HEADER_LEN)
            return LS_EAGAIN;
        rc = ls_frame_parse_header(f->buf, f->len, &f->payload_len);
        if (rc != 0)
            return rc;
        if (f->payload_len > f->limit)
            return LS_EFRAME_TOO_BIG;
        total = LS_FRAME_HEADER_LEN + (size_t)f->payload_len;
    }
    size_t take = total - f->len;
    take = take < len - *used ? take : len - *used;
    if ((rc = ensure(f, f->len + take)) != 0)
        return rc;
    memcpy(f->buf + f->len, data + *used, take);
    f->len += take;
    *used += take;
    return f->len == total ? 0 : LS_EAGAIN;
}

const uint8_t *ls_framer_payload(const ls_framer_t *f, size_t *len)
{
    *len = f->payload_len;
    return f->buf + LS_FRAME_HEADER_LEN;
}
