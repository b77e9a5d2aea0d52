/* Shared helpers for the cmocka unit tests: scratch directories and files. */
#ifndef LS_TESTUTIL_H
#define LS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); caller frees the name
 * and removes the tree with ls_test_rmtree(). */
char *ls_test_mkdtemp(const char *tag);
void ls_test_rmtree(const char *path);

/* Writes `len` bytes to root/relpath, creating parent directories. */
void ls_test_write_file(const char *root, const char *relpath, const void *data, size_t len);
/* Writes a NUL-terminated string to root/relpath. */
void ls_test_write_text(const char *root, const char *relpath, const char *text);
/* Fills a buffer with deterministic pseudo-random bytes from seed. */
void ls_test_fill(void *buf, size_t len, uint32_t seed);
/* Reads root/relpath fully; caller frees. Fails the test if missing. */
char *ls_test_read_file(const char *root, const char *relpath, size_t *len);
/* Writes a new ECDSA identity key into state_dir/identity.key: P-256
 * (bits 256) is the kind earlier versions made (new identities are
 * Ed25519); P-384 (bits 384) is one no version made. */
void ls_test_write_ecdsa_identity(const char *state_dir, unsigned bits);

#endif
