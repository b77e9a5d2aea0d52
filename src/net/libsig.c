/* Signed libraries: signing our own snapshot with the identity key,
 * verifying one any peer passed on, and the store of the newest verified
 * one per owner. See lanspread/libsig.h for the signed bytes. */
#include "lanspread/libsig.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/strmap.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* domain NUL peer_id NUL rev digest name_len name */
#define SIGNED_BYTES_MAX                                                                           \
    (sizeof LS_LIBSIG_DOMAIN + LS_SHA256_HEX_LEN + 1 + 8 + LS_SHA256_LEN + 1 + LS_NAME_MAX)
#define REV_BYTES 8

struct ls_libsig_signer {
    gnutls_privkey_t key;
    gnutls_sign_algorithm_t algorithm; /* sign_algorithm_of the key */
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    char *spki_hex;
};

struct ls_libsig_store {
    ls_signed_library_t **entries; /* owned; keys of `index` point into them */
    size_t count;
    ls_strmap_t index; /* peer_id -> position in entries */
};

/* The signature scheme of an identity key: Ed25519 (new identities) or
 * ECDSA on P-256 with SHA-256 (the keys earlier versions made; the same
 * DER signatures as their GNUTLS_SIGN_ECDSA_SHA256, but GnuTLS checks the
 * curve: a key on another one verifies nothing); anything else (RSA,
 * Ed448, ...) GNUTLS_SIGN_UNKNOWN, which nothing signs or verifies with, so
 * a signer over such a hand-made identity key fails (LS_ECORRUPT). */
static gnutls_sign_algorithm_t sign_algorithm_of(gnutls_pk_algorithm_t pk)
{
    switch (pk) {
    case GNUTLS_PK_EDDSA_ED25519:
        return GNUTLS_SIGN_EDDSA_ED25519;
    case GNUTLS_PK_ECDSA:
        return GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
    default:
        return GNUTLS_SIGN_UNKNOWN;
    }
}

/* The bytes the signature covers; *len set. LS_ERANGE for a name the
 * protocol could not carry, LS_EINVAL for a digest that is not hex. */
static int signed_bytes(const char *peer_id, uint64_t rev, const char *digest_hex, const char *name,
                        uint8_t out[SIGNED_BYTES_MAX], size_t *len)
{
    size_t name_len = strlen(name);
    size_t n = 0;
    if (name_len > LS_NAME_MAX || strlen(peer_id) != LS_SHA256_HEX_LEN)
        return LS_ERANGE;
    memcpy(out, LS_LIBSIG_DOMAIN, sizeof LS_LIBSIG_DOMAIN); /* with its NUL */
    n += sizeof LS_LIBSIG_DOMAIN;
    memcpy(out + n, peer_id, LS_SHA256_HEX_LEN);
    n += LS_SHA256_HEX_LEN;
    out[n++] = '\0';
    for (int i = REV_BYTES - 1; i >= 0; i--)
        out[n++] = (uint8_t)(rev >> (8 * i));
    if (ls_hex_decode(digest_hex, LS_SHA256_HEX_LEN, out + n, LS_SHA256_LEN) != 0)
        return LS_EINVAL;
    n += LS_SHA256_LEN;
    out[n++] = (uint8_t)name_len;
    memcpy(out + n, name, name_len);
    *len = n + name_len;
    return 0;
}

static int hex_dup(const uint8_t *data, size_t len, char **out)
{
    *out = malloc(2 * len + 1);
    if (!*out)
        return LS_ENOMEM;
    ls_hex_encode(data, len, *out);
    return 0;
}

/* Hex from the wire into bytes; the decoder bounded its length. */
static int hex_to_datum(const char *hex, gnutls_datum_t *d)
{
    size_t hex_len = strlen(hex);
    d->size = (unsigned int)(hex_len / 2);
    d->data = malloc(d->size ? d->size : 1);
    if (!d->data)
        return LS_ENOMEM;
    if (hex_len % 2 != 0 || ls_hex_decode(hex, hex_len, d->data, d->size) != 0)
        return LS_EAUTH;
    return 0;
}

