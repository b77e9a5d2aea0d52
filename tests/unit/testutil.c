#include "testutil.h"

#include "lanspread/fsutil.h"
#include "lanspread/identity.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

char *ls_test_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = ls_strdup_printf("%s/lstest-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    assert_non_null(path);
    assert_non_null(mkdtemp(path));
    return path;
}

void ls_test_rmtree(const char *path)
{
    if (path)
        assert_int_equal(ls_fs_remove_tree(path), 0);
}

void ls_test_write_file(const char *root, const char *relpath, const void *data, size_t len)
{
    char *path = ls_path_join(root, relpath);
    char *dir = strdup(path);
    assert_non_null(path);
    assert_non_null(dir);
    assert_int_equal(ls_fs_mkdir_p(dirname(dir), 0755), 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(dir);
    free(path);
}

void ls_test_write_text(const char *root, const char *relpath, const char *text)
{
    ls_test_write_file(root, relpath, text, strlen(text));
}

void ls_test_fill(void *buf, size_t len, uint32_t seed)
{
    uint8_t *p = buf;
    uint32_t x = seed ? seed : 0x9e3779b9u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

char *ls_test_read_file(const char *root, const char *relpath, size_t *len)
{
    char *path = ls_path_join(root, relpath);
    char *data = NULL;
    assert_non_null(path);
    assert_int_equal(ls_fs_read_file(path, 1u << 30, &data, len), 0);
    free(path);
    return data;
}

void ls_test_write_ecdsa_identity(const char *state_dir, unsigned bits)
{
    gnutls_x509_privkey_t key;
    gnutls_datum_t pem = {NULL, 0};
    gnutls_ecc_curve_t curve =
        bits == 384 ? GNUTLS_ECC_CURVE_SECP384R1 : GNUTLS_ECC_CURVE_SECP256R1;
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA,
                                                   GNUTLS_CURVE_TO_BITS(curve), 0, NULL, 0),
                     0);
    assert_int_equal(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem), 0);
    ls_test_write_file(state_dir, LS_IDENTITY_KEY_FILE, pem.data, pem.size);
    gnutls_free(pem.data);
    gnutls_x509_privkey_deinit(key);
}
