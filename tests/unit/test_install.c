/* Install transactions: every transition of install, update and uninstall,
 * their failures, startup recovery from intent logs and markers, and the
 * intent log codec. */
#include "test_install_helpers.h"

#include "lanspread/error.h"
#include "lanspread/install.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <sys/file.h>

typedef struct {
    char *games; /* the games directory */
    char *root;  /* games/quake */
    char reason[LS_REASON_MAX];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->games = ls_test_mkdtemp("install");
    f->root = ls_path_join(f->games, "quake");
    assert_int_equal(ls_fs_mkdir_p(f->root, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls_test_rmtree(f->games);
    free(f->games);
    free(f->root);
    free(f);
    return 0;
}

static void put_archive(const char *root, const char *name, const char *format,
                        const test_entry_t *e, size_t n)
{
    char *path = ls_path_join(root, name);
    test_write_archive(path, format, e, n);
    free(path);
}

/* version 1: a.zip then b.tar (b overrides a's x.txt), plus a non-archive */
static void make_downloaded_v1(const char *root)
{
    test_entry_t a[] = {T_FILE("x.txt", "from a"), T_FILE("old.txt", "old only")};
    test_entry_t b[] = {T_FILE("x.txt", "from b"), T_FILE("bin/game.exe", "MZ")};
    ls_test_write_text(root, LS_VERSION_FILE, "1\n");
    ls_test_write_text(root, "notes.txt", "not an archive");
    put_archive(root, "a.zip", "zip", a, 2);
    put_archive(root, "b.tar", "tar", b, 2);
}

/* version 2 replaces the archives: old.txt is gone, new.txt appears */
static void make_downloaded_v2(const char *root)
{
    test_entry_t a[] = {T_FILE("x.txt", "v2"), T_FILE("new.txt", "new")};
    char *b = ls_path_join(root, "b.tar");
    assert_int_equal(ls_fs_remove_tree(b), 0);
    free(b);
    ls_test_write_text(root, LS_VERSION_FILE, "2\n");
    put_archive(root, "a.zip", "zip", a, 2);
}

static char *read_text(const char *root, const char *rel)
{
    size_t len;
    return ls_test_read_file(root, rel, &len);
}

static void assert_text(const char *root, const char *rel, const char *want)
{
    char *got = read_text(root, rel);
    assert_string_equal(got, want);
    free(got);
}

static void assert_no_reserved_leftovers(const char *root)
{
    assert_false(test_exists(root, LS_INTENT_FILE));
    assert_false(test_exists(root, LS_INSTALLING_DIR));
    assert_false(test_exists(root, LS_BACKUP_DIR));
    assert_false(test_exists(root, LS_INSTALL_DIR "/" LS_OWNED_MARKER));
}

static void install_unpacks_archives_in_name_order_into_local(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), 0);
    assert_text(f->root, "local/x.txt", "from b");
    assert_text(f->root, "local/old.txt", "old only");
    assert_text(f->root, "local/bin/game.exe", "MZ");
    assert_false(test_exists(f->root, "local/notes.txt"));
    assert_true(test_exists(f->root, "notes.txt"));
    assert_no_reserved_leftovers(f->root);
}

static void install_refuses_a_game_that_is_not_downloaded(void **state)
{
    fixture_t *f = *state;
    test_entry_t a[] = {T_FILE("x.txt", "x")};
    put_archive(f->root, "a.zip", "zip", a, 1);
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason),
                     LS_ENOT_DOWNLOADED);
    assert_non_null(strstr(f->reason, LS_VERSION_FILE));
    assert_false(test_exists(f->root, LS_INSTALL_DIR));
    assert_no_reserved_leftovers(f->root);
}

static void install_refuses_an_installed_game(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), LS_EINSTALLED);
    assert_text(f->root, "local/x.txt", "from b");
}

static void install_of_a_malicious_archive_rolls_back_completely(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    char *before = test_tree_snapshot(f->games);
    test_entry_t evil[] = {T_FILE("fine.txt", "ok"), T_FILE("../../evil", "pwned")};
    put_archive(f->root, "c.zip", "zip", evil, 2);
    char *with_c = test_tree_snapshot(f->games);
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "c.zip"));
    assert_non_null(strstr(f->reason, "../../evil"));
    char *after = test_tree_snapshot(f->games);
    assert_string_equal(after, with_c);
    assert_no_reserved_leftovers(f->root);
    free(before);
    free(with_c);
    free(after);
}

