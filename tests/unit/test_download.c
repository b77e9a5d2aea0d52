/* Download disk side: the version-sentinel transaction, the chunk writer,
 * path confinement, disk full, and the resume file, on real files. */
#include "testutil.h"

#include "lanspread/download.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/planner.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a game with real content ---- */

typedef struct {
    const char *path;
    uint64_t size;
    bool is_dir;
} spec_t;

typedef struct {
    ls_game_manifest_t m;
    uint8_t **content;
} game_t;

static const spec_t base_specs[] = {
    {"data/a.pak", 2ull * LS_CHUNK_SIZE_MAX + 123, false},
    {"data/sub/b.bin", LS_CHUNK_SIZE_MAX, false},
    {"readme.txt", 100, false},
    {"empty.dat", 0, false},
    {"saves", 0, true},
    {"version.ini", 0, false}, /* size set from its text */
};
#define BASE_COUNT (sizeof base_specs / sizeof base_specs[0])

static void build_game(game_t *g, const spec_t *specs, size_t n, const char *version)
{
    char ini[64];
    snprintf(ini, sizeof ini, "[game]\nversion=%s\n", version);
    memset(g, 0, sizeof *g);
    g->m.game_id = strdup("testgame");
    g->m.version = strdup(version);
    g->m.chunk_size = LS_CHUNK_SIZE_MAX;
    g->m.files = calloc(n, sizeof *g->m.files);
    g->m.file_count = n;
    g->content = calloc(n, sizeof *g->content);
    for (size_t i = 0; i < n; i++) {
        ls_file_desc_t *f = &g->m.files[i];
        bool is_ini = strcmp(specs[i].path, LS_VERSION_FILE) == 0;
        f->path = strdup(specs[i].path);
        f->is_dir = specs[i].is_dir;
        f->size = is_ini ? strlen(ini) : specs[i].size;
        if (f->is_dir)
            continue;
        g->content[i] = malloc(f->size + 1);
        if (is_ini)
            memcpy(g->content[i], ini, f->size);
        else
            ls_test_fill(g->content[i], f->size, (uint32_t)(i * 7919 + version[0]));
        f->chunk_count = (f->size + LS_CHUNK_SIZE_MAX - 1) / LS_CHUNK_SIZE_MAX;
        f->chunk_sha256 = calloc(f->chunk_count + 1, LS_SHA256_LEN);
        for (size_t c = 0; c < f->chunk_count; c++) {
            uint64_t off = (uint64_t)c * LS_CHUNK_SIZE_MAX;
            uint64_t len = f->size - off < LS_CHUNK_SIZE_MAX ? f->size - off : LS_CHUNK_SIZE_MAX;
            ls_sha256(g->content[i] + off, len, f->chunk_sha256[c]);
        }
    }
}

static void free_game(game_t *g)
{
    for (size_t i = 0; i < g->m.file_count; i++)
        free(g->content[i]);
    free(g->content);
    ls_manifest_free(&g->m);
}

static uint64_t chunk_len(const ls_file_desc_t *f, size_t c)
{
    uint64_t off = (uint64_t)c * LS_CHUNK_SIZE_MAX;
    return f->size - off < LS_CHUNK_SIZE_MAX ? f->size - off : LS_CHUNK_SIZE_MAX;
}

/* Verifies and writes one chunk as the pipeline would. */
static int fetch_chunk(ls_dl_tx_t *tx, const game_t *g, size_t fi, size_t ci)
{
    const ls_file_desc_t *f = &g->m.files[fi];
    const uint8_t *data = g->content[fi] + (uint64_t)ci * LS_CHUNK_SIZE_MAX;
    size_t len = (size_t)chunk_len(f, ci);
    assert_int_equal(ls_dl_chunk_verify(&g->m, fi, ci, data, len), 0);
    return ls_dl_tx_write_chunk(tx, fi, ci, data, len);
}

static void fetch_all(ls_dl_tx_t *tx, const game_t *g)
{
    for (size_t fi = 0; fi < g->m.file_count; fi++)
        for (size_t ci = 0; !g->m.files[fi].is_dir && ci < g->m.files[fi].chunk_count; ci++)
            assert_int_equal(fetch_chunk(tx, g, fi, ci), 0);
}

static bool exists_in(const char *root, const char *rel)
{
    char *p = ls_path_join(root, rel);
    bool is_there = ls_fs_exists(p) == 1;
    free(p);
    return is_there;
}

static off_t size_of(const char *root, const char *rel)
{
    struct stat st;
    char *p = ls_path_join(root, rel);
    int rc = lstat(p, &st);
    free(p);
    return rc == 0 ? st.st_size : -1;
}

/* Every file of the game holds exactly the manifest's bytes (SHA-256). */
static void assert_files_match(const char *root, const game_t *g)
{
    for (size_t i = 0; i < g->m.file_count; i++) {
        const ls_file_desc_t *f = &g->m.files[i];
        if (f->is_dir) {
            char *p = ls_path_join(root, f->path);
            assert_int_equal(ls_fs_is_dir(p), 1);
            free(p);
            continue;
        }
        size_t len = 0;
        char *data = ls_test_read_file(root, f->path, &len);
        uint8_t got[LS_SHA256_LEN], want[LS_SHA256_LEN];
        assert_int_equal(len, f->size);
        ls_sha256(data, len, got);
        ls_sha256(g->content[i], f->size, want);
        assert_memory_equal(got, want, LS_SHA256_LEN);
        free(data);
    }
}

/* ---- the sentinel order ---- */

typedef struct {
    const char *root;
    const game_t *game;
    char steps[16][16];
    size_t step_count;
    bool was_ini_early;  /* version.ini seen before "renamed" */
    bool was_data_ready; /* data complete when the temp sentinel was written */
} observer_t;

