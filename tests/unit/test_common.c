/* Common helpers: paths that must stay inside a game root, atomic writes,
 * the string map. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"
#include "lanspread/path.h"
#include "lanspread/bufpool.h"
#include "lanspread/strmap.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void relpath_check_refuses_every_escape(void **state)
{
    (void)state;
    assert_int_equal(ls_relpath_check("archive.zip", 11), 0);
    assert_int_equal(ls_relpath_check("data/maps/a.bsp", 15), 0);
    assert_int_equal(ls_relpath_check("/etc/passwd", 11), LS_EPATH_ABSOLUTE);
    assert_int_equal(ls_relpath_check("../x", 4), LS_EPATH_DOTDOT);
    assert_int_equal(ls_relpath_check("a/../../x", 9), LS_EPATH_DOTDOT);
    assert_int_equal(ls_relpath_check("a\0b", 3), LS_EPATH_NUL);
    assert_int_equal(ls_relpath_check("local/game.exe", 14), LS_EPATH_RESERVED);
    assert_int_equal(ls_relpath_check(".lanspread.json", 15), LS_EPATH_RESERVED);
    assert_int_equal(ls_relpath_check(".version.ini.tmp", 16), LS_EPATH_RESERVED);
    assert_int_equal(ls_relpath_check("a//b", 4), LS_EPATH_INVALID);
    assert_int_equal(ls_relpath_check("./a", 3), LS_EPATH_INVALID);
    assert_int_equal(ls_relpath_check("", 0), LS_EPATH_INVALID);
    /* "local" is reserved only at the root of a game */
    assert_int_equal(ls_relpath_check("data/local/x", 12), 0);
    /* in any case: a case-insensitive file system maps these onto ours */
    assert_int_equal(ls_relpath_check("LOCAL/game.exe", 14), LS_EPATH_RESERVED);
    assert_int_equal(ls_relpath_check("Local", 5), LS_EPATH_RESERVED);
    assert_int_equal(ls_relpath_check(".Lanspread.json", 15), LS_EPATH_RESERVED);
    assert_int_equal(ls_relpath_check(".VERSION.INI.TMP", 16), LS_EPATH_RESERVED);
}

static char captured[256];

static void capture_sink(ls_log_level_t level, const char *module, const char *message,
                         void *userdata)
{
    (void)level;
    (void)module;
    (void)userdata;
    snprintf(captured, sizeof captured, "%s", message);
}

/* What a peer sends ends up in log lines: no byte of it may forge a line
 * or drive the terminal. */
static void log_lines_carry_no_control_bytes(void **state)
{
    (void)state;
    ls_log_set_sink(capture_sink, NULL);
    ls_log(LS_LOG_WARN, "test", "peer %s said %s", "evil\nFAKE: 12:00 info forged",
           "\x1b[31mred\x1b[0m\r\x7f");
    ls_log_set_sink(NULL, NULL);
    for (const char *c = captured; *c; c++)
        assert_false((unsigned char)*c < 0x20 || *c == 0x7f);
    assert_non_null(strstr(captured, "evil?FAKE"));
    assert_non_null(strstr(captured, "?[31mred"));
}

