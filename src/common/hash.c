/* SHA-256 through nettle, and hex conversion. */
#include "lanspread/hash.h"

#include "lanspread/error.h"

#include <nettle/sha2.h>

void ls_sha256(const void *data, size_t len, uint8_t out[LS_SHA256_LEN])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, LS_SHA256_LEN, out);
}

void ls_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ls_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    if (hex_len != 2 * out_len)
        return LS_EINVAL;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return LS_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
