/* `lanspread scan` and `lanspread demo-library`: the local library from a
 * terminal, without a running peer. */
#include "app/app_common.h"
#include "app/commands.h"

#include "lanspread/error.h"
#include "lanspread/rate.h"
#include "lanspread/library.h"
#include "lanspread/log.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void scan_usage(FILE *out)
{
    fprintf(out,
            "usage: lanspread scan DIR [--state DIR] [--catalog FILE]... [--json] [--quiet]\n\n"
            "Scans the game directory DIR and prints its library.\n\n"
            "  --state DIR     peer state directory holding the index\n"
            "                  (default: $XDG_STATE_HOME/lanspread)\n"
            "  --catalog FILE  extra catalog file (repeatable); the bundled catalog and\n"
            "                  DIR/.lanspread-catalog.json are always loaded, the latter\n"
            "                  overriding the others\n"
            "  --json          print JSON for scripts\n"
            "  --quiet         do not log skipped entries\n"
            "  --help          this help\n");
}

static void print_table(const ls_library_t *library, const ls_scan_stats_t *stats,
                        double elapsed_ms)
{
    size_t count;
    const ls_local_game_t *games = ls_library_games(library, &count);
    ls_library_snapshot_t snap;
    char size[32];

    printf("%-16s %-28s %-10s %-10s %-9s %10s %6s\n", "ID", "NAME", "VERSION", "DOWNLOADED",
           "INSTALLED", "SIZE", "FILES");
    for (size_t i = 0; i < count; i++) {
        const ls_local_game_t *g = &games[i];
        printf("%-16s %-28.28s %-10.10s %-10s %-9s %10s %6llu\n", g->id, g->name,
               g->version ? g->version : "-", g->is_downloaded ? "yes" : "no",
               g->is_installed ? "yes" : "no", ls_app_format_size(g->size, size, sizeof size),
               (unsigned long long)g->file_count);
    }
    if (ls_library_snapshot(library, &snap) != 0)
        return;
    printf("\n%zu games, %zu announced; library_rev %llu, digest %.16s…\n", count, snap.game_count,
           (unsigned long long)snap.library_rev, snap.digest);
    printf("scanned in %.1f ms: %llu files seen, %llu hashed (%s), %llu version.ini read\n",
           elapsed_ms, (unsigned long long)stats->files_seen,
           (unsigned long long)stats->files_hashed,
           ls_app_format_size(stats->bytes_hashed, size, sizeof size),
           (unsigned long long)stats->version_reads);
    ls_snapshot_free(&snap);
}

static int print_json(const ls_library_t *library, const ls_scan_stats_t *stats, double elapsed_ms)
{
    size_t count;
    const ls_local_game_t *games = ls_library_games(library, &count);
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        const ls_local_game_t *g = &games[i];
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s?,s:b,s:b,s:I,s:I}", "id", g->id, "name",
                            g->name, "description", g->description, "genre", g->genre,
                            "max_players", (int)g->max_players, "version", g->version, "downloaded",
                            g->is_downloaded, "installed", g->is_installed, "size",
                            (json_int_t)g->size, "file_count", (json_int_t)g->file_count));
    }
    ls_library_snapshot_t snap;
    if (ls_library_snapshot(library, &snap) != 0) {
        json_decref(list);
        return LS_ENOMEM;
    }
    json_t *root =
        json_pack("{s:I,s:s,s:I,s:o,s:{s:f,s:I,s:I,s:I,s:I,s:I,s:b}}", "library_rev",
                  (json_int_t)snap.library_rev, "digest", snap.digest, "announced",
                  (json_int_t)snap.game_count, "games", list, "stats", "scan_ms", elapsed_ms,
                  "files_seen", (json_int_t)stats->files_seen, "files_hashed",
                  (json_int_t)stats->files_hashed, "bytes_hashed", (json_int_t)stats->bytes_hashed,
                  "version_reads", (json_int_t)stats->version_reads, "skipped",
                  (json_int_t)stats->skipped, "rev_bumped", stats->rev_bumped);
    ls_snapshot_free(&snap);
    if (!root)
        return LS_ENOMEM;
    json_dumpf(root, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(root);
    return 0;
}

