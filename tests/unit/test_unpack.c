/* The libarchive unpacker: benign archives of every writable format come out
 * intact, and malicious ones are refused with nothing written outside the
 * destination. */
#include "test_install_helpers.h"

#include "lanspread/error.h"
#include "lanspread/unpack.h"

#include <sys/statvfs.h>

/* Every test works in a scratch dir S: archives in S/in, output in S/dest.
 * After a refusal, S must hold nothing but in/ and dest/ and what dest/ got. */
typedef struct {
    char *scratch;
    char *in;
    char *dest;
    char reason[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->scratch = ls_test_mkdtemp("unpack");
    f->in = ls_path_join(f->scratch, "in");
    f->dest = ls_path_join(f->scratch, "dest");
    assert_int_equal(ls_fs_mkdir_p(f->in, 0755), 0);
    assert_int_equal(ls_fs_mkdir_p(f->dest, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls_test_rmtree(f->scratch);
    free(f->scratch);
    free(f->in);
    free(f->dest);
    free(f);
    return 0;
}

static int unpack(fixture_t *f, const char *name, const char *format, const test_entry_t *e,
                  size_t n, uint64_t cap)
{
    char *path = ls_path_join(f->in, name);
    ls_unpack_opts_t opts = {.max_entry_size = cap};
    test_write_archive(path, format, e, n);
    int rc = ls_unpack_archive(NULL, path, f->dest, &opts, f->reason, sizeof f->reason);
    free(path);
    return rc;
}

/* Nothing but in/ and dest/ at the top of the scratch dir, and nothing was
 * created next to it either. */
static void assert_nothing_outside(fixture_t *f)
{
    char *top = test_tree_snapshot(f->scratch);
    char *dest_part = test_tree_snapshot(f->dest);
    char *in_part = test_tree_snapshot(f->in);
    size_t dest_lines = 0, in_lines = 0, top_lines = 0;
    for (char *p = top; *p; p++)
        top_lines += *p == '\n';
    for (char *p = dest_part; *p; p++)
        dest_lines += *p == '\n';
    for (char *p = in_part; *p; p++)
        in_lines += *p == '\n';
    assert_int_equal(top_lines, 2 + dest_lines + in_lines);
    assert_false(test_exists(f->scratch, "evil"));
    char *sibling = ls_strdup_printf("%s/../evil", f->scratch);
    assert_int_equal(ls_fs_exists(sibling), 0);
    free(sibling);
    free(top);
    free(dest_part);
    free(in_part);
}

static void unpacks_zip_tar_tgz_and_7z_with_their_content(void **state)
{
    fixture_t *f = *state;
    static const char *const formats[] = {"zip", "tar", "tgz", "7z"};
    char big[100000];
    ls_test_fill(big, sizeof big - 1, 7);
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + (unsigned char)big[i] % 26); /* text: no NUL */
    big[sizeof big - 1] = '\0';
    for (size_t i = 0; i < 4; i++) {
        test_entry_t e[] = {T_DIR("data/"), T_FILE("data/big.bin", big),
                            T_FILE("./readme.txt", "hello"), T_FILE("data/sub/x.cfg", "x=1")};
        char *name = ls_strdup_printf("game.%s", formats[i]);
        assert_int_equal(unpack(f, name, formats[i], e, 4, 0), 0);
        size_t len;
        char *got = ls_test_read_file(f->dest, "data/big.bin", &len);
        assert_int_equal(len, sizeof big - 1);
        assert_memory_equal(got, big, len);
        free(got);
        got = ls_test_read_file(f->dest, "readme.txt", &len);
        assert_string_equal(got, "hello");
        free(got);
        got = ls_test_read_file(f->dest, "data/sub/x.cfg", &len);
        assert_string_equal(got, "x=1");
        free(got);
        ls_test_rmtree(f->dest);
        assert_int_equal(ls_fs_mkdir_p(f->dest, 0755), 0);
        free(name);
    }
}

static void keeps_symlinks_and_hardlinks_that_stay_inside(void **state)
{
    fixture_t *f = *state;
    test_entry_t e[] = {T_FILE("data/a.txt", "A"), T_SYMLINK("data/link", "a.txt"),
                        T_SYMLINK("data/sub/up", "../a.txt"), T_HARDLINK("hard.txt", "data/a.txt")};
    assert_int_equal(unpack(f, "ok.tar", "tar", e, 4, 0), 0);
    char *snap = test_tree_snapshot(f->dest);
    assert_non_null(strstr(snap, "data/link -> a.txt\n"));
    assert_non_null(strstr(snap, "data/sub/up -> ../a.txt\n"));
    size_t len;
    char *got = ls_test_read_file(f->dest, "hard.txt", &len);
    assert_string_equal(got, "A");
    free(got);
    free(snap);
}

static void refuses_dotdot_entry_naming_archive_and_entry(void **state)
{
    fixture_t *f = *state;
    test_entry_t e[] = {T_FILE("ok.txt", "fine"), T_FILE("../evil", "pwned")};
    assert_int_equal(unpack(f, "slip.zip", "zip", e, 2, 0), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "slip.zip"));
    assert_non_null(strstr(f->reason, "../evil"));
    assert_nothing_outside(f);
}

static void refuses_nested_dotdot_entry(void **state)
{
    fixture_t *f = *state;
    test_entry_t e[] = {T_FILE("a/../../evil", "pwned")};
    assert_int_equal(unpack(f, "slip.tar", "tar", e, 1, 0), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "a/../../evil"));
    assert_nothing_outside(f);
}

