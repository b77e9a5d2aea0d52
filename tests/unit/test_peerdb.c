/* PeerGameDB: applying handshakes and deltas, re-sync signals, the latest
 * version per title and who serves it, and peers' partial copies. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/peerdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static ls_game_summary_t game(const char *id, const char *version, uint64_t size)
{
    ls_game_summary_t g = {.id = strdup(id),
                           .name = strdup(id),
                           .version = strdup(version),
                           .size = size,
                           .file_count = 3};
    return g;
}

/* A hello with a correct digest; the caller frees with hello_free(). */
static ls_hello_t make_hello(const char *peer_id, uint64_t rev, size_t count,
                             const ls_game_summary_t *games)
{
    ls_hello_t h = {.protocol_version = LS_PROTOCOL_VERSION,
                    .peer_id = strdup(peer_id),
                    .name = strdup(peer_id),
                    .listen_port = 4000};
    h.features = calloc(1, sizeof *h.features);
    h.features[0] = strdup("chunks");
    h.feature_count = 1;
    h.library.library_rev = rev;
    h.library.games = calloc(count + 1, sizeof *h.library.games);
    for (size_t i = 0; i < count; i++)
        ls_game_summary_copy(&h.library.games[i], &games[i]);
    h.library.game_count = count;
    assert_int_equal(ls_snapshot_digest(h.library.games, count, h.library.digest), 0);
    return h;
}

static void hello_free(ls_hello_t *h)
{
    free(h->peer_id);
    free(h->name);
    free(h->features[0]);
    free(h->features);
    ls_snapshot_free(&h->library);
}

static void summaries_free(ls_game_summary_t *games, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ls_game_summary_free(&games[i]);
}

static void hello_makes_the_remote_games_visible(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    bool is_new = false;
    ls_game_summary_t games[] = {game("quake3", "1.0", 100), game("aoe2", "2", 50)};
    ls_hello_t h = make_hello("peer-a", 7, 2, games);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "127.0.0.1:4000", 10, &is_new), 0);
    assert_true(is_new);
    const ls_peer_t *peer = ls_peerdb_find(db, "peer-a");
    assert_non_null(peer);
    assert_int_equal(peer->library.library_rev, 7);
    assert_int_equal(peer->library.game_count, 2);
    assert_string_equal(peer->address, "127.0.0.1:4000");

    ls_remote_game_t *list;
    size_t count;
    assert_int_equal(ls_peerdb_games(db, &list, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(list[0].id, "aoe2");
    assert_string_equal(list[1].id, "quake3");
    assert_int_equal(list[1].peer_count, 1);
    ls_remote_games_free(list, count);

    /* A second hello from the same peer replaces, never duplicates. */
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "127.0.0.1:4000", 11, &is_new), 0);
    assert_false(is_new);
    assert_int_equal(ls_peerdb_count(db), 1);
    hello_free(&h);
    summaries_free(games, 2);
    ls_peerdb_free(db);
}

static void hello_with_a_wrong_digest_changes_nothing(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t games[] = {game("quake3", "1.0", 100)};
    ls_hello_t h = make_hello("peer-a", 1, 1, games);
    h.library.digest[0] = h.library.digest[0] == 'a' ? 'b' : 'a';
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), LS_ECORRUPT);
    assert_int_equal(ls_peerdb_count(db), 0);
    hello_free(&h);
    summaries_free(games, 1);
    ls_peerdb_free(db);
}

static void delta_applies_in_order_and_a_gap_asks_for_a_resync(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t games[] = {game("quake3", "1.0", 100), game("aoe2", "2", 50)};
    ls_hello_t h = make_hello("peer-a", 5, 2, games);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);

    /* After: quake3 updated, aoe2 removed, cs16 added. */
    ls_game_summary_t after[] = {game("quake3", "1.1", 120), game("cs16", "1", 10)};
    char *removed[] = {"aoe2"};
    ls_library_delta_t delta = {.from_rev = 5,
                                .to_rev = 6,
                                .changed = after,
                                .changed_count = 2,
                                .removed = removed,
                                .removed_count = 1};
    assert_int_equal(ls_snapshot_digest(after, 2, delta.digest), 0);

    ls_library_delta_t gap = delta;
    gap.from_rev = 4;
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &gap), LS_ESTATE);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->library.library_rev, 5);

    ls_library_delta_t lying = delta;
    lying.digest[0] = lying.digest[0] == 'a' ? 'b' : 'a';
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &lying), LS_ESTATE);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->library.game_count, 2);

    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &delta), 0);
    const ls_peer_t *peer = ls_peerdb_find(db, "peer-a");
    assert_int_equal(peer->library.library_rev, 6);
    assert_int_equal(peer->library.game_count, 2);
    assert_string_equal(peer->library.digest, delta.digest);
    assert_int_equal(ls_peerdb_apply_delta(db, "nobody", &delta), LS_ENOENT);

    /* The same delta again is now a gap: from_rev 5 is no longer known. */
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &delta), LS_ESTATE);
    hello_free(&h);
    summaries_free(games, 2);
    summaries_free(after, 2);
    ls_peerdb_free(db);
}

