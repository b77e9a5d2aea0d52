/* Signed libraries (issue #17): a peer signs its library snapshot with its
 * identity key so that any other peer can pass it on, and a receiver with
 * no link to the owner can believe it. A relay can withhold a library but
 * not forge, alter or roll one back.
 *
 * The signature (the identity key's scheme: Ed25519, or ECDSA with
 * SHA-256 for a P-256 key of an earlier version) covers
 *   "lanspread library v1" NUL peer_id(64 hex) NUL rev(8 bytes, big endian)
 *   digest(32 bytes) name_len(1 byte) name
 * where digest is the snapshot's canonical digest (ls_snapshot_digest: the
 * SHA-256 of the games' canonical encoding), so the games are signed without
 * signing JSON bytes. Covers are not in the digest: a signed library has
 * none. The key travels with it (its DER SubjectPublicKeyInfo), and the
 * receiver checks SHA-256(SPKI) == peer_id before it checks the signature.
 *
 * The store keeps, per owner, the highest revision whose signature
 * verified; it verifies a signature only for a revision above the one it
 * holds, so each (peer_id, rev) costs one verification however often it is
 * offered. Owned by one thread (the runtime's loop). */
#ifndef LANSPREAD_LIBSIG_H
#define LANSPREAD_LIBSIG_H

#include "lanspread/identity.h"
#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_LIBSIG_DOMAIN "lanspread library v1"
/* Owners whose signed library one store keeps: as many as the mDNS dial
 * targets and a `peers` list (LS_PEERS_MAX); a full store refuses new
 * owners (LS_ELIMIT) rather than evicting, so a flood of made-up owners
 * cannot push real ones out. */
#define LS_LIBSIG_STORE_MAX LS_PEERS_MAX

typedef struct ls_libsig_signer ls_libsig_signer_t;
typedef struct ls_libsig_store ls_libsig_store_t;

/* A signer for this peer's own library. LS_ECORRUPT when the identity's key
 * cannot be loaded. *out owned by the caller: ls_libsig_signer_free(). */
int ls_libsig_signer_new(const ls_identity_t *id, ls_libsig_signer_t **out);
void ls_libsig_signer_free(ls_libsig_signer_t *signer);

/* Signs snap (name: our display name, 0..LS_NAME_MAX bytes) into *out, a
 * deep copy without covers whose digest is recomputed from its games (so a
 * stale snap->digest cannot be signed). *out owned by the caller:
 * ls_signed_library_free(). */
int ls_libsig_sign(const ls_libsig_signer_t *signer, const char *name,
                   const ls_library_snapshot_t *snap, ls_signed_library_t *out);

/* Checks a decoded signed library: the SPKI's SHA-256 is peer_id
 * (LS_EAUTH), the digest is that of its games (LS_ECORRUPT), the signature
 * verifies under the SPKI (LS_EAUTH; also for a key of another algorithm).
 * Pure apart from the CPU of one signature verification. */
int ls_libsig_verify(const ls_signed_library_t *signed_library);

int ls_signed_library_copy(ls_signed_library_t *dst, const ls_signed_library_t *src);
void ls_signed_library_free(ls_signed_library_t *signed_library); /* its fields */

int ls_libsig_store_new(ls_libsig_store_t **out);
void ls_libsig_store_free(ls_libsig_store_t *store);

/* Offers a signed library heard from anyone. 1 when it was verified and is
 * now the one held for its owner; 0 when the store already holds that
 * revision or a newer one (nothing verified: a replay or a rollback);
 * LS_EAUTH / LS_ECORRUPT from ls_libsig_verify (nothing changes); LS_ELIMIT
 * for a new owner when LS_LIBSIG_STORE_MAX are held. */
int ls_libsig_store_offer(ls_libsig_store_t *store, const ls_signed_library_t *signed_library);

/* The signed library held for peer_id, borrowed until the store changes;
 * NULL when none. */
const ls_signed_library_t *ls_libsig_store_find(const ls_libsig_store_t *store,
                                                const char *peer_id);

/* Forgets an owner (a peer that said goodbye). */
void ls_libsig_store_remove(ls_libsig_store_t *store, const char *peer_id);
size_t ls_libsig_store_count(const ls_libsig_store_t *store);

#endif
