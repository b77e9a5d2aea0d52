/* Peer identity: creates on first start, and later loads, the peer's key
 * and self-signed certificate in the state directory, and derives peer ids
 * from public keys. A new key is Ed25519 (KEY_ALGORITHM); an
 * ECDSA P-256 key an earlier version made is loaded and kept as it is (the
 * key is who the peer is). Runs before the loop (it blocks on disk and on
 * key generation). */
#include "lanspread/identity.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define MODULE "identity"
/* Far above any PEM key or certificate we write; bounds what a corrupt or
 * hostile file can make us allocate. */
#define PEM_MAX_LEN (64 * 1024)
/* New keys: Ed25519 verifies in about two thirds of an ECDSA P-256 check
 * here (95 against 140 us), and every peer of a party checks every other
 * peer's signed library (libsig.h) besides the handshakes' signatures. */
#define KEY_ALGORITHM GNUTLS_PK_EDDSA_ED25519
#define KEY_BITS GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519)

struct ls_identity {
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    char *cert_pem;
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
};

static int pubkey_fingerprint(gnutls_pubkey_t pub, char out[LS_PEER_ID_HEX_LEN + 1])
{
    gnutls_datum_t spki = {NULL, 0};
    uint8_t digest[LS_SHA256_LEN];

    if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0)
        return LS_ECORRUPT;
    ls_sha256(spki.data, spki.size, digest);
    ls_hex_encode(digest, sizeof(digest), out);
    gnutls_free(spki.data);
    return 0;
}

static int crt_fingerprint(gnutls_x509_crt_t crt, char out[LS_PEER_ID_HEX_LEN + 1])
{
    gnutls_pubkey_t pub = NULL;
    int rc = LS_ECORRUPT;

    if (gnutls_pubkey_init(&pub) < 0)
        return LS_ENOMEM;
    if (gnutls_pubkey_import_x509(pub, crt, 0) < 0)
        goto out;
    rc = pubkey_fingerprint(pub, out);
out:
    gnutls_pubkey_deinit(pub);
    return rc;
}

int ls_identity_fingerprint_der(const uint8_t *der, size_t len, char out[LS_PEER_ID_HEX_LEN + 1])
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d = {(unsigned char *)der, (unsigned int)len};
    int rc = LS_ECORRUPT;

    if (!der || len == 0 || len > PEM_MAX_LEN)
        return LS_EINVAL;
    if (gnutls_x509_crt_init(&crt) < 0)
        return LS_ENOMEM;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0)
        goto out;
    rc = crt_fingerprint(crt, out);
out:
    gnutls_x509_crt_deinit(crt);
    return rc;
}

static int privkey_fingerprint(gnutls_x509_privkey_t key, char out[LS_PEER_ID_HEX_LEN + 1])
{
    gnutls_privkey_t priv = NULL;
    gnutls_pubkey_t pub = NULL;
    int rc = LS_ECORRUPT;

    if (gnutls_privkey_init(&priv) < 0 || gnutls_pubkey_init(&pub) < 0) {
        rc = LS_ENOMEM;
        goto out;
    }
    /* flags 0: the x509 key stays owned by the caller */
    if (gnutls_privkey_import_x509(priv, key, 0) < 0)
        goto out;
    if (gnutls_pubkey_import_privkey(pub, priv, 0, 0) < 0)
        goto out;
    rc = pubkey_fingerprint(pub, out);
out:
    gnutls_pubkey_deinit(pub);
    gnutls_privkey_deinit(priv);
    return rc;
}

static int datum_to_string(const gnutls_datum_t *d, char **out, size_t *out_len)
{
    char *s = malloc(d->size + 1);
    if (!s)
        return LS_ENOMEM;
    memcpy(s, d->data, d->size);
    s[d->size] = '\0';
    *out = s;
    *out_len = d->size;
    return 0;
}

