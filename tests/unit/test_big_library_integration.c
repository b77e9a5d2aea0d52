/* A peer announcing LS_PEERDB_GAMES_MAX games, and changing all of them
 * again and again, must not stall the other peer's loop: a probe thread
 * keeps asking the runtime a question (GET_PEER_COUNT) and times each
 * answer, while a raw peer sends its 10,000-game hello, deltas that swap its
 * whole library, re-hellos, then a burst of one-game deltas (each of which
 * used to cost a whole 10,000-game list). The loop's worst answer stays far below the
 * seconds each delta and emission used to cost, game lists are emitted at
 * most once per LS_GAMES_EMIT_MIN_MS (longer for lists that cost more), and
 * re-hellos come in only as often as LS_RESYNC_INTERVAL_MS allows. A burst
 * of small changes, on the other hand, is listed soon after its last one. */
#include "testutil.h"
#include "peer_harness.h"
#include "peer/link.h"
#include "peer/runtime_internal.h"

#include "lanspread/error.h"
#include "lanspread/peer.h"
#include "lanspread/peerdb.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef ls_swarm_t fixture_t;

#define GAMES LS_PEERDB_GAMES_MAX
#define ROUNDS 8          /* library swaps the raw peer sends */
#define BURST 40          /* then one-game deltas, as fast as it can */
#define PROBE_EVERY_MS 20 /* the probe's pace */
#define PROBE_TIMEOUT_MS 10000
/* Generous: 0.35-0.6 s here on a loaded machine (decoding a 1.5 MB delta
 * is most of it); 3.6 s with the O(N^2) PeerGameDB. */
#define LATENCY_BOUND_MS 1500

typedef struct {
    ls_test_peer_t *peer;
    atomic_bool stop;
    uint64_t max_ms;
    int answers;
    int timeouts;
} probe_t;

static void probe_main(void *arg)
{
    probe_t *p = arg;
    while (!atomic_load(&p->stop)) {
        size_t mark = ls_event_log_mark(&p->peer->events);
        uint64_t start = uv_hrtime();
        if (ls_peer_command(p->peer->rt, LS_CMD_GET_PEER_COUNT, NULL) != 0)
            break;
        json_t *ev = ls_event_log_wait(&p->peer->events, mark, LS_EVENT_PEER_COUNT, NULL, NULL,
                                       PROBE_TIMEOUT_MS);
        uint64_t ms = (uv_hrtime() - start) / 1000000u;
        if (!ev)
            p->timeouts++;
        json_decref(ev);
        p->answers++;
        if (ms > p->max_ms)
            p->max_ms = ms;
        uv_sleep(PROBE_EVERY_MS);
    }
}

/* The library of round r: set A (g00000..) on even rounds, set B
 * (g10000..) on odd ones, each game at version "1.r". */
static ls_game_summary_t *library_of(int round)
{
    ls_game_summary_t *games = calloc(GAMES, sizeof *games);
    char id[16], version[16];
    snprintf(version, sizeof version, "1.%d", round);
    for (int i = 0; i < GAMES; i++) {
        snprintf(id, sizeof id, "g%05d", (round % 2) * GAMES + i);
        games[i] = (ls_game_summary_t){
            .id = strdup(id), .name = strdup(id), .version = strdup(version), .size = 1000};
    }
    return games;
}

static void library_free(ls_game_summary_t *games)
{
    for (int i = 0; i < GAMES; i++)
        ls_game_summary_free(&games[i]);
    free(games);
}

static ls_msg_t hello_of_n(ls_raw_peer_t *raw, ls_game_summary_t *games, size_t count, uint64_t rev)
{
    ls_msg_t hello = {.kind = LS_MSG_HELLO};
    hello.u.hello.protocol_version = LS_PROTOCOL_VERSION;
    hello.u.hello.peer_id = (char *)ls_identity_peer_id(raw->identity);
    hello.u.hello.name = "big-library";
    hello.u.hello.listen_port = 1;
    hello.u.hello.library.library_rev = rev;
    hello.u.hello.library.games = games;
    hello.u.hello.library.game_count = count;
    ls_snapshot_digest(games, count, hello.u.hello.library.digest);
    return hello;
}

