/* The local library: sentinel and installed rules, catalog gating, reserved
 * names, rev and digest, the index, manifests and bad input. */
#include "testutil.h"

#include "library/library_internal.h"

#include "lanspread/catalog.h"
#include "lanspread/cover.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/library.h"
#include "lanspread/log.h"

#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *test_catalog_json =
    "{\"games\":["
    "{\"id\":\"alpha\",\"name\":\"Alpha\",\"genre\":\"FPS\",\"max_players\":16},"
    "{\"id\":\"bravo\",\"name\":\"Bravo\"},"
    "{\"id\":\"charlie\",\"name\":\"Charlie\"},"
    "{\"id\":\"delta\",\"name\":\"Delta\"},"
    "{\"id\":\"echo\",\"name\":\"Echo\"},"
    "{\"id\":\"foxtrot\",\"name\":\"Foxtrot\"},"
    "{\"id\":\"golf\",\"name\":\"Golf\"},"
    "{\"id\":\"hotel\",\"name\":\"Hotel\"}]}";

typedef struct {
    char *games;
    char *state;
    ls_catalog_t *catalog;
    ls_library_t *library;
    char log[8192];
} fixture_t;

static void capture_log(ls_log_level_t level, const char *module, const char *message,
                        void *userdata)
{
    fixture_t *f = userdata;
    (void)level;
    (void)module;
    size_t used = strlen(f->log);
    snprintf(f->log + used, sizeof f->log - used, "%s\n", message);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char err[256];
    f->games = ls_test_mkdtemp("games");
    f->state = ls_test_mkdtemp("state");
    assert_int_equal(ls_catalog_new(&f->catalog), 0);
    assert_int_equal(ls_catalog_add_json(f->catalog, test_catalog_json, strlen(test_catalog_json),
                                         "test", err, sizeof err),
                     0);
    ls_log_set_sink(capture_log, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls_log_set_sink(NULL, NULL);
    ls_library_close(f->library);
    ls_catalog_free(f->catalog);
    ls_test_rmtree(f->games);
    ls_test_rmtree(f->state);
    free(f->games);
    free(f->state);
    free(f);
    return 0;
}

static void reopen(fixture_t *f)
{
    ls_library_close(f->library);
    ls_library_config_t config = {
        .game_dir = f->games, .state_dir = f->state, .catalog = f->catalog};
    assert_int_equal(ls_library_open(&config, &f->library), 0);
}

static ls_scan_stats_t scan(fixture_t *f)
{
    ls_scan_stats_t stats;
    if (!f->library)
        reopen(f);
    assert_int_equal(ls_library_scan_sync(f->library, &stats), 0);
    return stats;
}

static void add_game(fixture_t *f, const char *id, const char *version)
{
    char path[256];
    snprintf(path, sizeof path, "%s/game.zip", id);
    ls_test_write_text(f->games, path, "zipbytes");
    if (version) {
        snprintf(path, sizeof path, "%s/version.ini", id);
        ls_test_write_text(f->games, path, version);
    }
}

static bool is_announced(fixture_t *f, const char *id)
{
    ls_library_snapshot_t snap;
    bool found = false;
    assert_int_equal(ls_library_snapshot(f->library, &snap), 0);
    for (size_t i = 0; i < snap.game_count; i++)
        found |= strcmp(snap.games[i].id, id) == 0;
    ls_snapshot_free(&snap);
    return found;
}

static void game_is_downloaded_only_with_version_ini(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "version=2.1\n");
    add_game(f, "bravo", NULL);
    scan(f);
    const ls_local_game_t *alpha = ls_library_find(f->library, "alpha");
    const ls_local_game_t *bravo = ls_library_find(f->library, "bravo");
    assert_non_null(alpha);
    assert_non_null(bravo);
    assert_true(alpha->is_downloaded);
    assert_string_equal(alpha->version, "2.1");
    assert_false(bravo->is_downloaded);
    assert_null(bravo->version);
    assert_true(is_announced(f, "alpha"));
    assert_false(is_announced(f, "bravo"));
    ls_game_manifest_t manifest;
    assert_int_equal(ls_library_manifest(f->library, "bravo", &manifest), LS_ENOT_DOWNLOADED);
}

static void game_is_installed_only_when_local_is_a_directory(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    add_game(f, "bravo", "1\n");
    ls_test_write_text(f->games, "alpha/local/game.exe", "exe");
    ls_test_write_text(f->games, "bravo/local", "a file, not a folder");
    scan(f);
    assert_true(ls_library_find(f->library, "alpha")->is_installed);
    assert_false(ls_library_find(f->library, "bravo")->is_installed);
}

static void only_catalog_games_are_listed_or_served(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    add_game(f, "zulu", "1\n");
    scan(f);
    assert_null(ls_library_find(f->library, "zulu"));
    assert_false(is_announced(f, "zulu"));
    ls_game_manifest_t manifest;
    assert_int_equal(ls_library_manifest(f->library, "zulu", &manifest), LS_EUNKNOWN_GAME);
    assert_int_equal(ls_library_manifest(f->library, "nope", &manifest), LS_EUNKNOWN_GAME);
}

static void reserved_names_are_never_served(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    ls_test_write_text(f->games, "alpha/.lanspread.json", "{}");
    ls_test_write_text(f->games, "alpha/.local.installing/.lanspread_owned", "");
    ls_test_write_text(f->games, "alpha/.local.backup/x", "x");
    ls_test_write_text(f->games, "alpha/local/game.exe", "exe");
    ls_test_write_text(f->games, "alpha/.version.ini.tmp", "2");
    ls_test_write_text(f->games, "alpha/.version.ini.discarded", "0");
    ls_test_write_text(f->games, "alpha/data/local/inner.txt", "kept");
    scan(f);
    ls_game_manifest_t m;
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m), 0);
    const char *expected[] = {"data", "data/local", "data/local/inner.txt", "game.zip",
                              "version.ini"};
    assert_int_equal(m.file_count, 5);
    for (size_t i = 0; i < m.file_count; i++)
        assert_string_equal(m.files[i].path, expected[i]);
    assert_true(m.files[0].is_dir);
    assert_int_equal(ls_library_find(f->library, "alpha")->file_count, 3);
    ls_manifest_free(&m);
}

static void manifest_hashes_every_chunk(void **state)
{
    fixture_t *f = *state;
    size_t len = 2 * LS_CHUNK_SIZE + 12345;
    uint8_t *data = malloc(len);
    ls_test_fill(data, len, 7);
    add_game(f, "alpha", "1\n");
    ls_test_write_file(f->games, "alpha/big.bin", data, len);
    scan(f);
    ls_game_manifest_t m;
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m), 0);
    assert_int_equal(m.chunk_size, LS_CHUNK_SIZE);
    assert_string_equal(m.files[0].path, "big.bin");
    assert_int_equal(m.files[0].size, len);
    assert_int_equal(m.files[0].chunk_count, 3);
    for (size_t c = 0; c < 3; c++) {
        uint8_t expected[LS_SHA256_LEN];
        size_t off = c * LS_CHUNK_SIZE;
        size_t n = len - off < LS_CHUNK_SIZE ? len - off : LS_CHUNK_SIZE;
        ls_sha256(data + off, n, expected);
        assert_memory_equal(m.files[0].chunk_sha256[c], expected, LS_SHA256_LEN);
    }
    ls_manifest_free(&m);
    free(data);
}