static void refuses_absolute_entry(void **state)
{
    fixture_t *f = *state;
    char *abs = ls_strdup_printf("%s/evil", f->scratch);
    test_entry_t e[] = {T_FILE(abs, "pwned")};
    assert_int_equal(unpack(f, "abs.tar", "tar", e, 1, 0), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "absolute"));
    assert_nothing_outside(f);
    free(abs);
}

static void refuses_symlink_to_absolute_target_and_the_entry_behind_it(void **state)
{
    fixture_t *f = *state;
    test_entry_t e[] = {T_SYMLINK("etc", f->scratch), T_FILE("etc/evil", "pwned")};
    assert_int_equal(unpack(f, "abslink.tar", "tar", e, 2, 0), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "'etc'"));
    assert_false(test_exists(f->dest, "etc"));
    assert_nothing_outside(f);
}

static void refuses_symlink_climbing_out(void **state)
{
    fixture_t *f = *state;
    test_entry_t e1[] = {T_SYMLINK("up", "../.."), T_FILE("up/evil", "pwned")};
    test_entry_t e2[] = {T_SYMLINK("d/s", "../x/../../evil")};
    assert_int_equal(unpack(f, "up.tar", "tar", e1, 2, 0), LS_EUNSAFE_ENTRY);
    assert_false(test_exists(f->dest, "up"));
    assert_int_equal(unpack(f, "mid.tar", "tar", e2, 1, 0), LS_EUNSAFE_ENTRY);
    assert_nothing_outside(f);
}

static void never_writes_through_a_symlink_an_earlier_entry_created(void **state)
{
    fixture_t *f = *state;
    test_entry_t e[] = {T_DIR("sub/"), T_SYMLINK("in", "sub"), T_FILE("in/file", "through")};
    assert_int_equal(unpack(f, "through.tar", "tar", e, 3, 0), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "symlink"));
    assert_false(test_exists(f->dest, "sub/file"));
}