static bool data_files_complete(const char *root, const game_t *g)
{
    for (size_t i = 0; i < g->m.file_count; i++) {
        const ls_file_desc_t *f = &g->m.files[i];
        if (f->is_dir || strcmp(f->path, LS_VERSION_FILE) == 0)
            continue;
        size_t len = 0;
        char *data = ls_test_read_file(root, f->path, &len);
        bool is_same = len == f->size && memcmp(data, g->content[i], len) == 0;
        free(data);
        if (!is_same)
            return false;
    }
    return true;
}

static void observe_cb(const char *step, void *userdata)
{
    observer_t *o = userdata;
    bool is_published = strcmp(step, "renamed") == 0 || strcmp(step, "root_synced") == 0 ||
                        strcmp(step, "committed") == 0;
    if (o->step_count < 16)
        snprintf(o->steps[o->step_count++], sizeof o->steps[0], "%s", step);
    if (!is_published && exists_in(o->root, LS_VERSION_FILE))
        o->was_ini_early = true;
    if (strcmp(step, "tmp_written") == 0)
        o->was_data_ready = data_files_complete(o->root, o->game);
}

/* A manifest whose version.ini is larger than the scan would take as a
 * sentinel is refused before anything is written: one limit everywhere. */
static void an_oversized_version_ini_is_refused(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-bigini");
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    for (size_t i = 0; i < g.m.file_count; i++)
        if (strcmp(g.m.files[i].path, LS_VERSION_FILE) == 0)
            g.m.files[i].size = LS_VERSION_FILE_MAX + 1; /* what a lying seeder claims */
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), LS_ETOOBIG);
    assert_null(tx);
    assert_false(exists_in(root, "data/a.pak"));
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

static void version_ini_appears_only_at_commit_with_exact_bytes(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-order");
    game_t g;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    ls_test_write_text(root, LS_VERSION_FILE, "[game]\nversion=1.0\n");
    observer_t obs = {.root = root, .game = &g};
    ls_dl_tx_t *tx = NULL;

    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, observe_cb, &obs, &tx), 0);
    assert_false(exists_in(root, LS_VERSION_FILE));
    assert_true(exists_in(root, LS_VERSION_DISCARDED));
    assert_int_equal(size_of(root, "data/a.pak"), (off_t)g.m.files[0].size);
    for (size_t fi = 0; fi < g.m.file_count; fi++) {
        for (size_t ci = 0; !g.m.files[fi].is_dir && ci < g.m.files[fi].chunk_count; ci++) {
            assert_int_equal(ls_dl_tx_commit(tx), LS_EINCOMPLETE);
            assert_int_equal(fetch_chunk(tx, &g, fi, ci), 0);
            assert_false(exists_in(root, LS_VERSION_FILE));
        }
    }
    assert_int_equal(ls_dl_tx_missing(tx), 0);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);

    assert_false(obs.was_ini_early);
    assert_true(obs.was_data_ready);
    const char *want[] = {"parked",  "prepared",    "data_synced", "tmp_written",
                          "renamed", "root_synced", "committed"};
    assert_int_equal(obs.step_count, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(obs.steps[i], want[i]);
    assert_files_match(root, &g);
    assert_false(exists_in(root, LS_VERSION_TMP));
    assert_false(exists_in(root, LS_VERSION_DISCARDED));
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

static void existing_data_is_never_truncated_before_commit(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-keep");
    game_t g;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    size_t short_len = LS_CHUNK_SIZE_MAX + 1000, long_len = LS_CHUNK_SIZE_MAX + 5000;
    uint8_t *old_a = malloc(short_len), *old_b = malloc(long_len);
    ls_test_fill(old_a, short_len, 42);
    ls_test_fill(old_b, long_len, 43);
    ls_test_write_file(root, "data/a.pak", old_a, short_len);    /* shorter than the manifest */
    ls_test_write_file(root, "data/sub/b.bin", old_b, long_len); /* longer than the manifest */
    ls_dl_tx_t *tx = NULL;

    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    size_t len = 0;
    char *a = ls_test_read_file(root, "data/a.pak", &len);
    assert_int_equal(len, g.m.files[0].size); /* grown */
    assert_memory_equal(a, old_a, short_len); /* old bytes kept */
    free(a);
    char *b = ls_test_read_file(root, "data/sub/b.bin", &len);
    assert_int_equal(len, long_len); /* not trimmed yet */
    assert_memory_equal(b, old_b, long_len);
    free(b);

    /* only the second chunk of a.pak arrives: the first keeps its old bytes */
    assert_int_equal(fetch_chunk(tx, &g, 0, 1), 0);
    a = ls_test_read_file(root, "data/a.pak", &len);
    assert_memory_equal(a, old_a, LS_CHUNK_SIZE_MAX);
    assert_memory_equal(a + LS_CHUNK_SIZE_MAX, g.content[0] + LS_CHUNK_SIZE_MAX, LS_CHUNK_SIZE_MAX);
    free(a);

    fetch_all(tx, &g);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);
    assert_files_match(root, &g); /* b.bin trimmed to the manifest only at commit */
    free(old_a);
    free(old_b);
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

static void abort_discards_the_parked_sentinel_and_keeps_data(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-abort");
    game_t g;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    ls_test_write_text(root, LS_VERSION_FILE, "[game]\nversion=1.0\n");
    ls_test_write_text(root, LS_VERSION_TMP, "stale from a crash");
    ls_dl_tx_t *tx = NULL;

    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_false(exists_in(root, LS_VERSION_TMP));
    assert_int_equal(fetch_chunk(tx, &g, 0, 1), 0);
    assert_int_equal(fetch_chunk(tx, &g, 5, 0), 0); /* version.ini: memory only */
    assert_false(exists_in(root, LS_VERSION_FILE));
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);

    assert_false(exists_in(root, LS_VERSION_FILE)); /* not restored */
    assert_false(exists_in(root, LS_VERSION_DISCARDED));
    assert_false(exists_in(root, LS_VERSION_TMP));
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 1), 0); /* kept */
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), LS_ECHUNK);
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

