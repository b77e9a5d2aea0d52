/* Signed libraries (issue #17): what a relay passes on is believed only
 * when its owner signed it, for that owner's key, and never rolls back. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/identity.h"
#include "lanspread/libsig.h"
#include "lanspread/proto.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *dir;
    ls_identity_t *id;
    ls_libsig_signer_t *signer;
} owner_t;

static void owner_init(owner_t *o)
{
    o->dir = ls_test_mkdtemp("libsig");
    assert_int_equal(ls_identity_load_or_create(o->dir, &o->id), 0);
    assert_int_equal(ls_libsig_signer_new(o->id, &o->signer), 0);
}

static void owner_fini(owner_t *o)
{
    ls_libsig_signer_free(o->signer);
    ls_identity_free(o->id);
    ls_test_rmtree(o->dir);
    free(o->dir);
}

static void fill_game(ls_game_summary_t *g, const char *id, const char *name, bool with_cover)
{
    *g = (ls_game_summary_t){.id = strdup(id),
                             .name = strdup(name),
                             .version = strdup("1.0"),
                             .size = 1000,
                             .file_count = 3};
    if (with_cover) {
        g->cover = strdup("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
        g->cover_size = 100;
    }
}

/* A library of two games (one with a cover) at `rev`, signed by o. */
static void sign_library(const owner_t *o, uint64_t rev, ls_signed_library_t *out)
{
    ls_library_snapshot_t snap = {.library_rev = rev, .game_count = 2};
    snap.games = calloc(2, sizeof *snap.games);
    assert_non_null(snap.games);
    fill_game(&snap.games[0], "doom", "Doom", true);
    fill_game(&snap.games[1], "quake", "Quake", false);
    /* a stale digest: the signer computes its own */
    memset(snap.digest, '0', LS_SHA256_HEX_LEN);
    assert_int_equal(ls_libsig_sign(o->signer, "alpha", &snap, out), 0);
    ls_snapshot_free(&snap);
}

/* Encoded and decoded again, as a relay's receiver sees it. */
static void through_the_wire(const ls_signed_library_t *in, ls_signed_library_t *out)
{
    ls_msg_t msg = {.kind = LS_MSG_SIGNED_LIBRARY, .u.signed_library = *in};
    ls_msg_t back;
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), 0);
    assert_int_equal(
        ls_msg_decode(frame + LS_FRAME_HEADER_LEN, len - LS_FRAME_HEADER_LEN, &back, NULL, 0), 0);
    assert_int_equal(back.kind, LS_MSG_SIGNED_LIBRARY);
    *out = back.u.signed_library;
    free(frame);
}

static void a_signed_library_verifies_after_the_wire_and_has_no_covers(void **state)
{
    (void)state;
    owner_t o;
    ls_signed_library_t sl, got;
    owner_init(&o);
    sign_library(&o, 7, &sl);
    through_the_wire(&sl, &got);
    assert_string_equal(got.peer_id, ls_identity_peer_id(o.id));
    assert_string_equal(got.name, "alpha");
    assert_int_equal(got.library.library_rev, 7);
    assert_int_equal(got.library.game_count, 2);
    for (size_t i = 0; i < got.library.game_count; i++)
        assert_null(got.library.games[i].cover);
    assert_int_equal(ls_libsig_verify(&got), 0);
    ls_signed_library_free(&got);
    ls_signed_library_free(&sl);
    owner_fini(&o);
}

/* Flips one hex digit of s (keeping it lowercase hex). */
static void flip_hex(char *s, size_t at)
{
    s[at] = s[at] == '0' ? '1' : '0';
}

static void a_changed_game_name_rev_or_signature_is_refused(void **state)
{
    (void)state;
    owner_t o;
    ls_signed_library_t sl, bad;
    owner_init(&o);
    sign_library(&o, 7, &sl);

    /* a game changed, digest left: not the library the digest names */
    assert_int_equal(ls_signed_library_copy(&bad, &sl), 0);
    bad.library.games[0].size++;
    assert_int_equal(ls_libsig_verify(&bad), LS_ECORRUPT);
    /* ... and with the digest recomputed: not what the owner signed */
    assert_int_equal(
        ls_snapshot_digest(bad.library.games, bad.library.game_count, bad.library.digest), 0);
    assert_int_equal(ls_libsig_verify(&bad), LS_EAUTH);
    ls_signed_library_free(&bad);

    assert_int_equal(ls_signed_library_copy(&bad, &sl), 0);
    bad.library.library_rev++;
    assert_int_equal(ls_libsig_verify(&bad), LS_EAUTH);
    ls_signed_library_free(&bad);

    assert_int_equal(ls_signed_library_copy(&bad, &sl), 0);
    free(bad.name);
    bad.name = strdup("mallory");
    assert_int_equal(ls_libsig_verify(&bad), LS_EAUTH);
    ls_signed_library_free(&bad);

    assert_int_equal(ls_signed_library_copy(&bad, &sl), 0);
    flip_hex(bad.signature, strlen(bad.signature) - 1);
    assert_int_equal(ls_libsig_verify(&bad), LS_EAUTH);
    ls_signed_library_free(&bad);

    assert_int_equal(ls_libsig_verify(&sl), 0);
    ls_signed_library_free(&sl);
    owner_fini(&o);
}