static void later_archive_replaces_a_symlink_instead_of_following_it(void **state)
{
    fixture_t *f = *state;
    test_entry_t e1[] = {T_FILE("target.txt", "original"), T_SYMLINK("s", "target.txt")};
    test_entry_t e2[] = {T_FILE("s", "replacement")};
    assert_int_equal(unpack(f, "1.tar", "tar", e1, 2, 0), 0);
    assert_int_equal(unpack(f, "2.zip", "zip", e2, 1, 0), 0);
    size_t len;
    char *t = ls_test_read_file(f->dest, "target.txt", &len);
    char *s = ls_test_read_file(f->dest, "s", &len);
    assert_string_equal(t, "original");
    assert_string_equal(s, "replacement");
    struct stat st;
    char *sp = ls_path_join(f->dest, "s");
    assert_int_equal(lstat(sp, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    free(sp);
    free(t);
    free(s);
}

static void refuses_hardlinks_to_outside_paths(void **state)
{
    fixture_t *f = *state;
    ls_test_write_text(f->scratch, "outside.txt", "secret");
    char *abs = ls_path_join(f->scratch, "outside.txt");
    test_entry_t rel[] = {T_HARDLINK("h", "../outside.txt")};
    test_entry_t absl[] = {T_HARDLINK("h", abs)};
    test_entry_t vial[] = {T_SYMLINK("l", "x"), T_HARDLINK("h", "l")};
    assert_int_equal(unpack(f, "hl1.tar", "tar", rel, 1, 0), LS_EUNSAFE_ENTRY);
    assert_int_equal(unpack(f, "hl2.tar", "tar", absl, 1, 0), LS_EUNSAFE_ENTRY);
    assert_int_equal(unpack(f, "hl3.tar", "tar", vial, 2, 0), LS_EUNSAFE_ENTRY);
    assert_false(test_exists(f->dest, "h"));
    struct stat st;
    assert_int_equal(stat(abs, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    free(abs);
}

static void refuses_fifo_and_device_entries(void **state)
{
    fixture_t *f = *state;
    test_entry_t fifo[] = {T_SPECIAL("pipe", AE_IFIFO)};
    test_entry_t chr[] = {T_SPECIAL("null", AE_IFCHR)};
    assert_int_equal(unpack(f, "fifo.tar", "tar", fifo, 1, 0), LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "pipe"));
    assert_int_equal(unpack(f, "chr.tar", "tar", chr, 1, 0), LS_EUNSAFE_ENTRY);
    assert_false(test_exists(f->dest, "pipe"));
    assert_false(test_exists(f->dest, "null"));
}

static void refuses_entry_claiming_one_tebibyte_before_writing_it(void **state)
{
    fixture_t *f = *state;
    char *path = ls_path_join(f->in, "huge.tar");
    ls_unpack_opts_t opts = {.max_entry_size = 1u << 30};
    test_write_huge_claim_tar(path);
    assert_int_equal(ls_unpack_archive(NULL, path, f->dest, &opts, f->reason, sizeof f->reason),
                     LS_ETOOBIG);
    assert_non_null(strstr(f->reason, "big.bin"));
    assert_false(test_exists(f->dest, "big.bin"));
    /* without a cap the limit is the free space, which is far below 1 TiB here */
    struct statvfs sv;
    assert_int_equal(statvfs(f->dest, &sv), 0);
    if ((uint64_t)sv.f_bavail * sv.f_frsize < (1ull << 40))
        assert_int_equal(ls_unpack_archive(NULL, path, f->dest, NULL, NULL, 0), LS_ETOOBIG);
    free(path);
}

static void stops_an_entry_writing_more_than_its_declared_size(void **state)
{
    fixture_t *f = *state;
    char *path = ls_path_join(f->in, "liar.zip");
    test_write_understated_zip(path);
    assert_int_equal(ls_unpack_archive(NULL, path, f->dest, NULL, f->reason, sizeof f->reason),
                     LS_EUNSAFE_ENTRY);
    assert_non_null(strstr(f->reason, "declared"));
    size_t len = 99;
    char *got = ls_test_read_file(f->dest, "f.txt", &len);
    assert_int_equal(len, 0); /* not one byte of the oversized block landed */
    free(got);
    free(path);
}

static void refuses_archive_writing_more_than_the_cap(void **state)
{
    fixture_t *f = *state;
    test_entry_t e[] = {T_FILE("a", "0123456789"), T_FILE("b", "0123456789")};
    assert_int_equal(unpack(f, "cap.zip", "zip", e, 2, 15), LS_ETOOBIG);
}

static void refuses_a_file_that_is_no_archive(void **state)
{
    fixture_t *f = *state;
    char junk[4096];
    ls_test_fill(junk, sizeof junk, 3);
    ls_test_write_file(f->in, "fake.zip", junk, sizeof junk);
    char *path = ls_path_join(f->in, "fake.zip");
    assert_int_equal(ls_unpack_archive(NULL, path, f->dest, NULL, f->reason, sizeof f->reason),
                     LS_EARCHIVE);
    assert_non_null(strstr(f->reason, "fake.zip"));
    free(path);
}

typedef struct {
    uint64_t calls;
    uint64_t last_written;
    uint64_t archive_size;
} progress_seen_t;

static void record_progress_cb(const ls_unpack_progress_t *p, void *userdata)
{
    progress_seen_t *seen = userdata;
    seen->calls++;
    seen->last_written = p->bytes_written;
    seen->archive_size = p->archive_size;
}

/* The "raw" format is off: a compressed file that holds no archive is not
 * unpacked as one anonymous blob. */
static void refuses_a_compressed_file_that_holds_no_archive(void **state)
{
    fixture_t *f = *state;
    char *path = ls_path_join(f->in, "notes.tar.gz");
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, 26);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, "just some text, no archive", 26), 26);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    assert_int_equal(ls_unpack_archive(NULL, path, f->dest, NULL, f->reason, sizeof f->reason),
                     LS_EARCHIVE);
    char *snap = test_tree_snapshot(f->dest);
    assert_string_equal(snap, "");
    free(snap);
    free(path);
}

