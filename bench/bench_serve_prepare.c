/* Benchmark (not a test): the loop-thread cost of deciding a chunk request
 * on a game with many files. Builds a game of FILES one-byte files (in
 * folders of 1000), scans it, then times chunk-request preparations for
 * random paths two ways: REQUESTS through ls_serve_prepare (a borrowed
 * lookup in the index), and COPIES the way serving did before, a copy of the
 * whole manifest and a linear search in it (fewer: each costs milliseconds).
 *
 * usage: bench_serve_prepare [FILES] [REQUESTS] [COPIES]
 *        (default 40000 10000 500) */
#include "bench_clock.h"
#include "lanspread/catalog.h"
#include "lanspread/error.h"
#include "lanspread/library.h"
#include "lanspread/log.h"
#include "lanspread/serve.h"

#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CATALOG "{\"games\":[{\"id\":\"alpha\",\"name\":\"Alpha\"}]}"

static void file_name(unsigned i, char *out, size_t len)
{
    snprintf(out, len, "d%03u/f%05u.bin", i / 1000, i);
}

static int make_game(const char *games, unsigned files)
{
    char path[1024], rel[64];
    snprintf(path, sizeof path, "%s/alpha", games);
    if (mkdir(path, 0755) != 0)
        return -1;
    for (unsigned i = 0; i < files; i++) {
        file_name(i, rel, sizeof rel);
        snprintf(path, sizeof path, "%s/alpha/%.4s", games, rel);
        if (i % 1000 == 0 && mkdir(path, 0755) != 0)
            return -1;
        snprintf(path, sizeof path, "%s/alpha/%s", games, rel);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "x", 1) != 1)
            return -1;
        close(fd);
    }
    snprintf(path, sizeof path, "%s/alpha/version.ini", games);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "1\n", 2) != 2)
        return -1;
    close(fd);
    return 0;
}

/* The request path before the borrowed lookup. */
static int prepare_by_copy(const ls_library_t *library, const char *path)
{
    ls_game_manifest_t m;
    int found = 0;
    if (ls_library_manifest(library, "alpha", &m) != 0)
        return -1;
    for (size_t i = 0; i < m.file_count && !found; i++)
        found = strcmp(m.files[i].path, path) == 0;
    ls_manifest_free(&m);
    return found ? 0 : -1;
}

/* A positive count from argv[i], or the default; 0 (refused below) when it
 * is not a whole number in range. */
static unsigned count_arg(int argc, char **argv, int i, unsigned fallback)
{
    char *end;
    if (argc <= i)
        return fallback;
    errno = 0;
    unsigned long v = strtoul(argv[i], &end, 10);
    return errno || *end || end == argv[i] || v > 10000000ul ? 0 : (unsigned)v;
}

int main(int argc, char **argv)
{
    unsigned files = count_arg(argc, argv, 1, 40000);
    unsigned requests = count_arg(argc, argv, 2, 10000);
    unsigned copies = count_arg(argc, argv, 3, 500);
    char base[] = "/tmp/lsbench-serve-XXXXXX", games[512], state[512], cmd[600], rel[64];
    ls_catalog_t *catalog = NULL;
    ls_library_t *library = NULL;
    char err[256];
    if (files == 0 || requests == 0 || copies == 0 || !mkdtemp(base))
        return 1;
    snprintf(games, sizeof games, "%s/games", base);
    snprintf(state, sizeof state, "%s/state", base);
    ls_log_set_level(LS_LOG_ERROR);
    if (mkdir(games, 0755) != 0 || make_game(games, files) != 0 || ls_catalog_new(&catalog) != 0 ||
        ls_catalog_add_json(catalog, CATALOG, strlen(CATALOG), "bench", err, sizeof err) != 0)
        return 1;
    ls_library_config_t config = {.game_dir = games, .state_dir = state, .catalog = catalog};
    if (ls_library_open(&config, &library) != 0 || ls_library_scan_sync(library, NULL) != 0)
        return 1;

    srand(1);
    ls_msg_t req = {.kind = LS_MSG_GET_FILE_CHUNK};
    req.u.file_request.game_id = "alpha";
    req.u.file_request.length = 1;
    double t0 = now_s();
    for (unsigned i = 0; i < requests; i++) {
        ls_serve_reply_t reply;
        file_name((unsigned)rand() % files, rel, sizeof rel);
        req.u.file_request.path = rel;
        if (ls_serve_prepare(library, &req, &reply) != 0 || reply.header.kind != LS_MSG_FILE_CHUNK)
            return 1;
        ls_serve_reply_free(&reply);
    }
    double borrowed = now_s() - t0;
    t0 = now_s();
    for (unsigned i = 0; i < copies; i++) {
        file_name((unsigned)rand() % files, rel, sizeof rel);
        if (prepare_by_copy(library, rel) != 0)
            return 1;
    }
    double copied = now_s() - t0;
    printf("%u-file game: borrowed lookup %.2f us per chunk request (%u: %.3f s); manifest copy "
           "+ linear search %.0f us per request (%u: %.3f s)\n",
           files + 1, borrowed / requests * 1e6, requests, borrowed, copied / copies * 1e6, copies,
           copied);
    ls_library_close(library);
    ls_catalog_free(catalog);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : 1;
}