static void another_key_is_refused_for_the_owner_and_for_itself(void **state)
{
    (void)state;
    owner_t a, m;
    ls_signed_library_t sl, bad;
    owner_init(&a);
    owner_init(&m);
    sign_library(&a, 7, &sl);

    /* m's key under a's id: its hash is not the id */
    assert_int_equal(ls_signed_library_copy(&bad, &sl), 0);
    ls_signed_library_t mine;
    sign_library(&m, 7, &mine);
    free(bad.spki);
    bad.spki = strdup(mine.spki);
    assert_int_equal(ls_libsig_verify(&bad), LS_EAUTH);
    /* m's key and id, a's signature: the signature is not m's */
    memcpy(bad.peer_id, mine.peer_id, sizeof bad.peer_id);
    assert_int_equal(ls_libsig_verify(&bad), LS_EAUTH);
    /* m's own signature verifies: the refusals above are about the key */
    assert_int_equal(ls_libsig_verify(&mine), 0);
    ls_signed_library_free(&bad);
    ls_signed_library_free(&mine);
    ls_signed_library_free(&sl);
    owner_fini(&m);
    owner_fini(&a);
}

/* Signs sl's fields with o's key over the bytes as docs/PROTOCOL.md states
 * them, written out here independently of src/net/libsig.c. */