static void reports_progress_up_to_the_bytes_written(void **state)
{
    fixture_t *f = *state;
    progress_seen_t seen = {0};
    char *path = ls_path_join(f->in, "p.tgz");
    test_entry_t e[] = {T_FILE("a", "0123456789"), T_FILE("b", "abcdef")};
    test_write_archive(path, "tgz", e, 2);
    ls_unpack_opts_t opts = {.progress = record_progress_cb, .userdata = &seen};
    assert_int_equal(ls_unpack_archive(NULL, path, f->dest, &opts, NULL, 0), 0);
    assert_true(seen.calls >= 2);
    assert_int_equal(seen.last_written, 16);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(seen.archive_size, (uint64_t)st.st_size);
    free(path);
}

static void recognises_archives_by_extension(void **state)
{
    (void)state;
    assert_true(ls_unpack_is_archive_name("game.zip"));
    assert_true(ls_unpack_is_archive_name("GAME.ZIP"));
    assert_true(ls_unpack_is_archive_name("data.7z"));
    assert_true(ls_unpack_is_archive_name("data.part1.rar"));
    assert_true(ls_unpack_is_archive_name("x.tar.gz"));
    assert_true(ls_unpack_is_archive_name("x.tgz"));
    assert_true(ls_unpack_is_archive_name("x.tar.bz2"));
    assert_true(ls_unpack_is_archive_name("x.tar.xz"));
    assert_true(ls_unpack_is_archive_name("x.tar"));
    assert_false(ls_unpack_is_archive_name("readme.txt"));
    assert_false(ls_unpack_is_archive_name("x.gz"));
    assert_false(ls_unpack_is_archive_name(".zip"));
    assert_false(ls_unpack_is_archive_name("version.ini"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unpacks_zip_tar_tgz_and_7z_with_their_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(keeps_symlinks_and_hardlinks_that_stay_inside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refuses_dotdot_entry_naming_archive_and_entry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refuses_nested_dotdot_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_absolute_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_symlink_to_absolute_target_and_the_entry_behind_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_symlink_climbing_out, setup, teardown),
        cmocka_unit_test_setup_teardown(never_writes_through_a_symlink_an_earlier_entry_created,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(later_archive_replaces_a_symlink_instead_of_following_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_hardlinks_to_outside_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_fifo_and_device_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_entry_claiming_one_tebibyte_before_writing_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(stops_an_entry_writing_more_than_its_declared_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refuses_archive_writing_more_than_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_a_file_that_is_no_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_a_compressed_file_that_holds_no_archive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reports_progress_up_to_the_bytes_written, setup, teardown),
        cmocka_unit_test(recognises_archives_by_extension),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