static void install_with_no_archive_gives_an_empty_local(void **state)
{
    fixture_t *f = *state;
    ls_test_write_text(f->root, LS_VERSION_FILE, "1\n");
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    char *local = ls_path_join(f->root, LS_INSTALL_DIR);
    char *snap = test_tree_snapshot(local);
    assert_string_equal(snap, "");
    free(snap);
    free(local);
}

static void update_replaces_local_with_the_new_version(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    ls_test_write_text(f->root, "local/savegame.dat", "mine");
    make_downloaded_v2(f->root);
    assert_int_equal(ls_update_game(f->root, NULL, f->reason, sizeof f->reason), 0);
    assert_text(f->root, "local/x.txt", "v2");
    assert_text(f->root, "local/new.txt", "new");
    assert_false(test_exists(f->root, "local/old.txt"));
    assert_false(test_exists(f->root, "local/savegame.dat"));
    assert_no_reserved_leftovers(f->root);
}

static void failed_update_keeps_the_old_install(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    char *local = ls_path_join(f->root, LS_INSTALL_DIR);
    char *before = test_tree_snapshot(local);
    test_entry_t evil[] = {T_SYMLINK("l", "/etc"), T_FILE("l/passwd", "pwned")};
    put_archive(f->root, "c.tar", "tar", evil, 2);
    assert_int_equal(ls_update_game(f->root, NULL, f->reason, sizeof f->reason), LS_EUNSAFE_ENTRY);
    char *after = test_tree_snapshot(local);
    assert_string_equal(after, before);
    assert_no_reserved_leftovers(f->root);
    free(before);
    free(after);
    free(local);
}

static void update_and_uninstall_refuse_a_game_that_is_not_installed(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_update_game(f->root, NULL, NULL, 0), LS_ENOT_INSTALLED);
    assert_int_equal(ls_uninstall_game(f->root, f->reason, sizeof f->reason), LS_ENOT_INSTALLED);
    assert_non_null(strstr(f->reason, "not installed"));
    assert_no_reserved_leftovers(f->root);
}

static void uninstall_removes_local_and_keeps_the_download(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    char *before = test_tree_snapshot(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    assert_int_equal(ls_uninstall_game(f->root, f->reason, sizeof f->reason), 0);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void install_leaves_an_unmarked_installing_folder_alone(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/user.txt", "mine");
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), LS_ENOT_OWNED);
    assert_non_null(strstr(f->reason, LS_INSTALLING_DIR));
    assert_text(f->root, LS_INSTALLING_DIR "/user.txt", "mine");
    assert_false(test_exists(f->root, LS_INSTALL_DIR));
    /* recovery leaves it alone too */
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(f->root, &report), 0);
    assert_text(f->root, LS_INSTALLING_DIR "/user.txt", "mine");
}

static void install_removes_a_marked_leftover_installing_folder(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/" LS_OWNED_MARKER, "");
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/half.txt", "partial");
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    assert_false(test_exists(f->root, "local/half.txt"));
    assert_no_reserved_leftovers(f->root);
}

static void install_puts_back_a_game_left_only_in_an_owned_backup(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    char *before = test_tree_snapshot(f->root);
    char *local = ls_path_join(f->root, LS_INSTALL_DIR);
    char *moved = ls_path_join(f->root, LS_BACKUP_DIR "/" LS_INSTALL_DIR);
    ls_test_write_text(f->root, LS_BACKUP_DIR "/" LS_OWNED_MARKER, "");
    assert_int_equal(rename(local, moved), 0);
    /* no intent at all: the backup must not be cleared as a mere leftover */
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), LS_EINSTALLED);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
    free(local);
    free(moved);
}