static void sign_as_documented(const owner_t *o, ls_signed_library_t *sl)
{
    uint8_t bytes[512];
    size_t n = 0;
    const char *pem = NULL;
    size_t pem_len = 0;
    gnutls_privkey_t key;
    gnutls_datum_t sig = {NULL, 0};
    const char domain[] = "lanspread library v1";
    memcpy(bytes, domain, sizeof domain); /* with its NUL */
    n += sizeof domain;
    memcpy(bytes + n, sl->peer_id, 64);
    n += 64;
    bytes[n++] = 0;
    for (int i = 7; i >= 0; i--)
        bytes[n++] = (uint8_t)(sl->library.library_rev >> (8 * i));
    assert_int_equal(ls_hex_decode(sl->library.digest, 64, bytes + n, 32), 0);
    n += 32;
    bytes[n++] = (uint8_t)strlen(sl->name);
    memcpy(bytes + n, sl->name, strlen(sl->name));
    n += strlen(sl->name);
    ls_identity_key_pem(o->id, &pem, &pem_len);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)pem_len};
    gnutls_datum_t data = {bytes, (unsigned int)n};
    assert_int_equal(gnutls_privkey_init(&key), 0);
    assert_int_equal(gnutls_privkey_import_x509_raw(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
    gnutls_sign_algorithm_t algorithm =
        gnutls_privkey_get_pk_algorithm(key, NULL) == GNUTLS_PK_EDDSA_ED25519
            ? GNUTLS_SIGN_EDDSA_ED25519
            : GNUTLS_SIGN_ECDSA_SHA256;
    assert_int_equal(gnutls_privkey_sign_data2(key, algorithm, 0, &data, &sig), 0);
    free(sl->signature);
    sl->signature = malloc(2 * sig.size + 1);
    assert_non_null(sl->signature);
    ls_hex_encode(sig.data, sig.size, sl->signature);
    gnutls_free(sig.data);
    gnutls_privkey_deinit(key);
}

/* m signs, with its own key and SPKI, a library that claims to be a's: the
 * signature is good, only the key's hash betrays it. */
static void a_good_signature_under_a_key_that_is_not_the_owners_is_refused(void **state)
{
    (void)state;
    owner_t a, m;
    ls_signed_library_t sl;
    owner_init(&a);
    owner_init(&m);
    sign_library(&m, 7, &sl);
    sign_as_documented(&m, &sl); /* the documented bytes: still m's own, verifies */
    assert_int_equal(ls_libsig_verify(&sl), 0);
    memcpy(sl.peer_id, ls_identity_peer_id(a.id), sizeof sl.peer_id);
    sign_as_documented(&m, &sl);
    assert_int_equal(ls_libsig_verify(&sl), LS_EAUTH);
    ls_signed_library_free(&sl);
    owner_fini(&m);
    owner_fini(&a);
}

/* An identity an earlier version made (an ECDSA P-256 key, "EC PRIVATE
 * KEY") is kept: it loads with its peer_id, signs, and what it signs
 * verifies, also under a new (Ed25519) identity's store; new identities
 * are Ed25519. */
static void an_earlier_p256_identity_still_signs_and_verifies(void **state)
{
    (void)state;
    owner_t old = {.dir = ls_test_mkdtemp("libsig-p256")}, fresh;
    ls_signed_library_t sl, got;
    ls_libsig_store_t *store = NULL;

    ls_test_write_ecdsa_identity(old.dir, 256);
    assert_int_equal(ls_identity_load_or_create(old.dir, &old.id), 0);
    assert_int_equal(ls_libsig_signer_new(old.id, &old.signer), 0);
    owner_init(&fresh);

    const char *key_pem = NULL;
    size_t key_len = 0;
    ls_identity_key_pem(old.id, &key_pem, &key_len);
    assert_non_null(strstr(key_pem, "BEGIN EC PRIVATE KEY")); /* kept, not replaced */
    ls_identity_key_pem(fresh.id, &key_pem, &key_len);
    gnutls_privkey_t fresh_key;
    gnutls_datum_t d = {(unsigned char *)key_pem, (unsigned int)key_len};
    assert_int_equal(gnutls_privkey_init(&fresh_key), 0);
    assert_int_equal(gnutls_privkey_import_x509_raw(fresh_key, &d, GNUTLS_X509_FMT_PEM, NULL, 0),
                     0);
    assert_int_equal(gnutls_privkey_get_pk_algorithm(fresh_key, NULL), GNUTLS_PK_EDDSA_ED25519);
    gnutls_privkey_deinit(fresh_key);

    sign_library(&old, 3, &sl);
    through_the_wire(&sl, &got);
    assert_int_equal(ls_libsig_verify(&got), 0);
    assert_int_equal(ls_libsig_store_new(&store), 0);
    assert_int_equal(ls_libsig_store_offer(store, &got), 1);
    ls_libsig_store_free(store);
    ls_signed_library_free(&got);
    ls_signed_library_free(&sl);
    owner_fini(&fresh);
    owner_fini(&old);
}

/* An ECDSA key on another curve (P-384, which no version made) verifies
 * nothing, though it hashes to its owner's peer_id: the scheme is ECDSA
 * on P-256 with SHA-256, curve included. */
static void an_ecdsa_key_on_another_curve_is_refused(void **state)
{
    (void)state;
    owner_t o = {.dir = ls_test_mkdtemp("libsig-p384")};
    ls_signed_library_t sl;

    ls_test_write_ecdsa_identity(o.dir, 384);
    assert_int_equal(ls_identity_load_or_create(o.dir, &o.id), 0);
    assert_int_equal(ls_libsig_signer_new(o.id, &o.signer), 0);
    sign_library(&o, 1, &sl);
    assert_int_equal(ls_libsig_verify(&sl), LS_EAUTH);
    sign_as_documented(&o, &sl); /* the generic ECDSA-SHA256 scheme */
    assert_int_equal(ls_libsig_verify(&sl), LS_EAUTH);
    ls_signed_library_free(&sl);
    owner_fini(&o);
}

static void the_store_keeps_the_newest_and_never_rolls_back(void **state)
{
    (void)state;
    owner_t o;
    ls_signed_library_t old, cur, forged;
    ls_libsig_store_t *store = NULL;
    owner_init(&o);
    assert_int_equal(ls_libsig_store_new(&store), 0);
    sign_library(&o, 1, &old);
    sign_library(&o, 2, &cur);

    assert_int_equal(ls_libsig_store_offer(store, &cur), 1);
    assert_int_equal(ls_libsig_store_count(store), 1);
    /* an older, genuinely signed one: a rollback */
    assert_int_equal(ls_libsig_store_offer(store, &old), 0);
    assert_int_equal(ls_libsig_store_find(store, cur.peer_id)->library.library_rev, 2);
    /* a forged newer one changes nothing */
    assert_int_equal(ls_signed_library_copy(&forged, &cur), 0);
    forged.library.library_rev = 3;
    assert_int_equal(ls_libsig_store_offer(store, &forged), LS_EAUTH);
    assert_int_equal(ls_libsig_store_find(store, cur.peer_id)->library.library_rev, 2);
    /* the same rev again is not verified again: a forged copy of it is
     * neither refused nor taken */
    forged.library.library_rev = 2;
    flip_hex(forged.signature, strlen(forged.signature) - 1);
    assert_int_equal(ls_libsig_store_offer(store, &forged), 0);
    assert_string_equal(ls_libsig_store_find(store, cur.peer_id)->signature, cur.signature);

    ls_libsig_store_remove(store, cur.peer_id);
    assert_null(ls_libsig_store_find(store, cur.peer_id));
    assert_int_equal(ls_libsig_store_offer(store, &old), 1);

    ls_signed_library_free(&forged);
    ls_signed_library_free(&cur);
    ls_signed_library_free(&old);
    ls_libsig_store_free(store);
    owner_fini(&o);
}

static void decode_fails(const char *json, int code)
{
    ls_msg_t msg;
    char detail[256] = "";
    assert_int_equal(
        ls_msg_decode((const uint8_t *)json, strlen(json), &msg, detail, sizeof detail), code);
}

#define D64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGNED_WITH(spki, sig, games)                                                              \
    "{\"kind\":\"signed_library\",\"peer_id\":\"" D64 "\",\"name\":\"a\",\"spki\":\"" spki         \
    "\",\"signature\":\"" sig "\",\"library\":{\"library_rev\":1,\"digest\":\"" D64                \
    "\",\"games\":[" games "]}}"

static void oversize_odd_or_covered_signed_libraries_do_not_decode(void **state)
{
    (void)state;
    size_t big = 2 * LS_LIBSIG_SPKI_MAX + 2;
    char *spki = malloc(big + 1);
    char *json = malloc(big + 1024);
    assert_non_null(spki);
    assert_non_null(json);
    memset(spki, 'a', big);
    spki[big] = '\0';
    snprintf(json, big + 1024, SIGNED_WITH("%s", "ab", ""), spki);
    decode_fails(json, LS_ERANGE);
    spki[2 * LS_LIBSIG_SPKI_MAX] = '\0'; /* the largest allowed */
    snprintf(json, big + 1024, SIGNED_WITH("%s", "ab", ""), spki);
    ls_msg_t msg;
    assert_int_equal(ls_msg_decode((const uint8_t *)json, strlen(json), &msg, NULL, 0), 0);
    ls_msg_free(&msg);
    free(spki);
    free(json);

    decode_fails(SIGNED_WITH("abc", "ab", ""), LS_ERANGE); /* odd */
    decode_fails(SIGNED_WITH("AB", "ab", ""), LS_ERANGE);  /* uppercase */
    decode_fails(SIGNED_WITH("ab", "", ""), LS_ERANGE);    /* empty */
    decode_fails(SIGNED_WITH("ab", "ab",
                             "{\"id\":\"doom\",\"name\":\"D\",\"version\":\"\",\"size\":0,"
                             "\"file_count\":0,\"cover\":\"" D64 "\",\"cover_size\":1}"),
                 LS_ERANGE);
    decode_fails("{\"kind\":\"get_library\",\"peer_id\":\"abc\"}", LS_ERANGE);
}

static void a_full_store_refuses_new_owners_but_updates_known_ones(void **state)
{
    (void)state;
    owner_t *owners = calloc(LS_LIBSIG_STORE_MAX + 1, sizeof *owners);
    ls_libsig_store_t *store = NULL;
    ls_signed_library_t sl;
    assert_non_null(owners);
    assert_int_equal(ls_libsig_store_new(&store), 0);
    for (size_t i = 0; i <= LS_LIBSIG_STORE_MAX; i++) {
        owner_init(&owners[i]);
        sign_library(&owners[i], 1, &sl);
        assert_int_equal(ls_libsig_store_offer(store, &sl),
                         i < LS_LIBSIG_STORE_MAX ? 1 : LS_ELIMIT);
        ls_signed_library_free(&sl);
    }
    assert_int_equal(ls_libsig_store_count(store), LS_LIBSIG_STORE_MAX);
    sign_library(&owners[0], 2, &sl);
    assert_int_equal(ls_libsig_store_offer(store, &sl), 1);
    ls_signed_library_free(&sl);
    for (size_t i = 0; i <= LS_LIBSIG_STORE_MAX; i++)
        owner_fini(&owners[i]);
    free(owners);
    ls_libsig_store_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_signed_library_verifies_after_the_wire_and_has_no_covers),
        cmocka_unit_test(a_changed_game_name_rev_or_signature_is_refused),
        cmocka_unit_test(another_key_is_refused_for_the_owner_and_for_itself),
        cmocka_unit_test(a_good_signature_under_a_key_that_is_not_the_owners_is_refused),
        cmocka_unit_test(an_earlier_p256_identity_still_signs_and_verifies),
        cmocka_unit_test(an_ecdsa_key_on_another_curve_is_refused),
        cmocka_unit_test(the_store_keeps_the_newest_and_never_rolls_back),
        cmocka_unit_test(oversize_odd_or_covered_signed_libraries_do_not_decode),
        cmocka_unit_test(a_full_store_refuses_new_owners_but_updates_known_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