static void rev_moves_only_when_announced_content_changes_and_survives_restart(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    ls_scan_stats_t s1 = scan(f);
    uint64_t rev1 = ls_library_rev(f->library);
    ls_library_snapshot_t snap1, snap2;
    assert_int_equal(ls_library_snapshot(f->library, &snap1), 0);
    assert_true(s1.rev_bumped);

    ls_scan_stats_t s2 = scan(f);
    assert_false(s2.rev_bumped);
    assert_int_equal(ls_library_rev(f->library), rev1);

    /* A file inside the installed copy is not announced content. */
    ls_test_write_text(f->games, "alpha/local/save.dat", "progress");
    scan(f);
    assert_int_equal(ls_library_rev(f->library), rev1);

    add_game(f, "bravo", "3\n");
    scan(f);
    assert_int_equal(ls_library_rev(f->library), rev1 + 1);
    assert_int_equal(ls_library_snapshot(f->library, &snap2), 0);
    assert_string_not_equal(snap1.digest, snap2.digest);

    reopen(f);
    assert_int_equal(ls_library_rev(f->library), rev1 + 1);
    scan(f);
    assert_int_equal(ls_library_rev(f->library), rev1 + 1);
    ls_snapshot_free(&snap1);
    ls_snapshot_free(&snap2);
}

static void same_content_gives_same_digest_in_another_state_dir(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    add_game(f, "charlie", "2\n");
    scan(f);
    ls_library_snapshot_t a, b;
    assert_int_equal(ls_library_snapshot(f->library, &a), 0);

    char *other_state = ls_test_mkdtemp("state2");
    ls_library_t *other;
    ls_library_config_t config = {
        .game_dir = f->games, .state_dir = other_state, .catalog = f->catalog};
    assert_int_equal(ls_library_open(&config, &other), 0);
    assert_int_equal(ls_library_scan_sync(other, NULL), 0);
    assert_int_equal(ls_library_snapshot(other, &b), 0);
    assert_string_equal(a.digest, b.digest);
    char recomputed[LS_SHA256_HEX_LEN + 1];
    assert_int_equal(ls_snapshot_digest(b.games, b.game_count, recomputed), 0);
    assert_string_equal(recomputed, b.digest);
    ls_library_close(other);
    ls_snapshot_free(&a);
    ls_snapshot_free(&b);
    ls_test_rmtree(other_state);
    free(other_state);
}

static void rescan_of_unchanged_library_reads_no_file_contents(void **state)
{
    fixture_t *f = *state;
    char path[512];
    struct stat before;
    add_game(f, "alpha", "1\n");
    ls_test_write_text(f->games, "alpha/data.bin", "original");
    ls_scan_stats_t cold = scan(f);
    assert_int_equal(cold.files_hashed, 3);
    assert_int_equal(cold.version_reads, 1);

    ls_game_manifest_t m1, m2;
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m1), 0);
    /* Same size, same inode, mtime put back: the index must trust the stamp
     * and keep the old hash, which proves the contents were not read. */
    snprintf(path, sizeof path, "%s/alpha/data.bin", f->games);
    assert_int_equal(stat(path, &before), 0);
    FILE *fp = fopen(path, "r+");
    fputs("CHANGED!", fp);
    fclose(fp);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);

    reopen(f);
    ls_scan_stats_t warm = scan(f);
    assert_int_equal(warm.files_hashed, 0);
    assert_int_equal(warm.bytes_hashed, 0);
    assert_int_equal(warm.version_reads, 0);
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m2), 0);
    assert_memory_equal(m1.files[0].chunk_sha256[0], m2.files[0].chunk_sha256[0], LS_SHA256_LEN);
    ls_manifest_free(&m2);

    /* A new mtime makes it hash again, with the new bytes. */
    struct timespec later[2] = {before.st_atim, {before.st_mtim.tv_sec + 10, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
    ls_scan_stats_t changed = scan(f);
    assert_int_equal(changed.files_hashed, 1);
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m2), 0);
    uint8_t expected[LS_SHA256_LEN];
    ls_sha256("CHANGED!", 8, expected);
    assert_memory_equal(m2.files[0].chunk_sha256[0], expected, LS_SHA256_LEN);
    ls_manifest_free(&m1);
    ls_manifest_free(&m2);
}

static void bad_entries_are_logged_and_the_rest_is_scanned(void **state)
{
    fixture_t *f = *state;
    char big[LS_VERSION_FILE_MAX + 10];
    char path[512], target[512];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    add_game(f, "alpha", "1\n");
    add_game(f, "bravo", "");
    add_game(f, "charlie", big);
    ls_test_write_text(f->games, "bad name!/version.ini", "1\n");
    char *outside = ls_test_mkdtemp("outside");
    ls_test_write_text(outside, "secret", "secret");
    snprintf(path, sizeof path, "%s/alpha/escape", f->games);
    snprintf(target, sizeof target, "%s/secret", outside);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof path, "%s/delta", f->games);
    assert_int_equal(symlink(outside, path), 0);

    ls_scan_stats_t stats = scan(f);
    assert_true(is_announced(f, "alpha"));
    assert_false(is_announced(f, "bravo"));
    assert_false(is_announced(f, "charlie"));
    assert_false(is_announced(f, "delta"));
    assert_int_equal(stats.skipped, 5);
    assert_non_null(strstr(f->log, "bad name!"));
    assert_non_null(strstr(f->log, "leaves the game root"));
    assert_non_null(strstr(f->log, "bravo/version.ini skipped: empty"));
    assert_non_null(strstr(f->log, "charlie/version.ini skipped: larger than"));
    assert_non_null(strstr(f->log, "delta skipped: game folder is a symlink"));
    ls_game_manifest_t m;
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m), 0);
    for (size_t i = 0; i < m.file_count; i++)
        assert_string_not_equal(m.files[i].path, "escape");
    ls_manifest_free(&m);
    ls_test_rmtree(outside);
    free(outside);
}

static const uint8_t png_head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};

static const ls_game_summary_t *announced_game(const ls_library_snapshot_t *snap, const char *id)
{
    for (size_t i = 0; i < snap->game_count; i++)
        if (strcmp(snap->games[i].id, id) == 0)
            return &snap->games[i];
    return NULL;
}

/* A cover is a documented name, an image by its first bytes and at most
 * LS_COVER_MAX bytes; the rest are game files with a logged reason. The
 * announced cover is the file's SHA-256 and size, and replacing it with a
 * same-size image moves the rev. */