/* An abort undoes what begin made and keeps what is verified: base_specs
 * into a game root begin creates; only a.pak's chunk 0 arrives. a.pak stays
 * (cut back to that chunk, which still checks out), every other file,
 * data/sub and saves go; data stays (a.pak is in it). A second abort with
 * nothing verified removes the game root too. */
static void abort_removes_what_begin_made_and_keeps_verified_chunks(void **state)
{
    (void)state;
    char *parent = ls_test_mkdtemp("dl-undo");
    char *root = ls_path_join(parent, "game");
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");

    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_true(exists_in(root, "data/sub/b.bin")); /* pre-sized */
    assert_true(exists_in(root, "saves"));
    assert_int_equal(fetch_chunk(tx, &g, 0, 0), 0);
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    assert_int_equal(size_of(root, "data/a.pak"), LS_CHUNK_SIZE_MAX);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), 0);
    const char *gone[] = {"data/sub/b.bin", "data/sub", "readme.txt", "empty.dat", "saves"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        if (exists_in(root, gone[i]))
            fail_msg("%s is still there after the abort", gone[i]);

    /* Resumed (a.pak is there, not made by this begin): aborted with
     * nothing verified, it keeps a.pak at its size before begin. */
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(size_of(root, "data/a.pak"), (off_t)g.m.files[0].size);
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    assert_int_equal(size_of(root, "data/a.pak"), LS_CHUNK_SIZE_MAX);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), 0);

    /* Nothing there and nothing verified: nothing stays, the root included. */
    ls_test_rmtree(root);
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    assert_false(exists_in(parent, "game"));
    free_game(&g);
    ls_test_rmtree(parent);
    free(parent);
    free(root);
}

/* What was there before begin survives an abort: a shorter readme.txt keeps
 * its old bytes (not removed), a stray file keeps the folder it
 * is in, a file someone puts into a folder begin made keeps that folder. */
static void abort_never_removes_what_was_there_before(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-undo-keep");
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    ls_test_write_text(root, "readme.txt", "mine");
    ls_test_write_text(root, "data/user.cfg", "keep me");

    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    /* small: not pre-sized, its chunk's write replaces it */
    assert_int_equal(size_of(root, "readme.txt"), 4);
    ls_test_write_text(root, "saves/slot1.sav", "progress");
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);

    size_t len = 0;
    char *back = ls_test_read_file(root, "readme.txt", &len);
    assert_int_equal(len, 4);
    assert_memory_equal(back, "mine", 4);
    free(back);
    back = ls_test_read_file(root, "data/user.cfg", &len);
    assert_memory_equal(back, "keep me", 7);
    free(back);
    back = ls_test_read_file(root, "saves/slot1.sav", &len);
    assert_memory_equal(back, "progress", 8);
    free(back);
    assert_false(exists_in(root, "data/a.pak"));
    assert_false(exists_in(root, "data/sub"));
    assert_true(exists_in(root, "data"));
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

static void chunks_that_do_not_fit_the_manifest_are_refused(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-bounds");
    game_t g;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    const size_t only_readme[] = {2};
    ls_dl_tx_t *tx = NULL;
    assert_int_equal(ls_dl_tx_begin(root, &g.m, only_readme, 1, NULL, NULL, &tx), 0);
    assert_int_equal(ls_dl_tx_missing(tx), 1);
    assert_int_equal(ls_dl_tx_write_chunk(tx, 2, 0, g.content[2], 99), LS_ECHUNK);
    assert_int_equal(ls_dl_tx_write_chunk(tx, 2, 1, g.content[2], 100), LS_ECHUNK);
    assert_int_equal(ls_dl_tx_write_chunk(tx, 0, 0, g.content[0], LS_CHUNK_SIZE_MAX), LS_ECHUNK);
    assert_int_equal(ls_dl_tx_write_chunk(tx, 4, 0, g.content[2], 0), LS_ECHUNK);
    uint8_t bad[100];
    memcpy(bad, g.content[2], 100);
    bad[50] ^= 1;
    assert_int_equal(ls_dl_chunk_verify(&g.m, 2, 0, bad, 100), LS_ECHUNK);
    assert_false(exists_in(root, "data/a.pak")); /* not selected: untouched */
    assert_int_equal(fetch_chunk(tx, &g, 2, 0), 0);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);
    assert_false(exists_in(root, LS_VERSION_FILE)); /* the sentinel was not selected */
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

/* ---- several peers filling one file ---- */

typedef struct {
    ls_dl_tx_t *tx;
    const game_t *game;
    size_t first; /* this writer takes chunks first, first + stride, ... */
    size_t stride;
    int rc;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    const ls_file_desc_t *f = &w->game->m.files[0];
    for (size_t c = w->first; c < f->chunk_count && w->rc == 0; c += w->stride)
        w->rc = ls_dl_tx_write_chunk(w->tx, 0, c, w->game->content[0] + c * LS_CHUNK_SIZE_MAX,
                                     (size_t)chunk_len(f, c));
    return NULL;
}

