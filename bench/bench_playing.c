/* Benchmark (not a test): what the playing watch costs an idle PC per
 * LS_PLAYING_SCAN_MS, on this machine's /proc. Medians of RUNS rounds:
 *   full    a walk that reads every process's exe (a fresh walk state:
 *           what every walk did before walks remembered processes; the
 *           baseline)
 *   steady  a walk once every process is older than
 *           LS_PLAYING_YOUNG_WALKS walks (each reads about one process in
 *           LS_PLAYING_RECHECK_WALKS)
 *   list    listing /proc alone (the floor of any walk)
 * each in microseconds and as a ratio to full, with the processes listed
 * and the exe links a steady walk read. An unarmed watch (no library game
 * installed) walks nothing.
 *
 * usage: bench_playing [RUNS] [GAME_DIR]   (default 200 /nonexistent) */
#include "bench_clock.h"

#include "peer/playing.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#define ROUNDS_PER_RUN 10

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return v[n / 2];
}

static void list_proc(void)
{
    DIR *dir = opendir(LS_PLAYING_PROC_DIR);
    if (!dir)
        return;
    while (readdir(dir))
        ;
    closedir(dir);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long runs_arg = argc > 1 ? strtol(argv[1], &end, 10) : 200;
    int runs = (argc > 1 && (*end || runs_arg < 1 || runs_arg > 100000)) ? 0 : (int)runs_arg;
    const char *game_dir = argc > 2 ? argv[2] : "/nonexistent";
    char id[LS_GAME_ID_MAX + 1];
    double *full = calloc((size_t)runs, sizeof *full), *steady = calloc((size_t)runs, sizeof *full),
           *list = calloc((size_t)runs, sizeof *full);
    ls__playing_walk_t walk = {0};
    size_t processes = 0, reads = 0;
    if (runs < 1 || !full || !steady || !list) {
        fprintf(stderr, "usage: bench_playing [RUNS] [GAME_DIR]\n");
        return 2;
    }
    for (int i = 0; i < LS_PLAYING_YOUNG_WALKS; i++)
        ls__playing_walk(&walk, LS_PLAYING_PROC_DIR, game_dir, id);
    for (int r = 0; r < runs; r++) {
        double t = now_s();
        for (int i = 0; i < ROUNDS_PER_RUN; i++) {
            ls__playing_walk_t fresh = {0};
            ls__playing_walk(&fresh, LS_PLAYING_PROC_DIR, game_dir, id);
            processes = fresh.count;
            ls__playing_walk_free(&fresh);
        }
        full[r] = (now_s() - t) / ROUNDS_PER_RUN;
        t = now_s();
        for (int i = 0; i < ROUNDS_PER_RUN; i++) {
            ls__playing_walk(&walk, LS_PLAYING_PROC_DIR, game_dir, id);
            reads += walk.reads;
        }
        steady[r] = (now_s() - t) / ROUNDS_PER_RUN;
        t = now_s();
        for (int i = 0; i < ROUNDS_PER_RUN; i++)
            list_proc();
        list[r] = (now_s() - t) / ROUNDS_PER_RUN;
    }
    double f = median(full, runs), s = median(steady, runs), l = median(list, runs);
    printf("processes listed: %zu; exe links read per steady walk: %.1f\n", processes,
           (double)reads / ((double)runs * ROUNDS_PER_RUN));
    printf("%-8s %10s %8s\n", "walk", "us", "ratio");
    printf("%-8s %10.1f %8.2f\n", "full", f * 1e6, 1.0);
    printf("%-8s %10.1f %8.2f\n", "steady", s * 1e6, s / f);
    printf("%-8s %10.1f %8.2f\n", "list", l * 1e6, l / f);
    printf("at one walk per %d ms: full %.4f %%, steady %.4f %% of a core\n", LS_PLAYING_SCAN_MS,
           f * 1e6 / LS_PLAYING_SCAN_MS / 10, s * 1e6 / LS_PLAYING_SCAN_MS / 10);
    ls__playing_walk_free(&walk);
    free(full);
    free(steady);
    free(list);
    return 0;
}
