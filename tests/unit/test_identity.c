/* Peer identity: created once with a private key file, reloaded unchanged,
 * and never silently replaced when the key file is damaged. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/identity.h"

#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void first_start_creates_a_private_key_readable_only_by_its_owner(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("identity");
    char *key_path = ls_path_join(dir, LS_IDENTITY_KEY_FILE);
    char *cert_path = ls_path_join(dir, LS_IDENTITY_CERT_FILE);
    ls_identity_t *id = NULL;
    struct stat st;

    assert_int_equal(ls_identity_load_or_create(dir, &id), 0);
    assert_int_equal(strlen(ls_identity_peer_id(id)), LS_PEER_ID_HEX_LEN);
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(cert_path, &st), 0);

    ls_identity_free(id);
    ls_test_rmtree(dir);
    free(key_path);
    free(cert_path);
    free(dir);
}

static void second_start_loads_the_same_peer_id(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("identity");
    ls_identity_t *first = NULL, *second = NULL;
    char *cert_path = ls_path_join(dir, LS_IDENTITY_CERT_FILE);

    assert_int_equal(ls_identity_load_or_create(dir, &first), 0);
    assert_int_equal(ls_identity_load_or_create(dir, &second), 0);
    assert_string_equal(ls_identity_peer_id(first), ls_identity_peer_id(second));

    /* a lost certificate is remade from the key: still the same peer */
    assert_int_equal(unlink(cert_path), 0);
    ls_identity_free(second);
    assert_int_equal(ls_identity_load_or_create(dir, &second), 0);
    assert_string_equal(ls_identity_peer_id(first), ls_identity_peer_id(second));

    ls_identity_free(first);
    ls_identity_free(second);
    ls_test_rmtree(dir);
    free(cert_path);
    free(dir);
}

static void two_state_dirs_make_two_different_peers(void **state)
{
    (void)state;
    char *d1 = ls_test_mkdtemp("identity");
    char *d2 = ls_test_mkdtemp("identity");
    ls_identity_t *a = NULL, *b = NULL;

    assert_int_equal(ls_identity_load_or_create(d1, &a), 0);
    assert_int_equal(ls_identity_load_or_create(d2, &b), 0);
    assert_string_not_equal(ls_identity_peer_id(a), ls_identity_peer_id(b));

    ls_identity_free(a);
    ls_identity_free(b);
    ls_test_rmtree(d1);
    ls_test_rmtree(d2);
    free(d1);
    free(d2);
}

static void corrupt_key_file_is_an_error_and_is_left_in_place(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("identity");
    ls_identity_t *id = NULL;
    size_t len = 0;
    char *text;

    ls_test_write_text(dir, LS_IDENTITY_KEY_FILE, "-----BEGIN PRIVATE KEY-----\ngarbage\n");
    assert_int_equal(ls_identity_load_or_create(dir, &id), LS_ECORRUPT);
    assert_null(id);
    text = ls_test_read_file(dir, LS_IDENTITY_KEY_FILE, &len);
    assert_string_equal(text, "-----BEGIN PRIVATE KEY-----\ngarbage\n");

    free(text);
    ls_test_rmtree(dir);
    free(dir);
}

static void key_path_that_is_not_a_file_is_an_error(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("identity");
    char *key_path = ls_path_join(dir, LS_IDENTITY_KEY_FILE);
    ls_identity_t *id = NULL;

    assert_int_equal(mkdir(key_path, 0700), 0);
    assert_int_equal(ls_identity_load_or_create(dir, &id), LS_ECORRUPT);
    assert_null(id);
    assert_int_equal(ls_fs_is_dir(key_path), 1);

    ls_test_rmtree(dir);
    free(key_path);
    free(dir);
}

static void certificate_fingerprint_equals_the_peer_id(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("identity");
    ls_identity_t *id = NULL;
    const char *pem;
    size_t pem_len;
    gnutls_datum_t in, der = {NULL, 0};
    char fp[LS_PEER_ID_HEX_LEN + 1];
    uint8_t junk[64];

    assert_int_equal(ls_identity_load_or_create(dir, &id), 0);
    ls_identity_cert_pem(id, &pem, &pem_len);
    in.data = (unsigned char *)pem;
    in.size = (unsigned)pem_len;
    assert_int_equal(gnutls_pem_base64_decode2("CERTIFICATE", &in, &der), 0);
    assert_int_equal(ls_identity_fingerprint_der(der.data, der.size, fp), 0);
    assert_string_equal(fp, ls_identity_peer_id(id));

    ls_test_fill(junk, sizeof(junk), 7);
    assert_int_equal(ls_identity_fingerprint_der(junk, sizeof(junk), fp), LS_ECORRUPT);
    assert_int_equal(ls_identity_fingerprint_der(NULL, 0, fp), LS_EINVAL);

    gnutls_free(der.data);
    ls_identity_free(id);
    ls_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_start_creates_a_private_key_readable_only_by_its_owner),
        cmocka_unit_test(second_start_loads_the_same_peer_id),
        cmocka_unit_test(two_state_dirs_make_two_different_peers),
        cmocka_unit_test(corrupt_key_file_is_an_error_and_is_left_in_place),
        cmocka_unit_test(key_path_that_is_not_a_file_is_an_error),
        cmocka_unit_test(certificate_fingerprint_equals_the_peer_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