static void concurrent_writers_fill_one_file_safely(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-threads");
    const spec_t one[] = {{"big.pak", 8ull * LS_CHUNK_SIZE_MAX - 17, false}};
    game_t g;
    ls_dl_tx_t *tx = NULL;
    pthread_t threads[4];
    writer_t writers[4];
    build_game(&g, one, 1, "1.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    for (size_t i = 0; i < 4; i++) {
        writers[i] = (writer_t){.tx = tx, .game = &g, .first = 3 - i, .stride = 4};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &writers[i]), 0);
    }
    for (size_t i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(writers[i].rc, 0);
    }
    assert_int_equal(ls_dl_tx_missing(tx), 0);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);
    assert_files_match(root, &g);
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

/* ---- confinement ---- */

static void planted_symlinks_are_never_written_through(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-link");
    char *outside = ls_test_mkdtemp("dl-outside");
    game_t g;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    ls_test_write_text(outside, "target", "precious");
    char *target = ls_path_join(outside, "target");
    char *link_dir = ls_path_join(root, "data");
    char *link_file = ls_path_join(root, "readme.txt");
    ls_dl_tx_t *tx = NULL;

    /* a directory on the way is a symlink out of the root */
    assert_int_equal(symlink(outside, link_dir), 0);
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), LS_EPATH_SYMLINK);
    assert_null(tx);
    assert_false(exists_in(outside, "sub"));
    assert_false(exists_in(outside, "a.pak"));
    unlink(link_dir);

    /* the file itself is a symlink: a small file is created by its chunk's
     * write, so begin passes it by and the write refuses it */
    assert_int_equal(symlink(target, link_file), 0);
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(fetch_chunk(tx, &g, 2, 0), LS_EPATH_SYMLINK);
    ls_dl_tx_abort(tx);
    ls_dl_tx_free(tx);
    tx = NULL;
    unlink(link_file);

    /* planted after begin, between two chunk writes */
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(fetch_chunk(tx, &g, 2, 0), 0);
    unlink(link_file);
    assert_int_equal(symlink(target, link_file), 0);
    assert_int_equal(fetch_chunk(tx, &g, 2, 0), LS_EPATH_SYMLINK);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 2, 0), LS_EPATH_SYMLINK);
    ls_dl_tx_abort(tx);
    ls_dl_tx_free(tx);

    size_t len = 0;
    char *kept = ls_test_read_file(outside, "target", &len);
    assert_int_equal(len, 8);
    assert_memory_equal(kept, "precious", 8);
    free(kept);
    free(target);
    free(link_dir);
    free(link_file);
    free_game(&g);
    ls_test_rmtree(root);
    ls_test_rmtree(outside);
    free(root);
    free(outside);
}

/* A small file is created by its one write (one openat2 beneath the root):
 * a directory on its way swapped for a symlink after begin is refused, and
 * the files it wrote whole come out exact at the commit, which no longer
 * reopens them. */
static void small_files_created_on_write_refuse_a_swapped_directory(void **state)
{
    (void)state;
    static const spec_t specs[] = {
        {"maps/a.txt", 300, false},
        {"maps/b.txt", 500, false},
        {"version.ini", 0, false},
    };
    char *root = ls_test_mkdtemp("dl-small");
    char *outside = ls_test_mkdtemp("dl-small-out");
    char *maps = ls_path_join(root, "maps");
    char *moved = ls_path_join(root, "maps.real");
    game_t g;
    build_game(&g, specs, 3, "1.0");
    ls_dl_tx_t *tx = NULL;
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(fetch_chunk(tx, &g, 0, 0), 0);
    assert_int_equal(rename(maps, moved), 0);
    assert_int_equal(symlink(outside, maps), 0);
    assert_int_equal(fetch_chunk(tx, &g, 1, 0), LS_EPATH_SYMLINK);
    assert_false(exists_in(outside, "b.txt"));
    unlink(maps);
    assert_int_equal(rename(moved, maps), 0);
    assert_int_equal(fetch_chunk(tx, &g, 1, 0), 0);
    assert_int_equal(fetch_chunk(tx, &g, 2, 0), 0);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);
    assert_files_match(root, &g);
    free(maps);
    free(moved);
    free_game(&g);
    ls_test_rmtree(root);
    ls_test_rmtree(outside);
    free(root);
    free(outside);
}

/* Counted a byte at a time: every marked chunk once, in full bytes and in
 * the last partial one, and never a bit past chunk_count. */
static void resume_count_counts_marked_chunks_only(void **state)
{
    (void)state;
    uint8_t bitmap[3] = {0};
    ls_resume_t rs = {.chunk_count = 21, .bitmap = bitmap};
    assert_int_equal(ls_resume_count(&rs), 0);
    static const size_t marked[] = {0, 7, 8, 15, 16, 20};
    for (size_t i = 0; i < sizeof marked / sizeof marked[0]; i++)
        ls_resume_mark(&rs, marked[i]);
    ls_resume_mark(&rs, 5);
    ls_resume_mark(&rs, 5); /* twice: still one chunk */
    assert_int_equal(ls_resume_count(&rs), 7);
    bitmap[2] |= 0xe0; /* bits 21..23: no chunks */
    assert_int_equal(ls_resume_count(&rs), 7);
}

