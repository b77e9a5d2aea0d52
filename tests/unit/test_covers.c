/* The cover cache (src/peer/covers.c): only verified covers are stored,
 * the cache stays within its bounds by dropping the least recently used,
 * it survives a restart, and callers asking for one hash at once share one
 * fetch. */
#include "testutil.h"

#include "peer/covers.h"

#include "lanspread/cover.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define COVER_LEN 1000

typedef struct {
    char *state;
    ls__covers_t *covers;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->state = ls_test_mkdtemp("covers");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls__covers_free(f->covers);
    ls_test_rmtree(f->state);
    free(f->state);
    free(f);
    return 0;
}

/* A PNG-signed cover of COVER_LEN bytes from seed, and its hash. */
static void make_cover(uint32_t seed, uint8_t data[COVER_LEN], char hex[LS_SHA256_HEX_LEN + 1])
{
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t hash[LS_SHA256_LEN];
    ls_test_fill(data, COVER_LEN, seed);
    memcpy(data, png, sizeof png);
    ls_sha256(data, COVER_LEN, hash);
    ls_hex_encode(hash, sizeof hash, hex);
}

static bool cached_file(const fixture_t *f, const char *hex)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s.png", f->state, LS_COVER_DIR, hex);
    return access(path, F_OK) == 0;
}

static int no_start(const char *sha256, void *userdata)
{
    (void)sha256;
    (void)userdata;
    fail_msg("a cached cover was fetched again");
    return LS_EINVAL;
}

static void only_verified_covers_are_stored(void **state)
{
    fixture_t *f = *state;
    uint8_t data[COVER_LEN];
    char hex[LS_SHA256_HEX_LEN + 1], other[LS_SHA256_HEX_LEN + 1];
    uint8_t other_data[COVER_LEN];
    assert_int_equal(ls__covers_open(f->state, LS_COVER_CACHE_MAX, &f->covers), 0);
    make_cover(1, data, hex);
    make_cover(2, other_data, other);
    /* bytes that are not what the hash names */
    assert_int_equal(ls__covers_store(f->covers, other, data, sizeof data), LS_ECORRUPT);
    assert_false(cached_file(f, other));
    /* the right hash, but no image signature */
    uint8_t text[COVER_LEN];
    uint8_t hash[LS_SHA256_LEN];
    char text_hex[LS_SHA256_HEX_LEN + 1];
    memset(text, 'x', sizeof text);
    ls_sha256(text, sizeof text, hash);
    ls_hex_encode(hash, sizeof hash, text_hex);
    assert_int_equal(ls__covers_store(f->covers, text_hex, text, sizeof text), LS_ECORRUPT);
    /* above LS_COVER_MAX */
    uint8_t *big = calloc(1, LS_COVER_MAX + 1);
    assert_int_equal(ls__covers_store(f->covers, hex, big, LS_COVER_MAX + 1), LS_ETOOBIG);
    free(big);

    assert_int_equal(ls__covers_store(f->covers, hex, data, sizeof data), 0);
    assert_true(cached_file(f, hex));
    ls_peer_cover_t got;
    assert_int_equal(ls__covers_get(f->covers, hex, 1000, no_start, NULL, &got), 0);
    assert_int_equal(got.len, COVER_LEN);
    assert_memory_equal(got.data, data, COVER_LEN);
    assert_int_equal(got.type, LS_COVER_PNG);
    free(got.data);

    /* a restart finds it again */
    ls__covers_free(f->covers);
    assert_int_equal(ls__covers_open(f->state, LS_COVER_CACHE_MAX, &f->covers), 0);
    assert_int_equal(ls__covers_get(f->covers, hex, 1000, no_start, NULL, &got), 0);
    assert_memory_equal(got.data, data, COVER_LEN);
    free(got.data);
}

