/* Crash injection: a forked child runs an operation with LS_CRASH_AT naming
 * one of its phases and aborts there; recovery then runs in the parent and
 * the game folder must equal, file for file and hash for hash, exactly the
 * state before the operation or the state after it. Every phase of install,
 * update and uninstall is covered. */
#include "test_install_helpers.h"

#include "lanspread/error.h"
#include "lanspread/install.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

typedef enum { BEFORE, AFTER } outcome_t;

typedef struct {
    const char *point;
    outcome_t want;
} crash_case_t;

/* "archive_unpacked" fires after the first of the two archives */
static const crash_case_t install_cases[] = {
    {"intent_written", BEFORE}, {"staging_created", BEFORE}, {"archive_unpacked", BEFORE},
    {"unpacked", BEFORE},       {"committing", AFTER},       {"marker_removed", AFTER},
    {"renamed", AFTER},
};

static const crash_case_t update_cases[] = {
    {"intent_written", BEFORE}, {"staging_created", BEFORE}, {"archive_unpacked", BEFORE},
    {"unpacked", BEFORE},       {"swapping", AFTER},         {"backup_created", AFTER},
    {"after_backup", AFTER},    {"swapped", AFTER},          {"cleanup", AFTER},
    {"backup_removed", AFTER},
};

static const crash_case_t uninstall_cases[] = {
    {"intent_written", BEFORE}, {"backup_created", BEFORE}, {"moved", AFTER},
    {"removing", AFTER},        {"backup_removed", AFTER},
};

static void put_archive(const char *root, const char *name, const char *format,
                        const test_entry_t *e, size_t n)
{
    char *path = ls_path_join(root, name);
    test_write_archive(path, format, e, n);
    free(path);
}

static void make_v1(const char *root)
{
    test_entry_t a[] = {T_FILE("x.txt", "v1"), T_FILE("maps/e1m1.bsp", "map one"),
                        T_SYMLINK("maps/start.bsp", "e1m1.bsp")};
    test_entry_t b[] = {T_FILE("bin/game.exe", "MZ v1"), T_FILE("old.txt", "only in v1")};
    ls_test_write_text(root, LS_VERSION_FILE, "1\n");
    put_archive(root, "a.tar", "tar", a, 3);
    put_archive(root, "b.zip", "zip", b, 2);
}

static void make_v2_download(const char *root)
{
    test_entry_t a[] = {T_FILE("x.txt", "v2"), T_FILE("maps/e1m2.bsp", "map two")};
    test_entry_t b[] = {T_FILE("bin/game.exe", "MZ v2")};
    ls_test_write_text(root, LS_VERSION_FILE, "2\n");
    put_archive(root, "a.tar", "tar", a, 2);
    put_archive(root, "b.zip", "zip", b, 1);
}

/* Runs op in a child that must die of SIGABRT at `point`. */
static void crash_child_at(ls_install_op_t op, const char *root, const char *point)
{
    char env[64];
    snprintf(env, sizeof env, "%s:%s", ls_install_op_name(op), point);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGABRT, SIG_DFL);
        setenv("LS_CRASH_AT", env, 1);
        int rc = ls_install_run(op, root, NULL, NULL, 0);
        _exit(rc == 0 ? 0 : 1); /* reached only when the hook did not fire */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fail_msg("%s: child exited with %d instead of aborting", env, WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void run_crash_cases(ls_install_op_t op, void (*prepare)(const char *root),
                            const crash_case_t *cases, size_t count)
{
    char *scratch = ls_test_mkdtemp("crash");
    char *tmpl = ls_path_join(scratch, "template");
    char *ref = ls_path_join(scratch, "reference");
    assert_int_equal(ls_fs_mkdir_p(tmpl, 0755), 0);
    prepare(tmpl);
    char *before = test_tree_snapshot(tmpl);
    test_copy_tree(tmpl, ref, 0);
    assert_int_equal(ls_install_run(op, ref, NULL, NULL, 0), 0);
    char *after = test_tree_snapshot(ref);
    assert_string_not_equal(before, after);

    for (size_t i = 0; i < count; i++) {
        char *root = ls_strdup_printf("%s/case%zu", scratch, i);
        test_copy_tree(tmpl, root, 0);
        crash_child_at(op, root, cases[i].point);
        ls_recover_report_t report;
        assert_int_equal(ls_install_recover(root, &report), 0);
        char *got = test_tree_snapshot(root);
        const char *want = cases[i].want == BEFORE ? before : after;
        if (strcmp(got, want) != 0)
            fail_msg("%s:%s recovered to\n%s\nwanted (%s)\n%s", ls_install_op_name(op),
                     cases[i].point, got, cases[i].want == BEFORE ? "before" : "after", want);
        assert_int_equal(report.op, op);
        assert_int_equal(report.action, cases[i].want == BEFORE ? LS_RECOVER_ROLLED_BACK
                                                                : LS_RECOVER_ROLLED_FORWARD);
        free(got);
        ls_test_rmtree(root);
        free(root);
    }
    free(before);
    free(after);
    free(tmpl);
    free(ref);
    ls_test_rmtree(scratch);
    free(scratch);
}

static void prepare_install(const char *root)
{
    make_v1(root);
}

static void prepare_update(const char *root)
{
    make_v1(root);
    assert_int_equal(ls_install_game(root, NULL, NULL, 0), 0);
    make_v2_download(root);
}

static void prepare_uninstall(const char *root)
{
    make_v1(root);
    assert_int_equal(ls_install_game(root, NULL, NULL, 0), 0);
}

static void crash_at_every_install_phase_recovers_to_before_or_after(void **state)
{
    (void)state;
    run_crash_cases(LS_INSTALL_OP_INSTALL, prepare_install, install_cases,
                    sizeof install_cases / sizeof install_cases[0]);
}

static void crash_at_every_update_phase_recovers_to_before_or_after(void **state)
{
    (void)state;
    run_crash_cases(LS_INSTALL_OP_UPDATE, prepare_update, update_cases,
                    sizeof update_cases / sizeof update_cases[0]);
}

static void crash_at_every_uninstall_phase_recovers_to_before_or_after(void **state)
{
    (void)state;
    run_crash_cases(LS_INSTALL_OP_UNINSTALL, prepare_uninstall, uninstall_cases,
                    sizeof uninstall_cases / sizeof uninstall_cases[0]);
}

/* A second crash during recovery's own work must still end consistently:
 * recovery is idempotent, so running it twice changes nothing. */
static void recovery_is_idempotent(void **state)
{
    (void)state;
    char *scratch = ls_test_mkdtemp("crash2");
    char *root = ls_path_join(scratch, "game");
    assert_int_equal(ls_fs_mkdir_p(root, 0755), 0);
    prepare_update(root);
    crash_child_at(LS_INSTALL_OP_UPDATE, root, "after_backup");
    assert_int_equal(ls_install_recover(root, NULL), 0);
    char *once = test_tree_snapshot(root);
    ls_recover_report_t report;
    assert_int_equal(ls_install_recover(root, &report), 0);
    assert_int_equal(report.action, LS_RECOVER_CLEAN);
    char *twice = test_tree_snapshot(root);
    assert_string_equal(once, twice);
    free(once);
    free(twice);
    free(root);
    ls_test_rmtree(scratch);
    free(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_at_every_install_phase_recovers_to_before_or_after),
        cmocka_unit_test(crash_at_every_update_phase_recovers_to_before_or_after),
        cmocka_unit_test(crash_at_every_uninstall_phase_recovers_to_before_or_after),
        cmocka_unit_test(recovery_is_idempotent),
    };
    ls_log_set_level(LS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