static void hard_link_to_an_outside_file_is_broken_not_written_through(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-hard");
    char *outside = ls_test_mkdtemp("dl-hard-out");
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    ls_test_write_text(outside, "target", "precious");
    char *target = ls_path_join(outside, "target");
    char *inside = ls_path_join(root, "readme.txt");
    char *inside_b = ls_path_join(root, "data/sub/b.bin");
    assert_int_equal(link(target, inside), 0);

    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    /* planted after begin: refused at write time */
    assert_int_equal(unlink(inside_b), 0);
    assert_int_equal(link(target, inside_b), 0);
    assert_int_equal(fetch_chunk(tx, &g, 1, 0), LS_EPATH_INVALID);
    assert_int_equal(fetch_chunk(tx, &g, 2, 0), 0);
    ls_dl_tx_abort(tx);
    ls_dl_tx_free(tx);

    size_t len = 0;
    char *kept = ls_test_read_file(outside, "target", &len);
    assert_int_equal(len, 8);
    assert_memory_equal(kept, "precious", 8);
    free(kept);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 2, 0), 0);
    free(target);
    free(inside);
    free(inside_b);
    free_game(&g);
    ls_test_rmtree(root);
    ls_test_rmtree(outside);
    free(root);
    free(outside);
}

static void manifest_paths_leaving_the_root_are_refused(void **state)
{
    (void)state;
    char *parent = ls_test_mkdtemp("dl-escape");
    char *root = ls_path_join(parent, "game");
    const spec_t evil[] = {{"ok.txt", 10, false}, {"../evil.txt", 10, false}};
    const spec_t reserved[] = {{".version.ini.tmp", 10, false}};
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, evil, 2, "1.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), LS_EPATH_DOTDOT);
    assert_false(exists_in(parent, "evil.txt"));
    assert_false(exists_in(parent, "game")); /* refused before anything is created */
    free_game(&g);
    build_game(&g, reserved, 1, "1.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), LS_EPATH_RESERVED);
    free_game(&g);
    ls_test_rmtree(parent);
    free(parent);
    free(root);
}

/* ---- disk full and unwritable folders (a real tmpfs) ---- */

/* The mount point lives in the test state so the teardown unmounts it even
 * when an assertion ends the test early. */
typedef struct {
    char *mnt;
    bool is_mounted;
} mount_state_t;

static int mount_setup(void **state)
{
    mount_state_t *ms = calloc(1, sizeof *ms);
    ms->mnt = ls_test_mkdtemp("dl-mnt");
    *state = ms;
    return 0;
}

static int mount_teardown(void **state)
{
    mount_state_t *ms = *state;
    if (ms->is_mounted && umount(ms->mnt) != 0)
        umount2(ms->mnt, MNT_DETACH);
    ls_test_rmtree(ms->mnt);
    free(ms->mnt);
    free(ms);
    return 0;
}

static void mount_tmpfs_or_skip(mount_state_t *ms, const char *opts, unsigned long flags)
{
    if (mount("none", ms->mnt, "tmpfs", flags, opts) == 0) {
        ms->is_mounted = true;
        return;
    }
    print_message("skipping: cannot mount a tmpfs (%s)\n", strerror(errno));
    skip();
}

/* Writes until the file system is full (bounded). */
static void fill_disk(const char *root)
{
    char *path = ls_path_join(root, "filler");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static uint8_t block[4096];
    assert_true(fd >= 0);
    for (int i = 0; i < 100000 && write(fd, block, sizeof block) > 0; i++)
        ;
    close(fd);
    free(path);
}

static void disk_full_fails_cleanly_and_keeps_other_files(void **state)
{
    mount_state_t *ms = *state;
    mount_tmpfs_or_skip(ms, "size=2m", 0);
    char *root = ls_path_join(ms->mnt, "game");
    uint8_t keep[300000];
    ls_test_fill(keep, sizeof keep, 7);
    ls_test_write_file(root, "keep.bin", keep, sizeof keep);
    ls_test_write_text(root, LS_VERSION_FILE, "old\n");

    /* a 4 MiB file cannot fit in 2 MiB: begin sizes it sparse, and the
     * reservation finds the disk full, before a chunk is written; the
     * abort then removes the file begin made */
    const spec_t big[] = {{"big.bin", LS_CHUNK_SIZE_MAX, false}, {"version.ini", 0, false}};
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, big, 2, "2.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(ls_dl_tx_reserve(tx), LS_ENOSPC);
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    assert_false(exists_in(root, "big.bin"));
    assert_false(exists_in(root, LS_VERSION_DISCARDED));
    assert_false(exists_in(root, LS_VERSION_TMP));
    size_t len = 0;
    char *kept = ls_test_read_file(root, "keep.bin", &len);
    assert_int_equal(len, sizeof keep);
    assert_memory_equal(kept, keep, sizeof keep);
    free(kept);
    free_game(&g);

    /* it fits, but the disk fills up before commit: no sentinel, no temp */
    const spec_t small[] = {{"small.bin", 500000, false}, {"version.ini", 0, false}};
    build_game(&g, small, 2, "2.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    fetch_all(tx, &g);
    fill_disk(root);
    assert_int_equal(ls_dl_tx_commit(tx), LS_ENOSPC);
    assert_false(exists_in(root, LS_VERSION_FILE));
    assert_false(exists_in(root, LS_VERSION_TMP));
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), 0);
    kept = ls_test_read_file(root, "keep.bin", &len);
    assert_memory_equal(kept, keep, sizeof keep);
    free(kept);
    free_game(&g);
    free(root);
}

/* The free-space check on a 96 MiB tmpfs and a 24 MiB game: it fits with
 * the margin; 16 MiB of other files later it does not, and nothing is made;
 * with 20 MiB of the game already on disk (a resume) only the rest counts. */
