/* The local game monitor on a private loop: a change rescans only its game,
 * a busy game's rescans are held back and done once on release, a change
 * of the local catalog and the periodic full scan rescan everything but wait
 * while an operation runs. */
#include "testutil.h"

#include "peer/monitor.h"

#include "lanspread/catalog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MAX_SCANS 64

typedef struct {
    uv_loop_t loop;
    char *dir;
    ls_monitor_t *monitor;
    const char *busy_game;     /* NULL: nothing busy */
    char scans[MAX_SCANS][80]; /* "*" for a full scan */
    size_t scan_count;
} fixture_t;

static bool busy_cb(const char *game_id, void *userdata)
{
    fixture_t *f = userdata;
    return f->busy_game && strcmp(f->busy_game, game_id) == 0;
}

static void rescan_cb(const char *game_id, void *userdata)
{
    fixture_t *f = userdata;
    if (f->scan_count < MAX_SCANS)
        snprintf(f->scans[f->scan_count++], sizeof f->scans[0], "%s", game_id ? game_id : "*");
}

static size_t count_scans(const fixture_t *f, const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < f->scan_count; i++)
        n += strcmp(f->scans[i], what) == 0;
    return n;
}

/* Runs the loop for about ms milliseconds (bounded by iterations too). */
static void spin(fixture_t *f, uint64_t ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    for (int i = 0; i < 100000 && uv_hrtime() / 1000000 < end; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        uv_sleep(2);
    }
}

static void write_file(const char *dir, const char *game, const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s", game, name);
    ls_test_write_text(dir, rel, "version=1\n");
}

static void make_game(const char *dir, const char *game)
{
    write_file(dir, game, "version.ini");
}

static int setup_with_fallback(void **state, uint32_t fallback_ms)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->dir = ls_test_mkdtemp("monitor");
    make_game(f->dir, "alpha");
    make_game(f->dir, "beta");
    ls_monitor_config_t config = {
        .game_dir = f->dir,
        .settle_ms = 50,
        .fallback_ms = fallback_ms,
        .busy_cb = busy_cb,
        .rescan_cb = rescan_cb,
        .userdata = f,
    };
    assert_int_equal(ls_monitor_start(&f->loop, &config, &f->monitor), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with_fallback(state, 3600000);
}

static int setup_fast_fallback(void **state)
{
    return setup_with_fallback(state, 150);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ls_monitor_stop(f->monitor);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    ls_test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void a_change_rescans_only_its_game(void **state)
{
    fixture_t *f = *state;
    write_file(f->dir, "alpha", "data.bin");
    write_file(f->dir, "alpha", "more.bin");
    spin(f, 400);
    assert_int_equal(count_scans(f, "alpha"), 1); /* a burst settles into one */
    assert_int_equal(count_scans(f, "beta"), 0);
    assert_int_equal(count_scans(f, "*"), 0);
}

static void a_new_game_folder_is_watched(void **state)
{
    fixture_t *f = *state;
    make_game(f->dir, "gamma");
    spin(f, 400);
    assert_true(count_scans(f, "gamma") >= 1);
    size_t before = count_scans(f, "gamma");
    write_file(f->dir, "gamma", "late.bin"); /* inside the new root */
    spin(f, 400);
    assert_int_equal(count_scans(f, "gamma"), before + 1);
}

static void a_busy_game_is_held_until_released(void **state)
{
    fixture_t *f = *state;
    f->busy_game = "alpha";
    write_file(f->dir, "alpha", "data.bin");
    spin(f, 300);
    write_file(f->dir, "alpha", "more.bin");
    spin(f, 300);
    assert_int_equal(count_scans(f, "alpha"), 0);
    f->busy_game = NULL;
    ls_monitor_release(f->monitor, "alpha");
    assert_int_equal(count_scans(f, "alpha"), 1);
    ls_monitor_release(f->monitor, "alpha"); /* nothing held any more */
    assert_int_equal(count_scans(f, "alpha"), 1);
}

static void the_fallback_scan_runs_periodically(void **state)
{
    fixture_t *f = *state;
    spin(f, 500);
    assert_true(count_scans(f, "*") >= 2);
}

static void the_fallback_scan_waits_for_operations(void **state)
{
    fixture_t *f = *state;
    f->busy_game = "beta";
    spin(f, 500);
    assert_int_equal(count_scans(f, "*"), 0);
    f->busy_game = NULL;
    ls_monitor_release(f->monitor, "beta");
    assert_int_equal(count_scans(f, "*"), 1); /* once, right when it ended */
}

/* The local catalog gates every game: a change to it rescans everything,
 * once per burst, and waits like the fallback scan while an operation runs. */
static void a_catalog_change_rescans_everything(void **state)
{
    fixture_t *f = *state;
    ls_test_write_text(f->dir, LS_LOCAL_CATALOG_FILE, "{\"games\":[]}");
    ls_test_write_text(f->dir, LS_LOCAL_CATALOG_FILE, "{\"games\": []}");
    spin(f, 400);
    assert_int_equal(count_scans(f, "*"), 1);

    f->busy_game = "beta";
    ls_test_write_text(f->dir, LS_LOCAL_CATALOG_FILE, "{\"games\":  []}");
    spin(f, 400);
    assert_int_equal(count_scans(f, "*"), 1);
    f->busy_game = NULL;
    ls_monitor_release(f->monitor, "beta");
    assert_int_equal(count_scans(f, "*"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_change_rescans_only_its_game, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_game_folder_is_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(a_busy_game_is_held_until_released, setup, teardown),
        cmocka_unit_test_setup_teardown(a_catalog_change_rescans_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(the_fallback_scan_runs_periodically, setup_fast_fallback,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_fallback_scan_waits_for_operations, setup_fast_fallback,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
