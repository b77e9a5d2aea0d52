/* SHA-256 (nettle) and hex encoding. */
#ifndef LANSPREAD_HASH_H
#define LANSPREAD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define LS_SHA256_LEN 32
#define LS_SHA256_HEX_LEN 64

void ls_sha256(const void *data, size_t len, uint8_t out[LS_SHA256_LEN]);

/* Writes 2*len lowercase hex digits and a NUL into out. */
void ls_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes exactly 2*out_len hex digits; LS_EINVAL on any other input. */
int ls_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);

#endif