static void free_space_check_counts_what_is_missing_and_keeps_a_margin(void **state)
{
    mount_state_t *ms = *state;
    mount_tmpfs_or_skip(ms, "size=96m", 0);
    char *root = ls_path_join(ms->mnt, "game");
    const spec_t specs[] = {{"game.pak", 6 * LS_CHUNK_SIZE_MAX, false}, {"version.ini", 0, false}};
    const uint64_t game_bytes = 6 * LS_CHUNK_SIZE_MAX;
    game_t g;
    ls_dl_space_t space;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, specs, 2, "2.0");

    assert_int_equal(ls_dl_space_check(root, &g.m, NULL, 0, &space), 0);
    assert_true(space.needed >= game_bytes && space.needed < game_bytes + 4096);
    assert_true(space.available > 90ull << 20);

    uint8_t *filler = calloc(1, 16u << 20);
    assert_non_null(filler);
    ls_test_write_file(ms->mnt, "other/filler.bin", filler, 16u << 20);
    assert_int_equal(ls_dl_space_check(root, &g.m, NULL, 0, &space), LS_ENOSPC);
    assert_true(space.available + (16ull << 20) <= 96ull << 20);
    assert_false(exists_in(ms->mnt, "game")); /* the check makes nothing */

    /* 20 MiB of the game written and kept (an aborted download), the filler
     * cut to 6 MiB: 70 MiB free, 4 MiB still needed. */
    char *filler_path = ls_path_join(ms->mnt, "other/filler.bin");
    assert_int_equal(unlink(filler_path), 0);
    free(filler_path);
    ls_test_write_file(ms->mnt, "other/filler.bin", filler, 6u << 20);
    free(filler);
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    for (size_t c = 0; c < 5; c++)
        assert_int_equal(fetch_chunk(tx, &g, 0, c), 0);
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    assert_int_equal(ls_dl_space_check(root, &g.m, NULL, 0, &space), 0);
    assert_true(space.needed >= LS_CHUNK_SIZE_MAX && space.needed < LS_CHUNK_SIZE_MAX + 8192);
    free_game(&g);
    free(root);
}

static blkcnt_t blocks_of(const char *root, const char *rel)
{
    char *p = ls_path_join(root, rel);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_blocks;
}

/* Begin sizes a file sparse (the transfer need not wait for its blocks);
 * the reservation, run beside the writes, allocates them all and keeps
 * the size and every chunk already written. */
static void begin_sizes_sparse_and_the_reservation_keeps_written_chunks(void **state)
{
    mount_state_t *ms = *state;
    mount_tmpfs_or_skip(ms, "size=32m", 0);
    char *root = ls_path_join(ms->mnt, "game");
    const spec_t specs[] = {{"game.pak", 3 * LS_CHUNK_SIZE_MAX, false}, {"version.ini", 0, false}};
    const blkcnt_t whole = 3 * LS_CHUNK_SIZE_MAX / 512;
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, specs, 2, "2.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(size_of(root, "game.pak"), 3 * LS_CHUNK_SIZE_MAX);
    assert_int_equal(blocks_of(root, "game.pak"), 0);
    assert_int_equal(fetch_chunk(tx, &g, 0, 1), 0);
    assert_true(blocks_of(root, "game.pak") < whole);
    assert_int_equal(ls_dl_tx_reserve(tx), 0);
    assert_true(blocks_of(root, "game.pak") >= whole);
    assert_int_equal(size_of(root, "game.pak"), 3 * LS_CHUNK_SIZE_MAX);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 1), 0);
    fetch_all(tx, &g);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);
    for (size_t c = 0; c < 3; c++)
        assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, c), 0);
    free_game(&g);
    free(root);
}

static void unwritable_folder_fails_with_a_permission_error(void **state)
{
    mount_state_t *ms = *state;
    ls_test_write_text(ms->mnt, "game/keep.txt", "x"); /* hidden under the mount */
    mount_tmpfs_or_skip(ms, "size=1m", MS_RDONLY);
    char *root = ls_path_join(ms->mnt, "game");
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), LS_EACCES);
    assert_null(tx);
    free_game(&g);
    free(root);
}

/* ---- resume ---- */

static size_t count_planned(const game_t *g, const uint8_t *bitmap)
{
    const char *const ids[] = {"p"};
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    ls_plan_outcome_t o;
    size_t planned = 0;
    assert_int_equal(ls_planner_new(&g->m, NULL, 0, ids, 1, bitmap, NULL, &pl), 0);
    for (uint64_t t = 0; t < 1000 && ls_planner_next(pl, 0, t, &a) == 0; t++) {
        planned++;
        assert_int_equal(ls_planner_done(pl, &a, a.length, t, true, &o), 0);
    }
    assert_true(ls_planner_is_finished(pl));
    ls_planner_free(pl);
    return planned;
}