static void covers_are_found_by_name_signature_and_size(void **state)
{
    fixture_t *f = *state;
    uint8_t png[600], big[LS_COVER_MAX + 1], hash[LS_SHA256_LEN];
    char hex[LS_SHA256_HEX_LEN + 1];
    ls_test_fill(png, sizeof png, 7);
    memcpy(png, png_head, sizeof png_head);
    memset(big, 0, sizeof big);
    memcpy(big, "RIFF\0\0\0\0WEBP", 12);
    add_game(f, "alpha", "1\n");
    ls_test_write_file(f->games, "alpha/cover.png", png, sizeof png);
    add_game(f, "bravo", "1\n");
    ls_test_write_text(f->games, "bravo/cover.jpg", "GIF89a is not a JPEG");
    add_game(f, "charlie", "1\n");
    ls_test_write_file(f->games, "charlie/cover.webp", big, sizeof big);
    add_game(f, "delta", "1\n");
    ls_test_write_file(f->games, "delta/art/cover.png", png, sizeof png); /* not at the top */
    scan(f);

    ls_sha256(png, sizeof png, hash);
    ls_hex_encode(hash, sizeof hash, hex);
    const ls_local_game_t *alpha = ls_library_find(f->library, "alpha");
    assert_string_equal(alpha->cover, hex);
    assert_int_equal(alpha->cover_size, sizeof png);
    assert_int_equal(alpha->cover_type, LS_COVER_PNG);
    assert_string_equal(alpha->cover_file, "cover.png");
    for (const char *const *id = (const char *const[]){"bravo", "charlie", "delta", NULL}; *id;
         id++) {
        const ls_local_game_t *g = ls_library_find(f->library, *id);
        assert_string_equal(g->cover, "");
        assert_null(g->cover_file);
    }
    assert_non_null(strstr(f->log, "bravo/cover.jpg skipped: not a PNG, JPEG or WebP"));
    assert_non_null(strstr(f->log, "charlie/cover.webp skipped: larger than LS_COVER_MAX"));
    /* still game files: downloaded with the game */
    ls_library_file_t file;
    assert_int_equal(ls_library_file(f->library, "bravo", "cover.jpg", &file), 0);

    ls_library_snapshot_t snap;
    assert_int_equal(ls_library_snapshot(f->library, &snap), 0);
    assert_string_equal(announced_game(&snap, "alpha")->cover, hex);
    assert_int_equal(announced_game(&snap, "alpha")->cover_size, sizeof png);
    assert_null(announced_game(&snap, "bravo")->cover);
    uint64_t rev = snap.library_rev;
    ls_snapshot_free(&snap);

    png[sizeof png - 1] ^= 0xff; /* same size, other bytes */
    ls_test_write_file(f->games, "alpha/cover.png", png, sizeof png);
    scan(f);
    assert_true(ls_library_rev(f->library) > rev);
    assert_string_not_equal(ls_library_find(f->library, "alpha")->cover, hex);
}

static void cover_signatures_are_told_by_their_first_bytes(void **state)
{
    (void)state;
    const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0};
    const uint8_t webp[] = {'R', 'I', 'F', 'F', 1, 2, 3, 4, 'W', 'E', 'B', 'P'};
    assert_int_equal(ls_cover_sniff(png_head, sizeof png_head), LS_COVER_PNG);
    assert_int_equal(ls_cover_sniff(jpeg, sizeof jpeg), LS_COVER_JPEG);
    assert_int_equal(ls_cover_sniff(webp, sizeof webp), LS_COVER_WEBP);
    assert_int_equal(ls_cover_sniff(webp, sizeof webp - 1), LS_COVER_NONE); /* cut short */
    assert_int_equal(ls_cover_sniff(png_head, 7), LS_COVER_NONE);
    assert_int_equal(ls_cover_sniff((const uint8_t *)"<svg>", 5), LS_COVER_NONE);
    assert_string_equal(ls_cover_mime(LS_COVER_WEBP), "image/webp");
    assert_null(ls_cover_mime(LS_COVER_NONE));
}

static void corrupt_index_is_replaced_and_rev_keeps_growing(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    scan(f);
    uint64_t rev = ls_library_rev(f->library);
    ls_library_close(f->library);
    f->library = NULL;
    ls_test_write_text(f->state, LS_INDEX_FILE, "LSINDEX\n truncated");
    reopen(f);
    assert_true(ls_library_rev(f->library) > rev);
    assert_non_null(strstr(f->log, "unreadable"));
    ls_scan_stats_t stats = scan(f);
    assert_int_equal(stats.files_hashed, 2);
    assert_true(is_announced(f, "alpha"));
}

static void make_dir(fixture_t *f, const char *relpath)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->games, relpath);
    assert_int_equal(ls_fs_mkdir_p(path, 0755), 0);
}

/* One folder per state a game folder is normally in, so that a restart sees
 * each of them. */
static void make_every_folder_state(fixture_t *f)
{
    char big[LS_VERSION_FILE_MAX + 10];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* Downloaded and installed, with zero-byte files, empty directories and
     * names with spaces and non-ASCII characters. */
    add_game(f, "alpha", "1.0\n");
    ls_test_write_text(f->games, "alpha/local/game.exe", "exe");
    ls_test_write_text(f->games, "alpha/Maps mit Leerzeichen/Straße Ü 東京.pk3", "map");
    ls_test_write_text(f->games, "alpha/empty.cfg", "");
    ls_test_write_text(f->games, "alpha/saves/ \"quoted\"\\back\tslash.sav", "");
    make_dir(f, "alpha/empty dir");
    make_dir(f, "alpha/Maps mit Leerzeichen/leer");
    /* A cancelled download: data but no version.ini. */
    add_game(f, "bravo", NULL);
    /* A download in progress: pre-sized files and the parked sentinel. */
    add_game(f, "charlie", NULL);
    ls_test_write_text(f->games, "charlie/.version.ini.tmp", "2\n");
    ls_test_write_text(f->games, "charlie/.version.ini.discarded", "1\n");
    ls_test_write_text(f->games, "charlie/data/zero.bin", "");
    /* An install in progress. */
    add_game(f, "delta", "3\n");
    ls_test_write_text(f->games, "delta/.lanspread.json", "{}");
    ls_test_write_text(f->games, "delta/.local.installing/.lanspread_owned", "");
    /* An empty folder; an empty, an oversized and a directory version.ini. */
    make_dir(f, "echo");
    add_game(f, "foxtrot", "");
    add_game(f, "golf", big);
    make_dir(f, "hotel/version.ini");
}

/* What a peer publishes about its games, one line per game. */
static void describe_games(fixture_t *f, char *out, size_t len)
{
    size_t count, used = 0;
    const ls_local_game_t *games = ls_library_games(f->library, &count);
    out[0] = '\0';
    for (size_t i = 0; i < count && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s v=%s d=%d i=%d n=%llu s=%llu\n",
                                 games[i].id, games[i].version ? games[i].version : "-",
                                 games[i].is_downloaded, games[i].is_installed,
                                 (unsigned long long)games[i].file_count,
                                 (unsigned long long)games[i].size);
    assert_true(used < len);
}

static void restart(fixture_t *f)
{
    ls_library_close(f->library);
    f->library = NULL;
    f->log[0] = '\0';
    reopen(f);
}