static void advertised_rev_signals_resync_only_when_it_differs(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t games[] = {game("quake3", "1.0", 100)};
    ls_hello_t h = make_hello("peer-a", 3, 1, games);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);
    assert_int_equal(ls_peerdb_update_peer_library(db, "peer-a", 3, h.library.digest), 0);
    assert_int_equal(ls_peerdb_update_peer_library(db, "peer-a", 4, h.library.digest), 1);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->advertised_rev, 4);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->library.library_rev, 3);
    assert_int_equal(ls_peerdb_update_peer_library(db, "ghost", 1, "x"), LS_ENOENT);
    hello_free(&h);
    summaries_free(games, 1);
    ls_peerdb_free(db);
}

static void latest_version_wins_and_only_its_peers_seed(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t old[] = {game("quake3", "1.9", 100)};
    ls_game_summary_t newer[] = {game("quake3", "1.10", 140)};
    ls_hello_t a = make_hello("peer-a", 1, 1, old);
    ls_hello_t b = make_hello("peer-b", 1, 1, newer);
    ls_hello_t c = make_hello("peer-c", 1, 1, newer);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &a, "a", 0, NULL), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &b, "b", 0, NULL), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &c, "c", 0, NULL), 0);

    ls_remote_game_t *list;
    size_t count;
    assert_int_equal(ls_peerdb_games(db, &list, &count), 0);
    assert_int_equal(count, 1);
    assert_string_equal(list[0].latest_version, "1.10");
    assert_int_equal(list[0].size, 140);
    assert_int_equal(list[0].peer_count, 2);
    ls_remote_games_free(list, count);

    const char **seeders;
    assert_int_equal(ls_peerdb_seeders(db, "quake3", &seeders, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(seeders[0], "peer-b");
    assert_string_equal(seeders[1], "peer-c");
    free(seeders);

    assert_int_equal(ls_peerdb_remove(db, "peer-b"), 0);
    assert_int_equal(ls_peerdb_count(db), 2);
    assert_null(ls_peerdb_find(db, "peer-b"));
    assert_int_equal(ls_peerdb_remove(db, "peer-b"), LS_ENOENT);
    hello_free(&a);
    hello_free(&b);
    hello_free(&c);
    summaries_free(old, 1);
    summaries_free(newer, 1);
    ls_peerdb_free(db);
}

/* Three peers announcing 10,000 games each (in reverse order, half of them
 * shared): the list comes out right and fast — building it was O(G^2), a
 * stall of seconds on the loop for every list a hostile peer provoked. */
static void ten_thousand_games_list_in_n_log_n(void **state)
{
    (void)state;
    enum { GAMES = 10000 };
    ls_peerdb_t *db = NULL;
    ls_game_summary_t *games = calloc(GAMES, sizeof *games);
    char id[32];
    assert_int_equal(ls_peerdb_new(&db), 0);
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < GAMES; i++) {
            /* peers 0 and 1 share g0..g9999 (peer 1 newer on even ones); peer 2
             * offers g5000..g14999 */
            int n = p == 2 ? i + GAMES / 2 : i;
            snprintf(id, sizeof id, "g%05d", n);
            games[GAMES - 1 - i] = game(id, p == 1 && n % 2 == 0 ? "2.0" : "1.0", 100);
        }
        char peer_id[16];
        snprintf(peer_id, sizeof peer_id, "peer-%d", p);
        ls_hello_t h = make_hello(peer_id, 1, GAMES, games);
        assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);
        hello_free(&h);
        summaries_free(games, GAMES);
    }
    free(games);
    uint64_t start = uv_hrtime();
    ls_remote_game_t *list = NULL;
    size_t count = 0;
    assert_int_equal(ls_peerdb_games(db, &list, &count), 0);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    assert_int_equal(count, GAMES + GAMES / 2);
    for (size_t i = 1; i < count; i++)
        assert_true(strcmp(list[i - 1].id, list[i].id) < 0);
    /* g00002: peer 1 has 2.0, so it alone seeds; g07001: peers 0, 1, 2 at 1.0 */
    assert_string_equal(list[2].latest_version, "2.0");
    assert_int_equal(list[2].peer_count, 1);
    assert_string_equal(list[7001].latest_version, "1.0");
    assert_int_equal(list[7001].peer_count, 3);
    ls_remote_games_free(list, count);
    ls_peerdb_free(db);
    /* a generous bound (about 20 ms here; the quadratic build took seconds) */
    assert_true(seconds < 0.5);
}