static void game_ids_are_validated(void **state)
{
    (void)state;
    assert_true(ls_game_id_is_valid("quake3"));
    assert_true(ls_game_id_is_valid("ut2004_goty-1.1"));
    assert_false(ls_game_id_is_valid(""));
    assert_false(ls_game_id_is_valid(".hidden"));
    assert_false(ls_game_id_is_valid("a/b"));
    assert_false(ls_game_id_is_valid("has space"));
    assert_false(ls_game_id_is_valid(
        "0123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void open_in_root_refuses_symlinks_out_of_the_root(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("root");
    char *outside = ls_test_mkdtemp("outside");
    ls_test_write_text(root, "data/inside.txt", "inside");
    ls_test_write_text(outside, "secret.txt", "secret");
    char *link1 = ls_path_join(root, "escape");
    char *link2 = ls_path_join(root, "data/secret.txt");
    char *target = ls_path_join(outside, "secret.txt");
    assert_int_equal(symlink(outside, link1), 0);
    assert_int_equal(symlink(target, link2), 0);

    int fd = ls_open_in_root(root, "data/inside.txt", O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ls_open_in_root(root, "escape/secret.txt", O_RDONLY), LS_EPATH_SYMLINK);
    assert_int_equal(ls_open_in_root(root, "data/secret.txt", O_RDONLY), LS_EPATH_SYMLINK);
    assert_int_equal(ls_open_in_root(root, "../outside", O_RDONLY), LS_EPATH_DOTDOT);
    assert_int_equal(ls_open_in_root(root, "missing.txt", O_RDONLY), LS_ENOENT);

    free(link1);
    free(link2);
    free(target);
    ls_test_rmtree(root);
    ls_test_rmtree(outside);
    free(root);
    free(outside);
}

static void write_atomic_replaces_content_and_leaves_no_temp(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("atomic");
    char *path = ls_path_join(dir, "state.json");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(ls_fs_write_atomic(path, "one", 3), 0);
    assert_int_equal(ls_fs_write_atomic(path, "second", 6), 0);
    assert_int_equal(ls_fs_read_file(path, 100, &data, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal(data, "second");
    free(data);
    assert_int_equal(ls_fs_read_file(path, 3, &data, &len), LS_ETOOBIG);
    assert_null(data);
    free(path);
    ls_test_rmtree(dir);
    free(dir);
}

enum { ATOMIC_WRITERS = 4, ATOMIC_WRITES_EACH = 200, ATOMIC_BASE_LEN = 1000 };

typedef struct {
    const char *path;
    int index;
    int failures;
} atomic_writer_t;

static void *atomic_writer(void *arg)
{
    atomic_writer_t *w = arg;
    char data[ATOMIC_BASE_LEN + ATOMIC_WRITERS];
    size_t len = ATOMIC_BASE_LEN + (size_t)w->index;
    memset(data, 'a' + w->index, len);
    for (int i = 0; i < ATOMIC_WRITES_EACH; i++)
        if (ls_fs_write_atomic(w->path, data, len) != 0)
            w->failures++;
    return NULL;
}

/* Two threads of one process replacing one file must not share a temp:
 * every write succeeds and the file is always one writer's whole text. */
static void write_atomic_from_threads_at_once_never_mixes(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("atomic-threads");
    char *path = ls_path_join(dir, "state.json");
    pthread_t threads[ATOMIC_WRITERS];
    atomic_writer_t writers[ATOMIC_WRITERS];
    char *data = NULL;
    size_t len = 0;
    for (int i = 0; i < ATOMIC_WRITERS; i++) {
        writers[i] = (atomic_writer_t){.path = path, .index = i, .failures = 0};
        assert_int_equal(pthread_create(&threads[i], NULL, atomic_writer, &writers[i]), 0);
    }
    for (int i = 0; i < ATOMIC_WRITERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(writers[i].failures, 0);
    }
    assert_int_equal(ls_fs_read_file(path, 2 * ATOMIC_BASE_LEN, &data, &len), 0);
    assert_true(len >= ATOMIC_BASE_LEN && len < ATOMIC_BASE_LEN + ATOMIC_WRITERS);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(data[i], 'a' + (int)(len - ATOMIC_BASE_LEN));
    free(data);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1); /* no temp left behind */
    free(path);
    ls_test_rmtree(dir);
    free(dir);
}

static void sha256_matches_known_vector(void **state)
{
    (void)state;
    uint8_t raw[LS_SHA256_LEN];
    char hex[LS_SHA256_HEX_LEN + 1];
    ls_sha256("abc", 3, raw);
    ls_hex_encode(raw, sizeof raw, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    uint8_t back[LS_SHA256_LEN];
    assert_int_equal(ls_hex_decode(hex, 64, back, sizeof back), 0);
    assert_memory_equal(raw, back, sizeof raw);
    assert_int_equal(ls_hex_decode("zz", 2, back, 1), LS_EINVAL);
}

/* Removal: of 2,000 keys, half are removed in a random order, and each
 * removed key is gone while every other key is still found with its value
 * (checked along the way, so a key lost from a probe run shows); a removed
 * key's string may change at once. */
static void strmap_removal_keeps_every_other_key(void **state)
{
    (void)state;
    enum { KEYS = 2000 };
    char(*keys)[16] = calloc(KEYS, sizeof *keys);
    bool *gone = calloc(KEYS, sizeof *gone);
    ls_strmap_t map = LS_STRMAP_INIT;
    size_t value = 0;
    uint64_t x = 88172645463325252u;
    for (size_t i = 0; i < KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "peer-%zu", i);
        assert_int_equal(ls_strmap_put(&map, keys[i], i, false, NULL), 0);
    }
    assert_false(ls_strmap_remove(&map, "peer-none"));
    for (size_t n = 0; n < KEYS / 2; n++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = (size_t)(x % KEYS);
        assert_int_equal(ls_strmap_remove(&map, keys[k]), !gone[k]);
        gone[k] = true;
        memset(keys[k], 'Z', sizeof keys[k] - 1); /* the map must not read it again */
        if (n % 97 == 0) /* check everything now and then, not only at the end */
            for (size_t i = 0; i < KEYS; i++)
                if (!gone[i]) {
                    assert_true(ls_strmap_get(&map, keys[i], &value));
                    assert_int_equal(value, i);
                }
    }
    size_t left = 0;
    for (size_t i = 0; i < KEYS; i++) {
        char name[16];
        snprintf(name, sizeof name, "peer-%zu", i);
        assert_int_equal(ls_strmap_get(&map, name, &value), !gone[i]);
        if (!gone[i]) {
            assert_int_equal(value, i);
            left++;
        }
    }
    assert_int_equal(map.count, left);
    ls_strmap_free(&map);
    free(gone);
    free(keys);
}

/* 20,000 keys go in and each comes back with its value; keys not put are
 * absent; an equal key keeps its value unless replaced, and a replace takes
 * the new key pointer (its owner may free the old string). */
static void strmap_finds_every_key_it_was_given(void **state)
{
    (void)state;
    enum { KEYS = 20000 };
    char(*keys)[16] = calloc(KEYS, sizeof *keys);
    ls_strmap_t map = LS_STRMAP_INIT;
    size_t value = 0;
    bool existed = true;
    assert_false(ls_strmap_get(&map, "none", &value));
    for (size_t i = 0; i < KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "game-%zu", i);
        assert_int_equal(ls_strmap_put(&map, keys[i], i, false, &existed), 0);
        assert_false(existed);
    }
    assert_int_equal(map.count, KEYS);
    for (size_t i = 0; i < KEYS; i++) {
        assert_true(ls_strmap_get(&map, keys[i], &value));
        assert_int_equal(value, i);
    }
    assert_false(ls_strmap_get(&map, "game-20000", NULL));
    assert_false(ls_strmap_get(&map, "", NULL));

    char again[16] = "game-7";
    assert_int_equal(ls_strmap_put(&map, again, 99, false, &existed), 0);
    assert_true(existed);
    assert_true(ls_strmap_get(&map, "game-7", &value));
    assert_int_equal(value, 7);
    assert_int_equal(ls_strmap_put(&map, again, 99, true, &existed), 0);
    keys[7][0] = 'X'; /* the old key string changes: the map no longer reads it */
    assert_true(ls_strmap_get(&map, "game-7", &value));
    assert_int_equal(value, 99);
    assert_int_equal(map.count, KEYS);

    ls_strmap_clear(&map);
    assert_false(ls_strmap_get(&map, "game-1", NULL));
    assert_int_equal(ls_strmap_put(&map, keys[1], 1, false, NULL), 0);
    assert_true(ls_strmap_get(&map, "game-1", NULL));
    ls_strmap_free(&map);
    free(keys);
}

/* The one-syscall path (openat2) must refuse what the walk refuses: here a
 * symlink that stays inside the root, which RESOLVE_BENEATH alone allows. */
static void open_beneath_refuses_symlinks_even_inside_the_root(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("beneath");
    ls_test_write_text(root, "data/deep/inside.txt", "inside");
    char *link_dir = ls_path_join(root, "alias");
    char *link_file = ls_path_join(root, "data/alias.txt");
    assert_int_equal(symlink("data", link_dir), 0);
    assert_int_equal(symlink("deep/inside.txt", link_file), 0);
    int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(root_fd >= 0);

    int fd = ls_open_beneath(root_fd, "data/deep/inside.txt", O_RDONLY);
    assert_true(fd >= 0);
    char buf[8] = {0};
    assert_int_equal(read(fd, buf, sizeof buf), 6);
    assert_memory_equal(buf, "inside", 6);
    close(fd);
    assert_int_equal(ls_open_beneath(root_fd, "alias/deep/inside.txt", O_RDONLY), LS_EPATH_SYMLINK);
    assert_int_equal(ls_open_beneath(root_fd, "data/alias.txt", O_RDONLY), LS_EPATH_SYMLINK);
    assert_int_equal(ls_openat_beneath(root_fd, "alias/deep/inside.txt", O_RDONLY, 0), -1);
    assert_int_equal(ls_open_beneath(root_fd, "../x", O_RDONLY), LS_EPATH_DOTDOT);
    /* root_fd is the caller's: still open and usable */
    fd = ls_open_beneath(root_fd, "data/deep/inside.txt", O_RDONLY);
    assert_true(fd >= 0);
    close(fd);

    close(root_fd);
    free(link_dir);
    free(link_file);
    ls_test_rmtree(root);
    free(root);
}

/* A block given back is the next one handed out (warm), at most `keep`
 * wait, and a lower bound frees the others at once and those given back
 * later. */
static void bufpool_hands_back_kept_blocks_within_its_bound(void **state)
{
    (void)state;
    static ls_bufpool_t pool = LS_BUFPOOL_INIT(4096, 3);
    void *blocks[5];

    for (size_t i = 0; i < 5; i++) {
        blocks[i] = ls_bufpool_get(&pool);
        assert_non_null(blocks[i]);
        memset(blocks[i], (int)i, 4096);
    }
    assert_int_equal(pool.count, 0);
    ls_bufpool_put(&pool, blocks[4]);
    assert_ptr_equal(ls_bufpool_get(&pool), blocks[4]);
    for (size_t i = 0; i < 4; i++)
        ls_bufpool_put(&pool, blocks[i]); /* the fourth is freed */
    ls_bufpool_put(&pool, NULL);
    assert_int_equal(pool.count, 3);
    void *again = ls_bufpool_get(&pool);
    assert_ptr_equal(again, blocks[2]);
    ls_bufpool_set_keep(&pool, 1);
    assert_int_equal(pool.count, 1);
    assert_ptr_equal(pool.kept[0], blocks[0]);
    ls_bufpool_put(&pool, again); /* given back late: freed */
    ls_bufpool_put(&pool, blocks[4]);
    assert_int_equal(pool.count, 1);
    ls_bufpool_set_keep(&pool, 2);
    void *kept = ls_bufpool_get(&pool);
    void *fresh = ls_bufpool_get(&pool);
    assert_ptr_equal(kept, blocks[0]);
    ls_bufpool_put(&pool, kept);
    ls_bufpool_put(&pool, fresh);
    assert_int_equal(pool.count, 2);
    ls_bufpool_set_keep(&pool, 0);
    assert_int_equal(pool.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relpath_check_refuses_every_escape),
        cmocka_unit_test(game_ids_are_validated),
        cmocka_unit_test(open_in_root_refuses_symlinks_out_of_the_root),
        cmocka_unit_test(open_beneath_refuses_symlinks_even_inside_the_root),
        cmocka_unit_test(write_atomic_replaces_content_and_leaves_no_temp),
        cmocka_unit_test(write_atomic_from_threads_at_once_never_mixes),
        cmocka_unit_test(sha256_matches_known_vector),
        cmocka_unit_test(log_lines_carry_no_control_bytes),
        cmocka_unit_test(strmap_finds_every_key_it_was_given),
        cmocka_unit_test(strmap_removal_keeps_every_other_key),
        cmocka_unit_test(bufpool_hands_back_kept_blocks_within_its_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
