/* The playing watch: which library game a process runs from, read from a
 * /proc stand-in (pid directories whose `exe` is a symlink, as the kernel
 * shows them), so every case is a file the test makes; which processes a
 * walk reads; and the watch itself on this machine's /proc, armed or not. */
#include "testutil.h"

#include "peer/playing.h"

#include "lanspread/library.h"

#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* proc/<pid>/exe -> target */
static void fake_process(const char *proc, const char *pid, const char *target)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", proc, pid);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/%s/exe", proc, pid);
    assert_int_equal(symlink(target, path), 0);
}

/* The process execs another program: same pid, a new exe. */
static void fake_exec(const char *proc, const char *pid, const char *target)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/exe", proc, pid);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(target, path), 0);
}

static void fake_exit(const char *proc, const char *pid)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", proc, pid);
    ls_test_rmtree(path);
}

static void a_walk_finds_a_process_started_from_a_games_local_dir(void **state)
{
    (void)state;
    char *proc = ls_test_mkdtemp("proc");
    char id[LS_GAME_ID_MAX + 1];
    ls__playing_walk_t walk = {0};
    /* none of these is a game running */
    fake_process(proc, "10", "/usr/bin/bash");
    fake_process(proc, "11", "/srv/games/quake3/quake3.exe");      /* not under local/ */
    fake_process(proc, "12", "/srv/games/quake3/localfoo/bin/q3"); /* a look-alike */
    fake_process(proc, "13", "/srv/gamesx/quake3/local/bin/q3");   /* another directory */
    fake_process(proc, "14", "/srv/games/local/bin/x");            /* no game folder */
    fake_process(proc, "15", "/srv/games/Bad Id!/local/bin/x");    /* not a game id */
    fake_process(proc, "self", "/srv/games/quake3/local/bin/q3");  /* not a pid */
    ls__playing_walk(&walk, proc, "/srv/games", id);
    assert_string_equal(id, "");
    /* a game: its exe anywhere under local/ (what the kernel shows for a
     * deleted binary ends in " (deleted)", still under local/) */
    fake_process(proc, "4242", "/srv/games/ut2004/local/System/ut2004-bin (deleted)");
    ls__playing_walk(&walk, proc, "/srv/games", id);
    assert_string_equal(id, "ut2004");
    /* no /proc at all: nothing runs */
    ls__playing_walk(&walk, "/nonexistent-proc", "/srv/games", id);
    assert_string_equal(id, "");
    ls__playing_walk_free(&walk);
    ls_test_rmtree(proc);
    free(proc);
}

#define OLD_PROCESSES 40
#define OLD_PID_FIRST 100

static void a_walk_reads_new_and_young_processes_and_the_rest_in_turn(void **state)
{
    (void)state;
    char *proc = ls_test_mkdtemp("proc");
    char id[LS_GAME_ID_MAX + 1], pid[16];
    ls__playing_walk_t walk = {0};
    for (int i = 0; i < OLD_PROCESSES; i++) {
        snprintf(pid, sizeof pid, "%d", OLD_PID_FIRST + i);
        fake_process(proc, pid, "/usr/bin/bash");
    }
    /* young: every one read on each walk */
    for (int i = 0; i < LS_PLAYING_YOUNG_WALKS; i++) {
        ls__playing_walk(&walk, proc, "/srv/games", id);
        assert_int_equal(walk.reads, OLD_PROCESSES);
    }
    /* old: each read once per LS_PLAYING_RECHECK_WALKS walks, spread */
    size_t reads = 0;
    for (int i = 0; i < LS_PLAYING_RECHECK_WALKS; i++) {
        ls__playing_walk(&walk, proc, "/srv/games", id);
        assert_true(walk.reads <= OLD_PROCESSES / LS_PLAYING_RECHECK_WALKS + 1);
        reads += walk.reads;
    }
    assert_int_equal(reads, OLD_PROCESSES);
    /* a new process running a game: found on the next walk */
    fake_process(proc, "9000", "/srv/games/quake3/local/q3");
    ls__playing_walk(&walk, proc, "/srv/games", id);
    assert_string_equal(id, "quake3");
    /* the game found is read every walk: found while it runs, and its end
     * seen at once */
    for (int i = 0; i < LS_PLAYING_YOUNG_WALKS + LS_PLAYING_RECHECK_WALKS; i++) {
        ls__playing_walk(&walk, proc, "/srv/games", id);
        assert_string_equal(id, "quake3");
    }
    fake_exit(proc, "9000");
    ls__playing_walk(&walk, proc, "/srv/games", id);
    assert_string_equal(id, "");
    /* a launcher that execs its game while young: the next walk */
    fake_process(proc, "9001", "/usr/bin/sh");
    for (int i = 0; i < LS_PLAYING_YOUNG_WALKS - 1; i++) {
        ls__playing_walk(&walk, proc, "/srv/games", id);
        assert_string_equal(id, "");
    }
    fake_exec(proc, "9001", "/srv/games/ut2004/local/ut2004-bin");
    ls__playing_walk(&walk, proc, "/srv/games", id);
    assert_string_equal(id, "ut2004");
    fake_exit(proc, "9001");
    /* an old process that execs a game: within LS_PLAYING_RECHECK_WALKS */
    fake_exec(proc, "117", "/srv/games/doom/local/doom");
    int walks = 0;
    do {
        ls__playing_walk(&walk, proc, "/srv/games", id);
        walks++;
    } while (!id[0] && walks < 2 * LS_PLAYING_RECHECK_WALKS);
    assert_string_equal(id, "doom");
    assert_true(walks <= LS_PLAYING_RECHECK_WALKS);
    ls__playing_walk_free(&walk);
    ls_test_rmtree(proc);
    free(proc);
}