int ls_libsig_signer_new(const ls_identity_t *id, ls_libsig_signer_t **out)
{
    ls_libsig_signer_t *s = calloc(1, sizeof *s);
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t spki = {NULL, 0};
    const char *pem = NULL;
    size_t pem_len = 0;
    int rc = LS_ENOMEM;

    *out = NULL;
    if (!s || gnutls_privkey_init(&s->key) < 0 || gnutls_pubkey_init(&pub) < 0)
        goto out;
    ls_identity_key_pem(id, &pem, &pem_len);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)pem_len};
    rc = LS_ECORRUPT;
    if (gnutls_privkey_import_x509_raw(s->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0) < 0 ||
        (s->algorithm = sign_algorithm_of(gnutls_privkey_get_pk_algorithm(s->key, NULL))) ==
            GNUTLS_SIGN_UNKNOWN ||
        gnutls_pubkey_import_privkey(pub, s->key, 0, 0) < 0 ||
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ||
        spki.size > LS_LIBSIG_SPKI_MAX)
        goto out;
    rc = hex_dup(spki.data, spki.size, &s->spki_hex);
    memcpy(s->peer_id, ls_identity_peer_id(id), sizeof s->peer_id);
out:
    gnutls_free(spki.data);
    gnutls_pubkey_deinit(pub);
    if (rc == 0)
        *out = s;
    else
        ls_libsig_signer_free(s);
    return rc;
}

void ls_libsig_signer_free(ls_libsig_signer_t *signer)
{
    if (!signer)
        return;
    if (signer->key)
        gnutls_privkey_deinit(signer->key);
    free(signer->spki_hex);
    free(signer);
}

int ls_signed_library_copy(ls_signed_library_t *dst, const ls_signed_library_t *src)
{
    ls_msg_t copy = {.kind = LS_MSG_SIGNED_LIBRARY};
    ls_signed_library_t *c = &copy.u.signed_library;
    int rc = 0;
    memcpy(c->peer_id, src->peer_id, sizeof c->peer_id);
    if (!(c->name = strdup(src->name)) || !(c->spki = strdup(src->spki)) ||
        !(c->signature = strdup(src->signature)))
        rc = LS_ENOMEM;
    if (rc == 0)
        rc = ls_snapshot_copy(&c->library, &src->library);
    if (rc != 0) {
        ls_msg_free(&copy);
        memset(dst, 0, sizeof *dst);
        return rc;
    }
    *dst = *c;
    return 0;
}

void ls_signed_library_free(ls_signed_library_t *signed_library)
{
    ls_msg_t msg = {.kind = LS_MSG_SIGNED_LIBRARY};
    if (!signed_library)
        return;
    msg.u.signed_library = *signed_library;
    ls_msg_free(&msg);
    memset(signed_library, 0, sizeof *signed_library);
}

int ls_libsig_sign(const ls_libsig_signer_t *signer, const char *name,
                   const ls_library_snapshot_t *snap, ls_signed_library_t *out)
{
    uint8_t bytes[SIGNED_BYTES_MAX];
    size_t len = 0;
    gnutls_datum_t sig = {NULL, 0};
    ls_signed_library_t sl = {.name = NULL};
    int rc = ls_snapshot_copy(&sl.library, snap);

    memset(out, 0, sizeof *out);
    memcpy(sl.peer_id, signer->peer_id, sizeof sl.peer_id);
    if (rc == 0) {
        ls_snapshot_strip_covers(sl.library.games, sl.library.game_count);
        rc = ls_snapshot_digest(sl.library.games, sl.library.game_count, sl.library.digest);
    }
    if (rc == 0 && (!(sl.name = strdup(name)) || !(sl.spki = strdup(signer->spki_hex))))
        rc = LS_ENOMEM;
    if (rc == 0)
        rc = signed_bytes(sl.peer_id, sl.library.library_rev, sl.library.digest, sl.name, bytes,
                          &len);
    gnutls_datum_t data = {bytes, (unsigned int)len};
    if (rc == 0 && gnutls_privkey_sign_data2(signer->key, signer->algorithm, 0, &data, &sig) < 0)
        rc = LS_EIO;
    if (rc == 0 && sig.size > LS_LIBSIG_SIG_MAX)
        rc = LS_ERANGE;
    if (rc == 0)
        rc = hex_dup(sig.data, sig.size, &sl.signature);
    gnutls_free(sig.data);
    if (rc != 0) {
        ls_signed_library_free(&sl);
        return rc;
    }
    *out = sl;
    return 0;
}

