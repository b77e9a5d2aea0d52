/* Helpers for the install and unpack tests: archives built with libarchive's
 * writer (benign and malicious), and a snapshot of a directory tree (relative
 * paths, file SHA-256, symlink targets) to compare before/after states.
 * Included by test_unpack.c, test_install.c and test_install_crash.c. */
#ifndef LS_TEST_INSTALL_HELPERS_H
#define LS_TEST_INSTALL_HELPERS_H

#include "testutil.h"

#include "lanspread/fsutil.h"
#include "lanspread/hash.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

typedef struct {
    const char *name;
    unsigned type;    /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFIFO, AE_IFCHR */
    const char *data; /* file content (NUL-terminated) */
    const char *link; /* symlink target, or hard link target when hardlink */
    bool hardlink;
} test_entry_t;

#define T_FILE(n, d)                                                                               \
    {                                                                                              \
        (n), AE_IFREG, (d), NULL, false                                                            \
    }
#define T_DIR(n)                                                                                   \
    {                                                                                              \
        (n), AE_IFDIR, NULL, NULL, false                                                           \
    }
#define T_SYMLINK(n, t)                                                                            \
    {                                                                                              \
        (n), AE_IFLNK, NULL, (t), false                                                            \
    }
#define T_HARDLINK(n, t)                                                                           \
    {                                                                                              \
        (n), AE_IFREG, NULL, (t), true                                                             \
    }
#define T_SPECIAL(n, type)                                                                         \
    {                                                                                              \
        (n), (type), NULL, NULL, false                                                             \
    }