static void restart_in_every_folder_state_rehashes_nothing(void **state)
{
    fixture_t *f = *state;
    char before[2048], after[2048];
    size_t len_before, len_after, count;
    make_every_folder_state(f);
    ls_scan_stats_t cold = scan(f);
    assert_true(cold.files_hashed > 0);
    ls_library_games(f->library, &count);
    assert_int_equal(count, 8);
    assert_false(ls_library_find(f->library, "bravo")->is_downloaded);
    assert_true(ls_library_find(f->library, "alpha")->is_installed);
    uint64_t rev = ls_library_rev(f->library);
    describe_games(f, before, sizeof before);
    char *index_before = ls_test_read_file(f->state, LS_INDEX_FILE, &len_before);

    restart(f);
    assert_null(strstr(f->log, "unreadable"));
    assert_int_equal(ls_library_rev(f->library), rev);
    ls_scan_stats_t warm = scan(f);
    assert_int_equal(warm.files_hashed, 0);
    assert_int_equal(warm.bytes_hashed, 0);
    assert_false(warm.rev_bumped);
    assert_int_equal(ls_library_rev(f->library), rev);
    describe_games(f, after, sizeof after);
    assert_string_equal(before, after);
    assert_true(is_announced(f, "alpha"));
    assert_true(is_announced(f, "delta"));
    /* Nothing changed on disk, so the index is what it was, not a fresh one. */
    char *index_after = ls_test_read_file(f->state, LS_INDEX_FILE, &len_after);
    assert_int_equal(len_after, len_before);
    assert_memory_equal(index_after, index_before, len_before);
    free(index_before);
    free(index_after);
}

static void restart_rehashes_only_the_changed_file(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    ls_test_write_text(f->games, "alpha/data.bin", "original");
    add_game(f, "bravo", NULL);
    add_game(f, "charlie", "2\n");
    scan(f);
    uint64_t rev = ls_library_rev(f->library);

    ls_library_close(f->library);
    f->library = NULL;
    ls_test_write_text(f->games, "alpha/data.bin", "changed while the peer was down");
    restart(f);
    ls_scan_stats_t warm = scan(f);
    assert_null(strstr(f->log, "unreadable"));
    assert_int_equal(warm.files_hashed, 1);
    assert_int_equal(warm.bytes_hashed, strlen("changed while the peer was down"));
    assert_int_equal(warm.version_reads, 0);
    assert_int_equal(ls_library_rev(f->library), rev + 1);
}

/* Names and versions that are not UTF-8 cannot travel in the protocol (JSON
 * manifests): they are skipped, and the rest still persists. */
static void bytes_that_are_not_utf8_are_skipped_and_the_index_persists(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    ls_test_write_text(f->games, "alpha/caf\xe9.txt", "latin-1 name");
    add_game(f, "bravo", "version = 1.0 \xe9t\xe9\n");
    add_game(f, "charlie", "2\n");
    ls_scan_stats_t cold = scan(f);
    assert_int_equal(cold.skipped, 2);
    assert_non_null(strstr(f->log, "not valid UTF-8"));
    assert_true(is_announced(f, "alpha"));
    assert_false(ls_library_find(f->library, "bravo")->is_downloaded);
    ls_game_manifest_t m;
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m), 0);
    assert_int_equal(m.file_count, 2);
    ls_manifest_free(&m);

    restart(f);
    assert_null(strstr(f->log, "unreadable"));
    ls_scan_stats_t warm = scan(f);
    assert_int_equal(warm.files_hashed, 0);
}

/* Turns the saved binary index into the JSON one that builds before it
 * wrote (their writer, unchanged), as after an upgrade. */
static void downgrade_index(fixture_t *f)
{
    size_t len;
    char *data = ls_test_read_file(f->state, LS_INDEX_FILE, &len);
    ls_index_t index;
    char *text = NULL;
    assert_int_equal(ls__index_decode((const uint8_t *)data, len, &index), 0);
    assert_int_equal(ls__index_json_dump(&index, &text), 0);
    ls_test_write_text(f->state, LS_INDEX_LEGACY_FILE, text);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->state, LS_INDEX_FILE);
    assert_int_equal(unlink(path), 0);
    ls_index_free(&index);
    free(text);
    free(data);
}

static bool state_has(fixture_t *f, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->state, name);
    return ls_fs_exists(path) == 1;
}

/* Replaces the first `from` in the legacy JSON index with `to`. */
static void edit_index(fixture_t *f, const char *from, const char *to)
{
    size_t len;
    char *text = ls_test_read_file(f->state, LS_INDEX_LEGACY_FILE, &len);
    char *at = strstr(text, from);
    assert_non_null(at);
    size_t head = (size_t)(at - text), to_len = strlen(to);
    const char *rest = at + strlen(from);
    char *edited = malloc(len + to_len + 1);
    assert_non_null(edited);
    memcpy(edited, text, head);
    memcpy(edited + head, to, to_len);
    memcpy(edited + head + to_len, rest, strlen(rest) + 1);
    ls_test_write_text(f->state, LS_INDEX_LEGACY_FILE, edited);
    free(edited);
    free(text);
}

static void null_version_from_older_builds_loads_and_other_types_do_not(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    add_game(f, "bravo", NULL);
    scan(f);
    uint64_t rev = ls_library_rev(f->library);
    ls_library_close(f->library);
    f->library = NULL;
    /* Builds before this one wrote a not-downloaded game's version as null. */
    downgrade_index(f);
    edit_index(f, "{\"id\":\"bravo\",", "{\"id\":\"bravo\",\"version\":null,");
    restart(f);
    assert_null(strstr(f->log, "unreadable"));
    assert_int_equal(ls_library_rev(f->library), rev);
    assert_int_equal(scan(f).files_hashed, 0);

    ls_library_close(f->library);
    f->library = NULL;
    downgrade_index(f);
    edit_index(f, "{\"id\":\"bravo\",", "{\"id\":\"bravo\",\"version\":5,");
    restart(f);
    assert_non_null(strstr(f->log, "unreadable"));
}

/* An upgrade from a build with the JSON index: read once, nothing rehashed,
 * the rev kept; the first scan writes the binary index and removes the JSON
 * one, so the next start reads only the binary one. */
static void json_index_of_older_builds_is_migrated_once(void **state)
{
    fixture_t *f = *state;
    char before[2048], after[2048];
    make_every_folder_state(f);
    scan(f);
    uint64_t rev = ls_library_rev(f->library);
    describe_games(f, before, sizeof before);
    ls_library_close(f->library);
    f->library = NULL;
    downgrade_index(f);

    restart(f);
    assert_non_null(strstr(f->log, "migrated"));
    assert_null(strstr(f->log, "unreadable"));
    assert_int_equal(ls_library_rev(f->library), rev);
    ls_scan_stats_t warm = scan(f);
    assert_int_equal(warm.files_hashed, 0);
    assert_false(warm.rev_bumped);
    describe_games(f, after, sizeof after);
    assert_string_equal(before, after);
    assert_true(state_has(f, LS_INDEX_FILE));
    assert_false(state_has(f, LS_INDEX_LEGACY_FILE));

    restart(f);
    assert_null(strstr(f->log, "migrated"));
    assert_int_equal(ls_library_rev(f->library), rev);
    assert_int_equal(scan(f).files_hashed, 0);
}