static ls_msg_t hello_of(ls_raw_peer_t *raw, ls_game_summary_t *games, uint64_t rev)
{
    return hello_of_n(raw, games, GAMES, rev);
}

/* The peer under test, started with a game of its own, and a raw peer
 * connected to it (its state directory in *raw_state, freed by the test). */
static ls_test_peer_t *start_with_raw(fixture_t *f, ls_raw_peer_t *raw, char **raw_state)
{
    ls_test_peer_t *target = ls_swarm_make_peer(f, 0);
    ls_swarm_add_game(target, "alpha", 10);
    ls_swarm_start_peer(f, 0, NULL, 0, NULL, 0);
    *raw_state = ls_test_mkdtemp("raw");
    assert_int_equal(ls_raw_open(raw, *raw_state), 0);
    assert_int_equal(ls_raw_connect(raw, ls_peer_listen_port(target->rt)), 0);
    return target;
}

static size_t count_events(ls_event_log_t *log, size_t since, ls_peer_event_kind_t kind)
{
    size_t n = 0;
    uv_mutex_lock(&log->lock);
    for (size_t i = since; i < log->count; i++)
        n += log->events[i].kind == kind;
    uv_mutex_unlock(&log->lock);
    return n;
}

static void a_ten_thousand_game_peer_does_not_stall_the_loop(void **state)
{
    fixture_t *f = *state;
    ls_raw_peer_t raw;
    ls_raw_result_t result;
    char *raw_state;
    ls_test_peer_t *target = start_with_raw(f, &raw, &raw_state);

    probe_t probe = {.peer = target};
    atomic_init(&probe.stop, false);
    uv_thread_t thread;
    size_t mark = ls_event_log_mark(&target->events);
    uint64_t start = uv_hrtime();
    assert_int_equal(uv_thread_create(&thread, probe_main, &probe), 0);

    ls_game_summary_t *games = library_of(0);
    ls_msg_t hello = hello_of(&raw, games, 1);
    assert_int_equal(ls_raw_request(&raw, &hello, &result), 0);
    assert_int_equal(result.reply.kind, LS_MSG_HELLO_ACK);
    ls_raw_result_free(&result);
    int busy = 0, acks = 0;
    for (int r = 1; r <= ROUNDS; r++) {
        /* the whole library swapped: GAMES removed, GAMES added */
        ls_game_summary_t *next = library_of(r);
        char **removed = calloc(GAMES, sizeof *removed);
        for (int i = 0; i < GAMES; i++)
            removed[i] = games[i].id;
        ls_msg_t delta = {.kind = LS_MSG_LIBRARY_DELTA,
                          .u.delta = {.from_rev = (uint64_t)r,
                                      .to_rev = (uint64_t)r + 1,
                                      .changed = next,
                                      .changed_count = GAMES,
                                      .removed = removed,
                                      .removed_count = GAMES}};
        assert_int_equal(ls_snapshot_digest(next, GAMES, delta.u.delta.digest), 0);
        assert_int_equal(ls_raw_request(&raw, &delta, &result), 0);
        assert_int_equal(result.reply.kind, LS_MSG_LIBRARY_DELTA_ACK);
        assert_int_equal(result.reply.u.acked_rev, (uint64_t)r + 1);
        ls_raw_result_free(&result);
        free(removed);
        library_free(games);
        games = next;
        /* and a re-hello of the same library right after */
        hello = hello_of(&raw, games, (uint64_t)r + 1);
        assert_int_equal(ls_raw_request(&raw, &hello, &result), 0);
        busy += result.reply.kind == LS_MSG_ERROR && result.reply.u.error.code == LS_WIRE_BUSY;
        acks += result.reply.kind == LS_MSG_HELLO_ACK;
        ls_raw_result_free(&result);
    }
    /* the burst: game 0 of the library gets a new version each time */
    size_t burst_mark = ls_event_log_mark(&target->events);
    uint64_t burst_start = uv_hrtime();
    uint64_t rev = ROUNDS + 1;
    for (int b = 0; b < BURST; b++, rev++) {
        char version[16];
        snprintf(version, sizeof version, "2.%d", b);
        free(games[0].version);
        games[0].version = strdup(version);
        ls_msg_t delta = {
            .kind = LS_MSG_LIBRARY_DELTA,
            .u.delta = {
                .from_rev = rev, .to_rev = rev + 1, .changed = &games[0], .changed_count = 1}};
        assert_int_equal(ls_snapshot_digest(games, GAMES, delta.u.delta.digest), 0);
        assert_int_equal(ls_raw_request(&raw, &delta, &result), 0);
        assert_int_equal(result.reply.u.acked_rev, rev + 1);
        ls_raw_result_free(&result);
    }
    double burst_seconds = (double)(uv_hrtime() - burst_start) / 1e9;
    /* the last change reaches the list within an interval */
    char last_id[16];
    snprintf(last_id, sizeof last_id, "g%05d", (ROUNDS % 2) * GAMES + GAMES - 1);
    json_t *ev = ls_event_log_wait(&target->events, mark, LS_EVENT_LIST_GAMES,
                                   ls_pred_games_include, last_id, 10000);
    size_t listed = json_array_size(json_object_get(ev, "games"));
    json_decref(ev);
    /* the probe stops before any assertion can end the test */
    atomic_store(&probe.stop, true);
    uv_thread_join(&thread);
    assert_non_null(ev);
    assert_int_equal(listed, GAMES);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    size_t lists = count_events(&target->events, mark, LS_EVENT_LIST_GAMES);
    size_t burst_lists = count_events(&target->events, burst_mark, LS_EVENT_LIST_GAMES);
    printf("# %d rounds and %d small deltas in %.1f s: loop answered %d probes, worst %llu ms; "
           "%zu game lists (%zu for the burst of %.1f s); re-hellos: %d taken, %d busy\n",
           ROUNDS, BURST, seconds, probe.answers, (unsigned long long)probe.max_ms, lists,
           burst_lists, burst_seconds, acks, busy);

    assert_int_equal(probe.timeouts, 0);
    assert_true(probe.answers >= 5);
    assert_true(probe.max_ms < LATENCY_BOUND_MS);
    /* coalesced: one list per interval (and one at each end) at most */
    assert_true(lists <= (size_t)(seconds * 1000 / LS_GAMES_EMIT_MIN_MS) + 2);
    assert_true(burst_lists <= (size_t)(burst_seconds * 1000 / LS_GAMES_EMIT_MIN_MS) + 2);
    /* re-hellos applied at most once per half LS_RESYNC_INTERVAL_MS */
    assert_true(acks <= (int)(seconds * 1000 / (LS_RESYNC_INTERVAL_MS / 2)) + 1);
    assert_int_equal(acks + busy, ROUNDS);
    library_free(games);
    ls_raw_close(&raw);
    ls_test_rmtree(raw_state);
    free(raw_state);
}

