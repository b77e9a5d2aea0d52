/* The binary library index (src/library/index.c): what it keeps, that names
 * are bytes, and that a damaged or lying file is refused as a whole. */
#include "testutil.h"

#include "library/library_internal.h"

#include "lanspread/error.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

/* Offsets in the body of the index built by build_index(). */
#define BODY_DIGEST_LEN_AT 8
#define GAME_ID "alpha"

static ls_file_record_t make_file(const char *path, uint64_t size, bool is_dir, bool is_hashed)
{
    ls_file_record_t file = {
        .path = strdup(path),
        .is_dir = is_dir,
        .is_hashed = is_hashed,
        .stamp = {.size = size, .mtime_ns = -1234567890123LL, .ino = 0xfedcba9876543210ull},
    };
    if (is_hashed && !is_dir && size > 0) {
        file.chunk_count = (size + LS_CHUNK_SIZE - 1) / LS_CHUNK_SIZE;
        file.chunks = malloc(file.chunk_count * sizeof *file.chunks);
        for (size_t c = 0; c < file.chunk_count; c++)
            ls_test_fill(file.chunks[c], LS_SHA256_LEN, (uint32_t)(c + size));
    }
    return file;
}

/* Two games: one downloaded with every kind of file record (names that are
 * not UTF-8 among them), one not downloaded. Files sorted by path. */
static void build_index(ls_index_t *index, const char *game_dir)
{
    memset(index, 0, sizeof *index);
    index->game_dir = game_dir ? strdup(game_dir) : NULL;
    index->library_rev = 1700000000123ull;
    memset(index->digest, 'a', LS_SHA256_HEX_LEN);
    index->game_count = 2;
    index->games = calloc(2, sizeof *index->games);
    ls_game_record_t *alpha = &index->games[0];
    alpha->id = strdup(GAME_ID);
    alpha->version = strdup("1.0 beta");
    alpha->version_stamp = (ls_file_stamp_t){.size = 9, .mtime_ns = 5, .ino = 6};
    alpha->file_count = 6;
    alpha->files = calloc(alpha->file_count, sizeof *alpha->files);
    alpha->files[0] = make_file("big.pak", 2 * LS_CHUNK_SIZE + 1, false, true);
    alpha->files[1] = make_file("caf\xe9.txt", 12, false, true); /* Latin-1 */
    alpha->files[2] = make_file("empty.cfg", 0, false, true);
    alpha->files[3] = make_file("maps", 0, true, true);
    alpha->files[4] = make_file("maps/\xff\xfe raw", 7, false, true);
    alpha->files[5] = make_file("unhashed.bin", 3, false, false);
    ls_game_record_t *bravo = &index->games[1];
    bravo->id = strdup("bravo");
}

static void assert_same_index(const ls_index_t *a, const ls_index_t *b)
{
    assert_true((a->game_dir == NULL) == (b->game_dir == NULL));
    if (a->game_dir)
        assert_string_equal(a->game_dir, b->game_dir);
    assert_int_equal(a->library_rev, b->library_rev);
    assert_string_equal(a->digest, b->digest);
    assert_int_equal(a->game_count, b->game_count);
    for (size_t g = 0; g < a->game_count; g++) {
        const ls_game_record_t *ga = &a->games[g], *gb = &b->games[g];
        assert_string_equal(ga->id, gb->id);
        assert_true((ga->version == NULL) == (gb->version == NULL));
        if (ga->version)
            assert_string_equal(ga->version, gb->version);
        assert_memory_equal(&ga->version_stamp, &gb->version_stamp, sizeof ga->version_stamp);
        assert_int_equal(ga->file_count, gb->file_count);
        for (size_t f = 0; f < ga->file_count; f++) {
            const ls_file_record_t *fa = &ga->files[f], *fb = &gb->files[f];
            assert_string_equal(fa->path, fb->path);
            assert_int_equal(fa->is_dir, fb->is_dir);
            assert_int_equal(fa->is_hashed, fb->is_hashed);
            assert_memory_equal(&fa->stamp, &fb->stamp, sizeof fa->stamp);
            assert_int_equal(fa->chunk_count, fb->chunk_count);
            if (fa->chunk_count)
                assert_memory_equal(fa->chunks, fb->chunks, fa->chunk_count * sizeof *fa->chunks);
        }
    }
}

static void every_record_round_trips_with_names_that_are_not_utf8(void **state)
{
    (void)state;
    ls_index_t index, back;
    uint8_t *data, *again;
    size_t len, again_len;
    build_index(&index, "/srv/Spiele f\xfcr LAN");
    assert_int_equal(ls__index_encode(&index, &data, &len), 0);
    assert_int_equal(ls__index_decode(data, len, &back), 0);
    assert_same_index(&index, &back);
    assert_non_null(ls_game_find_file(&back.games[0], "maps/\xff\xfe raw"));
    /* One encoding per index: what was read writes back byte for byte. */
    assert_int_equal(ls__index_encode(&back, &again, &again_len), 0);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, data, len);
    /* The JSON index of older builds could not hold these names at all. */
    char *text = NULL;
    assert_int_not_equal(ls__index_json_dump(&index, &text), 0);
    free(text);
    free(again);
    free(data);
    ls_index_free(&back);
    ls_index_free(&index);
}