int ls_libsig_verify(const ls_signed_library_t *sl)
{
    uint8_t bytes[SIGNED_BYTES_MAX];
    uint8_t hash[LS_SHA256_LEN];
    char hex[LS_SHA256_HEX_LEN + 1];
    size_t len = 0;
    gnutls_datum_t spki = {NULL, 0};
    gnutls_datum_t sig = {NULL, 0};
    gnutls_pubkey_t pub = NULL;
    int rc = hex_to_datum(sl->spki, &spki);

    if (rc == 0) {
        ls_sha256(spki.data, spki.size, hash);
        ls_hex_encode(hash, sizeof hash, hex);
        if (strcmp(hex, sl->peer_id) != 0)
            rc = LS_EAUTH; /* a key that is not the owner's */
    }
    if (rc == 0 && (rc = ls_snapshot_digest(sl->library.games, sl->library.game_count, hex)) == 0 &&
        strcmp(hex, sl->library.digest) != 0)
        rc = LS_ECORRUPT;
    if (rc == 0)
        rc = signed_bytes(sl->peer_id, sl->library.library_rev, sl->library.digest, sl->name, bytes,
                          &len);
    if (rc == 0)
        rc = hex_to_datum(sl->signature, &sig);
    if (rc == 0 && gnutls_pubkey_init(&pub) < 0)
        rc = LS_ENOMEM;
    gnutls_datum_t data = {bytes, (unsigned int)len};
    /* The scheme follows the key (sign_algorithm_of); an RSA key fails here. */
    gnutls_sign_algorithm_t algorithm = GNUTLS_SIGN_UNKNOWN;
    if (rc == 0 && gnutls_pubkey_import(pub, &spki, GNUTLS_X509_FMT_DER) == 0)
        algorithm = sign_algorithm_of(gnutls_pubkey_get_pk_algorithm(pub, NULL));
    if (rc == 0 && (algorithm == GNUTLS_SIGN_UNKNOWN ||
                    gnutls_pubkey_verify_data2(pub, algorithm, 0, &data, &sig) < 0))
        rc = LS_EAUTH;
    if (pub)
        gnutls_pubkey_deinit(pub);
    free(spki.data);
    free(sig.data);
    return rc;
}

int ls_libsig_store_new(ls_libsig_store_t **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return LS_ENOMEM;
    (*out)->index = LS_STRMAP_INIT;
    return 0;
}

void ls_libsig_store_free(ls_libsig_store_t *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->count; i++) {
        ls_signed_library_free(store->entries[i]);
        free(store->entries[i]);
    }
    free(store->entries);
    ls_strmap_free(&store->index);
    free(store);
}

const ls_signed_library_t *ls_libsig_store_find(const ls_libsig_store_t *store, const char *peer_id)
{
    size_t at = 0;
    return ls_strmap_get(&store->index, peer_id, &at) ? store->entries[at] : NULL;
}

size_t ls_libsig_store_count(const ls_libsig_store_t *store)
{
    return store->count;
}

/* Puts a verified copy in place of slot `at`, or appends one. */
static int store_put(ls_libsig_store_t *store, const ls_signed_library_t *sl, bool has_slot,
                     size_t at)
{
    ls_signed_library_t *copy = calloc(1, sizeof *copy);
    int rc = copy ? ls_signed_library_copy(copy, sl) : LS_ENOMEM;
    if (rc == 0 && !has_slot) {
        ls_signed_library_t **grown =
            realloc(store->entries, (store->count + 1) * sizeof *store->entries);
        rc = grown ? 0 : LS_ENOMEM;
        if (rc == 0)
            store->entries = grown;
        at = store->count;
    }
    if (rc == 0)
        rc = ls_strmap_put(&store->index, copy->peer_id, at, true, NULL);
    if (rc != 0) {
        ls_signed_library_free(copy);
        free(copy);
        return rc;
    }
    if (has_slot) {
        ls_signed_library_free(store->entries[at]);
        free(store->entries[at]);
    } else {
        store->count++;
    }
    store->entries[at] = copy;
    return 0;
}

int ls_libsig_store_offer(ls_libsig_store_t *store, const ls_signed_library_t *sl)
{
    size_t at = 0;
    bool has_slot = ls_strmap_get(&store->index, sl->peer_id, &at);
    if (has_slot && store->entries[at]->library.library_rev >= sl->library.library_rev)
        return 0; /* a replay or a rollback: nothing to verify */
    if (!has_slot && store->count >= LS_LIBSIG_STORE_MAX)
        return LS_ELIMIT;
    int rc = ls_libsig_verify(sl);
    if (rc == 0)
        rc = store_put(store, sl, has_slot, at);
    return rc == 0 ? 1 : rc;
}

void ls_libsig_store_remove(ls_libsig_store_t *store, const char *peer_id)
{
    size_t at = 0;
    if (!ls_strmap_get(&store->index, peer_id, &at))
        return;
    ls_strmap_remove(&store->index, peer_id); /* before its key string goes */
    ls_signed_library_free(store->entries[at]);
    free(store->entries[at]);
    store->entries[at] = store->entries[--store->count];
    if (at < store->count) /* the moved entry's key is there: no allocation */
        ls_strmap_put(&store->index, store->entries[at]->peer_id, at, true, NULL);
}