static void the_least_recently_used_cover_goes_first(void **state)
{
    fixture_t *f = *state;
    uint8_t data[4][COVER_LEN];
    char hex[4][LS_SHA256_HEX_LEN + 1];
    ls_peer_cover_t got;
    assert_int_equal(ls__covers_open(f->state, 3 * COVER_LEN, &f->covers), 0);
    for (int i = 0; i < 3; i++) {
        make_cover((uint32_t)i + 10, data[i], hex[i]);
        assert_int_equal(ls__covers_store(f->covers, hex[i], data[i], COVER_LEN), 0);
    }
    /* the first is used again: the second is now the oldest */
    assert_int_equal(ls__covers_get(f->covers, hex[0], 1000, no_start, NULL, &got), 0);
    free(got.data);
    make_cover(13, data[3], hex[3]);
    assert_int_equal(ls__covers_store(f->covers, hex[3], data[3], COVER_LEN), 0);
    assert_true(cached_file(f, hex[0]));
    assert_false(cached_file(f, hex[1]));
    assert_true(cached_file(f, hex[2]));
    assert_true(cached_file(f, hex[3]));
}

typedef struct {
    fixture_t *f;
    uint8_t data[COVER_LEN];
    char hex[LS_SHA256_HEX_LEN + 1];
    int starts;
    int result[2];
    uv_thread_t fetcher;
} shared_t;

/* The fetch: stores the cover a little later, from its own thread. */
static void fetch_thread(void *arg)
{
    shared_t *s = arg;
    usleep(200 * 1000);
    int rc = ls__covers_store(s->f->covers, s->hex, s->data, COVER_LEN);
    ls__covers_finish(s->f->covers, s->hex, rc);
}

static int start_fetch(const char *sha256, void *userdata)
{
    shared_t *s = userdata;
    assert_string_equal(sha256, s->hex);
    s->starts++;
    return uv_thread_create(&s->fetcher, fetch_thread, s) == 0 ? 0 : LS_EIO;
}

static void asker(void *arg)
{
    shared_t *s = arg;
    ls_peer_cover_t got;
    s->result[0] = ls__covers_get(s->f->covers, s->hex, 5000, start_fetch, s, &got);
    if (s->result[0] == 0 && (got.len != COVER_LEN || memcmp(got.data, s->data, COVER_LEN)))
        s->result[0] = LS_ECORRUPT;
    free(got.data);
}

static void askers_of_one_hash_share_one_fetch(void **state)
{
    fixture_t *f = *state;
    shared_t s = {.f = f, .result = {1, 1}};
    /* the thread asks first and starts the fetch; this one joins it */
    assert_int_equal(ls__covers_open(f->state, LS_COVER_CACHE_MAX, &f->covers), 0);
    make_cover(20, s.data, s.hex);
    ls_peer_cover_t got;
    int first_rc;
    uv_thread_t other;
    assert_int_equal(uv_thread_create(&other, asker, &s), 0);
    usleep(50 * 1000);
    first_rc = ls__covers_get(f->covers, s.hex, 5000, start_fetch, &s, &got);
    assert_int_equal(first_rc, 0);
    assert_memory_equal(got.data, s.data, COVER_LEN);
    free(got.data);
    uv_thread_join(&other);
    uv_thread_join(&s.fetcher);
    assert_int_equal(s.result[0], 0);
    assert_int_equal(s.starts, 1);
}

static int start_nothing(const char *sha256, void *userdata)
{
    (void)sha256;
    (void)userdata;
    return 0;
}

static int start_and_fail(const char *sha256, void *userdata)
{
    ls__covers_finish(userdata, sha256, LS_ENOENT); /* no peer has it */
    return 0;
}

static void a_failed_or_late_fetch_is_reported(void **state)
{
    fixture_t *f = *state;
    uint8_t data[COVER_LEN];
    char hex[LS_SHA256_HEX_LEN + 1];
    ls_peer_cover_t got;
    assert_int_equal(ls__covers_open(f->state, LS_COVER_CACHE_MAX, &f->covers), 0);
    make_cover(30, data, hex);
    assert_int_equal(ls__covers_get(f->covers, hex, 100, start_nothing, NULL, &got), LS_ETIMEDOUT);
    ls__covers_finish(f->covers, hex, LS_ENOENT); /* the late fetch ends */
    assert_int_equal(ls__covers_get(f->covers, hex, 1000, start_and_fail, f->covers, &got),
                     LS_ENOENT);
    assert_null(got.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(only_verified_covers_are_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(the_least_recently_used_cover_goes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(askers_of_one_hash_share_one_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_or_late_fetch_is_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
