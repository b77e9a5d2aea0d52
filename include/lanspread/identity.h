/* A peer's identity: its private key, a self-signed certificate that carries
 * the public key over TLS, and the peer_id derived from that key.
 *
 * peer_id = lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. The
 * certificate is only a carrier: two certificates over the same key give the
 * same peer_id. Nothing here is compiled into the program; every peer makes
 * its own key on first start: Ed25519; an ECDSA P-256 key an earlier
 * version made is kept (its peer_id with it). */
#ifndef LANSPREAD_IDENTITY_H
#define LANSPREAD_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define LS_PEER_ID_HEX_LEN 64

/* File names inside the state directory. The key file is mode 0600. */
#define LS_IDENTITY_KEY_FILE "identity.key"
#define LS_IDENTITY_CERT_FILE "identity.crt"

typedef struct ls_identity ls_identity_t;

/* Loads the key and certificate from state_dir, creating them (and the
 * directory) on first start. A key file that exists but cannot be read or
 * parsed is an error (LS_EACCES, LS_ECORRUPT), never silently replaced: a new
 * key would be a new peer. A missing or unreadable certificate next to a good
 * key is regenerated from that key. Blocks (disk, key generation): call it
 * before starting the loop or from the thread pool.
 * *out is owned by the caller: ls_identity_free(). */
int ls_identity_load_or_create(const char *state_dir, ls_identity_t **out);

void ls_identity_free(ls_identity_t *id);

/* The 64 hex digits of this peer's id; owned by `id`. */
const char *ls_identity_peer_id(const ls_identity_t *id);

/* PEM text of the certificate and of the private key, owned by `id`
 * (valid until ls_identity_free). For the transport's TLS credentials. */
void ls_identity_cert_pem(const ls_identity_t *id, const char **pem, size_t *len);
void ls_identity_key_pem(const ls_identity_t *id, const char **pem, size_t *len);

/* The peer_id of the key inside a DER X.509 certificate (as a peer presents
 * it in TLS). Writes 64 hex digits and a NUL into out. LS_ECORRUPT when the
 * certificate cannot be parsed. */
int ls_identity_fingerprint_der(const uint8_t *der, size_t len, char out[LS_PEER_ID_HEX_LEN + 1]);

#endif