static void operations_on_a_locked_game_are_refused_as_busy(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    char *before = test_tree_snapshot(f->root);
    /* another process (or thread) running an operation holds this lock */
    int fd = open(f->root, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), LS_EBUSY);
    assert_non_null(strstr(f->reason, "another operation"));
    assert_int_equal(ls_install_recover(f->root, NULL), LS_EBUSY);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    close(fd);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    free(before);
    free(after);
}

typedef struct {
    int calls;
} fake_unpacker_t;

static int fake_unpack(void *self, const char *archive_path, const char *dest_dir,
                       const ls_unpack_opts_t *opts, char *reason, size_t reason_len)
{
    fake_unpacker_t *fake = self;
    (void)archive_path;
    (void)opts;
    (void)reason;
    (void)reason_len;
    fake->calls++;
    ls_test_write_text(dest_dir, "injected.txt", "from the platform");
    return 0;
}

static void install_uses_an_injected_unpacker(void **state)
{
    fixture_t *f = *state;
    fake_unpacker_t fake = {0};
    ls_unpacker_t u = {.unpack = fake_unpack, .self = &fake};
    ls_install_opts_t opts = {.unpacker = &u};
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, &opts, NULL, 0), 0);
    assert_int_equal(fake.calls, 2);
    assert_text(f->root, "local/injected.txt", "from the platform");
    assert_false(test_exists(f->root, "local/x.txt"));
}

static int failing_unpack(void *self, const char *archive_path, const char *dest_dir,
                          const ls_unpack_opts_t *opts, char *reason, size_t reason_len)
{
    (void)self;
    (void)archive_path;
    (void)opts;
    (void)reason;
    (void)reason_len;
    ls_test_write_text(dest_dir, "partial.bin", "half");
    return LS_EIO;
}

static void failing_injected_unpacker_rolls_back_and_names_the_archive(void **state)
{
    fixture_t *f = *state;
    ls_unpacker_t u = {.unpack = failing_unpack, .self = NULL};
    ls_install_opts_t opts = {.unpacker = &u};
    make_downloaded_v1(f->root);
    char *before = test_tree_snapshot(f->root);
    assert_int_equal(ls_install_game(f->root, &opts, f->reason, sizeof f->reason), LS_EIO);
    assert_non_null(strstr(f->reason, "a.zip"));
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

typedef struct {
    uint64_t last_done, last_total;
    int calls;
    bool monotonic;
} install_progress_t;

static void install_progress_cb(uint64_t done, uint64_t total, void *userdata)
{
    install_progress_t *p = userdata;
    if (done < p->last_done || done > total)
        p->monotonic = false;
    p->last_done = done;
    p->last_total = total;
    p->calls++;
}

static void install_reports_progress_over_the_archive_bytes(void **state)
{
    fixture_t *f = *state;
    install_progress_t p = {.monotonic = true};
    ls_install_opts_t opts = {.progress = install_progress_cb, .userdata = &p};
    make_downloaded_v1(f->root);
    struct stat a, b;
    char *pa = ls_path_join(f->root, "a.zip"), *pb = ls_path_join(f->root, "b.tar");
    assert_int_equal(stat(pa, &a), 0);
    assert_int_equal(stat(pb, &b), 0);
    assert_int_equal(ls_install_game(f->root, &opts, NULL, 0), 0);
    assert_true(p.calls > 1);
    assert_true(p.monotonic);
    assert_int_equal(p.last_total, (uint64_t)(a.st_size + b.st_size));
    assert_int_equal(p.last_done, p.last_total);
    free(pa);
    free(pb);
}

/* ---- recovery from what a crash left ---- */

static void write_raw_intent(const char *root, const char *json)
{
    ls_test_write_text(root, LS_INTENT_FILE, json);
}

static void corrupt_intent_is_reported_and_the_install_kept(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    char *before = test_tree_snapshot(f->root);
    write_raw_intent(f->root, "{\"format\":1,\"op\":\"uninst");
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(f->root, &report), 0);
    assert_true(report.intent_corrupt);
    assert_non_null(strstr(report.reason, LS_INTENT_FILE));
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void corrupt_intent_with_the_game_only_in_an_owned_backup_restores_it(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    assert_int_equal(ls_install_game(f->root, NULL, NULL, 0), 0);
    char *before = test_tree_snapshot(f->root);
    /* what an update leaves after moving local/ away, with its log garbled */
    char *local = ls_path_join(f->root, LS_INSTALL_DIR);
    char *moved = ls_path_join(f->root, LS_BACKUP_DIR "/" LS_INSTALL_DIR);
    ls_test_write_text(f->root, LS_BACKUP_DIR "/" LS_OWNED_MARKER, "");
    assert_int_equal(rename(local, moved), 0);
    ls_test_write_file(f->root, LS_INTENT_FILE, "\0\0\0\xff", 4);
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(f->root, &report), 0);
    assert_true(report.intent_corrupt);
    assert_int_equal(report.action, LS_RECOVER_ROLLED_BACK);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
    free(local);
    free(moved);
}