/* games[i] = "g%05d" (i + first) at version, in reverse order. */
static ls_game_summary_t *numbered_games(int count, int first, const char *version)
{
    ls_game_summary_t *games = calloc((size_t)count, sizeof *games);
    char id[32];
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof id, "g%05d", first + i);
        games[count - 1 - i] = game(id, version, 100);
    }
    return games;
}

/* A peer announcing LS_PEERDB_GAMES_MAX games changes all of them, then
 * swaps all of them for others, then the list and every title's seeders are
 * read (what a list-games emission does): each step is O(N log N). Applying
 * such a delta was O(N^2): about half a second of loop time each. */
static void ten_thousand_game_deltas_apply_in_n_log_n(void **state)
{
    (void)state;
    enum { GAMES = LS_PEERDB_GAMES_MAX };
    ls_peerdb_t *db = NULL;
    ls_game_summary_t *v1 = numbered_games(GAMES, 0, "1.0");
    ls_game_summary_t *v2 = numbered_games(GAMES, 0, "2.0");
    ls_game_summary_t *others = numbered_games(GAMES, GAMES, "1.0");
    char **removed = calloc(GAMES, sizeof *removed);
    for (int i = 0; i < GAMES; i++)
        removed[i] = v2[i].id;
    ls_hello_t h = make_hello("peer-a", 1, GAMES, v1);
    ls_library_delta_t change = {.from_rev = 1, .to_rev = 2, .changed = v2, .changed_count = GAMES};
    ls_library_delta_t swap = {.from_rev = 2,
                               .to_rev = 3,
                               .changed = others,
                               .changed_count = GAMES,
                               .removed = removed,
                               .removed_count = GAMES};
    assert_int_equal(ls_snapshot_digest(v2, GAMES, change.digest), 0);
    assert_int_equal(ls_snapshot_digest(others, GAMES, swap.digest), 0);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);

    uint64_t start = uv_hrtime();
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &change), 0);
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &swap), 0);
    ls_remote_game_t *list = NULL;
    size_t count = 0, seeder_total = 0;
    assert_int_equal(ls_peerdb_games(db, &list, &count), 0);
    for (size_t i = 0; i < count; i++) {
        const char **seeders;
        size_t n;
        assert_int_equal(ls_peerdb_seeders(db, list[i].id, &seeders, &n), 0);
        seeder_total += n;
        free(seeders);
    }
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    assert_int_equal(count, GAMES);
    assert_int_equal(seeder_total, GAMES);
    assert_string_equal(list[0].id, "g10000");
    assert_string_equal(list[count - 1].id, "g19999");
    ls_remote_games_free(list, count);
    /* generous: about 40 ms here idle, over 0.3 s at a load of 20 on two
     * cores; the quadratic deltas took 1.5 s idle */
    assert_true(seconds < 1.0);
    hello_free(&h);
    free(removed);
    summaries_free(v1, GAMES);
    summaries_free(v2, GAMES);
    summaries_free(others, GAMES);
    free(v1);
    free(v2);
    free(others);
    ls_peerdb_free(db);
}

/* Each delta is bounded by the decoder, but deltas add up: a library may
 * not grow past LS_PEERDB_GAMES_MAX one delta at a time either. */
