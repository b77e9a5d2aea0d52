/* The playing watch's scan: which library game a process runs from, read
 * from a /proc stand-in (pid directories whose `exe` is a symlink, as the
 * kernel shows them), so every case is a file the test makes. */
#include "testutil.h"

#include "peer/playing.h"

#include "lanspread/library.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* proc/<pid>/exe -> target */
static void fake_process(const char *proc, const char *pid, const char *target)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", proc, pid);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/%s/exe", proc, pid);
    assert_int_equal(symlink(target, path), 0);
}

static void scan_finds_a_process_started_from_a_games_local_dir(void **state)
{
    (void)state;
    char *proc = ls_test_mkdtemp("proc");
    char id[LS_GAME_ID_MAX + 1];
    /* none of these is a game running */
    fake_process(proc, "10", "/usr/bin/bash");
    fake_process(proc, "11", "/srv/games/quake3/quake3.exe");      /* not under local/ */
    fake_process(proc, "12", "/srv/games/quake3/localfoo/bin/q3"); /* a look-alike */
    fake_process(proc, "13", "/srv/gamesx/quake3/local/bin/q3");   /* another directory */
    fake_process(proc, "14", "/srv/games/local/bin/x");            /* no game folder */
    fake_process(proc, "15", "/srv/games/Bad Id!/local/bin/x");    /* not a game id */
    fake_process(proc, "self", "/srv/games/quake3/local/bin/q3");  /* not a pid */
    ls__playing_scan(proc, "/srv/games", id);
    assert_string_equal(id, "");
    /* a game: its exe anywhere under local/ (what the kernel shows for a
     * deleted binary ends in " (deleted)", still under local/) */
    fake_process(proc, "4242", "/srv/games/ut2004/local/System/ut2004-bin (deleted)");
    ls__playing_scan(proc, "/srv/games", id);
    assert_string_equal(id, "ut2004");
    /* no /proc at all: nothing runs */
    ls__playing_scan("/nonexistent-proc", "/srv/games", id);
    assert_string_equal(id, "");
    ls_test_rmtree(proc);
    free(proc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_finds_a_process_started_from_a_games_local_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