/* The library's files, their sizes and every chunk hash, one line each. */
static void describe_manifest(fixture_t *f, const char *id, char *out, size_t len)
{
    ls_game_manifest_t m;
    size_t used = 0;
    assert_int_equal(ls_library_manifest(f->library, id, &m), 0);
    out[0] = '\0';
    for (size_t i = 0; i < m.file_count && used < len; i++) {
        char hex[LS_SHA256_HEX_LEN + 1] = "";
        if (!m.files[i].is_dir && m.files[i].chunk_count)
            ls_hex_encode(m.files[i].chunk_sha256[0], LS_SHA256_LEN, hex);
        used += (size_t)snprintf(out + used, len - used, "%s d=%d s=%llu n=%zu %s\n",
                                 m.files[i].path, m.files[i].is_dir,
                                 (unsigned long long)m.files[i].size, m.files[i].chunk_count, hex);
    }
    assert_true(used < len);
    ls_manifest_free(&m);
}

/* Damage of every kind a disk or a crash leaves: cut short anywhere, a
 * flipped bit in the records or the header, an unknown format, bytes
 * appended. Each is refused as a whole (no half-read index), the scan that
 * follows rebuilds everything from disk, and nothing is lost. */
static void damaged_binary_index_falls_back_to_a_full_scan(void **state)
{
    fixture_t *f = *state;
    char games_before[2048], games_after[2048], alpha_before[4096], alpha_after[4096];
    make_every_folder_state(f);
    ls_scan_stats_t cold = scan(f);
    uint64_t rev = ls_library_rev(f->library);
    describe_games(f, games_before, sizeof games_before);
    describe_manifest(f, "alpha", alpha_before, sizeof alpha_before);
    ls_library_close(f->library);
    f->library = NULL;
    size_t len;
    uint8_t *good = (uint8_t *)ls_test_read_file(f->state, LS_INDEX_FILE, &len);
    assert_true(len > 100);
    const size_t format_at = 8, body_at = 56;
    struct {
        size_t keep;   /* bytes kept */
        size_t flip;   /* byte whose low bit flips; SIZE_MAX: none */
        size_t extend; /* zero bytes appended */
    } damage[] = {
        {0, SIZE_MAX, 0},       {10, SIZE_MAX, 0},      {body_at, SIZE_MAX, 0},
        {len / 2, SIZE_MAX, 0}, {len - 1, SIZE_MAX, 0}, {len, body_at + 40, 0},
        {len, len - 1, 0},      {len, format_at, 0},    {len, SIZE_MAX, 1},
    };
    for (size_t d = 0; d < sizeof damage / sizeof damage[0]; d++) {
        uint8_t *bad = calloc(1, len + damage[d].extend);
        memcpy(bad, good, damage[d].keep);
        if (damage[d].flip != SIZE_MAX)
            bad[damage[d].flip] ^= 1;
        ls_test_write_file(f->state, LS_INDEX_FILE, bad, damage[d].keep + damage[d].extend);
        free(bad);
        restart(f);
        /* another format is an upgrade, said as such; the rest is damage */
        const char *said = damage[d].flip == format_at ? "another format" : "unreadable";
        assert_non_null(strstr(f->log, said));
        assert_true(ls_library_rev(f->library) > rev);
        ls_scan_stats_t full = scan(f);
        assert_int_equal(full.files_hashed, cold.files_hashed);
        describe_games(f, games_after, sizeof games_after);
        assert_string_equal(games_before, games_after);
        describe_manifest(f, "alpha", alpha_after, sizeof alpha_after);
        assert_string_equal(alpha_before, alpha_after);
        assert_true(is_announced(f, "alpha"));
        ls_library_close(f->library);
        f->library = NULL;
    }
    /* The last scan wrote a sound index again: the next start reads it. */
    restart(f);
    assert_null(strstr(f->log, "unreadable"));
    assert_int_equal(scan(f).files_hashed, 0);
    free(good);
}

static void game_dir_that_is_not_utf8_still_persists(void **state)
{
    fixture_t *f = *state;
    char dir[512];
    ls_library_t *library;
    ls_scan_stats_t stats;
    snprintf(dir, sizeof dir, "%s/Spiele f\xfcr LAN", f->games);
    ls_test_write_text(dir, "alpha/version.ini", "1\n");
    ls_test_write_text(dir, "alpha/game.zip", "zipbytes");
    ls_library_config_t config = {.game_dir = dir, .state_dir = f->state, .catalog = f->catalog};
    assert_int_equal(ls_library_open(&config, &library), 0);
    assert_int_equal(ls_library_scan_sync(library, &stats), 0);
    assert_int_equal(stats.files_hashed, 2);
    ls_library_close(library);

    assert_int_equal(ls_library_open(&config, &library), 0);
    assert_int_equal(ls_library_scan_sync(library, &stats), 0);
    assert_int_equal(stats.files_hashed, 0);
    ls_library_close(library);
    assert_null(strstr(f->log, "unreadable"));
    assert_null(strstr(f->log, "game directory changed"));
}

static void single_game_rescan_keeps_the_others(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    add_game(f, "bravo", "1\n");
    scan(f);
    ls_test_write_text(f->games, "bravo/version.ini", "2\n");
    ls_test_write_text(f->games, "alpha/version.ini", "9\n");
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(ls_library_scan_start(f->library, &loop, "bravo", NULL, NULL), 0);
    assert_int_equal(ls_library_scan_start(f->library, &loop, NULL, NULL, NULL), LS_EBUSY);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    assert_string_equal(ls_library_find(f->library, "bravo")->version, "2");
    assert_string_equal(ls_library_find(f->library, "alpha")->version, "1");
    assert_true(is_announced(f, "alpha"));
}

