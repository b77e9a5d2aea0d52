/* Benchmark (not a test): the loop-thread cost of a peer announcing
 * GAMES games. Times, as medians of RUNS runs:
 *   decode  decoding its hello (the baseline: work any receiver must do)
 *   hello   applying that hello to a PeerGameDB that already holds PEERS
 *           other peers announcing the same titles (a re-handshake)
 *   delta   applying a library_delta that changes every one of its games
 *   delta1  applying a library_delta that changes one game
 *   list    building the game list the runtime emits: ls_peerdb_games and
 *           the seeders of every title (what list-games carries)
 *   event   what the daemon does with that list-games event on the loop
 *           thread: folds it into the API state (a compact copy, no JSON)
 *           and its event ring
 *   games   answering GET /api/games from the API state: the document's
 *           text, encoded one game at a time (an HTTP thread, outside the
 *           lock)
 * and prints each as milliseconds and as a ratio to decode.
 *
 * usage: bench_peerdb [GAMES] [PEERS] [RUNS]   (default 10000 4 5) */
#include "lanspread/error.h"
#include "lanspread/identity.h"
#include "lanspread/peerdb.h"
#include "lanspread/proto.h"

#include "app/api_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_RUNS_MAX 64

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return v[n / 2];
}

/* GAMES summaries; ids in reverse order so nothing arrives pre-sorted. */
static void make_games(ls_game_summary_t *games, unsigned count, unsigned version)
{
    for (unsigned i = 0; i < count; i++) {
        char id[32], name[48], ver[16];
        snprintf(id, sizeof id, "game-%06u", count - 1 - i);
        snprintf(name, sizeof name, "Game number %u", count - 1 - i);
        snprintf(ver, sizeof ver, "1.%u", version);
        games[i] = (ls_game_summary_t){.id = strdup(id),
                                       .name = strdup(name),
                                       .version = strdup(ver),
                                       .size = 1000000u + i,
                                       .file_count = 10};
    }
}

static void make_hello(ls_hello_t *h, const char *peer_id, unsigned count, unsigned version)
{
    memset(h, 0, sizeof *h);
    h->protocol_version = LS_PROTOCOL_VERSION;
    h->peer_id = strdup(peer_id);
    h->name = strdup(peer_id);
    h->library.library_rev = version;
    h->library.games = calloc(count ? count : 1, sizeof *h->library.games);
    h->library.game_count = count;
    make_games(h->library.games, count, version);
    ls_snapshot_digest(h->library.games, count, h->library.digest);
}

static void peer_id_of(unsigned i, char *out, size_t len)
{
    snprintf(out, len, "%064u", i);
}

/* The emission's work: the list and every title's seeders, then the
 * event the runtime hands its sink. */
