/* The install runner on a real libuv loop: one operation at a time per game,
 * events on the loop thread, busy games refused. */
#include "test_install_helpers.h"

#include "lanspread/error.h"
#include "lanspread/install.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <uv.h>

#define EVENTS_MAX 4096

typedef struct {
    ls_install_event_kind_t kind;
    ls_install_op_t op;
    char game_id[LS_GAME_ID_MAX + 1];
    int error;
    char reason[LS_REASON_MAX];
    bool busy_at_event;
} seen_event_t;

typedef struct {
    uv_loop_t loop;
    char *games;
    ls_install_runner_t *runner;
    seen_event_t events[EVENTS_MAX];
    size_t count;
    uv_thread_t loop_thread;
    bool wrong_thread;
} fixture_t;

static void event_cb(const ls_install_event_t *ev, void *userdata)
{
    fixture_t *f = userdata;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &f->loop_thread))
        f->wrong_thread = true;
    if (f->count == EVENTS_MAX)
        return;
    seen_event_t *s = &f->events[f->count++];
    s->kind = ev->kind;
    s->op = ev->op;
    snprintf(s->game_id, sizeof s->game_id, "%s", ev->game_id);
    s->error = ev->error;
    snprintf(s->reason, sizeof s->reason, "%s", ev->reason ? ev->reason : "");
    s->busy_at_event = ls_install_runner_is_busy(f->runner, ev->game_id);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->games = ls_test_mkdtemp("runner");
    f->loop_thread = uv_thread_self();
    assert_int_equal(ls_install_runner_new(&f->loop, f->games, NULL, event_cb, f, &f->runner), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls_install_runner_close(f->runner);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    ls_test_rmtree(f->games);
    free(f->games);
    free(f);
    return 0;
}

static void make_game(const char *games, const char *id)
{
    char *root = ls_path_join(games, id);
    char *arch = ls_path_join(root, "data.zip");
    test_entry_t e[] = {T_FILE("game.exe", "MZ")};
    ls_test_write_text(root, LS_VERSION_FILE, "1\n");
    test_write_archive(arch, "zip", e, 1);
    free(arch);
    free(root);
}

static const seen_event_t *find(const fixture_t *f, const char *id, ls_install_event_kind_t kind)
{
    for (size_t i = 0; i < f->count; i++)
        if (f->events[i].kind == kind && strcmp(f->events[i].game_id, id) == 0)
            return &f->events[i];
    return NULL;
}

static void install_runs_on_its_lane_and_reports_begin_then_finished(void **state)
{
    fixture_t *f = *state;
    make_game(f->games, "quake");
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, "quake"), 0);
    assert_true(ls_install_runner_is_busy(f->runner, "quake"));
    assert_false(ls_install_runner_is_busy(f->runner, "doom"));
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_UNINSTALL, "quake"),
                     LS_EBUSY);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_false(f->wrong_thread);
    assert_true(f->count >= 2);
    assert_int_equal(f->events[0].kind, LS_INSTALL_EV_BEGIN);
    assert_true(f->events[0].busy_at_event);
    const seen_event_t *done = &f->events[f->count - 1];
    assert_int_equal(done->kind, LS_INSTALL_EV_FINISHED);
    assert_int_equal(done->op, LS_INSTALL_OP_INSTALL);
    assert_false(done->busy_at_event);
    assert_false(ls_install_runner_is_busy(f->runner, "quake"));
    char *root = ls_path_join(f->games, "quake");
    assert_true(test_exists(root, "local/game.exe"));
    free(root);
}

static void failure_is_reported_with_its_code_and_reason(void **state)
{
    fixture_t *f = *state;
    char *root = ls_path_join(f->games, "doom");
    assert_int_equal(ls_fs_mkdir_p(root, 0755), 0);
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, "doom"), 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_non_null(find(f, "doom", LS_INSTALL_EV_BEGIN));
    const seen_event_t *failed = find(f, "doom", LS_INSTALL_EV_FAILED);
    assert_non_null(failed);
    assert_int_equal(failed->error, LS_ENOT_DOWNLOADED);
    assert_non_null(strstr(failed->reason, LS_VERSION_FILE));
    assert_null(find(f, "doom", LS_INSTALL_EV_FINISHED));
    free(root);
}

static void different_games_are_both_accepted_and_both_run(void **state)
{
    fixture_t *f = *state;
    make_game(f->games, "a");
    make_game(f->games, "b");
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, "a"), 0);
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, "b"), 0);
    assert_true(ls_install_runner_is_busy(f->runner, "b")); /* queued counts as busy */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_non_null(find(f, "a", LS_INSTALL_EV_FINISHED));
    assert_non_null(find(f, "b", LS_INSTALL_EV_BEGIN));
    assert_non_null(find(f, "b", LS_INSTALL_EV_FINISHED));
}

static void invalid_game_ids_are_refused(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, "../x"),
                     LS_EINVALID_ID);
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, ""),
                     LS_EINVALID_ID);
    assert_int_equal(f->count, 0);
}

static void closing_with_an_operation_running_frees_after_it_ends(void **state)
{
    fixture_t *f = *state;
    make_game(f->games, "late");
    assert_int_equal(ls_install_runner_submit(f->runner, LS_INSTALL_OP_INSTALL, "late"), 0);
    ls_install_runner_close(f->runner);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->count, 0); /* no event after close */
    char *root = ls_path_join(f->games, "late");
    assert_true(test_exists(root, "local/game.exe"));
    free(root);
    /* teardown closes again: give it a fresh runner */
    assert_int_equal(ls_install_runner_new(&f->loop, f->games, NULL, event_cb, f, &f->runner), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(install_runs_on_its_lane_and_reports_begin_then_finished,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(failure_is_reported_with_its_code_and_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(different_games_are_both_accepted_and_both_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalid_game_ids_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(closing_with_an_operation_running_frees_after_it_ends,
                                        setup, teardown),
    };
    ls_log_set_level(LS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