static void scan_one(fixture_t *f, const char *game_id)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(ls_library_scan_start(f->library, &loop, game_id, NULL, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* Each edit below has another size than the one before: the stamp (size,
 * mtime, inode) must change even within one clock tick. */
static void write_local_catalog(fixture_t *f, const char *json)
{
    ls_test_write_text(f->games, LS_LOCAL_CATALOG_FILE, json);
}

static void local_catalog_edits_apply_on_the_next_scan(void **state)
{
    fixture_t *f = *state;
    ls_game_manifest_t manifest;
    add_game(f, "alpha", "1\n");
    add_game(f, "yankee", "1\n");
    add_game(f, "xray", "1\n");
    scan(f);
    assert_null(ls_library_find(f->library, "yankee"));

    /* Written while the library is open: the next scan lists the game. */
    write_local_catalog(f,
                        "{\"games\":[{\"id\":\"yankee\",\"name\":\"Echo\",\"genre\":\"Racing\"}]}");
    scan(f);
    const ls_local_game_t *yankee = ls_library_find(f->library, "yankee");
    assert_non_null(yankee);
    assert_string_equal(yankee->name, "Echo");
    assert_string_equal(yankee->genre, "Racing");
    assert_true(is_announced(f, "yankee"));

    /* A single-game scan applies an edit too; the game directory's entry
     * overrides the caller's catalog. */
    write_local_catalog(f, "{\"games\":[{\"id\":\"yankee\",\"name\":\"Echo II\"},"
                           "{\"id\":\"alpha\",\"name\":\"Alpha (local)\"},"
                           "{\"id\":\"xray\",\"name\":\"Xray\"}]}");
    scan_one(f, "yankee");
    assert_string_equal(ls_library_find(f->library, "yankee")->name, "Echo II");
    assert_string_equal(ls_library_find(f->library, "alpha")->name, "Alpha (local)");
    scan(f);
    assert_non_null(ls_library_find(f->library, "xray"));

    /* A malformed edit is logged with the file, entry and field, and the
     * previous catalog stays in force. */
    write_local_catalog(f, "{\"games\":[{\"id\":\"yankee\"}]}");
    scan(f);
    assert_non_null(ls_library_find(f->library, "yankee"));
    assert_non_null(ls_library_find(f->library, "xray"));
    assert_non_null(strstr(f->log, LS_LOCAL_CATALOG_FILE ": games[0]: field 'name' is missing"));

    /* Entries taken out: their games go, the caller's entry is back. */
    write_local_catalog(f, "{\"games\":[ ]}");
    scan(f);
    assert_null(ls_library_find(f->library, "yankee"));
    assert_null(ls_library_find(f->library, "xray"));
    assert_false(is_announced(f, "yankee"));
    assert_int_equal(ls_library_manifest(f->library, "yankee", &manifest), LS_EUNKNOWN_GAME);
    assert_string_equal(ls_library_find(f->library, "alpha")->name, "Alpha");
}

/* The scan used to queue a job for every changed file at once; it keeps at
 * most LS_SCAN_HASH_JOBS_MAX queued now, and still hashes every file. */
static void scan_keeps_at_most_its_cap_of_hash_jobs_queued(void **state)
{
    fixture_t *f = *state;
    enum { FILES_PER_GAME = 600 };
    const char *ids[] = {"alpha", "bravo"};
    uint64_t bytes = 0;
    char path[64], text[64];
    for (size_t g = 0; g < 2; g++) {
        add_game(f, ids[g], "1\n");
        bytes += strlen("zipbytes") + strlen("1\n");
        for (int i = 0; i < FILES_PER_GAME; i++) {
            snprintf(path, sizeof path, "%s/data/f%04d.bin", ids[g], i);
            snprintf(text, sizeof text, "file %d of %s", i, ids[g]);
            ls_test_write_text(f->games, path, text);
            bytes += strlen(text);
        }
    }
    ls_scan_stats_t stats = scan(f);
    assert_int_equal(stats.files_hashed, 2 * (FILES_PER_GAME + 2));
    assert_int_equal(stats.bytes_hashed, bytes);
    assert_in_range(stats.hash_jobs_peak, 1, LS_SCAN_HASH_JOBS_MAX);
    ls_library_file_t file;
    uint8_t expected[LS_SHA256_LEN];
    assert_int_equal(ls_library_file(f->library, "bravo", "data/f0599.bin", &file), 0);
    ls_sha256("file 599 of bravo", strlen("file 599 of bravo"), expected);
    assert_memory_equal(file.chunk_sha256[0], expected, LS_SHA256_LEN);
}

/* The bulk lane held by jobs that wait for `is_open`. */
typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool is_open;
    uv_work_t jobs[LS_WORKQ_BULK_THREADS];
} bulk_gate_t;

static void bulk_gate_work(uv_work_t *req)
{
    bulk_gate_t *gate = req->data;
    pthread_mutex_lock(&gate->mutex);
    while (!gate->is_open)
        pthread_cond_wait(&gate->cond, &gate->mutex);
    pthread_mutex_unlock(&gate->mutex);
}

static void bulk_gate_done(uv_work_t *req, int status)
{
    (void)req;
    (void)status;
}

/* 1: the scan succeeded, -1: it failed (0 while it runs). */
static void scan_done_note(ls_library_t *library, int status, const ls_scan_stats_t *stats,
                           void *userdata)
{
    (void)library;
    (void)stats;
    *(int *)userdata = status == 0 ? 1 : -1;
}

static void scan_timeout(uv_timer_t *timer)
{
    uv_stop(timer->loop);
}

/* Runs one scan while the bulk lane is held; returns 1 if it ended within
 * `wait_ms` (-1: ended and failed), 0 if not (it ends once the gate opens). */
static int scan_beside_held_bulk_lane(fixture_t *f, uint64_t wait_ms)
{
    uv_loop_t loop;
    uv_timer_t timer;
    bulk_gate_t gate = {.is_open = false};
    int done = 0;
    pthread_mutex_init(&gate.mutex, NULL);
    pthread_cond_init(&gate.cond, NULL);
    assert_int_equal(uv_loop_init(&loop), 0);
    for (size_t i = 0; i < LS_WORKQ_BULK_THREADS; i++) {
        gate.jobs[i].data = &gate;
        assert_int_equal(
            ls_workq_queue(&loop, &gate.jobs[i], LS_WORKQ_BULK, bulk_gate_work, bulk_gate_done), 0);
    }
    assert_int_equal(ls_library_scan_start(f->library, &loop, NULL, scan_done_note, &done), 0);
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, scan_timeout, wait_ms, 0);
    while (done == 0 && uv_is_active((uv_handle_t *)&timer))
        uv_run(&loop, UV_RUN_ONCE);
    int ended = done;
    pthread_mutex_lock(&gate.mutex);
    gate.is_open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mutex);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* the gate's jobs and the scan end */
    assert_int_not_equal(done, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    pthread_cond_destroy(&gate.cond);
    pthread_mutex_destroy(&gate.mutex);
    return ended;
}

/* A library's first scan is what discovery waits for: it must not queue
 * behind bulk work (niced threads, a download's commit); later scans do. */
static void first_scan_does_not_wait_for_the_bulk_lane(void **state)
{
    fixture_t *f = *state;
    enum { FIRST_SCAN_WAIT_MS = 5000, LATER_SCAN_WAIT_MS = 300 };
    add_game(f, "alpha", "1\n");
    if (!f->library)
        reopen(f);
    assert_int_equal(scan_beside_held_bulk_lane(f, FIRST_SCAN_WAIT_MS), 1);
    assert_true(is_announced(f, "alpha"));
    add_game(f, "bravo", "1\n");
    assert_int_equal(scan_beside_held_bulk_lane(f, LATER_SCAN_WAIT_MS), 0);
    assert_true(is_announced(f, "bravo"));
}

/* The lane is the latency one only for the first scan started on a
 * library whose owner waits for it. */
