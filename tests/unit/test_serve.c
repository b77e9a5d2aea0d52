/* Serving: deciding a file request from the published library (a borrowed
 * lookup, cheap on a game of many files), and ls_serve_open: what a served
 * path may be at the moment it is opened. */
#include "testutil.h"

#include "lanspread/catalog.h"
#include "lanspread/error.h"
#include "lanspread/library.h"
#include "lanspread/log.h"
#include "lanspread/serve.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Files of the big game, and chunk requests prepared on it. Before the
 * borrowed lookup each request copied the whole manifest: about 0.6 ms per
 * request at this size, so the budget (more than 100 times what the lookup
 * needs) fails that by seconds. */
#define MANY_FILES 5000
#define MANY_REQUESTS 5000
#define MANY_REQUESTS_BUDGET_S 1.0

static ls_serve_reply_t reply_for(char *root, const char *path, uint64_t size)
{
    ls_serve_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.game_root = root;
    reply.path = strdup(path);
    reply.file_size = size;
    reply.length = size;
    return reply;
}

static void regular_file_of_the_indexed_size_opens(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("serve");
    ls_test_write_text(root, "game.pak", "0123456789");
    ls_serve_reply_t reply = reply_for(strdup(root), "game.pak", 10);
    int fd = -1;
    assert_int_equal(ls_serve_open(&reply, &fd), 0);
    char buf[16] = "";
    assert_int_equal(read(fd, buf, sizeof buf), 10);
    assert_memory_equal(buf, "0123456789", 10);
    close(fd);
    ls_serve_reply_free(&reply);
    ls_test_rmtree(root);
    free(root);
}

static void file_whose_size_changed_is_refused(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("serve");
    ls_test_write_text(root, "game.pak", "0123456789");
    ls_serve_reply_t reply = reply_for(strdup(root), "game.pak", 4096);
    int fd = 7;
    assert_int_equal(ls_serve_open(&reply, &fd), LS_ECORRUPT);
    assert_int_equal(fd, -1);
    ls_serve_reply_free(&reply);
    ls_test_rmtree(root);
    free(root);
}

/* A FIFO with no writer would block a plain open() for ever, parking a
 * thread-pool thread; the alarm turns such a hang into a failed test. */