static int generate_key(const char *key_path, gnutls_x509_privkey_t key, ls_identity_t *id)
{
    gnutls_datum_t pem = {NULL, 0};
    int rc;

    if (gnutls_x509_privkey_generate2(key, KEY_ALGORITHM, KEY_BITS, 0, NULL, 0) < 0)
        return LS_EIO;
    /* PKCS#8: GnuTLS cannot read back its own legacy form of an Ed25519
     * key, and reads PKCS#8 (and earlier versions' "EC PRIVATE KEY") */
    if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem) <
        0)
        return LS_EIO;
    rc = ls_fs_write_atomic_mode(key_path, pem.data, pem.size, 0600);
    if (rc == 0)
        rc = datum_to_string(&pem, &id->key_pem, &id->key_pem_len);
    gnutls_free(pem.data);
    return rc;
}

/* Reads and parses an existing key. Never replaces it on failure: the key is
 * who this peer is. */
static int load_key(const char *key_path, gnutls_x509_privkey_t key, ls_identity_t *id)
{
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    int rc = ls_fs_read_file(key_path, PEM_MAX_LEN, &text, &len);

    if (rc != 0) {
        ls_error(MODULE, "cannot read private key %s: %s", key_path,
                 rc == LS_EINVAL ? "not a regular file" : ls_strerror(rc));
        /* too big or not a file: not a key we wrote */
        return rc == LS_ETOOBIG || rc == LS_EINVAL ? LS_ECORRUPT : rc;
    }
    gnutls_datum_t d = {(unsigned char *)text, (unsigned int)len};
    if (gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM) < 0) {
        ls_error(MODULE, "private key %s is corrupt; move it away to create a new identity",
                 key_path);
        free(text);
        return LS_ECORRUPT;
    }
    if (stat(key_path, &st) == 0 && (st.st_mode & 077) != 0) {
        ls_warn(MODULE, "private key %s was readable by others; restricting it to 0600", key_path);
        if (chmod(key_path, 0600) != 0)
            ls_warn(MODULE, "chmod %s: %s", key_path, strerror(errno));
    }
    id->key_pem = text;
    id->key_pem_len = len;
    return 0;
}

/* Ed25519 hashes inside the scheme (SHA-512 is the only digest GnuTLS
 * accepts for it); ECDSA P-256 keys sign with SHA-256 as before. */
static gnutls_digest_algorithm_t cert_digest(gnutls_x509_privkey_t key)
{
    return gnutls_x509_privkey_get_pk_algorithm(key) == GNUTLS_PK_EDDSA_ED25519 ? GNUTLS_DIG_SHA512
                                                                                : GNUTLS_DIG_SHA256;
}

static int make_cert(gnutls_x509_privkey_t key, const char *peer_id, gnutls_x509_crt_t crt)
{
    uint8_t serial[16];
    char cn[64];
    time_t now = time(NULL);

    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        return LS_EIO;
    serial[0] &= 0x7f; /* a positive INTEGER */
    snprintf(cn, sizeof(cn), "lanspread-%.16s", peer_id);
    if (gnutls_x509_crt_set_version(crt, 3) < 0 || gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)) < 0 ||
        gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)) <
            0 ||
        /* a day back tolerates clocks that disagree; peers pin keys, not dates */
        gnutls_x509_crt_set_activation_time(crt, now - 24 * 3600) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, GNUTLS_X509_NO_WELL_DEFINED_EXPIRATION) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, cert_digest(key), 0) < 0)
        return LS_EIO;
    return 0;
}

static int create_cert(const char *cert_path, gnutls_x509_privkey_t key, ls_identity_t *id)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t pem = {NULL, 0};
    int rc;

    if (gnutls_x509_crt_init(&crt) < 0)
        return LS_ENOMEM;
    rc = make_cert(key, id->peer_id, crt);
    if (rc != 0)
        goto out;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0) {
        rc = LS_EIO;
        goto out;
    }
    rc = ls_fs_write_atomic(cert_path, pem.data, pem.size);
    if (rc == 0)
        rc = datum_to_string(&pem, &id->cert_pem, &id->cert_pem_len);