static void only_an_awaited_first_scan_takes_the_latency_lane(void **state)
{
    (void)state;
    assert_int_equal(ls__scan_lane(false, false), LS_WORKQ_LATENCY);
    assert_int_equal(ls__scan_lane(true, false), LS_WORKQ_BULK);
    assert_int_equal(ls__scan_lane(false, true), LS_WORKQ_BULK);
    assert_int_equal(ls__scan_lane(true, true), LS_WORKQ_BULK);
}

/* A first scan that failed (the game directory was not there) is the
 * one the owner waited for: the next one, which nobody waits for, queues
 * on the bulk lane (it stayed on the latency lane, hashing up to 64 MiB
 * there, for as long as no scan had published). */
static void the_scan_after_a_failed_first_scan_waits_for_the_bulk_lane(void **state)
{
    fixture_t *f = *state;
    enum { FIRST_SCAN_WAIT_MS = 5000, LATER_SCAN_WAIT_MS = 300 };
    if (!f->library)
        reopen(f);
    ls_test_rmtree(f->games);
    assert_int_equal(scan_beside_held_bulk_lane(f, FIRST_SCAN_WAIT_MS), -1);
    assert_int_equal(mkdir(f->games, 0755), 0);
    add_game(f, "alpha", "1\n");
    assert_int_equal(scan_beside_held_bulk_lane(f, LATER_SCAN_WAIT_MS), 0);
    assert_true(is_announced(f, "alpha"));
}

/* A library whose owner waits for none of its scans (a game directory
 * swapped in at run time) runs even its first on the bulk lane. */
static void a_background_librarys_first_scan_waits_for_the_bulk_lane(void **state)
{
    fixture_t *f = *state;
    enum { LATER_SCAN_WAIT_MS = 300 };
    add_game(f, "alpha", "1\n");
    ls_library_close(f->library);
    ls_library_config_t config = {.game_dir = f->games,
                                  .state_dir = f->state,
                                  .catalog = f->catalog,
                                  .is_first_scan_background = true};
    assert_int_equal(ls_library_open(&config, &f->library), 0);
    assert_int_equal(scan_beside_held_bulk_lane(f, LATER_SCAN_WAIT_MS), 0);
    assert_true(is_announced(f, "alpha"));
}

static void file_lookup_borrows_the_published_record(void **state)
{
    fixture_t *f = *state;
    size_t len = 2 * LS_CHUNK_SIZE + 5;
    uint8_t *data = calloc(1, len);
    add_game(f, "alpha", "1\n");
    ls_test_write_file(f->games, "alpha/big.bin", data, len);
    ls_test_write_text(f->games, "alpha/extras/readme.txt", "hello");
    add_game(f, "bravo", NULL);
    add_game(f, "zulu", "1\n"); /* not in the catalog */
    scan(f);

    ls_library_file_t a, b;
    assert_int_equal(ls_library_file(f->library, "alpha", "big.bin", &a), 0);
    assert_string_equal(a.path, "big.bin");
    assert_int_equal(a.size, len);
    assert_false(a.is_dir);
    assert_int_equal(a.chunk_count, 3);
    assert_int_equal(ls_library_file(f->library, "alpha", "big.bin", &b), 0);
    /* The same record both times: a view, not a copy. */
    assert_ptr_equal(a.path, b.path);
    assert_ptr_equal(a.chunk_sha256, b.chunk_sha256);

    ls_game_manifest_t m;
    assert_int_equal(ls_library_manifest(f->library, "alpha", &m), 0);
    for (size_t i = 0; i < m.file_count; i++) {
        assert_int_equal(ls_library_file(f->library, "alpha", m.files[i].path, &a), 0);
        assert_string_equal(a.path, m.files[i].path);
        assert_int_equal(a.size, m.files[i].size);
        assert_int_equal(a.is_dir, m.files[i].is_dir);
        assert_int_equal(a.chunk_count, m.files[i].chunk_count);
        if (a.chunk_count > 0)
            assert_memory_equal(a.chunk_sha256, m.files[i].chunk_sha256,
                                a.chunk_count * LS_SHA256_LEN);
    }
    ls_manifest_free(&m);
    assert_int_equal(ls_library_file(f->library, "alpha", "extras", &a), 0);
    assert_true(a.is_dir);
    assert_int_equal(a.size, 0);

    assert_int_equal(ls_library_file(f->library, "alpha", "big.bi", &a), LS_ENOENT);
    assert_null(a.path);
    assert_int_equal(ls_library_file(f->library, "alpha", "extras/nope", &a), LS_ENOENT);
    assert_int_equal(ls_library_file(f->library, "bravo", "game.zip", &a), LS_ENOT_DOWNLOADED);
    assert_int_equal(ls_library_file(f->library, "zulu", "game.zip", &a), LS_EUNKNOWN_GAME);
    assert_int_equal(ls_library_file(f->library, "kilo", "game.zip", &a), LS_EUNKNOWN_GAME);
    free(data);
}

/* ls_library_serves says whether a version is served now: a finished
 * download's `have` tells the swarm it serves every chunk only then. An
 * adoption made while a scan runs waits for that scan to publish. */
static void a_version_is_served_only_once_published(void **state)
{
    fixture_t *f = *state;
    add_game(f, "alpha", "1\n");
    add_game(f, "bravo", NULL);
    scan(f);
    assert_true(ls_library_serves(f->library, "alpha", "1"));
    assert_false(ls_library_serves(f->library, "alpha", "2"));
    assert_false(ls_library_serves(f->library, "alpha", NULL));
    assert_false(ls_library_serves(f->library, "bravo", "1")); /* not downloaded */
    assert_false(ls_library_serves(f->library, "kilo", "1"));  /* not in the catalog */

    /* version 2 lands on disk as a download would leave it; its verified
     * manifest comes from a library of its own */
    ls_test_write_text(f->games, "alpha/version.ini", "2\n");
    char *other_state = ls_test_mkdtemp("state2");
    ls_library_t *other = NULL;
    ls_library_config_t config = {
        .game_dir = f->games, .state_dir = other_state, .catalog = f->catalog};
    assert_int_equal(ls_library_open(&config, &other), 0);
    assert_int_equal(ls_library_scan_sync(other, NULL), 0);
    ls_game_manifest_t m;
    assert_int_equal(ls_library_manifest(other, "alpha", &m), 0);
    ls_library_close(other);
    ls_test_rmtree(other_state);
    free(other_state);
    size_t selected[8];
    assert_true(m.file_count <= 8);
    for (size_t i = 0; i < m.file_count; i++)
        selected[i] = i;

    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(ls_library_scan_start(f->library, &loop, "bravo", NULL, NULL), 0);
    ls_library_adoption_t *adoption = NULL;
    assert_int_equal(ls_library_adoption_prepare(f->library, &m, selected, m.file_count, &adoption),
                     0);
    assert_int_equal(ls_library_adopt(f->library, adoption), 0);
    assert_false(ls_library_serves(f->library, "alpha", "2")); /* held for the scan */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    assert_true(ls_library_serves(f->library, "alpha", "2"));
    assert_false(ls_library_serves(f->library, "alpha", "1"));
    ls_manifest_free(&m);
}