/* format: "zip", "tar", "tgz" (pax + gzip), "7z" */
static inline void test_write_archive(const char *path, const char *format,
                                      const test_entry_t *entries, size_t count)
{
    struct archive *a = archive_write_new();
    assert_non_null(a);
    if (strcmp(format, "zip") == 0) {
        assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    } else if (strcmp(format, "7z") == 0) {
        assert_int_equal(archive_write_set_format_7zip(a), ARCHIVE_OK);
    } else {
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (strcmp(format, "tgz") == 0)
            assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    }
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < count; i++) {
        const test_entry_t *t = &entries[i];
        struct archive_entry *e = archive_entry_new();
        size_t len = t->data ? strlen(t->data) : 0;
        archive_entry_set_pathname(e, t->name);
        archive_entry_set_filetype(e, t->type);
        archive_entry_set_perm(e, t->type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_size(e, (la_int64_t)len);
        if (t->link && t->hardlink)
            archive_entry_set_hardlink(e, t->link);
        else if (t->link)
            archive_entry_set_symlink(e, t->link);
        if (t->type == AE_IFCHR)
            archive_entry_set_rdev(e, makedev(1, 3));
        assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
        if (len > 0)
            assert_int_equal(archive_write_data(a, t->data, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static inline void tar_set_octal(char *field, size_t width, unsigned long long v)
{
    snprintf(field, width, "%0*llo", (int)width - 1, v);
}

static inline void tar_header(unsigned char block[512], const char *name, char type, size_t size)
{
    memset(block, 0, 512);
    snprintf((char *)block, 100, "%s", name);
    tar_set_octal((char *)block + 100, 8, 0644);
    tar_set_octal((char *)block + 108, 8, 0);
    tar_set_octal((char *)block + 116, 8, 0);
    tar_set_octal((char *)block + 124, 12, size);
    tar_set_octal((char *)block + 136, 12, 0);
    block[156] = (unsigned char)type;
    memcpy(block + 257, "ustar", 6);
    memcpy(block + 263, "00", 2);
    memset(block + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += block[i];
    snprintf((char *)block + 148, 8, "%06o", sum);
}

/* A tar whose pax header claims that "big.bin" holds 1 TiB, followed by only
 * a few real bytes: no writer would produce it, so it is built by hand. */
static inline void test_write_huge_claim_tar(const char *path)
{
    static const char rec[] = "22 size=1099511627776\n"; /* length 22, counted in */
    unsigned char block[512];
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(strlen(rec), 22);
    tar_header(block, "PaxHeaders/big.bin", 'x', strlen(rec));
    assert_int_equal(fwrite(block, 1, 512, f), 512);
    memset(block, 0, 512);
    memcpy(block, rec, strlen(rec));
    assert_int_equal(fwrite(block, 1, 512, f), 512);
    tar_header(block, "big.bin", '0', 0);
    assert_int_equal(fwrite(block, 1, 512, f), 512);
    memset(block, 'A', 512);
    assert_int_equal(fwrite(block, 1, 512, f), 512);
    memset(block, 0, 512);
    assert_int_equal(fwrite(block, 1, 512, f), 512);
    assert_int_equal(fwrite(block, 1, 512, f), 512);
    assert_int_equal(fclose(f), 0);
}

static inline void patch_u32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A stored zip whose "f.txt" holds 20 bytes while every header (local,
 * data descriptor, central directory) claims 5. */
static inline void test_write_understated_zip(const char *path)
{
    unsigned char buf[4096];
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_zip_set_compression_store(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    archive_entry_set_pathname(e, "f.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 20);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, "01234567890123456789", 20), 20);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    int patched = 0;
    for (size_t i = 0; i + 28 < n; i++) {
        if (memcmp(buf + i, "PK\3\4", 4) == 0)
            patch_u32le(buf + i + 22, 5), patched++;
        else if (memcmp(buf + i, "PK\7\10", 4) == 0)
            patch_u32le(buf + i + 12, 5), patched++;
        else if (memcmp(buf + i, "PK\1\2", 4) == 0)
            patch_u32le(buf + i + 24, 5), patched++;
    }
    assert_int_equal(patched, 3);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* ---- tree snapshots ---- */

typedef struct {
    char **lines;
    size_t count;
} tree_lines_t;

static inline void tree_add(tree_lines_t *t, char *line)
{
    assert_non_null(line);
    t->lines = realloc(t->lines, (t->count + 1) * sizeof *t->lines);
    assert_non_null(t->lines);
    t->lines[t->count++] = line;
}

static inline void tree_walk(const char *root, const char *rel, tree_lines_t *t, int depth)
{
    char *dir = rel[0] ? ls_path_join(root, rel) : strdup(root);
    DIR *d = opendir(dir);
    struct dirent *de;
    assert_non_null(d);
    assert_true(depth < 64);
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *crel = rel[0] ? ls_strdup_printf("%s/%s", rel, de->d_name) : strdup(de->d_name);
        char *path = ls_path_join(root, crel);
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            tree_add(t, ls_strdup_printf("%s/", crel));
            tree_walk(root, crel, t, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(path, target, sizeof target - 1);
            assert_true(n >= 0);
            target[n] = '\0';
            tree_add(t, ls_strdup_printf("%s -> %s", crel, target));
        } else {
            char *data = NULL;
            size_t len = 0;
            uint8_t sum[LS_SHA256_LEN];
            char hex[LS_SHA256_HEX_LEN + 1];
            assert_int_equal(ls_fs_read_file(path, 1u << 26, &data, &len), 0);
            ls_sha256(data, len, sum);
            ls_hex_encode(sum, sizeof sum, hex);
            tree_add(t, ls_strdup_printf("%s %s", crel, hex));
            free(data);
        }
        free(path);
        free(crel);
    }
    closedir(d);
    free(dir);
}

static inline int tree_cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per entry, sorted: "dir/", "file <sha256>", "link -> target".
 * Caller frees. */
static inline char *test_tree_snapshot(const char *root)
{
    tree_lines_t t = {0};
    size_t total = 1;
    tree_walk(root, "", &t, 0);
    if (t.count > 1)
        qsort(t.lines, t.count, sizeof *t.lines, tree_cmp_lines);
    for (size_t i = 0; i < t.count; i++)
        total += strlen(t.lines[i]) + 1;
    char *out = malloc(total);
    assert_non_null(out);
    size_t used = 0;
    for (size_t i = 0; i < t.count; i++) {
        size_t n = strlen(t.lines[i]);
        assert_true(used + n + 1 < total);
        memcpy(out + used, t.lines[i], n);
        out[used + n] = '\n';
        used += n + 1;
        free(t.lines[i]);
    }
    out[used] = '\0';
    free(t.lines);
    return out;
}

static inline bool test_exists(const char *root, const char *rel)
{
    char *path = ls_path_join(root, rel);
    bool e = ls_fs_exists(path) == 1;
    free(path);
    return e;
}

/* Copies a tree of directories, regular files and symlinks. */
static inline void test_copy_tree(const char *src, const char *dst, int depth)
{
    DIR *d = opendir(src);
    struct dirent *de;
    assert_non_null(d);
    assert_true(depth < 64);
    assert_int_equal(ls_fs_mkdir_p(dst, 0755), 0);
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *s = ls_path_join(src, de->d_name);
        char *t = ls_path_join(dst, de->d_name);
        assert_int_equal(lstat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            test_copy_tree(s, t, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(s, target, sizeof target - 1);
            assert_true(n >= 0);
            target[n] = '\0';
            assert_int_equal(symlink(target, t), 0);
        } else {
            char *data = NULL;
            size_t len = 0;
            assert_int_equal(ls_fs_read_file(s, 1u << 26, &data, &len), 0);
            assert_int_equal(ls_fs_write_atomic(t, data, len), 0);
            free(data);
        }
        free(s);
        free(t);
    }
    closedir(d);
}

#endif
