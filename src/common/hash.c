/* SHA-256 through nettle, a keyed hash for tables, and hex conversion. */
#include "lanspread/hash.h"

#include "lanspread/error.h"

#include <nettle/sha2.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>

void ls_sha256(const void *data, size_t len, uint8_t out[LS_SHA256_LEN])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, LS_SHA256_LEN, out);
}

static uint64_t ls__hash_key[2];
static pthread_once_t ls__hash_once = PTHREAD_ONCE_INIT;

/* One random key per process. Should the kernel refuse (it never blocks
 * once booted), the clock still makes the key unknown to a remote peer. */
static void ls__hash_seed(void)
{
    if (getrandom(ls__hash_key, sizeof ls__hash_key, 0) == (ssize_t)sizeof ls__hash_key)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ls__hash_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u;
    ls__hash_key[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

/* SipHash-1-3: one compression round per 8-byte word, three to finish. */
uint64_t ls_hash_private(const void *data, size_t len)
{
    pthread_once(&ls__hash_once, ls__hash_seed);
    const uint8_t *in = data;
    uint64_t v[4] = {0x736f6d6570736575u ^ ls__hash_key[0], 0x646f72616e646f6du ^ ls__hash_key[1],
                     0x6c7967656e657261u ^ ls__hash_key[0], 0x7465646279746573u ^ ls__hash_key[1]};
    uint64_t last = (uint64_t)len << 56;
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = 0;
        for (int b = 0; b < 8; b++)
            m |= (uint64_t)in[i + b] << (8 * b);
        v[3] ^= m;
        sipround(v);
        v[0] ^= m;
    }
    for (size_t b = 0; b < len % 8; b++)
        last |= (uint64_t)in[whole + b] << (8 * b);
    v[3] ^= last;
    sipround(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sipround(v);
    sipround(v);
    sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
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