static void recovery_without_intent_leaves_unmarked_folders_alone(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    ls_test_write_text(f->root, LS_BACKUP_DIR "/local/keep.txt", "user data");
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/keep.txt", "user data");
    char *before = test_tree_snapshot(f->root);
    assert_int_equal(ls_install_recover(f->root, NULL), 0);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void recovery_removes_marked_leftovers_and_stale_intent_temps(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    char *before = test_tree_snapshot(f->root);
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/" LS_OWNED_MARKER, "");
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/deep/half.bin", "x");
    ls_test_write_text(f->root, LS_INTENT_FILE ".tmp.4242", "{\"format\":1");
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(f->root, &report), 0);
    assert_int_equal(report.action, LS_RECOVER_LEFTOVERS);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void install_intent_without_staging_owns_an_unmarked_folder(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    char *before = test_tree_snapshot(f->root);
    /* a crash between mkdir and the marker: only the intent proves ownership */
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/x", "partial");
    write_raw_intent(f->root, "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\","
                              "\"owns\":[\".local.installing\"]}");
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(f->root, &report), 0);
    assert_int_equal(report.op, LS_INSTALL_OP_INSTALL);
    assert_int_equal(report.action, LS_RECOVER_ROLLED_BACK);
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void recovery_refuses_to_guess_when_local_reappeared(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    ls_test_write_text(f->root, "local/new.txt", "user put this here");
    ls_test_write_text(f->root, LS_BACKUP_DIR "/" LS_OWNED_MARKER, "");
    ls_test_write_text(f->root, LS_BACKUP_DIR "/local/old.txt", "being uninstalled");
    write_raw_intent(f->root, "{\"format\":1,\"op\":\"uninstall\",\"phase\":\"moving\","
                              "\"owns\":[\".local.backup\"]}");
    char *before = test_tree_snapshot(f->root);
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(f->root, &report), LS_EINCONSISTENT);
    assert_non_null(strstr(report.reason, "reappeared"));
    char *after = test_tree_snapshot(f->root);
    assert_string_equal(after, before); /* intent kept, nothing deleted */
    free(before);
    free(after);
}

static void operation_runs_recovery_of_a_pending_intent_first(void **state)
{
    fixture_t *f = *state;
    make_downloaded_v1(f->root);
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/" LS_OWNED_MARKER, "");
    write_raw_intent(f->root, "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\","
                              "\"owns\":[\".local.installing\"]}");
    assert_int_equal(ls_install_game(f->root, NULL, f->reason, sizeof f->reason), 0);
    assert_text(f->root, "local/x.txt", "from b");
    assert_no_reserved_leftovers(f->root);
}

static void recovery_of_a_games_directory_visits_every_game(void **state)
{
    fixture_t *f = *state;
    char *other = ls_path_join(f->games, "doom");
    make_downloaded_v1(f->root);
    make_downloaded_v1(other);
    ls_test_write_text(f->root, LS_INSTALLING_DIR "/" LS_OWNED_MARKER, "");
    write_raw_intent(other, "not json");
    ls_test_write_text(f->games, "stray-file", "x");
    assert_int_equal(ls_install_recover_all(f->games, NULL, NULL), 0);
    assert_no_reserved_leftovers(f->root);
    assert_no_reserved_leftovers(other);
    free(other);
}

/* ---- intent codec ---- */