static void version_ini_forms_are_parsed(void **state)
{
    (void)state;
    char *v;
    assert_int_equal(ls_library_parse_version("1.2.3\n", 6, &v), 0);
    assert_string_equal(v, "1.2.3");
    free(v);
    const char *ini = "[game]\nname=x\nVersion = 20240501 \n";
    assert_int_equal(ls_library_parse_version(ini, strlen(ini), &v), 0);
    assert_string_equal(v, "20240501");
    free(v);
    assert_int_equal(ls_library_parse_version("  \n\n", 4, &v), LS_ECORRUPT);
    assert_int_equal(ls_library_parse_version("a\0b", 3, &v), LS_ECORRUPT);
    assert_int_equal(ls_library_parse_version("1.0 \xe9t\xe9", 7, &v), LS_EUTF8);
}

static void catalog_errors_name_the_problem(void **state)
{
    (void)state;
    ls_catalog_t *c;
    char err[256];
    struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"{\"games\": [", "line 1"},
        {"{\"items\": []}", "'games' array"},
        {"{\"games\": [{\"name\": \"x\"}]}", "'id' is missing"},
        {"{\"games\": [{\"id\": \"a/b\", \"name\": \"x\"}]}", "not a valid game id"},
        {"{\"games\": [{\"id\": \"a\", \"name\": \"x\"}, {\"id\": \"a\", \"name\": \"y\"}]}",
         "listed twice"},
        {"{\"games\": [{\"id\": \"a\", \"name\": 5}]}", "'name' must be a string"},
        {"{\"games\": [{\"id\": \"a\", \"name\": \"x\", \"max_players\": -1}]}", "max_players"},
        {"{\"games\": [], \"games\": []}", "duplicate"},
    };
    assert_int_equal(ls_catalog_new(&c), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(ls_catalog_add_json(c, cases[i].json, strlen(cases[i].json), "cat.json",
                                             err, sizeof err),
                         LS_ECATALOG);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        assert_int_equal(ls_catalog_count(c), 0);
    }
    const char *local = "{\"games\": [{\"id\": \"quake3\", \"name\": \"Quake 3 (LAN edition)\"}]}";
    ls_catalog_free(c);
    assert_int_equal(ls_catalog_load_bundled(&c, err, sizeof err), 0);
    size_t bundled = ls_catalog_count(c);
    assert_true(bundled >= 20);
    assert_int_equal(ls_catalog_add_json(c, local, strlen(local), "local", err, sizeof err), 0);
    assert_int_equal(ls_catalog_count(c), bundled);
    assert_string_equal(ls_catalog_find(c, "quake3")->name, "Quake 3 (LAN edition)");
    ls_catalog_free(c);
}

static size_t count_archive_entries(const char *path)
{
    struct archive *ar = archive_read_new();
    struct archive_entry *entry;
    size_t n = 0;
    archive_read_support_format_all(ar);
    archive_read_support_filter_all(ar);
    assert_int_equal(archive_read_open_filename(ar, path, 65536), ARCHIVE_OK);
    while (archive_read_next_header(ar, &entry) == ARCHIVE_OK) {
        assert_int_equal(archive_read_data_skip(ar), ARCHIVE_OK);
        n++;
    }
    archive_read_free(ar);
    return n;
}

static void demo_library_has_real_archives_and_scans(void **state)
{
    fixture_t *f = *state;
    ls_catalog_t *bundled;
    char err[256], path[512];
    assert_int_equal(ls_catalog_load_bundled(&bundled, err, sizeof err), 0);
    size_t known = ls_catalog_count(bundled);
    ls_demo_options_t opt = {
        .games = (unsigned)known + 2, .files_per_game = 5, .file_size = 1000, .seed = 3};
    assert_int_equal(ls_demo_library_create(f->games, bundled, &opt), 0);
    const char *first = ls_catalog_at(bundled, 0)->id;
    snprintf(path, sizeof path, "%s/%s/%s-game.zip", f->games, first, first);
    assert_int_equal(count_archive_entries(path), 2);
    snprintf(path, sizeof path, "%s/%s/%s-data.tar.gz", f->games, first, first);
    assert_int_equal(count_archive_entries(path), 1);

    snprintf(path, sizeof path, "%s/" LS_LOCAL_CATALOG_FILE, f->games);
    assert_int_equal(ls_catalog_add_file(bundled, path, err, sizeof err), 0);
    ls_catalog_free(f->catalog);
    f->catalog = bundled;
    scan(f);
    size_t count, installed = 0;
    const ls_local_game_t *games = ls_library_games(f->library, &count);
    assert_int_equal(count, known + 2);
    for (size_t i = 0; i < count; i++) {
        assert_true(games[i].is_downloaded);
        assert_int_equal(games[i].file_count, 5);
        installed += games[i].is_installed;
    }
    assert_true(installed > 0 && installed < count);
    assert_true(is_announced(f, "demo-025") || is_announced(f, "demo-024"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(game_is_downloaded_only_with_version_ini, setup, teardown),
        cmocka_unit_test_setup_teardown(game_is_installed_only_when_local_is_a_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(only_catalog_games_are_listed_or_served, setup, teardown),
        cmocka_unit_test_setup_teardown(reserved_names_are_never_served, setup, teardown),
        cmocka_unit_test_setup_teardown(manifest_hashes_every_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(
            rev_moves_only_when_announced_content_changes_and_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(same_content_gives_same_digest_in_another_state_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rescan_of_unchanged_library_reads_no_file_contents, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_entries_are_logged_and_the_rest_is_scanned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(corrupt_index_is_replaced_and_rev_keeps_growing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(single_game_rescan_keeps_the_others, setup, teardown),
        cmocka_unit_test_setup_teardown(covers_are_found_by_name_signature_and_size, setup,
                                        teardown),
        cmocka_unit_test(cover_signatures_are_told_by_their_first_bytes),
        cmocka_unit_test_setup_teardown(restart_in_every_folder_state_rehashes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(restart_rehashes_only_the_changed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes_that_are_not_utf8_are_skipped_and_the_index_persists,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(null_version_from_older_builds_loads_and_other_types_do_not,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(json_index_of_older_builds_is_migrated_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(damaged_binary_index_falls_back_to_a_full_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(game_dir_that_is_not_utf8_still_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(local_catalog_edits_apply_on_the_next_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scan_keeps_at_most_its_cap_of_hash_jobs_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_lookup_borrows_the_published_record, setup, teardown),
        cmocka_unit_test_setup_teardown(a_version_is_served_only_once_published, setup, teardown),
        cmocka_unit_test(only_an_awaited_first_scan_takes_the_latency_lane),
        cmocka_unit_test_setup_teardown(the_scan_after_a_failed_first_scan_waits_for_the_bulk_lane,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_background_librarys_first_scan_waits_for_the_bulk_lane,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(first_scan_does_not_wait_for_the_bulk_lane, setup,
                                        teardown),
        cmocka_unit_test(version_ini_forms_are_parsed),
        cmocka_unit_test(catalog_errors_name_the_problem),
        cmocka_unit_test_setup_teardown(demo_library_has_real_archives_and_scans, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
