/* Framing (the 4-byte length prefix), UTF-8 validation of payloads, and the
 * context that lets every codec failure name the field it is about. */
#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/proto.h"
#include "proto/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ls_frame_parse_header(const uint8_t *buf, size_t len, uint32_t *payload_len)
{
    if (!buf || len < LS_FRAME_HEADER_LEN)
        return LS_EAGAIN;
    uint32_t n =
        (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
    if (n > LS_FRAME_MAX)
        return LS_EFRAME_TOO_BIG;
    /* An empty payload cannot be a JSON object. */
    if (n == 0)
        return LS_EJSON;
    *payload_len = n;
    return 0;
}

void ls_proto_ctx_init(ls_proto_ctx_t *ctx, char *detail, size_t detail_len)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->detail = detail;
    ctx->detail_len = detail ? detail_len : 0;
    if (ctx->detail_len > 0)
        ctx->detail[0] = '\0';
}

/* Appends the n bytes of `text` to the field path, cut as snprintf would
 * cut them; returns the length before. Without snprintf: every element of
 * every array is pushed, also when nothing fails (a batch of 256 ranges, a
 * manifest of 40,000 files). */
static size_t path_append(ls_proto_ctx_t *ctx, const char *text, size_t n)
{
    size_t mark = ctx->path_len;
    size_t room = sizeof ctx->path - mark;
    size_t copy = n < room ? n : room - 1;
    memcpy(ctx->path + mark, text, copy);
    ctx->path[mark + copy] = '\0';
    ctx->path_len = n < room ? mark + n : sizeof ctx->path - 1;
    return mark;
}

size_t ls_proto_path_push(ls_proto_ctx_t *ctx, const char *key)
{
    size_t mark = ctx->path_len;
    if (ctx->path_len)
        path_append(ctx, ".", 1);
    path_append(ctx, key, strlen(key));
    return mark;
}

size_t ls_proto_path_push_index(ls_proto_ctx_t *ctx, size_t index)
{
    char text[2 + 3 * sizeof index]; /* "[", the digits, "]" */
    size_t at = sizeof text;
    text[--at] = ']';
    do {
        text[--at] = (char)('0' + index % 10);
        index /= 10;
    } while (index > 0);
    text[--at] = '[';
    return path_append(ctx, text + at, sizeof text - at);
}

void ls_proto_path_pop(ls_proto_ctx_t *ctx, size_t mark)
{
    ctx->path_len = mark;
    ctx->path[mark] = '\0';
}

int ls_proto_fail(ls_proto_ctx_t *ctx, int code, const char *field, const char *fmt, ...)
{
    char message[160];
    va_list ap;

    if (ctx->detail_len == 0)
        return code;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    const char *dot = ctx->path_len && field ? "." : "";
    const char *colon = ctx->path_len || field ? ": " : "";
    snprintf(ctx->detail, ctx->detail_len, "%s%s%s%s%s", ctx->path, dot, field ? field : "", colon,
             message);
    /* Keys and values come from the peer: keep them from forging log lines. */
    ls_text_neutralize(ctx->detail);
    return code;
}

/* Length of the sequence a lead byte starts, and the allowed range of its
 * second byte (which excludes overlong forms, surrogates, > U+10FFFF). */
static size_t utf8_sequence(uint8_t lead, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (lead < 0x80)
        return 1;
    if (lead >= 0xC2 && lead <= 0xDF)
        return 2;
    if (lead >= 0xE0 && lead <= 0xEF) {
        if (lead == 0xE0)
            *lo = 0xA0;
        if (lead == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        if (lead == 0xF0)
            *lo = 0x90;
        if (lead == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

bool ls_proto_utf8_is_valid(const uint8_t *data, size_t len, size_t *bad_offset)
{
    size_t i = 0;
    while (i < len) {
        uint8_t lo, hi;
        size_t n = utf8_sequence(data[i], &lo, &hi);
        bool ok = n > 0 && n <= len - i;
        for (size_t k = 1; ok && k < n; k++) {
            uint8_t c = data[i + k];
            ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        }
        if (!ok) {
            *bad_offset = i;
            return false;
        }
        i += n;
    }
    return true;
}