out:
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

/* 0 when cert_path holds a certificate over exactly this peer's key. */
static int load_cert(const char *cert_path, ls_identity_t *id)
{
    char *text = NULL;
    size_t len = 0;
    char fp[LS_PEER_ID_HEX_LEN + 1];
    gnutls_x509_crt_t crt = NULL;
    int rc = ls_fs_read_file(cert_path, PEM_MAX_LEN, &text, &len);

    if (rc != 0)
        return rc;
    rc = LS_ECORRUPT;
    if (gnutls_x509_crt_init(&crt) < 0) {
        rc = LS_ENOMEM;
        goto out;
    }
    gnutls_datum_t d = {(unsigned char *)text, (unsigned int)len};
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
        goto out;
    if (crt_fingerprint(crt, fp) != 0 || strcmp(fp, id->peer_id) != 0)
        goto out;
    id->cert_pem = text;
    id->cert_pem_len = len;
    text = NULL;
    rc = 0;
out:
    gnutls_x509_crt_deinit(crt);
    free(text);
    return rc;
}

static int load_or_create_in(const char *key_path, const char *cert_path, ls_identity_t *id)
{
    gnutls_x509_privkey_t key = NULL;
    int rc;

    if (gnutls_x509_privkey_init(&key) < 0)
        return LS_ENOMEM;
    if (ls_fs_exists(key_path)) {
        rc = load_key(key_path, key, id);
    } else {
        ls_info(MODULE, "creating a new peer key in %s", key_path);
        rc = generate_key(key_path, key, id);
    }
    if (rc == 0)
        rc = privkey_fingerprint(key, id->peer_id);
    if (rc != 0)
        goto out;
    if (load_cert(cert_path, id) != 0) {
        /* the certificate is public and derived from the key: remaking it
         * keeps the same peer_id */
        rc = create_cert(cert_path, key, id);
    }
out:
    gnutls_x509_privkey_deinit(key);
    return rc;
}

int ls_identity_load_or_create(const char *state_dir, ls_identity_t **out)
{
    ls_identity_t *id = NULL;
    char *key_path = NULL;
    char *cert_path = NULL;
    int rc;

    *out = NULL;
    if (!state_dir || !*state_dir)
        return LS_EINVAL;
    rc = ls_fs_mkdir_p(state_dir, 0700);
    if (rc != 0)
        return rc;
    id = calloc(1, sizeof(*id));
    key_path = ls_path_join(state_dir, LS_IDENTITY_KEY_FILE);
    cert_path = ls_path_join(state_dir, LS_IDENTITY_CERT_FILE);
    if (!id || !key_path || !cert_path) {
        rc = LS_ENOMEM;
        goto out;
    }
    rc = load_or_create_in(key_path, cert_path, id);
    if (rc == 0) {
        *out = id;
        id = NULL;
    }
out:
    ls_identity_free(id);
    free(key_path);
    free(cert_path);
    return rc;
}

void ls_identity_free(ls_identity_t *id)
{
    if (!id)
        return;
    if (id->key_pem) {
        /* do not leave the private key in freed heap memory */
        memset(id->key_pem, 0, id->key_pem_len);
        free(id->key_pem);
    }
    free(id->cert_pem);
    free(id);
}

const char *ls_identity_peer_id(const ls_identity_t *id)
{
    return id->peer_id;
}

void ls_identity_cert_pem(const ls_identity_t *id, const char **pem, size_t *len)
{
    *pem = id->cert_pem;
    *len = id->cert_pem_len;
}

void ls_identity_key_pem(const ls_identity_t *id, const char **pem, size_t *len)
{
    *pem = id->key_pem;
    *len = id->key_pem_len;
}