static void a_delta_may_not_grow_a_library_past_the_bound(void **state)
{
    (void)state;
    enum { GAMES = LS_PEERDB_GAMES_MAX };
    ls_peerdb_t *db = NULL;
    ls_game_summary_t *all = numbered_games(GAMES + 1, 0, "1.0");
    /* all[0] is g10000, the one the delta adds; all + 1 the hello's games */
    ls_hello_t h = make_hello("peer-a", 1, GAMES, all + 1);
    ls_library_delta_t grow = {.from_rev = 1, .to_rev = 2, .changed = all, .changed_count = 1};
    assert_int_equal(ls_snapshot_digest(all, GAMES + 1, grow.digest), 0);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &grow), LS_ELIMIT);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->library.game_count, GAMES);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->library.library_rev, 1);
    hello_free(&h);
    summaries_free(all, GAMES + 1);
    free(all);
    ls_peerdb_free(db);
}

static void versions_compare_as_people_read_them(void **state)
{
    (void)state;
    assert_true(ls_version_compare("1.10", "1.9") > 0);
    assert_true(ls_version_compare("20240501", "20231231") > 0);
    assert_true(ls_version_compare("1.0", "1.0") == 0);
    assert_true(ls_version_compare("1.0", "1.0.1") < 0);
    assert_true(ls_version_compare("v2", "v10") < 0);
    assert_true(ls_version_compare("1.02", "1.2") == 0);
    assert_true(ls_version_compare("beta", "alpha") > 0);
}

static void manifests_are_kept_per_peer_and_game(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t games[] = {game("quake3", "1.0", 100)};
    ls_hello_t h = make_hello("peer-a", 1, 1, games);
    uint8_t hashes[2][LS_SHA256_LEN];
    ls_test_fill(hashes, sizeof hashes, 5);
    ls_file_desc_t file = {
        .path = "big.pak", .size = LS_CHUNK_SIZE + 1, .chunk_sha256 = hashes, .chunk_count = 2};
    ls_game_manifest_t m = {.game_id = "quake3",
                            .version = "1.0",
                            .chunk_size = LS_CHUNK_SIZE,
                            .files = &file,
                            .file_count = 1};
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_set_manifest(db, "peer-a", &m), LS_ENOENT);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);
    assert_int_equal(ls_peerdb_set_manifest(db, "peer-a", &m), 0);
    assert_int_equal(ls_peerdb_set_manifest(db, "peer-a", &m), 0);
    const ls_game_manifest_t *got = ls_peerdb_manifest(db, "peer-a", "quake3");
    assert_non_null(got);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->manifest_count, 1);
    assert_memory_equal(got->files[0].chunk_sha256, hashes, sizeof hashes);
    assert_null(ls_peerdb_manifest(db, "peer-a", "aoe2"));
    hello_free(&h);
    summaries_free(games, 1);
    ls_peerdb_free(db);
}

#define MANIFEST_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MANIFEST_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* A have of `chunk_count` chunks whose bitmap holds `first_byte` then
 * zeros; bitmap points into the caller's buffer. */
static ls_have_t make_have(const char *game_id, const char *version, const char *manifest_id,
                           uint32_t chunk_count, uint8_t *bitmap, uint8_t first_byte)
{
    ls_have_t have = {.game_id = (char *)game_id,
                      .version = (char *)version,
                      .chunk_count = chunk_count,
                      .bitmap = chunk_count ? bitmap : NULL};
    memcpy(have.manifest_id, manifest_id, sizeof have.manifest_id);
    if (chunk_count) {
        memset(bitmap, 0, LS_HAVE_BITMAP_LEN(chunk_count));
        bitmap[0] = first_byte;
    }
    return have;
}

