/* SHA-256 (nettle), a keyed hash for tables, and hex encoding. */
#ifndef LANSPREAD_HASH_H
#define LANSPREAD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define LS_SHA256_LEN 32
#define LS_SHA256_HEX_LEN 64

void ls_sha256(const void *data, size_t len, uint8_t out[LS_SHA256_LEN]);

/* A 64-bit hash of data under a per-process random key (SipHash-1-3):
 * for tables indexed by what a peer sends, which cannot pick inputs that
 * collide without the key. Not a digest: it differs between processes.
 * Thread-safe. */
uint64_t ls_hash_private(const void *data, size_t len);

/* Writes 2*len lowercase hex digits and a NUL into out. */
void ls_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes exactly 2*out_len hex digits; LS_EINVAL on any other input. */
int ls_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);

#endif