#define SMALL_BURST 5
/* Generous for a loaded CI machine; a fixed 500 ms interval took ~450. */
#define SMALL_BURST_LISTED_MS 300

/* A game list costs the runtime little when it is short, so the interval
 * is the shortest: a peer that adds a few games one after the other (a
 * party's libraries coming in one by one look the same) has its last one
 * listed within about LS_GAMES_EMIT_MIN_MS, not half a second later. */
static void the_last_of_a_burst_of_small_changes_is_listed_soon(void **state)
{
    fixture_t *f = *state;
    ls_raw_peer_t raw;
    ls_raw_result_t result;
    char *raw_state;
    ls_test_peer_t *target = start_with_raw(f, &raw, &raw_state);

    ls_game_summary_t games[SMALL_BURST + 1];
    char id[16];
    for (int i = 0; i <= SMALL_BURST; i++) {
        snprintf(id, sizeof id, "s%d", i);
        games[i] = (ls_game_summary_t){
            .id = strdup(id), .name = strdup(id), .version = strdup("1"), .size = 1000};
    }
    size_t mark = ls_event_log_mark(&target->events);
    ls_msg_t hello = hello_of_n(&raw, games, 1, 1);
    assert_int_equal(ls_raw_request(&raw, &hello, &result), 0);
    assert_int_equal(result.reply.kind, LS_MSG_HELLO_ACK);
    ls_raw_result_free(&result);
    json_t *ev = ls_event_log_wait(&target->events, mark, LS_EVENT_LIST_GAMES,
                                   ls_pred_games_include, "s0", 10000);
    assert_non_null(ev);
    json_decref(ev);
    /* right after that list: a game more per delta, within one interval */
    for (int i = 1; i <= SMALL_BURST; i++) {
        ls_msg_t delta = {.kind = LS_MSG_LIBRARY_DELTA,
                          .u.delta = {.from_rev = (uint64_t)i,
                                      .to_rev = (uint64_t)i + 1,
                                      .changed = &games[i],
                                      .changed_count = 1}};
        assert_int_equal(ls_snapshot_digest(games, (size_t)i + 1, delta.u.delta.digest), 0);
        assert_int_equal(ls_raw_request(&raw, &delta, &result), 0);
        assert_int_equal(result.reply.kind, LS_MSG_LIBRARY_DELTA_ACK);
        ls_raw_result_free(&result);
    }
    uint64_t acked = uv_hrtime();
    snprintf(id, sizeof id, "s%d", SMALL_BURST);
    ev = ls_event_log_wait(&target->events, mark, LS_EVENT_LIST_GAMES, ls_pred_games_include, id,
                           10000);
    uint64_t ms = (uv_hrtime() - acked) / 1000000u;
    size_t listed = json_array_size(json_object_get(ev, "games"));
    json_decref(ev);
    printf("# the last of %d small changes listed %llu ms after its ack\n", SMALL_BURST,
           (unsigned long long)ms);
    assert_int_equal(listed, SMALL_BURST + 1);
    assert_true(ms < SMALL_BURST_LISTED_MS);
    for (int i = 0; i <= SMALL_BURST; i++)
        ls_game_summary_free(&games[i]);
    ls_raw_close(&raw);
    ls_test_rmtree(raw_state);
    free(raw_state);
}