static void partial_copies_are_kept_per_peer_and_game(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t games[] = {game("aoe2", "2", 50)};
    ls_hello_t a = make_hello("peer-a", 1, 1, games);
    ls_hello_t b = make_hello("peer-b", 1, 1, games);
    uint8_t bits[2];
    ls_have_t have = make_have("quake3", "1.32", MANIFEST_A, 10, bits, 0x05);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &have), LS_ENOENT);
    assert_int_equal(ls_peerdb_apply_hello(db, &a, "a", 0, NULL), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &b, "b", 0, NULL), 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &have), 0);

    /* The record is a copy: the caller's bitmap can change or go. */
    bits[0] = 0xff;
    const ls_peer_partial_t *got = ls_peerdb_partial(db, "peer-a", "quake3");
    assert_non_null(got);
    assert_string_equal(got->version, "1.32");
    assert_string_equal(got->manifest_id, MANIFEST_A);
    assert_int_equal(got->chunk_count, 10);
    assert_int_equal(got->bitmap[0], 0x05);
    assert_int_equal(got->bitmap[1], 0);
    assert_null(ls_peerdb_partial(db, "peer-b", "quake3"));
    assert_null(ls_peerdb_partial(db, "peer-a", "aoe2"));
    assert_null(ls_peerdb_partial(db, "nobody", "quake3"));

    /* A newer have replaces the record, never adds a second one. */
    have = make_have("quake3", "1.32", MANIFEST_A, 10, bits, 0x07);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &have), 0);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->partial_count, 1);
    assert_int_equal(ls_peerdb_partial(db, "peer-a", "quake3")->bitmap[0], 0x07);

    /* chunk_count 0 withdraws it; withdrawing nothing is fine. */
    have = make_have("quake3", "1.32", MANIFEST_A, 0, bits, 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &have), 0);
    assert_null(ls_peerdb_partial(db, "peer-a", "quake3"));
    assert_int_equal(ls_peerdb_set_partial(db, "peer-b", &have), 0);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->partial_count, 0);
    hello_free(&a);
    hello_free(&b);
    summaries_free(games, 1);
    ls_peerdb_free(db);
}

static void partials_lists_the_peers_holding_that_exact_manifest(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_hello_t hellos[3] = {make_hello("peer-a", 1, 0, NULL), make_hello("peer-b", 1, 0, NULL),
                            make_hello("peer-c", 1, 0, NULL)};
    uint8_t bits[1];
    ls_have_t on_a = make_have("quake3", "1.32", MANIFEST_A, 3, bits, 0x01);
    ls_have_t on_b = make_have("quake3", "1.33", MANIFEST_B, 3, bits, 0x01);
    const char **peers;
    size_t count;
    assert_int_equal(ls_peerdb_new(&db), 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ls_peerdb_apply_hello(db, &hellos[i], "x", 0, NULL), 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &on_a), 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-b", &on_b), 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-c", &on_a), 0);

    assert_int_equal(ls_peerdb_partials(db, "quake3", MANIFEST_A, &peers, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(peers[0], "peer-a");
    assert_string_equal(peers[1], "peer-c");
    free(peers);
    assert_int_equal(ls_peerdb_partials(db, "quake3", MANIFEST_B, &peers, &count), 0);
    assert_int_equal(count, 1);
    assert_string_equal(peers[0], "peer-b");
    free(peers);
    assert_int_equal(ls_peerdb_partials(db, "aoe2", MANIFEST_A, &peers, &count), 0);
    assert_int_equal(count, 0);
    free(peers);

    /* A peer that goes takes its partial copies with it. */
    assert_int_equal(ls_peerdb_remove(db, "peer-a"), 0);
    assert_int_equal(ls_peerdb_partials(db, "quake3", MANIFEST_A, &peers, &count), 0);
    assert_int_equal(count, 1);
    assert_string_equal(peers[0], "peer-c");
    free(peers);
    for (size_t i = 0; i < 3; i++)
        hello_free(&hellos[i]);
    ls_peerdb_free(db);
}

/* Once the peer's library lists the game at the version it was
 * downloading, it seeds it: the partial record goes. */
static void a_completed_game_drops_the_partial_copy(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_game_summary_t old[] = {game("quake3", "1.31", 90)};
    ls_hello_t h = make_hello("peer-a", 1, 1, old);
    uint8_t bits[1];
    ls_have_t quake = make_have("quake3", "1.32", MANIFEST_A, 3, bits, 0x03);
    ls_have_t doom = make_have("doom", "1.9", MANIFEST_B, 3, bits, 0x01);
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);
    /* Seeding 1.31 while downloading 1.32 is a partial copy of 1.32. */
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &quake), 0);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &doom), 0);

    /* A re-handshake with the same library keeps both. */
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 1, NULL), 0);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->partial_count, 2);

    /* The delta that lists quake3 1.32 ends its partial copy, not doom's. */
    ls_game_summary_t done[] = {game("quake3", "1.32", 100)};
    ls_library_delta_t delta = {.from_rev = 1, .to_rev = 2, .changed = done, .changed_count = 1};
    assert_int_equal(ls_snapshot_digest(done, 1, delta.digest), 0);
    assert_int_equal(ls_peerdb_apply_delta(db, "peer-a", &delta), 0);
    assert_null(ls_peerdb_partial(db, "peer-a", "quake3"));
    assert_non_null(ls_peerdb_partial(db, "peer-a", "doom"));

    /* A late have of what the peer now seeds is not recorded: it seeds. */
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &quake), 1);
    assert_null(ls_peerdb_partial(db, "peer-a", "quake3"));

    /* A hello listing doom 1.9 ends that one too. */
    ls_game_summary_t both[] = {game("quake3", "1.32", 100), game("doom", "1.9", 10)};
    ls_hello_t again = make_hello("peer-a", 3, 2, both);
    assert_int_equal(ls_peerdb_apply_hello(db, &again, "x", 2, NULL), 0);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->partial_count, 0);
    hello_free(&h);
    hello_free(&again);
    summaries_free(old, 1);
    summaries_free(done, 1);
    summaries_free(both, 2);
    ls_peerdb_free(db);
}