static void a_cut_or_flipped_file_is_refused_as_a_whole(void **state)
{
    (void)state;
    ls_index_t index, back;
    uint8_t *data;
    size_t len;
    build_index(&index, NULL);
    assert_int_equal(ls__index_encode(&index, &data, &len), 0);
    for (size_t keep = 0; keep < len; keep++) {
        assert_int_equal(ls__index_decode(data, keep, &back), LS_ECORRUPT);
        assert_int_equal(back.game_count, 0);
    }
    /* The header's u32 format after the 8-byte magic: another value is
     * another build's index (LS_EVERSION, rehashed once), not damage. */
    enum { FORMAT_AT = 8, FORMAT_LEN = 4 };
    for (size_t at = 0; at < len; at++) {
        int want = at >= FORMAT_AT && at < FORMAT_AT + FORMAT_LEN ? LS_EVERSION : LS_ECORRUPT;
        for (int bit = 0; bit < 8; bit++) {
            data[at] ^= (uint8_t)(1u << bit);
            assert_int_equal(ls__index_decode(data, len, &back), want);
            data[at] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(ls__index_decode(data, len, &back), 0);
    ls_index_free(&back);
    free(data);
    ls_index_free(&index);
}

/* A body (no checksum to hide behind) with one field replaced. */
static int decode_patched(const uint8_t *body, size_t len, size_t at, const void *value,
                          size_t value_len)
{
    uint8_t *copy = malloc(len);
    ls_index_t out;
    memcpy(copy, body, len);
    memcpy(copy + at, value, value_len);
    int rc = ls__index_decode_body(copy, len, &out);
    ls_index_free(&out);
    free(copy);
    return rc;
}

static size_t find(const uint8_t *body, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(body + i, needle, n) == 0)
            return i;
    fail_msg("%s not in the body", needle);
    return 0;
}

/* Counts and lengths are checked against the bytes that are left before
 * anything is allocated for them: a few bytes cannot ask for gigabytes. */
static void lying_lengths_and_counts_are_refused(void **state)
{
    (void)state;
    ls_index_t index;
    uint8_t *body;
    size_t len;
    const uint32_t huge32 = htole32(0xffffffffu);
    const uint16_t huge16 = htole16(0xffffu);
    build_index(&index, NULL);
    assert_int_equal(ls__index_encode_body(&index, &body, &len), 0);
    size_t game_dir_len_at = BODY_DIGEST_LEN_AT + 1 + LS_SHA256_HEX_LEN;
    size_t game_count_at = game_dir_len_at + 4;
    size_t record_len_at = game_count_at + 4;
    size_t id_at = find(body, len, GAME_ID);
    size_t file_count_at = find(body, len, "1.0 beta") + strlen("1.0 beta") + 3 * 8;
    size_t path_len_at = find(body, len, "big.pak") - 2;
    size_t chunk_count_at = path_len_at + 2 + strlen("big.pak") + 1 + 3 * 8;
    uint8_t digest_len = LS_SHA256_HEX_LEN + 1;

    assert_int_equal(decode_patched(body, len, 0, body, 0), 0); /* unpatched: fine */
    assert_int_equal(decode_patched(body, len, BODY_DIGEST_LEN_AT, &digest_len, 1), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, game_dir_len_at, &huge32, 4), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, game_count_at, &huge32, 4), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, record_len_at, &huge32, 4), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, file_count_at, &huge32, 4), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, path_len_at, &huge16, 2), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, chunk_count_at, &huge32, 4), LS_ECORRUPT);
    /* Fields that are in bounds but not what a scan writes. */
    uint8_t flags = 0x80, nul = 0;
    assert_int_equal(decode_patched(body, len, chunk_count_at - 3 * 8 - 1, &flags, 1), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, path_len_at + 2, &nul, 1), LS_ECORRUPT);
    assert_int_equal(decode_patched(body, len, id_at, "../..", 5), LS_ECORRUPT);
    free(body);
    ls_index_free(&index);

    /* Chunk hashes are used as is for an unchanged file: they must fit its
     * size. */
    build_index(&index, NULL);
    index.games[0].files[0].stamp.size = 1;
    assert_int_equal(ls__index_encode_body(&index, &body, &len), 0);
    ls_index_t out;
    assert_int_equal(ls__index_decode_body(body, len, &out), LS_ECORRUPT);
    free(body);
    ls_index_free(&index);
}

/* Lookups bsearch: a file whose order is off, or a path listed twice, is
 * refused rather than trusted. */
static void unsorted_or_repeated_entries_are_refused(void **state)
{
    (void)state;
    ls_index_t index, out;
    uint8_t *body;
    size_t len;
    build_index(&index, NULL);
    ls_file_record_t *files = index.games[0].files;
    ls_file_record_t first = files[0];
    files[0] = files[1];
    files[1] = first;
    assert_int_equal(ls__index_encode_body(&index, &body, &len), 0);
    assert_int_equal(ls__index_decode_body(body, len, &out), LS_ECORRUPT);
    free(body);
    ls_index_free(&index);

    build_index(&index, NULL);
    free(index.games[0].files[1].path);
    index.games[0].files[1].path = strdup(index.games[0].files[0].path);
    assert_int_equal(ls__index_encode_body(&index, &body, &len), 0);
    assert_int_equal(ls__index_decode_body(body, len, &out), LS_ECORRUPT);
    free(body);
    ls_index_free(&index);

    build_index(&index, NULL);
    free(index.games[1].id);
    index.games[1].id = strdup("aaa");
    assert_int_equal(ls__index_encode_body(&index, &body, &len), 0);
    assert_int_equal(ls__index_decode_body(body, len, &out), LS_ECORRUPT);
    free(body);
    ls_index_free(&index);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_record_round_trips_with_names_that_are_not_utf8),
        cmocka_unit_test(a_cut_or_flipped_file_is_refused_as_a_whole),
        cmocka_unit_test(lying_lengths_and_counts_are_refused),
        cmocka_unit_test(unsorted_or_repeated_entries_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