static void intent_round_trips(void **state)
{
    (void)state;
    ls_intent_t in = {LS_INSTALL_OP_UPDATE, LS_PHASE_SWAPPING, LS_OWNS_INSTALLING | LS_OWNS_BACKUP};
    ls_intent_t out;
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(ls_intent_encode(&in, &json, &len), 0);
    assert_int_equal(ls_intent_decode(json, len, &out, NULL, 0), 0);
    assert_int_equal(out.op, in.op);
    assert_int_equal(out.phase, in.phase);
    assert_int_equal(out.owns, in.owns);
    free(json);
}

static void intent_decoder_is_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\"}",
        "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[],\"x\":1}",
        "{\"format\":1,\"op\":\"install\",\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[]}",
        "{\"format\":1,\"op\":\"install\",\"phase\":\"swapping\",\"owns\":[]}",
        "{\"format\":1,\"op\":\"reinstall\",\"phase\":\"unpacking\",\"owns\":[]}",
        "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[\"local\"]}",
        ("{\"format\":1,\"op\":\"update\",\"phase\":\"swapping\","
         "\"owns\":[\".local.backup\",\".local.backup\"]}"),
        "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[\".local.backup\"]}",
        "{\"format\":\"1\",\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[]}",
        "{\"format\":1,\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[]} trailing",
    };
    ls_intent_t out;
    char detail[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ls_intent_decode(bad[i], strlen(bad[i]), &out, detail, sizeof detail),
                         LS_EINTENT);
    const char *v2 = "{\"format\":2,\"op\":\"install\",\"phase\":\"unpacking\",\"owns\":[]}";
    assert_int_equal(ls_intent_decode(v2, strlen(v2), &out, NULL, 0), LS_EVERSION);
    char big[LS_INTENT_MAX + 2];
    memset(big, ' ', sizeof big);
    assert_int_equal(ls_intent_decode(big, sizeof big, &out, NULL, 0), LS_EINTENT);
}

static void oversized_intent_file_is_refused_unread(void **state)
{
    fixture_t *f = *state;
    char *big = malloc(LS_INTENT_MAX * 4);
    memset(big, ' ', LS_INTENT_MAX * 4);
    ls_test_write_file(f->root, LS_INTENT_FILE, big, LS_INTENT_MAX * 4);
    ls_intent_t out;
    assert_int_equal(ls_intent_read(f->root, &out, NULL, 0), LS_EINTENT);
    free(big);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(install_unpacks_archives_in_name_order_into_local),
        T(install_refuses_a_game_that_is_not_downloaded),
        T(install_refuses_an_installed_game),
        T(install_of_a_malicious_archive_rolls_back_completely),
        T(install_with_no_archive_gives_an_empty_local),
        T(update_replaces_local_with_the_new_version),
        T(failed_update_keeps_the_old_install),
        T(update_and_uninstall_refuse_a_game_that_is_not_installed),
        T(uninstall_removes_local_and_keeps_the_download),
        T(install_leaves_an_unmarked_installing_folder_alone),
        T(install_removes_a_marked_leftover_installing_folder),
        T(install_puts_back_a_game_left_only_in_an_owned_backup),
        T(operations_on_a_locked_game_are_refused_as_busy),
        T(install_uses_an_injected_unpacker),
        T(failing_injected_unpacker_rolls_back_and_names_the_archive),
        T(install_reports_progress_over_the_archive_bytes),
        T(corrupt_intent_is_reported_and_the_install_kept),
        T(corrupt_intent_with_the_game_only_in_an_owned_backup_restores_it),
        T(recovery_without_intent_leaves_unmarked_folders_alone),
        T(recovery_removes_marked_leftovers_and_stale_intent_temps),
        T(install_intent_without_staging_owns_an_unmarked_folder),
        T(recovery_refuses_to_guess_when_local_reappeared),
        T(operation_runs_recovery_of_a_pending_intent_first),
        T(recovery_of_a_games_directory_visits_every_game),
        cmocka_unit_test(intent_round_trips),
        cmocka_unit_test(intent_decoder_is_strict),
        T(oversized_intent_file_is_refused_unread),
    };
    ls_log_set_level(LS_LOG_ERROR + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