/* --- the watch on this machine's /proc ------------------------------------ */

typedef struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    ls__playing_t *watch;
    char game[LS_GAME_ID_MAX + 1]; /* the last report ("" for NULL) */
    int reports;
} watch_fixture_t;

static void changed_cb(const char *game_id, void *userdata)
{
    watch_fixture_t *f = userdata;
    snprintf(f->game, sizeof f->game, "%s", game_id ? game_id : "");
    f->reports++;
    uv_stop(&f->loop);
}

static void deadline_cb(uv_timer_t *timer)
{
    uv_stop(timer->loop);
}

/* Runs the loop until the next report or ms; the reports so far. */
static int run_for(watch_fixture_t *f, uint64_t ms)
{
    uv_timer_start(&f->deadline, deadline_cb, ms, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&f->deadline);
    return f->reports;
}

/* Several scan periods: an armed watch reports a running game by then. */
#define WATCH_WAIT_MS (3 * LS_PLAYING_SCAN_MS)

static void an_unarmed_watch_finds_no_game_until_armed(void **state)
{
    (void)state;
    char *games = ls_test_mkdtemp("games");
    char real[PATH_MAX], exe[PATH_MAX + 64];
    watch_fixture_t f = {0};
    pid_t child;
    assert_non_null(realpath(games, real));
    /* a copy of sleep at <games>/played/local/game: a game that runs */
    ls_test_write_text(games, "played/version.ini", "version=1\n");
    snprintf(exe, sizeof exe, "%s/played/local", real);
    assert_int_equal(mkdir(exe, 0700), 0);
    snprintf(exe, sizeof exe, "%s/played/local/game", real);
    char *copy[] = {"cp", "/bin/sleep", exe, NULL};
    assert_int_equal(posix_spawnp(&child, "cp", NULL, NULL, copy, environ), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *run[] = {exe, "60", NULL};
    assert_int_equal(posix_spawn(&child, exe, NULL, NULL, run, environ), 0);

    assert_int_equal(uv_loop_init(&f.loop), 0);
    uv_timer_init(&f.loop, &f.deadline);
    assert_int_equal(ls__playing_start(&f.loop, real, changed_cb, &f, &f.watch), 0);
    /* unarmed (no game installed, as the runtime says): nothing read,
     * nothing found */
    assert_int_equal(run_for(&f, WATCH_WAIT_MS), 0);
    assert_string_equal(ls__playing_game(f.watch), "");
    assert_int_equal(ls__playing_walks(f.watch), 0);
    /* armed: the game running is reported */
    ls__playing_set_armed(f.watch, true);
    assert_int_equal(run_for(&f, WATCH_WAIT_MS), 1);
    assert_string_equal(f.game, "played");
    assert_string_equal(ls__playing_game(f.watch), "played");
    /* disarmed again (its local/ removed, say): no game any more */
    ls__playing_set_armed(f.watch, false);
    assert_int_equal(run_for(&f, WATCH_WAIT_MS), 2);
    assert_string_equal(f.game, "");

    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    ls__playing_stop(f.watch);
    uv_close((uv_handle_t *)&f.deadline, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    ls__playing_free(f.watch);
    ls_test_rmtree(games);
    free(games);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_walk_finds_a_process_started_from_a_games_local_dir),
        cmocka_unit_test(a_walk_reads_new_and_young_processes_and_the_rest_in_turn),
        cmocka_unit_test(an_unarmed_watch_finds_no_game_until_armed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