/* However many games a peer claims to download, we hold at most
 * LS_PEERDB_PARTIALS_MAX records for it; an update of a held one still
 * goes through. */
static void partial_copies_per_peer_are_bounded(void **state)
{
    (void)state;
    ls_peerdb_t *db;
    ls_hello_t h = make_hello("peer-a", 1, 0, NULL);
    uint8_t bits[1];
    char id[16];
    assert_int_equal(ls_peerdb_new(&db), 0);
    assert_int_equal(ls_peerdb_apply_hello(db, &h, "x", 0, NULL), 0);
    for (int i = 0; i < LS_PEERDB_PARTIALS_MAX; i++) {
        snprintf(id, sizeof id, "game%d", i);
        ls_have_t have = make_have(id, "1", MANIFEST_A, 8, bits, 0x01);
        assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &have), 0);
    }
    ls_have_t extra = make_have("one-more", "1", MANIFEST_A, 8, bits, 0x01);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &extra), LS_ELIMIT);
    assert_null(ls_peerdb_partial(db, "peer-a", "one-more"));
    ls_have_t update = make_have("game0", "1", MANIFEST_A, 8, bits, 0x03);
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &update), 0);
    assert_int_equal(ls_peerdb_partial(db, "peer-a", "game0")->bitmap[0], 0x03);
    assert_int_equal(ls_peerdb_find(db, "peer-a")->partial_count, LS_PEERDB_PARTIALS_MAX);

    /* A have that would not validate is refused and changes nothing. */
    ls_have_t no_bitmap = make_have("game1", "1", MANIFEST_A, 8, bits, 0x01);
    no_bitmap.bitmap = NULL;
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &no_bitmap), LS_EINVAL);
    ls_have_t too_many = make_have("game1", "1", MANIFEST_A, 8, bits, 0x01);
    too_many.chunk_count = LS_HAVE_CHUNKS_MAX + 1;
    assert_int_equal(ls_peerdb_set_partial(db, "peer-a", &too_many), LS_EINVAL);
    assert_int_equal(ls_peerdb_partial(db, "peer-a", "game1")->chunk_count, 8);
    hello_free(&h);
    ls_peerdb_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_makes_the_remote_games_visible),
        cmocka_unit_test(hello_with_a_wrong_digest_changes_nothing),
        cmocka_unit_test(delta_applies_in_order_and_a_gap_asks_for_a_resync),
        cmocka_unit_test(advertised_rev_signals_resync_only_when_it_differs),
        cmocka_unit_test(latest_version_wins_and_only_its_peers_seed),
        cmocka_unit_test(ten_thousand_games_list_in_n_log_n),
        cmocka_unit_test(ten_thousand_game_deltas_apply_in_n_log_n),
        cmocka_unit_test(a_delta_may_not_grow_a_library_past_the_bound),
        cmocka_unit_test(versions_compare_as_people_read_them),
        cmocka_unit_test(manifests_are_kept_per_peer_and_game),
        cmocka_unit_test(partial_copies_are_kept_per_peer_and_game),
        cmocka_unit_test(partials_lists_the_peers_holding_that_exact_manifest),
        cmocka_unit_test(a_completed_game_drops_the_partial_copy),
        cmocka_unit_test(partial_copies_per_peer_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