static void cancelled_download_resumes_with_only_missing_chunks(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-resume");
    char *state_dir = ls_test_mkdtemp("dl-state");
    game_t g;
    ls_resume_t rs;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    size_t total = ls_manifest_chunk_total(&g.m); /* a.pak 3, b.bin 1, readme 1, ini 1 */
    assert_int_equal(total, 6);

    /* first session: 3 chunks (and version.ini) arrive, then Cancel */
    assert_int_equal(ls_resume_load(state_dir, &g.m, &rs), LS_ENOENT);
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    const size_t got[][2] = {{0, 0}, {0, 2}, {2, 0}, {5, 0}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(fetch_chunk(tx, &g, got[i][0], got[i][1]), 0);
        ls_resume_mark(&rs, ls_manifest_chunk_base(&g.m, got[i][0]) + got[i][1]);
    }
    assert_int_equal(ls_resume_count(&rs), 3); /* version.ini was memory only */
    assert_int_equal(ls_resume_save(&rs, state_dir), 0);
    assert_int_equal(ls_dl_tx_abort(tx), 0);
    ls_dl_tx_free(tx);
    ls_resume_free(&rs);
    assert_false(exists_in(root, LS_VERSION_FILE));

    /* second session: reload, re-hash what it claims, plan the rest */
    assert_int_equal(ls_resume_load(state_dir, &g.m, &rs), 0);
    assert_int_equal(ls_resume_count(&rs), 3);
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    for (size_t fi = 0; fi < g.m.file_count; fi++) {
        size_t base = ls_manifest_chunk_base(&g.m, fi);
        for (size_t ci = 0; !g.m.files[fi].is_dir && ci < g.m.files[fi].chunk_count; ci++) {
            if (!ls_resume_has(&rs, base + ci))
                continue;
            assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, fi, ci), 0);
            assert_int_equal(ls_dl_tx_mark_present(tx, fi, ci), 0);
        }
    }
    assert_int_equal(ls_dl_tx_missing(tx), 3);
    assert_int_equal(count_planned(&g, rs.bitmap), 3);
    const size_t rest[][2] = {{0, 1}, {1, 0}, {5, 0}};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fetch_chunk(tx, &g, rest[i][0], rest[i][1]), 0);
    assert_int_equal(ls_dl_tx_commit(tx), 0);
    ls_dl_tx_free(tx);
    assert_files_match(root, &g);
    ls_resume_free(&rs);
    assert_int_equal(ls_resume_remove(state_dir, "testgame"), 0);
    assert_int_equal(ls_resume_load(state_dir, &g.m, &rs), LS_ENOENT);
    assert_false(exists_in(root, "downloads")); /* never in the game root */
    ls_resume_free(&rs);
    free_game(&g);
    ls_test_rmtree(root);
    ls_test_rmtree(state_dir);
    free(root);
    free(state_dir);
}

static void resumed_chunk_changed_on_disk_fails_its_check(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("dl-rehash");
    game_t g;
    ls_dl_tx_t *tx = NULL;
    build_game(&g, base_specs, BASE_COUNT, "2.0");
    assert_int_equal(ls_dl_tx_begin(root, &g.m, NULL, 0, NULL, NULL, &tx), 0);
    assert_int_equal(fetch_chunk(tx, &g, 0, 0), 0);
    ls_dl_tx_free(tx);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), 0);
    char *p = ls_path_join(root, "data/a.pak");
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 4096), 1);
    close(fd);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), LS_ECHUNK);
    assert_int_equal(truncate(p, 10), 0);
    assert_int_equal(ls_dl_chunk_verify_on_disk(root, &g.m, 0, 0), LS_ECORRUPT);
    free(p);
    free_game(&g);
    ls_test_rmtree(root);
    free(root);
}

static void resume_file_of_another_version_or_corrupt_is_ignored(void **state)
{
    (void)state;
    char *state_dir = ls_test_mkdtemp("dl-state2");
    game_t v1, v2;
    ls_resume_t rs;
    build_game(&v1, base_specs, BASE_COUNT, "1.0");
    build_game(&v2, base_specs, BASE_COUNT, "2.0");
    assert_int_equal(ls_resume_init(&rs, &v1.m), 0);
    ls_resume_mark(&rs, 0);
    ls_resume_mark(&rs, 3);
    assert_int_equal(ls_resume_save(&rs, state_dir), 0);
    ls_resume_free(&rs);

    assert_int_equal(ls_resume_load(state_dir, &v2.m, &rs), LS_ERESUME);
    assert_int_equal(ls_resume_count(&rs), 0);
    ls_resume_free(&rs);

    /* same version string, different content: the manifest id tells them apart */
    v2.m.version[0] = '1';
    assert_int_equal(ls_resume_load(state_dir, &v2.m, &rs), LS_ERESUME);
    ls_resume_free(&rs);

    assert_int_equal(ls_resume_load(state_dir, &v1.m, &rs), 0);
    assert_int_equal(ls_resume_count(&rs), 2);
    ls_resume_free(&rs);

    char *path = ls_resume_path(state_dir, "testgame");
    size_t len = 0;
    char *data = NULL;
    assert_int_equal(ls_fs_read_file(path, LS_RESUME_FILE_MAX, &data, &len), 0);
    data[20] ^= 0x40; /* one flipped bit */
    assert_int_equal(ls_fs_write_atomic(path, data, len), 0);
    assert_int_equal(ls_resume_load(state_dir, &v1.m, &rs), LS_ERESUME);
    assert_int_equal(ls_resume_count(&rs), 0);
    ls_resume_free(&rs);
    data[20] ^= 0x40;
    assert_int_equal(ls_fs_write_atomic(path, data, len - 1), 0); /* torn */
    assert_int_equal(ls_resume_load(state_dir, &v1.m, &rs), LS_ERESUME);
    ls_resume_free(&rs);
    assert_int_equal(ls_resume_parse(data, len, &rs), 0);
    assert_int_equal(ls_resume_count(&rs), 2);
    ls_resume_free(&rs);
    free(data);
    free(path);
    free_game(&v1);
    free_game(&v2);
    ls_test_rmtree(state_dir);
    free(state_dir);
}

typedef struct {
    size_t count;
    uint64_t done, total;
} kept_seen_t;

static void note_kept(const ls_resume_t *r, void *ctx)
{
    kept_seen_t *k = ctx;
    k->count++;
    k->done = r->bytes_done;
    k->total = r->bytes_total;
}

/* A stopped download's record carries its byte counts, which the API shows
 * as the game's "kept"; a record of the older format still loads (its
 * chunks resume), with counts unknown (0). */