static int build_list(ls_peerdb_t *db, ls_api_state_t *st, double *t_event)
{
    ls_remote_game_t *games;
    size_t count;
    int rc = ls_peerdb_games(db, &games, &count);
    if (rc != 0)
        return rc;
    ls_peer_ev_remote_game_t *list = calloc(count ? count : 1, sizeof *list);
    const char ***seeders = calloc(count ? count : 1, sizeof *seeders);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        size_t n = 0;
        rc = ls_peerdb_seeders(db, games[i].id, &seeders[i], &n);
        list[i] = (ls_peer_ev_remote_game_t){.id = games[i].id,
                                             .name = games[i].name,
                                             .latest_version = games[i].latest_version,
                                             .size = games[i].size,
                                             .peer_count = games[i].peer_count,
                                             .peers = (const char *const *)seeders[i],
                                             .peer_id_count = n};
    }
    double t0 = now_ms();
    ls_peer_event_t event = {.kind = LS_EVENT_LIST_GAMES,
                             .u.list_games = {.games = list, .game_count = count}};
    if (rc == 0)
        ls_api_state_apply(st, &event);
    *t_event = now_ms() - t0;
    for (size_t i = 0; i < count; i++)
        free(seeders[i]);
    free(seeders);
    free(list);
    ls_remote_games_free(games, count);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned games = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
    unsigned peers = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 4;
    long runs = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
    double t_decode[BENCH_RUNS_MAX], t_hello[BENCH_RUNS_MAX], t_delta[BENCH_RUNS_MAX],
        t_delta1[BENCH_RUNS_MAX], t_list[BENCH_RUNS_MAX], t_event[BENCH_RUNS_MAX],
        t_games[BENCH_RUNS_MAX];
    char id[LS_PEER_ID_HEX_LEN + 1];
    ls_peerdb_t *db;
    ls_api_state_t *st;
    if (runs < 1 || runs > BENCH_RUNS_MAX || games > LS_SNAPSHOT_GAMES_MAX) { /* runs: an int */
        fprintf(stderr, "usage: bench_peerdb [GAMES<=%u] [PEERS] [RUNS 1..%d]\n",
                (unsigned)LS_SNAPSHOT_GAMES_MAX, BENCH_RUNS_MAX);
        return 2;
    }
    if (ls_peerdb_new(&db) != 0 || ls_api_state_new("/nonexistent", &st) != 0)
        return 1;
    for (unsigned p = 0; p < peers; p++) {
        ls_hello_t h;
        peer_id_of(p + 1, id, sizeof id);
        make_hello(&h, id, games, 1);
        if (ls_peerdb_apply_hello(db, &h, "198.18.0.1:1", 0, NULL) != 0)
            return 1;
        ls_msg_t m = {.kind = LS_MSG_HELLO, .u.hello = h};
        ls_msg_free(&m);
    }

    /* The peer under test: its hello as a frame, and two deltas. */
    ls_msg_t hello = {.kind = LS_MSG_HELLO};
    uint8_t *frame;
    size_t frame_len;
    peer_id_of(0, id, sizeof id);
    make_hello(&hello.u.hello, id, games, 1);
    if (ls_msg_encode(&hello, &frame, &frame_len) != 0)
        return 1;
    ls_game_summary_t *changed = calloc(games ? games : 1, sizeof *changed);
    make_games(changed, games, 2);
    ls_library_delta_t delta = {
        .from_rev = 1, .to_rev = 2, .changed = changed, .changed_count = games};
    ls_snapshot_digest(changed, games, delta.digest);
    /* delta1: game 0 (listed last) moves to version 3, on top of delta. */
    ls_game_summary_t *after = calloc(games ? games : 1, sizeof *after);
    memcpy(after, changed, games * sizeof *after);
    ls_game_summary_t one = changed[games - 1];
    one.version = "1.3";
    after[games - 1] = one;
    ls_library_delta_t delta1 = {.from_rev = 2, .to_rev = 3, .changed = &one, .changed_count = 1};
    ls_snapshot_digest(after, games, delta1.digest);

    for (int r = 0; r < runs; r++) {
        ls_msg_t decoded;
        double t0 = now_ms();
        int rc = ls_msg_decode(frame + LS_FRAME_HEADER_LEN, frame_len - LS_FRAME_HEADER_LEN,
                               &decoded, NULL, 0);
        double t1 = now_ms();
        if (rc == 0)
            rc = ls_peerdb_apply_hello(db, &decoded.u.hello, "198.18.0.2:1", 0, NULL);
        double t2 = now_ms();
        if (rc == 0)
            rc = ls_peerdb_apply_delta(db, id, &delta);
        double t3 = now_ms();
        if (rc == 0)
            rc = ls_peerdb_apply_delta(db, id, &delta1);
        double t4 = now_ms();
        if (rc == 0)
            rc = build_list(db, st, &t_event[r]);
        double t5 = now_ms();
        char *text = ls_api_state_games_text(st, "{\"games\":", "}"); /* GET /api/games */
        t_games[r] = now_ms() - t5;
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (json_array_size(json_object_get(doc, "games")) != games)
            rc = LS_ECORRUPT;
        json_decref(doc);
        if (rc != 0) {
            fprintf(stderr, "bench_peerdb: %s\n", ls_strerror(rc));
            return 1;
        }
        ls_msg_free(&decoded);
        t_decode[r] = t1 - t0;
        t_hello[r] = t2 - t1;
        t_delta[r] = t3 - t2;
        t_delta1[r] = t4 - t3;
        t_list[r] = t5 - t4 - t_event[r];
    }
    double base = median(t_decode, (int)runs);
    const struct {
        const char *what;
        double *t;
    } rows[] = {{"decode", t_decode}, {"hello", t_hello}, {"delta", t_delta}, {"delta1", t_delta1},
                {"list", t_list},     {"event", t_event}, {"games", t_games}};
    printf("%u games, %u other peers with the same titles, median of %ld runs\n", games, peers,
           runs);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double m = median(rows[i].t, (int)runs);
        printf("%-7s %9.2f ms  %6.2fx decode\n", rows[i].what, m, m / base);
    }
    free(frame);
    free(after);
    for (unsigned i = 0; i < games; i++) {
        free(changed[i].id);
        free(changed[i].name);
        free(changed[i].version);
    }
    free(changed);
    ls_msg_free(&hello);
    ls_peerdb_free(db);
    ls_api_state_free(st);
    return 0;
}
