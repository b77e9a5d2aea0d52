/* The party key: who may join a closed party, in the two forms a user can
 * give it, and the proof a hello carries that its sender knows it.
 *
 * A key is given as text. The form `lanspread party-key new` prints (seven
 * groups of four base32 letters; the last LS_PARTY_KEY_CHECK_BITS bits check
 * the others, so a typo is caught) carries LS_PARTY_KEY_RANDOM_BITS random bits and is used as it
 * is; any other text is a passphrase, stretched with Argon2id (memory-hard, so each guess costs
 * LS_PARTY_ARGON2_MEMORY_KIB of memory). Both give the same kind of derived key, the only thing the
 * proof uses.
 *
 * Proofs are bound to one TLS session through its keying-material exporter
 * (RFC 5705/8446, label LS_PARTY_EXPORTER_LABEL): a proof seen on one
 * connection is worth nothing on another. See docs/PROTOCOL.md, Party key.
 * Pure functions; ls_party_key_derive of a passphrase takes a noticeable
 * moment (call it once, at start-up, off the loop thread). */
#ifndef LANSPREAD_PARTY_H
#define LANSPREAD_PARTY_H

#include "lanspread/hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_PARTY_KEY_LEN 32 /* bytes of a derived key */
#define LS_PARTY_KEY_RANDOM_BITS 128
#define LS_PARTY_KEY_GROUPS 7      /* "xxxx-xxxx-...": groups of the generated form */
#define LS_PARTY_KEY_GROUP_LEN 4   /* base32 letters per group */
#define LS_PARTY_KEY_CHECK_BITS 12 /* the rest of the 140 bits: a typo check */
/* The generated form and its NUL: 7 groups of 4, 6 dashes. */
#define LS_PARTY_KEY_TEXT_LEN (LS_PARTY_KEY_GROUPS * (LS_PARTY_KEY_GROUP_LEN + 1))
/* A passphrase shorter than this (bytes) gets a warning: it can be guessed. */
#define LS_PARTY_PASSPHRASE_MIN 12
/* Longest key text accepted (a key file is read up to this). */
#define LS_PARTY_KEY_TEXT_MAX 4096

/* Argon2id parameters for passphrases. Fixed (every peer must derive the
 * same key) and documented in PROTOCOL.md; the salt is fixed too, since
 * there is no channel to agree on one before the proof. */
#define LS_PARTY_ARGON2_SALT "lanspread party key v1"
#define LS_PARTY_ARGON2_MEMORY_KIB (64u * 1024u)
#define LS_PARTY_ARGON2_PASSES 3u
#define LS_PARTY_ARGON2_LANES 1u

/* The TLS exporter: label, and bytes taken from it. */
#define LS_PARTY_EXPORTER_LABEL "EXPORTER-lanspread-party"
#define LS_PARTY_EXPORTER_LEN 32

typedef struct {
    uint8_t bytes[LS_PARTY_KEY_LEN];
} ls_party_key_t;

typedef enum {
    LS_PARTY_KEY_GENERATED = 1, /* the form ls_party_key_generate writes */
    LS_PARTY_KEY_PASSPHRASE,    /* anything else */
} ls_party_key_form_t;

/* A fresh key in the generated form (LS_PARTY_KEY_TEXT_LEN bytes with the
 * NUL) from the system's random source. LS_EIO when that fails. */
int ls_party_key_generate(char out[LS_PARTY_KEY_TEXT_LEN]);

/* Which form `text` (len bytes) has. Case does not matter, and a space may
 * stand for a dash. LS_EINVAL for text in the generated form whose check
 * letters do not match (a typo: it is not taken for a passphrase). */
int ls_party_key_form(const char *text, size_t len, ls_party_key_form_t *form);

/* The derived key of `text` (len bytes; a NUL inside, an empty text or one
 * longer than LS_PARTY_KEY_TEXT_MAX is LS_EINVAL). *form (may be NULL) says
 * which way it went. LS_ENOMEM when Argon2id cannot get its memory. */
int ls_party_key_derive(const char *text, size_t len, ls_party_key_t *out,
                        ls_party_key_form_t *form);

/* The proof a hello or hello_ack carries: lowercase hex HMAC-SHA256 keyed
 * with the derived key over "lanspread/<version> party-proof|<sender
 * peer_id>|<receiver peer_id>|" and the session's exporter bytes. */
void ls_party_proof(const ls_party_key_t *key, const uint8_t exporter[LS_PARTY_EXPORTER_LEN],
                    const char *sender_id, const char *receiver_id,
                    char out[LS_SHA256_HEX_LEN + 1]);

/* Constant-time comparison of a received proof with the expected one. */
bool ls_party_proof_equal(const char *received, const char *expected);

#endif