/* The interval between lists follows a list's cost: the shortest for a
 * cheap one, LS_GAMES_EMIT_COST_FACTOR times the cost in between, the
 * longest for one that costs as much as a 10,000-game list. */
static void the_list_interval_follows_the_cost_of_a_list(void **state)
{
    (void)state;
    const uint64_t ms = 1000000u;
    assert_int_equal(ls__games_emit_interval_ms(0), LS_GAMES_EMIT_MIN_MS);
    assert_int_equal(ls__games_emit_interval_ms(ms / 2), LS_GAMES_EMIT_MIN_MS);
    assert_int_equal(ls__games_emit_interval_ms(10 * ms), 10 * LS_GAMES_EMIT_COST_FACTOR);
    assert_int_equal(ls__games_emit_interval_ms(LS_GAMES_EMIT_MAX_MS * ms), LS_GAMES_EMIT_MAX_MS);
    assert_int_equal(ls__games_emit_interval_ms(UINT64_MAX), LS_GAMES_EMIT_MAX_MS);
}

/* While peers heard of still lack a library (a party's start), a change
 * waits the long interval: each list is all the games, and a 100-peer
 * start listed every 50 ms cost its daemons ~1 CPU s more. Once the
 * party is listed, the short one. */
static void the_list_waits_the_long_interval_while_the_party_comes(void **state)
{
    (void)state;
    assert_int_equal(ls__games_wait_ms(3, 10, LS_GAMES_EMIT_MIN_MS), LS_GAMES_EMIT_MAX_MS);
    assert_int_equal(ls__games_wait_ms(9, 10, 120), LS_GAMES_EMIT_MAX_MS);
    assert_int_equal(ls__games_wait_ms(10, 10, LS_GAMES_EMIT_MIN_MS), LS_GAMES_EMIT_MIN_MS);
    assert_int_equal(ls__games_wait_ms(11, 10, 120), 120); /* a peer mDNS has not heard */
    assert_int_equal(ls__games_wait_ms(0, 0, LS_GAMES_EMIT_MIN_MS), LS_GAMES_EMIT_MIN_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_ten_thousand_game_peer_does_not_stall_the_loop,
                                        ls_swarm_setup, ls_swarm_teardown),
        cmocka_unit_test_setup_teardown(the_last_of_a_burst_of_small_changes_is_listed_soon,
                                        ls_swarm_setup, ls_swarm_teardown),
        cmocka_unit_test(the_list_interval_follows_the_cost_of_a_list),
        cmocka_unit_test(the_list_waits_the_long_interval_while_the_party_comes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