static void resume_record_keeps_the_byte_counts_for_the_ui(void **state)
{
    (void)state;
    char *state_dir = ls_test_mkdtemp("dl-kept");
    game_t g;
    ls_resume_t rs;
    kept_seen_t seen = {0};
    build_game(&g, base_specs, BASE_COUNT, "1.0");
    assert_int_equal(ls_resume_scan(state_dir, 8, note_kept, &seen), 0); /* no directory yet */
    assert_int_equal(seen.count, 0);
    assert_int_equal(ls_resume_init(&rs, &g.m), 0);
    ls_resume_mark(&rs, 0);
    rs.bytes_total = 1000;
    rs.bytes_done = 300;
    assert_int_equal(ls_resume_save(&rs, state_dir), 0);
    ls_resume_free(&rs);
    assert_int_equal(ls_resume_scan(state_dir, 8, note_kept, &seen), 0);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.done, 300);
    assert_int_equal(seen.total, 1000);

    /* the same record as LSRESUM1: no counts, checksum redone */
    char *path = ls_resume_path(state_dir, "testgame");
    char *data = NULL;
    size_t len = 0, at = 8 + 1 + strlen("testgame") + 1 + strlen("1.0") + LS_SHA256_LEN;
    assert_int_equal(ls_fs_read_file(path, LS_RESUME_FILE_MAX, &data, &len), 0);
    memcpy(data, "LSRESUM1", 8);
    memmove(data + at, data + at + 16, len - at - 16);
    len -= 16;
    ls_sha256(data, len - LS_SHA256_LEN, (uint8_t *)data + len - LS_SHA256_LEN);
    assert_int_equal(ls_fs_write_atomic(path, data, len), 0);
    assert_int_equal(ls_resume_load(state_dir, &g.m, &rs), 0);
    assert_int_equal(ls_resume_count(&rs), 1);
    assert_int_equal(rs.bytes_total, 0);
    ls_resume_free(&rs);
    /* a record made with larger chunks than the manifest's count allows
     * at LS_CHUNK_SIZE (as a 4 MiB-era record is): it does not fit */
    assert_int_equal(ls_resume_init(&rs, &g.m), 0);
    assert_true(ls_resume_fits_chunk_size(&rs, LS_CHUNK_SIZE)); /* counts unknown */
    rs.bytes_total = (uint64_t)rs.chunk_count * LS_CHUNK_SIZE;
    assert_true(ls_resume_fits_chunk_size(&rs, LS_CHUNK_SIZE));
    rs.bytes_total += LS_CHUNK_SIZE;
    assert_false(ls_resume_fits_chunk_size(&rs, LS_CHUNK_SIZE));
    ls_resume_free(&rs);
    /* done > total is no record */
    assert_int_equal(ls_resume_init(&rs, &g.m), 0);
    rs.bytes_total = 1;
    rs.bytes_done = 2;
    assert_int_equal(ls_resume_save(&rs, state_dir), 0);
    ls_resume_free(&rs);
    assert_int_equal(ls_resume_load(state_dir, &g.m, &rs), LS_ERESUME);
    ls_resume_free(&rs);
    free(data);
    free(path);
    free_game(&g);
    ls_test_rmtree(state_dir);
    free(state_dir);
}

/* Every scratch directory of this file lives under one parent that the
 * group teardown removes, so a test that fails half-way leaves nothing. */
static char *group_scratch;

static int group_setup(void **state)
{
    (void)state;
    group_scratch = ls_test_mkdtemp("dl-group");
    return setenv("TMPDIR", group_scratch, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    ls_test_rmtree(group_scratch);
    free(group_scratch);
    return 0;
}

static void download_errors_have_messages(void **state)
{
    (void)state;
    const int codes[] = {LS_ERETRIES, LS_ENOPEERS, LS_ERESUME, LS_EINCOMPLETE, LS_ECHUNK};
    for (size_t i = 0; i < 5; i++)
        assert_string_not_equal(ls_strerror(codes[i]), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_oversized_version_ini_is_refused),
        cmocka_unit_test(version_ini_appears_only_at_commit_with_exact_bytes),
        cmocka_unit_test(existing_data_is_never_truncated_before_commit),
        cmocka_unit_test(abort_discards_the_parked_sentinel_and_keeps_data),
        cmocka_unit_test(chunks_that_do_not_fit_the_manifest_are_refused),
        cmocka_unit_test(concurrent_writers_fill_one_file_safely),
        cmocka_unit_test(planted_symlinks_are_never_written_through),
        cmocka_unit_test(small_files_created_on_write_refuse_a_swapped_directory),
        cmocka_unit_test(resume_count_counts_marked_chunks_only),
        cmocka_unit_test(hard_link_to_an_outside_file_is_broken_not_written_through),
        cmocka_unit_test(manifest_paths_leaving_the_root_are_refused),
        cmocka_unit_test_setup_teardown(disk_full_fails_cleanly_and_keeps_other_files, mount_setup,
                                        mount_teardown),
        cmocka_unit_test_setup_teardown(begin_sizes_sparse_and_the_reservation_keeps_written_chunks,
                                        mount_setup, mount_teardown),
        cmocka_unit_test_setup_teardown(unwritable_folder_fails_with_a_permission_error,
                                        mount_setup, mount_teardown),
        cmocka_unit_test_setup_teardown(free_space_check_counts_what_is_missing_and_keeps_a_margin,
                                        mount_setup, mount_teardown),
        cmocka_unit_test(abort_removes_what_begin_made_and_keeps_verified_chunks),
        cmocka_unit_test(abort_never_removes_what_was_there_before),
        cmocka_unit_test(cancelled_download_resumes_with_only_missing_chunks),
        cmocka_unit_test(resumed_chunk_changed_on_disk_fails_its_check),
        cmocka_unit_test(resume_file_of_another_version_or_corrupt_is_ignored),
        cmocka_unit_test(resume_record_keeps_the_byte_counts_for_the_ui),
        cmocka_unit_test(download_errors_have_messages),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