int ls_cmd_scan(int argc, char **argv)
{
    static const struct option options[] = {
        {"state", required_argument, NULL, 's'}, {"catalog", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *catalogs[LS_MAX_EXTRA_CATALOGS];
    size_t catalog_count = 0;
    char *state_dir = NULL;
    bool as_json = false;
    int opt, exit_code = LS_EXIT_FAILURE;
    ls_catalog_t *catalog = NULL;
    ls_library_t *library = NULL;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            free(state_dir);
            state_dir = strdup(optarg);
            break;
        case 'c':
            if (catalog_count == LS_MAX_EXTRA_CATALOGS) {
                fprintf(stderr, "scan: at most %d --catalog files\n", LS_MAX_EXTRA_CATALOGS);
                goto out_usage;
            }
            catalogs[catalog_count++] = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'q':
            ls_log_set_level(LS_LOG_ERROR);
            break;
        case 'h':
            scan_usage(stdout);
            exit_code = LS_EXIT_OK;
            goto out;
        default:
            goto out_usage;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "scan: expected one game directory\n");
        goto out_usage;
    }
    const char *game_dir = argv[optind];
    if (!state_dir)
        state_dir = ls_app_default_state_dir();
    if (ls_app_load_catalog(catalogs, catalog_count, &catalog) != 0)
        goto out;
    ls_library_config_t config = {.game_dir = game_dir, .state_dir = state_dir, .catalog = catalog};
    int rc = ls_library_open(&config, &library);
    if (rc != 0) {
        fprintf(stderr, "scan: %s: %s\n", game_dir, ls_strerror(rc));
        goto out;
    }
    ls_scan_stats_t stats;
    double start = now_ms();
    rc = ls_library_scan_sync(library, &stats);
    double elapsed = now_ms() - start;
    if (rc != 0) {
        fprintf(stderr, "scan: %s: %s\n", game_dir, ls_strerror(rc));
        goto out;
    }
    if (stats.catalog_refused) {
        fprintf(stderr, "lanspread: catalog: %s\n", ls_library_catalog_error(library));
        goto out;
    }
    if (as_json)
        rc = print_json(library, &stats, elapsed);
    else
        print_table(library, &stats, elapsed);
    exit_code = rc == 0 ? LS_EXIT_OK : LS_EXIT_FAILURE;
    goto out;
out_usage:
    scan_usage(stderr);
    exit_code = LS_EXIT_USAGE;
out:
    ls_library_close(library);
    ls_catalog_free(catalog);
    free(state_dir);
    return exit_code;
}

/* --size: a game's data files are held in memory while it is written. */
#define LS_DEMO_GAME_SIZE_MAX (4ull << 30)

static void demo_usage(FILE *out)
{
    fprintf(out, "usage: lanspread demo-library DIR [--games N] [--files-per-game N]\n"
                 "                                [--file-size BYTES | --size SIZE] [--seed N]\n"
                 "                                [--first N]\n\n"
                 "Creates a demo game library in DIR: archives of real bytes, data files\n"
                 "and version.ini per game; every third game installed.\n\n"
                 "  --games N           number of games (default 8)\n"
                 "  --files-per-game N  regular files per game, at least 3 (default 3)\n"
                 "  --file-size BYTES   size of each data file (default 65536)\n"
                 "  --size SIZE         about SIZE bytes per game instead (K, M, G suffixes:\n"
                 "                      --size 32M); the data files share it\n"
                 "  --seed N            varies the generated bytes (default 1)\n"
                 "  --first N           skip the first N games (a second peer's library:\n"
                 "                      --games 12 --first 8 makes the 4 after the 8)\n"
                 "  --help              this help\n");
}

/* "32M": a byte count with an optional binary K, M or G suffix. */
static bool parse_size(const char *text, unsigned long long max, unsigned long long *out)
{
    uint64_t value;
    if (ls_size_parse(text, max, &value) != 0)
        return false;
    *out = value;
    return true;
}

static bool parse_count(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > max)
        return false;
    *out = value;
    return true;
}

int ls_cmd_demo_library(int argc, char **argv)
{
    static const struct option options[] = {
        {"games", required_argument, NULL, 'g'},
        {"files-per-game", required_argument, NULL, 'f'},
        {"file-size", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 'S'},
        {"first", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ls_demo_options_t demo = {.games = 8, .files_per_game = 3, .file_size = 65536, .seed = 1};
    unsigned long long value, game_size = 0;
    ls_catalog_t *catalog = NULL;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        bool ok =
            opt == 'h' || (optarg && (opt == 'S' ? parse_size(optarg, LS_DEMO_GAME_SIZE_MAX, &value)
                                                 : parse_count(optarg, 1u << 30, &value)));
        if (!ok) {
            fprintf(stderr, "demo-library: invalid value '%s'\n", optarg ? optarg : "");
            demo_usage(stderr);
            return LS_EXIT_USAGE;
        }
        switch (opt) {
        case 'g':
            demo.games = (unsigned)value;
            break;
        case 'f':
            demo.files_per_game = (unsigned)value;
            break;
        case 's':
            demo.file_size = (size_t)value;
            break;
        case 'r':
            demo.seed = (uint32_t)value;
            break;
        case 'S':
            game_size = value;
            break;
        case 'F':
            demo.first = (unsigned)value;
            break;
        case 'h':
            demo_usage(stdout);
            return LS_EXIT_OK;
        default:
            demo_usage(stderr);
            return LS_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "demo-library: expected one directory\n");
        demo_usage(stderr);
        return LS_EXIT_USAGE;
    }
    /* the bytes are in the data files: every file but README and version.ini */
    if (game_size > 0 && demo.files_per_game >= 3)
        demo.file_size = (size_t)(game_size / (demo.files_per_game - 1));
    if (ls_app_load_catalog(NULL, 0, &catalog) != 0)
        return LS_EXIT_FAILURE;
    int rc = ls_demo_library_create(argv[optind], catalog, &demo);
    ls_catalog_free(catalog);
    if (rc != 0) {
        fprintf(stderr, "demo-library: %s: %s\n", argv[optind], ls_strerror(rc));
        return LS_EXIT_FAILURE;
    }
    printf("created %u demo games in %s\n", demo.games > demo.first ? demo.games - demo.first : 0,
           argv[optind]);
    return LS_EXIT_OK;
}