static void fifo_in_place_of_a_file_is_refused_at_once(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("serve");
    char *fifo = NULL;
    assert_true(asprintf(&fifo, "%s/game.pak", root) > 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    ls_serve_reply_t reply = reply_for(strdup(root), "game.pak", 10);
    int fd = 7;
    alarm(10);
    int rc = ls_serve_open(&reply, &fd);
    alarm(0);
    assert_int_equal(rc, LS_ECORRUPT);
    assert_int_equal(fd, -1);
    ls_serve_reply_free(&reply);
    free(fifo);
    ls_test_rmtree(root);
    free(root);
}

typedef struct {
    char *dir;
    ls_catalog_t *catalog;
    ls_library_t *library;
} library_fixture_t;

static const char *catalog_json = "{\"games\":[{\"id\":\"alpha\",\"name\":\"Alpha\"},"
                                  "{\"id\":\"bravo\",\"name\":\"Bravo\"}]}";

static void open_library(library_fixture_t *f)
{
    char games[512], state[512], err[256];
    snprintf(games, sizeof games, "%s/games", f->dir);
    snprintf(state, sizeof state, "%s/state", f->dir);
    assert_int_equal(ls_catalog_new(&f->catalog), 0);
    assert_int_equal(ls_catalog_add_json(f->catalog, catalog_json, strlen(catalog_json), "test",
                                         err, sizeof err),
                     0);
    ls_library_config_t config = {.game_dir = games, .state_dir = state, .catalog = f->catalog};
    assert_int_equal(ls_library_open(&config, &f->library), 0);
    assert_int_equal(ls_library_scan_sync(f->library, NULL), 0);
}

static void close_library(library_fixture_t *f)
{
    ls_library_close(f->library);
    ls_catalog_free(f->catalog);
    ls_test_rmtree(f->dir);
    free(f->dir);
}

static void prepare(library_fixture_t *f, ls_msg_kind_t kind, const char *game, const char *path,
                    uint64_t offset, uint64_t length, ls_serve_reply_t *reply)
{
    ls_msg_t req = {.kind = kind};
    req.u.file_request.game_id = (char *)game;
    req.u.file_request.path = (char *)path;
    req.u.file_request.offset = offset;
    req.u.file_request.length = length;
    assert_int_equal(ls_serve_prepare(f->library, &req, reply), 0);
}

static void expect_refusal(library_fixture_t *f, ls_msg_kind_t kind, const char *game,
                           const char *path, uint64_t offset, uint64_t length, ls_wire_error_t code)
{
    ls_serve_reply_t reply;
    prepare(f, kind, game, path, offset, length, &reply);
    assert_int_equal(reply.header.kind, LS_MSG_ERROR);
    if (reply.header.u.error.code != code)
        fail_msg("%s: expected %s, got %s (%s)", path, ls_wire_error_name(code),
                 ls_wire_error_name(reply.header.u.error.code), reply.header.u.error.message);
    assert_false(ls_serve_reply_has_body(&reply));
    ls_serve_reply_free(&reply);
}

static void file_requests_are_checked_against_the_published_files(void **state)
{
    (void)state;
    library_fixture_t f = {.dir = ls_test_mkdtemp("serve")};
    ls_test_write_text(f.dir, "games/alpha/version.ini", "1\n");
    ls_test_write_text(f.dir, "games/alpha/data/pack.bin", "0123456789");
    ls_test_write_text(f.dir, "games/bravo/pack.bin", "not downloaded");
    open_library(&f);

    ls_serve_reply_t reply;
    prepare(&f, LS_MSG_GET_FILE_CHUNK, "alpha", "data/pack.bin", 2, 5, &reply);
    assert_int_equal(reply.header.kind, LS_MSG_FILE_CHUNK);
    assert_int_equal(reply.header.u.file_header.offset, 2);
    assert_int_equal(reply.header.u.file_header.length, 5);
    assert_int_equal(reply.file_size, 10);
    assert_string_equal(reply.path, "data/pack.bin");
    assert_non_null(strstr(reply.game_root, "/games/alpha"));
    assert_true(ls_serve_reply_has_body(&reply));
    ls_serve_reply_free(&reply);
    prepare(&f, LS_MSG_GET_FILE_DATA, "alpha", "data/pack.bin", 0, 0, &reply);
    assert_int_equal(reply.header.kind, LS_MSG_FILE_DATA);
    assert_int_equal(reply.length, 10);
    ls_serve_reply_free(&reply);

    expect_refusal(&f, LS_MSG_GET_FILE_CHUNK, "alpha", "data/pack.bin", 8, 3,
                   LS_WIRE_INVALID_REQUEST);
    expect_refusal(&f, LS_MSG_GET_FILE_CHUNK, "alpha", "data/pack.bin", 11, 0,
                   LS_WIRE_INVALID_REQUEST);
    expect_refusal(&f, LS_MSG_GET_FILE_DATA, "alpha", "data", 0, 0, LS_WIRE_INVALID_PATH);
    expect_refusal(&f, LS_MSG_GET_FILE_DATA, "alpha", "data/pack", 0, 0, LS_WIRE_INVALID_PATH);
    expect_refusal(&f, LS_MSG_GET_FILE_DATA, "alpha", "../alpha/version.ini", 0, 0,
                   LS_WIRE_INVALID_PATH);
    expect_refusal(&f, LS_MSG_GET_FILE_DATA, "bravo", "pack.bin", 0, 0, LS_WIRE_NOT_DOWNLOADED);
    expect_refusal(&f, LS_MSG_GET_FILE_DATA, "zulu", "pack.bin", 0, 0, LS_WIRE_UNKNOWN_GAME);

    /* The whole manifest is still a copy of its own. */
    ls_msg_t get = {.kind = LS_MSG_GET_GAME, .u.game_id = "alpha"};
    assert_int_equal(ls_serve_prepare(f.library, &get, &reply), 0);
    assert_int_equal(reply.header.kind, LS_MSG_GAME);
    assert_int_equal(reply.header.u.game.file_count, 3); /* data/, data/pack.bin, version.ini */
    ls_serve_reply_free(&reply);
    close_library(&f);
}

static void batch_prepare(library_fixture_t *f, ls_file_range_t *ranges, size_t n,
                          ls_serve_reply_t *reply)
{
    ls_msg_t req = {.kind = LS_MSG_GET_FILE_BATCH};
    req.u.batch_request.game_id = "alpha";
    req.u.batch_request.ranges = ranges;
    req.u.batch_request.range_count = n;
    assert_int_equal(ls_serve_prepare(f->library, &req, reply), 0);
}

static void batch_requests_are_served_whole_or_refused_whole(void **state)
{
    (void)state;
    library_fixture_t f = {.dir = ls_test_mkdtemp("serve")};
    ls_test_write_text(f.dir, "games/alpha/version.ini", "1\n");
    ls_test_write_text(f.dir, "games/alpha/a.txt", "0123456789");
    ls_test_write_text(f.dir, "games/alpha/sub/b.txt", "abcdef");
    open_library(&f);

    ls_file_range_t ranges[3] = {{.path = "sub/b.txt", .offset = 2, .length = 3},
                                 {.path = "a.txt", .offset = 0, .length = 10},
                                 {.path = "version.ini", .offset = 0, .length = 2}};
    ls_serve_reply_t reply;
    batch_prepare(&f, ranges, 3, &reply);
    assert_int_equal(reply.header.kind, LS_MSG_FILE_BATCH);
    assert_int_equal(reply.header.u.file_header.length, 15);
    assert_true(ls_serve_reply_has_body(&reply));
    uint8_t buf[15];
    assert_int_equal(ls_serve_read_batch(&reply, buf), 0);
    assert_memory_equal(buf,
                        "cde0123456789"
                        "1\n",
                        15);
    ls_serve_reply_free(&reply);

    /* one range past its file's end refuses the whole batch */
    ranges[1].length = 11;
    batch_prepare(&f, ranges, 3, &reply);
    assert_int_equal(reply.header.kind, LS_MSG_ERROR);
    assert_int_equal(reply.header.u.error.code, LS_WIRE_INVALID_REQUEST);
    assert_false(ls_serve_reply_has_body(&reply));
    ls_serve_reply_free(&reply);
    ranges[1] = (ls_file_range_t){.path = "sub", .offset = 0, .length = 1};
    batch_prepare(&f, ranges, 3, &reply);
    assert_int_equal(reply.header.kind, LS_MSG_ERROR);
    assert_int_equal(reply.header.u.error.code, LS_WIRE_INVALID_PATH);
    ls_serve_reply_free(&reply);

    /* a file that changed after it was indexed fails the read */
    ranges[1] = (ls_file_range_t){.path = "a.txt", .offset = 0, .length = 10};
    batch_prepare(&f, ranges, 3, &reply);
    ls_test_write_text(f.dir, "games/alpha/a.txt", "short");
    assert_int_equal(ls_serve_read_batch(&reply, buf), LS_ECORRUPT);
    ls_serve_reply_free(&reply);
    close_library(&f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A peer controls how many chunk requests it sends: each must cost a
 * lookup, not a copy of a manifest of thousands of files. */
static void chunk_requests_on_a_game_of_many_files_cost_a_lookup_each(void **state)
{
    (void)state;
    library_fixture_t f = {.dir = ls_test_mkdtemp("serve")};
    char path[64];
    ls_test_write_text(f.dir, "games/alpha/version.ini", "1\n");
    for (int i = 0; i < MANY_FILES; i++) {
        snprintf(path, sizeof path, "games/alpha/d%02d/f%05d.bin", i / 1000, i);
        ls_test_write_text(f.dir, path, "x");
    }
    open_library(&f);
    double start = now_s();
    for (int i = 0; i < MANY_REQUESTS; i++) {
        ls_serve_reply_t reply;
        int n = (i * 7919) % MANY_FILES;
        snprintf(path, sizeof path, "d%02d/f%05d.bin", n / 1000, n);
        prepare(&f, LS_MSG_GET_FILE_CHUNK, "alpha", path, 0, 1, &reply);
        assert_int_equal(reply.header.kind, LS_MSG_FILE_CHUNK);
        ls_serve_reply_free(&reply);
    }
    double seconds = now_s() - start;
    printf("%d chunk requests on a %d-file game prepared in %.3f s\n", MANY_REQUESTS,
           MANY_FILES + 1, seconds);
    assert_true(seconds < MANY_REQUESTS_BUDGET_S);
    close_library(&f);
}

/* The shared swarm upload: at most 3 swarm chunks at a time once several
 * peers want them, whoever asks; a peer alone takes what it asks. Before,
 * a requester that held every send was never refused while the others
 * were: a seeder sent one downloader 110 of 112 MiB. */
static void swarm_upload_is_shared_between_requesters(void **state)
{
    (void)state;
    /* room under the shared limit: anyone */
    assert_true(ls_serve_swarm_admits(2, 0, true, 3));
    assert_true(ls_serve_swarm_admits(0, 0, false, 3));
    /* full, sends to others: refused */
    assert_false(ls_serve_swarm_admits(3, 1, false, 3));
    assert_false(ls_serve_swarm_admits(3, 0, false, 3));
    /* a peer alone: its whole window */
    assert_true(ls_serve_swarm_admits(16, 16, false, 3));
    /* holding every send while another peer was refused: refused too */
    assert_false(ls_serve_swarm_admits(3, 3, true, 3));
    assert_false(ls_serve_swarm_admits(16, 16, true, 3));
}

/* Requests waiting for an upload slot: the next is the oldest of the peer
 * with the fewest transfers running. */
static void waiting_requests_are_admitted_fairly(void **state)
{
    (void)state;
    const uint32_t one[] = {7};
    const uint32_t equal[] = {1, 1, 1};
    const uint32_t fewest_later[] = {2, 1, 0, 0};
    const uint32_t oldest_of_fewest[] = {3, 1, 2, 1};
    assert_int_equal(ls_serve_wait_pick(one, 1), 0);
    assert_int_equal(ls_serve_wait_pick(equal, 3), 0);
    assert_int_equal(ls_serve_wait_pick(fewest_later, 4), 2);
    assert_int_equal(ls_serve_wait_pick(oldest_of_fewest, 4), 1);
}

/* A chunk on its way to another swarm peer: a complete copy refuses it
 * (super-seeding), a partial copy with room sends it again. */
static void only_a_complete_copy_refuses_a_chunk_in_flight(void **state)
{
    (void)state;
    assert_true(ls_serve_refuses_parallel_copy(false));
    assert_false(ls_serve_refuses_parallel_copy(true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(regular_file_of_the_indexed_size_opens),
        cmocka_unit_test(file_whose_size_changed_is_refused),
        cmocka_unit_test(fifo_in_place_of_a_file_is_refused_at_once),
        cmocka_unit_test(file_requests_are_checked_against_the_published_files),
        cmocka_unit_test(batch_requests_are_served_whole_or_refused_whole),
        cmocka_unit_test(chunk_requests_on_a_game_of_many_files_cost_a_lookup_each),
        cmocka_unit_test(swarm_upload_is_shared_between_requesters),
        cmocka_unit_test(only_a_complete_copy_refuses_a_chunk_in_flight),
        cmocka_unit_test(waiting_requests_are_admitted_fairly),
    };
    ls_log_set_level(LS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
