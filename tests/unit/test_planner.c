/* Planner tests: a deterministic in-process simulation (fake clock, fake
 * peers with given throughputs, losses, corruption and disappearance; no
 * sockets, no sleeping) plus direct checks of the planner's rules. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MBIT_PER_MS(mbit) ((mbit)*1e6 / 8.0 / 1000.0) /* -> bytes per ms */
#define SIM_PEERS_MAX 8
#define SIM_PIPE_MAX 64
#define SIM_STEPS_MAX 2000000

/* ---- manifests ---- */

static void make_manifest(ls_game_manifest_t *m, const uint64_t *sizes, size_t n)
{
    memset(m, 0, sizeof *m);
    m->game_id = strdup("simgame");
    m->version = strdup("1.0");
    m->chunk_size = LS_CHUNK_SIZE_MAX;
    m->files = calloc(n, sizeof *m->files);
    m->file_count = n;
    for (size_t i = 0; i < n; i++) {
        char name[48];
        snprintf(name, sizeof name, "data/file%zu.pak", i);
        m->files[i].path = strdup(name);
        m->files[i].size = sizes[i];
        m->files[i].chunk_count = (sizes[i] + LS_CHUNK_SIZE_MAX - 1) / LS_CHUNK_SIZE_MAX;
        m->files[i].chunk_sha256 = calloc(m->files[i].chunk_count + 1, LS_SHA256_LEN);
    }
}

/* ---- the simulated swarm ---- */

typedef struct {
    ls_assignment_t a;
    double sent;
} sim_req_t;

typedef struct {
    double rate;             /* bytes per ms */
    double latency;          /* ms before a request starts being served */
    double vanish_at;        /* 0 = never */
    uint32_t corrupt_every;  /* every n-th answer is bad data; 1 = all */
    uint32_t fail_every;     /* every n-th request fails without data */
    size_t corrupt_chunk_id; /* this chunk is always bad from this peer (SIZE_MAX: none) */
    bool is_gone;
    sim_req_t pipe[SIM_PIPE_MAX];
    size_t pipe_len;
    double busy_until; /* when the previous answer finished */
    uint32_t served;
    uint64_t bytes_counted;
} sim_peer_t;

typedef struct {
    double finish_ms;
    bool is_finished;
    bool has_failed;
    int fail_code;
    char reason[LS_PLANNER_REASON_MAX];
    uint32_t cancels;
    uint32_t stale_answers;
    uint32_t duplicate_counts; /* a chunk counted twice: must stay 0 */
    size_t requests;
} sim_result_t;

static double head_finish(const sim_peer_t *p)
{
    const sim_req_t *r = &p->pipe[0];
    double start = r->sent + p->latency;
    if (p->busy_until > start)
        start = p->busy_until;
    return start + (double)r->a.length / p->rate;
}

static void pipe_remove(sim_peer_t *p, uint64_t ticket, double now)
{
    for (size_t i = 0; i < p->pipe_len; i++) {
        if (p->pipe[i].a.ticket != ticket)
            continue;
        if (i == 0)
            p->busy_until = now; /* the next request starts right away */
        memmove(&p->pipe[i], &p->pipe[i + 1], (p->pipe_len - i - 1) * sizeof p->pipe[0]);
        p->pipe_len--;
        return;
    }
}

static void fill_windows(ls_planner_t *pl, sim_peer_t *peers, size_t n, double now,
                         sim_result_t *res)
{
    for (uint32_t i = 0; i < n; i++) {
        sim_peer_t *p = &peers[i];
        ls_assignment_t a;
        while (!p->is_gone && p->pipe_len < SIM_PIPE_MAX &&
               ls_planner_next(pl, i, (uint64_t)now, &a) == 0) {
            p->pipe[p->pipe_len].a = a;
            p->pipe[p->pipe_len].sent = now;
            if (p->pipe_len == 0 && p->busy_until < now)
                p->busy_until = now;
            p->pipe_len++;
            res->requests++;
        }
    }
}

/* The earliest event: an answer at the head of a pipe, or a peer vanishing. */
static int next_event(sim_peer_t *peers, size_t n, double *when, bool *is_vanish)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        sim_peer_t *p = &peers[i];
        if (p->is_gone)
            continue;
        if (p->vanish_at > 0 && (best < 0 || p->vanish_at < *when)) {
            best = (int)i;
            *when = p->vanish_at;
            *is_vanish = true;
        }
        if (p->pipe_len > 0 && (best < 0 || head_finish(p) < *when)) {
            best = (int)i;
            *when = head_finish(p);
            *is_vanish = false;
        }
    }
    return best;
}

static void answer(ls_planner_t *pl, sim_peer_t *peers, uint32_t idx, double now, uint8_t *counted,
                   sim_result_t *res)
{
    sim_peer_t *p = &peers[idx];
    sim_req_t r = p->pipe[0];
    pipe_remove(p, r.a.ticket, now);
    p->served++;
    if (p->fail_every && p->served % p->fail_every == 0) {
        assert_int_equal(ls_planner_failed(pl, &r.a, LS_EPEER_GONE), 0);
        return;
    }
    bool is_bad = (p->corrupt_every && p->served % p->corrupt_every == 0) ||
                  r.a.chunk_id == p->corrupt_chunk_id;
    ls_plan_outcome_t o;
    int rc = ls_planner_done(pl, &r.a, r.a.length, (uint64_t)now, !is_bad, &o);
    if (rc == LS_ESTATE) {
        res->stale_answers++;
        return;
    }
    assert_int_equal(rc, 0);
    if (o.counted) {
        if (counted[r.a.chunk_id])
            res->duplicate_counts++;
        counted[r.a.chunk_id] = 1;
        p->bytes_counted += r.a.length;
    }
    if (o.has_cancel) {
        res->cancels++;
        pipe_remove(&peers[o.cancel.peer], o.cancel.ticket, now);
    }
    if (o.peer_dropped) {
        p->is_gone = true;
        p->pipe_len = 0;
    }
}

static void simulate(ls_planner_t *pl, sim_peer_t *peers, size_t n, size_t chunk_total,
                     sim_result_t *res)
{
    uint8_t *counted = calloc(chunk_total + 1, 1);
    double now = 0;
    memset(res, 0, sizeof *res);
    for (uint32_t step = 0; step < SIM_STEPS_MAX; step++) {
        if (ls_planner_is_finished(pl) || ls_planner_has_failed(pl, NULL, NULL))
            break;
        fill_windows(pl, peers, n, now, res);
        bool is_vanish = false;
        int who = next_event(peers, n, &now, &is_vanish);
        if (who < 0)
            break;
        if (is_vanish) {
            peers[who].is_gone = true;
            peers[who].pipe_len = 0;
            assert_int_equal(ls_planner_peer_lost(pl, (uint32_t)who), 0);
            continue;
        }
        answer(pl, peers, (uint32_t)who, now, counted, res);
    }
    res->finish_ms = now;
    res->is_finished = ls_planner_is_finished(pl);
    const char *reason = NULL;
    res->has_failed = ls_planner_has_failed(pl, &res->fail_code, &reason);
    if (reason)
        snprintf(res->reason, sizeof res->reason, "%s", reason);
    free(counted);
}

static void init_peers(sim_peer_t *peers, const double *mbits, size_t n)
{
    memset(peers, 0, n * sizeof *peers);
    for (size_t i = 0; i < n; i++) {
        peers[i].rate = MBIT_PER_MS(mbits[i]);
        peers[i].latency = 2;
        peers[i].corrupt_chunk_id = SIZE_MAX;
    }
}

static const char *const peer_names[SIM_PEERS_MAX] = {"peer-a", "peer-b", "peer-c", "peer-d",
                                                      "peer-e", "peer-f", "peer-g", "peer-h"};

static void run(const ls_game_manifest_t *m, sim_peer_t *peers, size_t n, ls_plan_mode_t mode,
                sim_result_t *res, ls_planner_t **keep)
{
    ls_planner_config_t cfg = {.mode = mode};
    ls_planner_t *pl = NULL;
    assert_int_equal(ls_planner_new(m, NULL, 0, peer_names, n, NULL, &cfg, &pl), 0);
    simulate(pl, peers, n, ls_manifest_chunk_total(m), res);
    if (keep)
        *keep = pl;
    else
        ls_planner_free(pl);
}

/* ---- simulations ---- */

static void adaptive_plan_is_near_ideal_and_beats_round_robin(void **state)
{
    (void)state;
    const uint64_t gib = 1024ull * 1024 * 1024;
    const uint64_t sizes[] = {gib + 12345, gib, gib - 777, gib + 777 - 12345};
    const double mbits[] = {400, 400, 400, 50};
    ls_game_manifest_t m;
    sim_peer_t peers[4];
    sim_result_t adaptive, rr;
    make_manifest(&m, sizes, 4);

    init_peers(peers, mbits, 4);
    run(&m, peers, 4, LS_PLAN_ADAPTIVE, &adaptive, NULL);
    init_peers(peers, mbits, 4);
    run(&m, peers, 4, LS_PLAN_ROUND_ROBIN, &rr, NULL);

    double ideal = (double)(4 * gib) / (MBIT_PER_MS(400) * 3 + MBIT_PER_MS(50));
    print_message("4 GiB, 400/400/400/50 Mbit/s: ideal %.0f ms, adaptive %.0f ms (%.3fx, %u "
                  "endgame cancels), round-robin %.0f ms (%.3fx)\n",
                  ideal, adaptive.finish_ms, adaptive.finish_ms / ideal, adaptive.cancels,
                  rr.finish_ms, rr.finish_ms / ideal);
    assert_true(adaptive.is_finished);
    assert_true(rr.is_finished);
    assert_int_equal(adaptive.duplicate_counts, 0);
    assert_true(adaptive.finish_ms <= 1.15 * ideal);
    assert_true(adaptive.finish_ms * 2 < rr.finish_ms);

    /* the same with one stream in 50 reset on every peer and 20 ms latency */
    init_peers(peers, mbits, 4);
    for (size_t i = 0; i < 4; i++) {
        peers[i].fail_every = 50;
        peers[i].latency = 20;
    }
    run(&m, peers, 4, LS_PLAN_ADAPTIVE, &adaptive, NULL);
    print_message("  with 2%% stream resets and 20 ms latency: adaptive %.0f ms (%.3fx)\n",
                  adaptive.finish_ms, adaptive.finish_ms / ideal);
    assert_true(adaptive.is_finished);
    assert_true(adaptive.finish_ms <= 1.15 * ideal);
    ls_manifest_free(&m);
}

static void vanished_peer_chunks_are_redone_by_the_others(void **state)
{
    (void)state;
    const uint64_t sizes[] = {200ull * LS_CHUNK_SIZE_MAX + 99};
    const double mbits[] = {400, 400, 400};
    ls_game_manifest_t m;
    sim_peer_t peers[3];
    sim_result_t res;
    make_manifest(&m, sizes, 1);
    init_peers(peers, mbits, 3);
    peers[1].vanish_at = 2000; /* mid-way: the whole download takes about 6 s */

    ls_planner_t *pl = NULL;
    run(&m, peers, 3, LS_PLAN_ADAPTIVE, &res, &pl);
    assert_true(res.is_finished);
    assert_int_equal(res.duplicate_counts, 0);
    assert_true(res.finish_ms > 2000);
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t stats[3];
    ls_planner_progress(pl, (uint64_t)res.finish_ms, &prog, stats, 3);
    assert_int_equal(prog.chunks_done, 201);
    assert_int_equal(prog.bytes_done, prog.bytes_total);
    assert_false(stats[1].is_active);
    assert_true(stats[1].bytes_done > 0);
    assert_int_equal(stats[0].bytes_done + stats[1].bytes_done + stats[2].bytes_done,
                     prog.bytes_total);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void corrupting_peer_is_dropped_after_two_bad_chunks(void **state)
{
    (void)state;
    const uint64_t sizes[] = {64ull * LS_CHUNK_SIZE_MAX, 3 * LS_CHUNK_SIZE_MAX + 5};
    const double mbits[] = {400, 400, 1000};
    ls_game_manifest_t m;
    sim_peer_t peers[3];
    sim_result_t res;
    make_manifest(&m, sizes, 2);
    init_peers(peers, mbits, 3);
    peers[2].corrupt_every = 1; /* the fastest peer only ever sends garbage */

    ls_planner_t *pl = NULL;
    run(&m, peers, 3, LS_PLAN_ADAPTIVE, &res, &pl);
    assert_true(res.is_finished);
    assert_int_equal(res.duplicate_counts, 0);
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t stats[3];
    ls_planner_progress(pl, (uint64_t)res.finish_ms, &prog, stats, 3);
    assert_false(stats[2].is_active);
    assert_int_equal(stats[2].bad_chunks, 2);
    assert_int_equal(stats[2].bytes_done, 0);
    assert_int_equal(peers[2].served, 2);
    assert_int_equal(stats[0].bytes_done + stats[1].bytes_done, prog.bytes_total);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void flaky_streams_are_retried_and_the_download_completes(void **state)
{
    (void)state;
    const uint64_t sizes[] = {100ull * LS_CHUNK_SIZE_MAX};
    const double mbits[] = {400, 400};
    ls_game_manifest_t m;
    sim_peer_t peers[2];
    sim_result_t res;
    make_manifest(&m, sizes, 1);
    init_peers(peers, mbits, 2);
    peers[0].fail_every = 5; /* one stream in five resets */

    ls_planner_t *pl = NULL;
    run(&m, peers, 2, LS_PLAN_ADAPTIVE, &res, &pl);
    assert_true(res.is_finished);
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t stats[2];
    ls_planner_progress(pl, (uint64_t)res.finish_ms, &prog, stats, 2);
    /* the flaky peer ends up serving less than the healthy one */
    assert_true(stats[0].bytes_done < stats[1].bytes_done);
    assert_true(stats[0].is_active);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void endgame_duplicate_wins_and_the_loser_is_cancelled(void **state)
{
    (void)state;
    const uint64_t sizes[] = {8ull * LS_CHUNK_SIZE_MAX};
    const double mbits[] = {1000, 5};
    ls_game_manifest_t m;
    sim_peer_t peers[2];
    sim_result_t res;
    make_manifest(&m, sizes, 1);
    init_peers(peers, mbits, 2);

    run(&m, peers, 2, LS_PLAN_ADAPTIVE, &res, NULL);
    assert_true(res.is_finished);
    assert_true(res.cancels >= 1);
    assert_int_equal(res.duplicate_counts, 0);
    /* the slow peer alone needs 6.7 s per chunk; the duplicates end it long before */
    double slow_chunk_ms = LS_CHUNK_SIZE_MAX / MBIT_PER_MS(5);
    assert_true(res.finish_ms < slow_chunk_ms / 2);
    ls_manifest_free(&m);
}

static void chunk_bad_on_every_seeder_fails_with_a_reason_naming_it(void **state)
{
    (void)state;
    const uint64_t sizes[] = {10ull * LS_CHUNK_SIZE_MAX, 6ull * LS_CHUNK_SIZE_MAX};
    const double mbits[] = {400, 400, 400, 400};
    ls_game_manifest_t m;
    sim_peer_t peers[4];
    sim_result_t res;
    make_manifest(&m, sizes, 2);
    init_peers(peers, mbits, 4);
    for (size_t i = 0; i < 4; i++)
        peers[i].corrupt_chunk_id = 13; /* file 1, chunk 3: changed on every seeder */

    run(&m, peers, 4, LS_PLAN_ADAPTIVE, &res, NULL);
    assert_false(res.is_finished);
    assert_true(res.has_failed);
    assert_int_equal(res.fail_code, LS_ERETRIES);
    assert_non_null(strstr(res.reason, "data/file1.pak"));
    assert_non_null(strstr(res.reason, "chunk 3"));
    assert_non_null(strstr(res.reason, "changed on every seeder"));
    ls_manifest_free(&m);
}

static void losing_every_peer_fails_the_download(void **state)
{
    (void)state;
    const uint64_t sizes[] = {50ull * LS_CHUNK_SIZE_MAX};
    const double mbits[] = {400, 400};
    ls_game_manifest_t m;
    sim_peer_t peers[2];
    sim_result_t res;
    make_manifest(&m, sizes, 1);
    init_peers(peers, mbits, 2);
    peers[0].vanish_at = 500;
    peers[1].vanish_at = 900;
    run(&m, peers, 2, LS_PLAN_ADAPTIVE, &res, NULL);
    assert_true(res.has_failed);
    assert_int_equal(res.fail_code, LS_ENOPEERS);
    ls_manifest_free(&m);
}

/* ---- rules, checked call by call ---- */

static void bad_chunk_goes_to_another_peer_when_one_is_available(void **state)
{
    (void)state;
    const uint64_t sizes[] = {LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a, b;
    ls_plan_outcome_t o;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, NULL, &pl), 0);

    assert_int_equal(ls_planner_next(pl, 0, 0, &a), 0);
    assert_int_equal(ls_planner_done(pl, &a, a.length, 100, false, &o), 0);
    assert_false(o.counted);
    assert_int_equal(ls_planner_next(pl, 0, 100, &b), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 1, 100, &b), 0);
    assert_int_equal(b.chunk_id, a.chunk_id);
    assert_int_equal(ls_planner_done(pl, &b, b.length, 200, true, &o), 0);
    assert_true(o.counted);
    assert_true(ls_planner_is_finished(pl));
    assert_int_equal(ls_planner_next(pl, 1, 200, &b), LS_ECANCELED);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void cancelled_duplicate_answer_is_stale(void **state)
{
    (void)state;
    const uint64_t sizes[] = {LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"slow", "fast"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t slow, fast;
    ls_plan_outcome_t o;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, NULL, &pl), 0);
    assert_int_equal(ls_planner_next(pl, 0, 0, &slow), 0);
    /* queue empty, "fast" idle: it gets the same chunk as an endgame duplicate */
    assert_int_equal(ls_planner_next(pl, 1, 10, &fast), 0);
    assert_int_equal(fast.chunk_id, slow.chunk_id);
    assert_true(fast.ticket != slow.ticket);
    assert_int_equal(ls_planner_done(pl, &fast, fast.length, 100, true, &o), 0);
    assert_true(o.counted);
    assert_true(o.has_cancel);
    assert_int_equal(o.cancel.ticket, slow.ticket);
    assert_int_equal(o.cancel.peer, 0);
    assert_int_equal(ls_planner_done(pl, &slow, slow.length, 900, true, &o), LS_ESTATE);
    assert_true(ls_planner_is_finished(pl));
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* An endgame duplicate comes down our own link beside every chunk still
 * in flight: it is sent only when the chunk it copies would land later
 * than that link, at the best rate it has shown, brings them all in. */
static void endgame_duplicate_waits_while_our_link_is_full(void **state)
{
    (void)state;
    const uint64_t sizes[] = {10ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b"};
    const uint64_t mib = 1024 * 1024;
    ls_planner_config_t cfg = {.initial_window = 8, .max_window = 8};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t on_a[8], on_b[2], dup;
    ls_plan_progress_t prog;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, &cfg, &pl), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ls_planner_next(pl, 0, 0, &on_a[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ls_planner_next(pl, 1, 0, &on_b[i]), 0);
    /* b is fast and done; a delivers one chunk in 400 ms, 7 still to come */
    for (int i = 0; i < 2; i++)
        assert_int_equal(ls_planner_done(pl, &on_b[i], on_b[i].length, 40, true, NULL), 0);
    ls_planner_progress(pl, 50, &prog, NULL, 0); /* the first sample */
    ls_planner_add_arriving(pl, 0, 2 * mib);
    ls_planner_progress(pl, 300, &prog, NULL, 0); /* our link: 8 MiB/s */
    assert_int_equal(prog.rate_bps, 8 * mib);
    assert_int_equal(ls_planner_done(pl, &on_a[0], on_a[0].length, 400, true, NULL), 0);
    /* a's last chunk lands at ~3.2 s; b would bring a copy in at once, but
     * 7 chunks and the copy take our link 4 s: no duplicate */
    assert_int_equal(ls_planner_next(pl, 1, 500, &dup), LS_EAGAIN);
    /* the link shows it carries 160 MiB/s: 0.2 s for all, so b copies */
    ls_planner_add_arriving(pl, 0, 38 * mib);
    ls_planner_progress(pl, 550, &prog, NULL, 0);
    assert_int_equal(prog.rate_bps, 160 * mib);
    assert_int_equal(ls_planner_next(pl, 1, 560, &dup), 0);
    assert_int_equal(dup.chunk_id, on_a[7].chunk_id);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* Small files: by default the window counts requests, so a peer gets as
 * few small chunks in flight as big ones. A batching peer's window counts
 * bytes, up to its request cap. */
static void batching_peer_window_counts_bytes_up_to_its_request_cap(void **state)
{
    (void)state;
    enum { FILES = 600, SMALL = 2048, CAP = 300 };
    uint64_t sizes[FILES];
    const char *const ids[] = {"a", "b"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    for (size_t i = 0; i < FILES; i++)
        sizes[i] = SMALL;
    make_manifest(&m, sizes, FILES);
    ls_planner_config_t cfg = {.max_window = 4, .initial_window = 2};
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, &cfg, &pl), 0);
    size_t plain = 0, batching = 0;
    while (ls_planner_next(pl, 0, 0, &a) == 0)
        plain++;
    assert_int_equal(plain, 2);
    assert_int_equal(ls_planner_set_requests_max(pl, 1, CAP), 0);
    while (batching < FILES && ls_planner_next(pl, 1, 0, &a) == 0)
        batching++;
    assert_int_equal(batching, CAP); /* 2 x 4 MiB of window would take every file */
    assert_int_equal(ls_planner_set_requests_max(pl, 9, CAP), LS_EINVAL);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* Interleaved streams finish their chunks together: four answers 1 ms
 * apart, then nothing for ~400 ms. The per-peer rate_bps of a progress
 * event is what the peer delivered over the sample window (bytes / time),
 * the same measure as the overall rate, not a mean of those 1 ms bursts
 * (which read as a link a hundred times faster). */
static void per_peer_rate_is_bytes_over_the_sample_window(void **state)
{
    (void)state;
    enum { WINDOW = 4, ROUNDS = 3, ROUND_MS = 400 };
    const uint64_t sizes[] = {WINDOW * ROUNDS * (uint64_t)LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seeder"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a[WINDOW];
    ls_plan_outcome_t o;
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t st;
    make_manifest(&m, sizes, 1);
    ls_planner_config_t cfg = {.initial_window = WINDOW, .max_window = WINDOW};
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, &cfg, &pl), 0);
    ls_planner_progress(pl, 0, &prog, &st, 1); /* opens the first sample */
    for (uint64_t r = 0; r < ROUNDS; r++) {
        uint64_t start = r * ROUND_MS;
        for (size_t i = 0; i < WINDOW; i++)
            assert_int_equal(ls_planner_next(pl, 0, start, &a[i]), 0);
        for (size_t i = 0; i < WINDOW; i++)
            assert_int_equal(
                ls_planner_done(pl, &a[i], a[i].length, start + ROUND_MS - WINDOW + i, true, &o),
                0);
        ls_planner_progress(pl, start + ROUND_MS, &prog, &st, 1);
    }
    /* WINDOW chunks per ROUND_MS: the link's real rate */
    uint64_t want = WINDOW * (uint64_t)LS_CHUNK_SIZE_MAX * 1000 / ROUND_MS;
    print_message("overall %llu B/s, peer %llu B/s, link %llu B/s\n",
                  (unsigned long long)prog.rate_bps, (unsigned long long)st.rate_bps,
                  (unsigned long long)want);
    assert_int_equal(prog.rate_bps, want);
    assert_int_equal(st.rate_bps, want);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void resumed_chunks_are_not_planned(void **state)
{
    (void)state;
    const uint64_t sizes[] = {5ull * LS_CHUNK_SIZE_MAX, 0, 7ull * LS_CHUNK_SIZE_MAX - 1};
    const char *const ids[] = {"a"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    ls_plan_outcome_t o;
    uint8_t bitmap[2] = {0};
    make_manifest(&m, sizes, 3);
    /* chunks 0, 2, 4 of file 0 and 1, 6 of file 2 (ids 6, 11) are on disk */
    size_t have[] = {0, 2, 4, 6, 11};
    for (size_t i = 0; i < 5; i++)
        bitmap[have[i] / 8] |= (uint8_t)(1u << (have[i] % 8));
    ls_planner_config_t cfg = {.max_window = 1, .initial_window = 1};
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, bitmap, &cfg, &pl), 0);
    size_t planned = 0;
    for (uint64_t t = 0; t < 100 && ls_planner_next(pl, 0, t, &a) == 0; t++) {
        for (size_t i = 0; i < 5; i++)
            assert_true(a.chunk_id != have[i]);
        planned++;
        assert_int_equal(ls_planner_done(pl, &a, a.length, t, true, &o), 0);
    }
    assert_int_equal(planned, 12 - 5);
    assert_true(ls_planner_is_finished(pl));
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void selected_files_only_are_planned(void **state)
{
    (void)state;
    const uint64_t sizes[] = {3ull * LS_CHUNK_SIZE_MAX, 2ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a"};
    const size_t only_second[] = {1};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    make_manifest(&m, sizes, 2);
    assert_int_equal(ls_planner_new(&m, only_second, 1, ids, 1, NULL, NULL, &pl), 0);
    assert_int_equal(ls_planner_next(pl, 0, 0, &a), 0);
    assert_int_equal(a.file_index, 1);
    assert_int_equal(a.chunk_id, 3);
    assert_int_equal(a.offset, 0);
    ls_plan_progress_t prog;
    ls_planner_progress(pl, 0, &prog, NULL, 0);
    assert_int_equal(prog.bytes_total, 2ull * LS_CHUNK_SIZE_MAX);
    ls_planner_free(pl);
    const size_t twice[] = {1, 1};
    assert_int_equal(ls_planner_new(&m, twice, 2, ids, 1, NULL, NULL, &pl), LS_EINVAL);
    assert_null(pl);
    ls_manifest_free(&m);
}

static void window_grows_with_a_fast_peer_and_stays_small_for_a_slow_one(void **state)
{
    (void)state;
    const uint64_t sizes[] = {300ull * LS_CHUNK_SIZE_MAX};
    const double mbits[] = {10000, 50};
    ls_game_manifest_t m;
    sim_peer_t peers[2];
    sim_result_t res;
    ls_planner_t *pl = NULL;
    make_manifest(&m, sizes, 1);
    init_peers(peers, mbits, 2);
    peers[0].latency = peers[1].latency = 30;
    peers[0].vanish_at = 1000; /* freeze the windows mid-way to look at them */
    run(&m, peers, 2, LS_PLAN_ADAPTIVE, &res, &pl);
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t stats[2];
    ls_planner_progress(pl, 1000, &prog, stats, 2);
    print_message("windows: 10 Gbit/s peer %u, 50 Mbit/s peer %u\n", stats[0].window,
                  stats[1].window);
    assert_true(stats[0].window >= 8);
    /* the floor: a healthy peer keeps 3 in flight (streams are interleaved) */
    assert_int_equal(stats[1].window, 3);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void window_covers_a_long_round_trip(void **state)
{
    (void)state;
    /* 1 Gbit/s behind 100 ms: one chunk at a time would reach only a quarter
     * of the link; the window must keep about four in flight */
    const uint64_t sizes[] = {200ull * LS_CHUNK_SIZE_MAX};
    const double mbits[] = {1000};
    ls_game_manifest_t m;
    sim_peer_t peers[1];
    sim_result_t res, one;
    ls_planner_t *pl = NULL;
    make_manifest(&m, sizes, 1);
    init_peers(peers, mbits, 1);
    peers[0].latency = 100;
    run(&m, peers, 1, LS_PLAN_ADAPTIVE, &res, &pl);
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t stats[1];
    ls_planner_progress(pl, (uint64_t)res.finish_ms, &prog, stats, 1);
    ls_planner_free(pl);

    ls_planner_config_t cfg = {.max_window = 1};
    init_peers(peers, mbits, 1);
    peers[0].latency = 100;
    assert_int_equal(ls_planner_new(&m, NULL, 0, peer_names, 1, NULL, &cfg, &pl), 0);
    simulate(pl, peers, 1, ls_manifest_chunk_total(&m), &one);
    ls_planner_free(pl);

    double ideal = (double)sizes[0] / MBIT_PER_MS(1000);
    print_message("1 Gbit/s, 100 ms: ideal %.0f ms, adaptive %.0f ms (window %u, latency "
                  "measured %u ms), window 1: %.0f ms\n",
                  ideal, res.finish_ms, stats[0].window, stats[0].latency_ms, one.finish_ms);
    assert_true(res.is_finished);
    assert_true(stats[0].latency_ms >= 90 && stats[0].latency_ms <= 110);
    assert_true(stats[0].window >= 4);
    assert_true(res.finish_ms <= 1.15 * ideal);
    assert_true(res.finish_ms * 3 < one.finish_ms);
    ls_manifest_free(&m);
}

/* Peer 0 turns out fast (4 MiB per 10 ms after a 100 ms round trip:
 * window 1 + ceil(100 / 10) = 11) and is given its whole window at 120 ms,
 * in a[0..16); returns how many requests that is. */
static size_t fill_fast_window(ls_planner_t *pl, ls_assignment_t a[16])
{
    ls_plan_outcome_t o;
    size_t n = 0;
    assert_int_equal(ls_planner_next(pl, 0, 0, &a[0]), 0);
    assert_int_equal(ls_planner_next(pl, 0, 0, &a[1]), 0);
    assert_int_equal(ls_planner_done(pl, &a[0], a[0].length, 110, true, &o), 0);
    assert_int_equal(ls_planner_done(pl, &a[1], a[1].length, 120, true, &o), 0);
    while (n < 16 && ls_planner_next(pl, 0, 120, &a[n]) == 0)
        n++;
    return n;
}

static void failures_halve_the_window_and_good_chunks_regrow_it(void **state)
{
    (void)state;
    const uint64_t sizes[] = {100ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a[16];
    ls_plan_outcome_t o;
    ls_plan_peer_stat_t st;
    ls_plan_progress_t prog;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    size_t n = fill_fast_window(pl, a);
    ls_planner_progress(pl, 120, &prog, &st, 1);
    assert_int_equal(st.latency_ms, 100);
    assert_int_equal(st.window, 11);
    assert_int_equal(n, 11);
    assert_int_equal(ls_planner_failed(pl, &a[0], LS_ETIMEDOUT), 0);
    ls_planner_progress(pl, 130, &prog, &st, 1);
    assert_int_equal(st.window, 5);
    assert_int_equal(ls_planner_failed(pl, &a[1], LS_ETIMEDOUT), 0);
    ls_planner_progress(pl, 130, &prog, &st, 1);
    assert_int_equal(st.window, 2);
    assert_int_equal(ls_planner_done(pl, &a[2], a[2].length, 230, true, &o), 0);
    ls_planner_progress(pl, 230, &prog, &st, 1);
    assert_int_equal(st.window, 3);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A connection that resets fails every request in flight on it at once:
 * that is one failure, so a peer with a wide window is not dropped for it
 * (it may rejoin when it comes back); failures of requests sent one after
 * the other still drop a peer whose every stream fails. */
static void a_window_failing_at_once_is_one_failure(void **state)
{
    (void)state;
    const uint64_t sizes[] = {100ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b"}; /* b keeps the download alive */
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a[16];
    uint32_t slot;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, NULL, &pl), 0);
    size_t n = fill_fast_window(pl, a);
    assert_true(n >= 9); /* more than MAX_CONSECUTIVE_FAILURES (8) */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ls_planner_failed(pl, &a[i], LS_EIO), 0);
    assert_int_equal(ls_planner_peer_lost(pl, 0), 0);
    assert_true(ls_planner_peer_can_join(pl, "a"));
    assert_int_equal(ls_planner_add_peer(pl, "a", &slot), 0);
    /* back: eight requests that each fail after the one before */
    for (uint64_t t = 200; t < 208; t++) {
        assert_int_equal(ls_planner_next(pl, 0, t, &a[0]), 0);
        assert_int_equal(ls_planner_failed(pl, &a[0], LS_EIO), 0);
    }
    assert_false(ls_planner_peer_can_join(pl, "a"));
    assert_int_equal(ls_planner_next(pl, 0, 300, &a[0]), LS_EPEER_GONE);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A seeder that restarts comes back on a new connection that replaces the
 * old one (no peer-lost): each time, what was in flight on the old one
 * fails with LS_EPEER_GONE. Restarted more often than
 * MAX_CONSECUTIVE_FAILURES and LS_MAX_RETRY_COUNT, it still serves, and
 * the chunk it held each time is fetched from it in the end. */
static void a_peer_whose_connection_closes_again_and_again_stays(void **state)
{
    (void)state;
    const uint64_t sizes[] = {4ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seed"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    ls_plan_outcome_t o;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    for (uint64_t t = 0; t < 20; t++) {
        assert_int_equal(ls_planner_next(pl, 0, t * 10, &a), 0);
        assert_int_equal(ls_planner_failed(pl, &a, LS_EPEER_GONE), 0);
    }
    assert_true(ls_planner_has_active_peer(pl));
    for (size_t done = 0; done < 4; done++) {
        assert_int_equal(ls_planner_next(pl, 0, 1000 + done, &a), 0);
        assert_int_equal(ls_planner_done(pl, &a, a.length, 1000 + done, true, &o), 0);
    }
    assert_true(ls_planner_is_finished(pl));
    assert_false(ls_planner_has_failed(pl, NULL, NULL));
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A downloader known from its partial copy finishes: its download ends
 * (its `have` says gone: lost here) and it joins again as a complete
 * seeder. The chunk its last `have` lacked (version.ini, which a partial
 * copy never serves) is asked of it: the only seeder is away. */
static void a_partial_peer_that_finished_joins_as_a_seeder(void **state)
{
    (void)state;
    const uint64_t sizes[] = {2ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seed"};
    uint8_t first_only = 0x01; /* chunk 0 of 2 */
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    ls_plan_outcome_t o;
    uint32_t slot;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    assert_int_equal(ls_planner_peer_has(pl, "d2", &first_only, 2, &slot), 0);
    assert_int_equal(ls_planner_peer_lost(pl, slot), 0); /* d2 finished */
    assert_int_equal(ls_planner_add_peer(pl, "d2", &slot), 0);
    assert_int_equal(ls_planner_peer_lost(pl, 0), 0); /* the seeder restarts */
    assert_false(ls_planner_peer_is_partial(pl, slot));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ls_planner_next(pl, slot, 10 + i, &a), 0);
        assert_int_equal(ls_planner_done(pl, &a, a.length, 20 + i, true, &o), 0);
    }
    assert_true(ls_planner_is_finished(pl));
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A downloader that finished tells of every chunk in its last `have`; once
 * its library lists the game it is promoted to a complete seeder (no
 * get_game round trip). A copy lacking a chunk, a lost peer and a seeder
 * already complete are not promoted. */
static void a_partial_peer_holding_every_chunk_is_promoted_to_seeder(void **state)
{
    (void)state;
    const uint64_t sizes[] = {3ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seed"};
    uint8_t two = 0x03, all = 0x07;
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    uint32_t slot;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    assert_false(ls_planner_promote_seeder(pl, "seed")); /* complete already */
    assert_false(ls_planner_promote_seeder(pl, "nobody"));
    assert_int_equal(ls_planner_peer_has(pl, "d2", &two, 3, &slot), 0);
    assert_false(ls_planner_promote_seeder(pl, "d2"));
    assert_true(ls_planner_peer_is_partial(pl, slot));
    assert_int_equal(ls_planner_peer_has(pl, "d2", &all, 3, &slot), 0);
    assert_true(ls_planner_peer_is_partial(pl, slot));
    assert_true(ls_planner_promote_seeder(pl, "d2"));
    assert_false(ls_planner_peer_is_partial(pl, slot));
    assert_int_equal(ls_planner_peer_has(pl, "d3", &all, 3, &slot), 0);
    assert_int_equal(ls_planner_peer_lost(pl, slot), 0);
    assert_false(ls_planner_promote_seeder(pl, "d3")); /* lost: it joins again */
    assert_true(ls_planner_peer_can_join(pl, "d3"));
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void round_robin_mode_deals_chunks_like_the_seed(void **state)
{
    (void)state;
    const uint64_t sizes[] = {6ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b", "c"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    ls_planner_config_t cfg = {.mode = LS_PLAN_ROUND_ROBIN, .initial_window = 4};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 3, NULL, &cfg, &pl), 0);
    for (uint32_t peer = 0; peer < 3; peer++) {
        assert_int_equal(ls_planner_next(pl, peer, 0, &a), 0);
        assert_int_equal(a.chunk_index, peer);
        assert_int_equal(ls_planner_next(pl, peer, 0, &a), 0);
        assert_int_equal(a.chunk_index, peer + 3);
        assert_int_equal(ls_planner_next(pl, peer, 0, &a), LS_EAGAIN);
    }
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void lost_peer_may_rejoin_but_a_dropped_one_may_not(void **state)
{
    (void)state;
    const uint64_t sizes[] = {10ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b", "liar"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    ls_plan_outcome_t o;
    uint32_t slot = 99;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 3, NULL, NULL, &pl), 0);
    assert_int_equal(ls_planner_add_peer(pl, "a", &slot), LS_EEXIST);
    assert_int_equal(ls_planner_next(pl, 0, 0, &a), 0);
    assert_int_equal(ls_planner_peer_lost(pl, 0), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1, &a), LS_EPEER_GONE);
    assert_int_equal(ls_planner_add_peer(pl, "a", &slot), 0);
    assert_int_equal(slot, 0);
    assert_int_equal(ls_planner_next(pl, 0, 2, &a), 0);
    assert_int_equal(a.chunk_index, 0); /* the chunk it held came back to the queue */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ls_planner_next(pl, 2, 3, &a), 0);
        assert_int_equal(ls_planner_done(pl, &a, a.length, 4, false, &o), 0);
    }
    assert_true(o.peer_dropped);
    assert_int_equal(ls_planner_add_peer(pl, "liar", &slot), LS_EPEER_GONE);
    assert_int_equal(ls_planner_add_peer(pl, "c", &slot), 0);
    assert_int_equal(slot, 3);
    assert_string_equal(ls_planner_peer_id(pl, 3), "c");
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void progress_reports_bytes_and_rates(void **state)
{
    (void)state;
    const uint64_t sizes[] = {20ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a0, a1, b0, b1;
    ls_plan_outcome_t o;
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t stats[2];
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, NULL, &pl), 0);
    ls_planner_progress(pl, 0, &prog, stats, 2); /* first sample */
    assert_int_equal(ls_planner_next(pl, 0, 0, &a0), 0);
    assert_int_equal(ls_planner_next(pl, 0, 0, &a1), 0);
    assert_int_equal(ls_planner_next(pl, 1, 0, &b0), 0);
    assert_int_equal(ls_planner_next(pl, 1, 0, &b1), 0);
    /* "a" answers after 100 and 200 ms, "b" after 400 and 800 ms */
    assert_int_equal(ls_planner_done(pl, &a0, a0.length, 100, true, &o), 0);
    assert_int_equal(ls_planner_done(pl, &a1, a1.length, 200, true, &o), 0);
    assert_int_equal(ls_planner_done(pl, &b0, b0.length, 400, true, &o), 0);
    assert_int_equal(ls_planner_done(pl, &b1, b1.length, 800, true, &o), 0);
    ls_planner_progress(pl, 1000, &prog, stats, 2);
    assert_int_equal(prog.bytes_done, 4ull * LS_CHUNK_SIZE_MAX);
    assert_int_equal(prog.bytes_total, 20ull * LS_CHUNK_SIZE_MAX);
    assert_int_equal(prog.chunks_done, 4);
    assert_int_equal(prog.chunks_total, 20);
    assert_int_equal(prog.rate_bps, 4ull * LS_CHUNK_SIZE_MAX); /* 4 chunks in 1 s */
    assert_int_equal(prog.peer_count, 2);
    assert_string_equal(stats[0].peer_id, "a");
    assert_int_equal(stats[0].bytes_done, 2ull * LS_CHUNK_SIZE_MAX);
    /* per peer, what it delivered over the same second: 2 chunks each, and
     * together the overall rate (not "a" at its 100 ms service rate) */
    assert_int_equal(stats[0].rate_bps, 2ull * LS_CHUNK_SIZE_MAX);
    assert_int_equal(stats[1].rate_bps, 2ull * LS_CHUNK_SIZE_MAX);
    assert_int_equal(stats[0].rate_bps + stats[1].rate_bps, prog.rate_bps);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* Bytes that arrived and are not yet done count in the rates once; a
 * chunk then done adds nothing more, and arrived bytes that are dropped (a
 * chunk that failed its hash) read 0, not a wrapped-around rate. */
static void progress_rates_count_arriving_bytes_once(void **state)
{
    (void)state;
    const uint64_t sizes[] = {4ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a"};
    const uint64_t half = LS_CHUNK_SIZE_MAX / 2;
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a0, a1;
    ls_plan_outcome_t o;
    ls_plan_progress_t prog;
    ls_plan_peer_stat_t st;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    ls_planner_progress(pl, 0, &prog, &st, 1); /* first sample */
    assert_int_equal(ls_planner_next(pl, 0, 0, &a0), 0);
    assert_int_equal(ls_planner_next(pl, 0, 0, &a1), 0);
    /* half of each chunk arrived in the first second */
    ls_planner_add_arriving(pl, a0.peer, half);
    ls_planner_add_arriving(pl, a1.peer, half);
    ls_planner_progress(pl, 1000, &prog, &st, 1);
    assert_int_equal(prog.bytes_done, 0);
    assert_int_equal(prog.rate_bps, 2 * half);
    assert_int_equal(st.rate_bps, 2 * half);
    /* the rest of a0 arrives and it is done; a1 has its second half */
    assert_int_equal(ls_planner_done(pl, &a0, a0.length, 1500, true, &o), 0);
    ls_planner_add_arriving(pl, a1.peer, 2 * half);
    ls_planner_progress(pl, 2000, &prog, &st, 1);
    assert_int_equal(prog.rate_bps, 2 * half);
    /* a1 fails its hash: its arrived bytes are gone */
    assert_int_equal(ls_planner_done(pl, &a1, a1.length, 2500, false, &o), 0);
    ls_planner_progress(pl, 3000, &prog, &st, 1);
    assert_int_equal(prog.rate_bps, 0);
    assert_int_equal(st.rate_bps, 0);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

static void progress_is_due_at_most_four_times_a_second(void **state)
{
    (void)state;
    const uint64_t sizes[] = {LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    const uint64_t times[] = {0, 100, 249, 250, 300, 499, 500, 1000};
    const bool due[] = {true, false, false, true, false, false, true, true};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(ls_planner_progress_due(pl, times[i]), due[i]);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A partial peer is given only chunks it holds, a complete seeder first the
 * chunks nobody else holds, and two downloaders seeded differently start on
 * different chunks. */
static void rarest_first_feeds_the_swarm(void **state)
{
    (void)state;
    const uint64_t sizes[] = {16ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seeder", "partial"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    uint8_t have[2] = {0xff, 0x00}; /* the partial peer holds chunks 0-7 */
    ls_planner_config_t cfg = {.is_rarest_first = true, .seed = 42, .max_window = 16};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, &cfg, &pl), 0);
    assert_int_equal(ls_planner_set_have(pl, 1, have, 15), LS_EINVAL); /* wrong size */
    assert_int_equal(ls_planner_set_have(pl, 1, have, 16), 0);
    /* the seeder's first picks are chunks only it holds (8-15) */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ls_planner_next(pl, 0, 0, &a), 0);
        assert_true(a.chunk_id >= 8);
    }
    /* the partial peer only ever gets chunks 0-7 */
    while (ls_planner_next(pl, 1, 0, &a) == 0)
        assert_true(a.chunk_id < 8);
    ls_planner_free(pl);

    /* two downloaders of one seeder, seeded differently, start apart */
    size_t first[2];
    for (int d = 0; d < 2; d++) {
        ls_planner_config_t c = {.is_rarest_first = true, .seed = 1000 + (uint64_t)d * 7919};
        assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, &c, &pl), 0);
        assert_int_equal(ls_planner_next(pl, 0, 0, &a), 0);
        first[d] = a.chunk_id;
        ls_planner_free(pl);
    }
    assert_true(first[0] != first[1]);
    ls_manifest_free(&m);
}

/* A `busy` answer is not a failed try: the chunk goes back without a
 * penalty, however often it happens. */
static void busy_is_not_a_failure(void **state)
{
    (void)state;
    const uint64_t sizes[] = {2ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    uint64_t now = 0;
    for (int i = 0; i < 3 * LS_MAX_RETRY_COUNT; i++, now += 2000) {
        assert_int_equal(ls_planner_next(pl, 0, now, &a), 0);
        assert_int_equal(ls_planner_failed(pl, &a, LS_EBUSY), 0);
    }
    assert_false(ls_planner_has_failed(pl, NULL, NULL));
    /* once the backoff is over, the chunk is asked again and lands */
    assert_int_equal(ls_planner_next(pl, 0, now, &a), 0);
    assert_int_equal(ls_planner_done(pl, &a, a.length, now + 2, true, NULL), 0);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A peer that answered `busy` is asked nothing for the backoff, not even
 * another chunk it holds (its upload is full: asked at once it answers
 * `busy` again, which in a 12-downloader swarm was 19 of 20 requests);
 * the other peers are asked as before, and it is asked again after. */
static void busy_peer_is_asked_nothing_for_the_backoff(void **state)
{
    (void)state;
    const uint64_t sizes[] = {8ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"a", "b"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a, x;
    ls_planner_config_t cfg = {.is_rarest_first = true, .seed = 5};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, &cfg, &pl), 0);
    uint64_t backoff = ls_planner_busy_backoff_ms(pl);
    assert_int_equal(ls_planner_next(pl, 0, 1000, &a), 0);
    assert_int_equal(ls_planner_failed(pl, &a, LS_EBUSY), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1001, &x), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 0, 1000 + backoff - 1, &x), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 1, 1001, &x), 0); /* "b" is asked as before */
    assert_int_equal(ls_planner_next(pl, 0, 1000 + backoff, &x), 0);
    ls_plan_progress_t pr;
    ls_plan_peer_stat_t st[2];
    ls_planner_progress(pl, 1000 + backoff, &pr, st, 2);
    assert_int_equal(st[0].requests, 2);
    assert_int_equal(st[0].busy_answers, 1);
    assert_int_equal(st[1].busy_answers, 0);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A partial peer lost mid-download (its link replaced) is back in when it
 * announces again on the new link: in the fan-out runs a link replaced at
 * the start left that downloader unasked by the peer for the whole
 * download. A dropped peer stays out. */
static void lost_partial_peer_is_back_on_its_next_have(void **state)
{
    (void)state;
    const uint64_t sizes[] = {8ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seeder"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    uint8_t have[1] = {0x0f};
    uint32_t slot, again;
    ls_planner_config_t cfg = {.is_rarest_first = true, .seed = 9};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, &cfg, &pl), 0);
    assert_int_equal(ls_planner_peer_has(pl, "partial", have, 8, &slot), 0);
    assert_int_equal(ls_planner_next(pl, slot, 0, &a), 0);
    assert_true(a.chunk_id < 4);
    assert_int_equal(ls_planner_peer_lost(pl, slot), 0);
    assert_int_equal(ls_planner_next(pl, slot, 1, &a), LS_EPEER_GONE);
    have[0] = 0x1f;
    assert_int_equal(ls_planner_peer_has(pl, "partial", have, 8, &again), 0);
    assert_int_equal(again, slot);
    assert_int_equal(ls_planner_next(pl, slot, 2, &a), 0);
    assert_true(a.chunk_id < 5);
    /* a bitmap of another size changes nothing */
    assert_int_equal(ls_planner_peer_has(pl, "partial", have, 9, NULL), LS_EINVAL);
    /* dropped for bad data twice: its announcements do not bring it back */
    assert_int_equal(ls_planner_done(pl, &a, a.length, 3, false, NULL), 0);
    assert_int_equal(ls_planner_next(pl, slot, 4, &a), 0);
    assert_int_equal(ls_planner_done(pl, &a, a.length, 5, false, NULL), 0);
    assert_int_equal(ls_planner_peer_has(pl, "partial", have, 8, NULL), LS_EPEER_GONE);
    assert_int_equal(ls_planner_next(pl, slot, 6, &a), LS_EPEER_GONE);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A `given` answer (super-seeding: that chunk is on its way to another
 * swarm peer) is about the chunk, not the peer's upload: the peer keeps
 * its window and is asked for other chunks at once (after `busy` it was
 * asked nothing for the backoff, on half its window, and a seeder whose
 * requesters had all been refused a chunk in flight left its link idle).
 * A second `given` in a row backs it off like `busy`; a delivered chunk
 * starts the count again. Not a try either. */
static void given_leaves_the_peer_askable_for_other_chunks(void **state)
{
    (void)state;
    const uint64_t sizes[] = {16ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seeder"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a, x[2], y;
    ls_planner_config_t cfg = {.is_rarest_first = true, .seed = 11};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, &cfg, &pl), 0);
    uint64_t backoff = ls_planner_busy_backoff_ms(pl);
    assert_int_equal(ls_planner_next(pl, 0, 1000, &a), 0);
    assert_int_equal(ls_planner_given(pl, &a), 0);
    /* at once, and its whole window of 2 (not halved) */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ls_planner_next(pl, 0, 1001, &x[i]), 0);
        assert_true(x[i].chunk_id != a.chunk_id);
    }
    assert_int_equal(ls_planner_next(pl, 0, 1001, &y), LS_EAGAIN);
    /* a chunk delivered: the next `given` is again the first in a row */
    assert_int_equal(ls_planner_done(pl, &x[0], x[0].length, 1002, true, NULL), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1002, &y), 0);
    assert_int_equal(ls_planner_given(pl, &y), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1003, &y), 0);
    /* the second in a row: nothing for the backoff */
    assert_int_equal(ls_planner_given(pl, &y), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1004, &y), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 0, 1003 + backoff - 1, &y), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 0, 1003 + backoff, &y), 0);
    assert_false(ls_planner_has_failed(pl, NULL, NULL));
    ls_plan_progress_t pr;
    ls_plan_peer_stat_t st[1];
    ls_planner_progress(pl, 1003 + backoff, &pr, st, 1);
    assert_int_equal(st[0].busy_answers, 3);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* A chunk a peer answered `given` for is not asked of it for
 * LS_PLANNER_GIVEN_HOLD_BACKOFFS backoffs (its receiver announces it
 * meanwhile; asked again after one backoff, a seeder refused the same
 * chunk to the same requester up to 12 times in a traced fan-out), then
 * it is. */
static void given_chunk_stays_off_that_peer_for_the_hold(void **state)
{
    (void)state;
    const uint64_t sizes[] = {LS_CHUNK_SIZE_MAX}; /* one chunk */
    const char *const ids[] = {"seeder"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a;
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
    uint64_t hold = LS_PLANNER_GIVEN_HOLD_BACKOFFS * ls_planner_busy_backoff_ms(pl);
    assert_true(hold > ls_planner_busy_backoff_ms(pl));
    assert_int_equal(ls_planner_next(pl, 0, 1000, &a), 0);
    assert_int_equal(ls_planner_given(pl, &a), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1000 + ls_planner_busy_backoff_ms(pl), &a), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 0, 1000 + hold - 1, &a), LS_EAGAIN);
    assert_int_equal(ls_planner_next(pl, 0, 1000 + hold, &a), 0);
    assert_int_equal(a.chunk_id, 0);
    assert_int_equal(ls_planner_done(pl, &a, a.length, 1001 + hold, true, NULL), 0);
    assert_true(ls_planner_is_finished(pl));
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* The `busy` backoff follows the manifest's chunk size (about 1.5 chunk
 * times at 200 Mbit/s): a 1 MiB chunk is asked of that peer again after
 * 62 ms, a 4 MiB one after 248 ms, and not a millisecond before. */
static void busy_backoff_follows_the_chunk_size(void **state)
{
    (void)state;
    const uint64_t sizes[] = {LS_CHUNK_SIZE_MIN}; /* one chunk at either size */
    const char *const ids[] = {"a"};
    const uint32_t chunk_sizes[] = {LS_CHUNK_SIZE_MIN, LS_CHUNK_SIZE_MAX};
    const uint64_t backoff_ms[] = {62, 248};
    for (size_t k = 0; k < 2; k++) {
        ls_game_manifest_t m;
        ls_planner_t *pl = NULL;
        ls_assignment_t a;
        make_manifest(&m, sizes, 1);
        m.chunk_size = chunk_sizes[k];
        assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 1, NULL, NULL, &pl), 0);
        assert_int_equal(ls_planner_busy_backoff_ms(pl), backoff_ms[k]);
        assert_int_equal(ls_planner_next(pl, 0, 1000, &a), 0);
        assert_int_equal(ls_planner_failed(pl, &a, LS_EBUSY), 0);
        assert_int_equal(ls_planner_next(pl, 0, 1000 + backoff_ms[k] - 1, &a), LS_EAGAIN);
        assert_int_equal(ls_planner_next(pl, 0, 1000 + backoff_ms[k], &a), 0);
        assert_int_equal(a.chunk_id, 0);
        ls_planner_free(pl);
        ls_manifest_free(&m);
    }
}

/* A chunk handed back (a failed or busy answer) goes to a downloader that
 * holds it rather than to the complete seeder, unless none may be asked
 * for it now: the seeder's upload feeds chunks nobody else has. */
static void requeued_chunk_goes_to_a_downloader_before_the_seeder(void **state)
{
    (void)state;
    const uint64_t sizes[] = {16ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seeder", "a", "b"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a, x;
    uint8_t have[2] = {0xff, 0x00}; /* both downloaders hold chunks 0-7 */
    ls_planner_config_t cfg = {.is_rarest_first = true, .seed = 7, .max_window = 16};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 3, NULL, &cfg, &pl), 0);
    assert_int_equal(ls_planner_set_have(pl, 1, have, 16), 0);
    assert_int_equal(ls_planner_set_have(pl, 2, have, 16), 0);
    /* "a" fails a chunk: "b" holds it too, so the seeder is not asked */
    assert_int_equal(ls_planner_next(pl, 1, 0, &x), 0);
    assert_int_equal(ls_planner_failed(pl, &x, LS_EIO), 0);
    assert_int_equal(ls_planner_next(pl, 0, 1, &a), 0);
    assert_true(a.chunk_id >= 8);
    assert_int_equal(ls_planner_next(pl, 2, 1, &a), 0);
    assert_int_equal(a.chunk_id, x.chunk_id);
    /* "b" answers busy for it and "a" failed it: now the seeder gets it */
    assert_int_equal(ls_planner_failed(pl, &a, LS_EBUSY), 0);
    assert_int_equal(ls_planner_next(pl, 0, 2, &a), 0);
    assert_int_equal(a.chunk_id, x.chunk_id);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

/* The complete seeder is given no endgame duplicate while chunks remain
 * that no request asked for yet (the downloaders will fetch them from
 * each other); once every chunk was asked for, it is. */
static void seeder_duplicates_only_in_the_endgame(void **state)
{
    (void)state;
    const uint64_t sizes[] = {16ull * LS_CHUNK_SIZE_MAX};
    const char *const ids[] = {"seeder", "partial"};
    ls_game_manifest_t m;
    ls_planner_t *pl = NULL;
    ls_assignment_t a, got[8];
    uint8_t have[2] = {0xff, 0x00}; /* the partial peer holds chunks 0-7 */
    ls_planner_config_t cfg = {
        .is_rarest_first = true, .seed = 3, .initial_window = 16, .max_window = 16};
    make_manifest(&m, sizes, 1);
    assert_int_equal(ls_planner_new(&m, NULL, 0, ids, 2, NULL, &cfg, &pl), 0);
    assert_int_equal(ls_planner_set_have(pl, 1, have, 16), 0);
    /* the seeder delivers the 8 chunks only it holds */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ls_planner_next(pl, 0, 0, &got[i]), 0);
        assert_true(got[i].chunk_id >= 8);
    }
    assert_int_equal(ls_planner_next(pl, 0, 0, &a), LS_EAGAIN);
    for (int i = 0; i < 8; i++)
        assert_int_equal(
            ls_planner_done(pl, &got[i], got[i].length, 100 + 10 * (uint64_t)i, true, NULL), 0);
    /* the partial peer takes one chunk; seven were never asked for */
    assert_int_equal(ls_planner_next(pl, 1, 200, &a), 0);
    assert_int_equal(ls_planner_next(pl, 0, 200, &a), LS_EAGAIN);
    /* it takes the rest: the idle seeder may now duplicate one */
    for (int i = 0; i < 7; i++)
        assert_int_equal(ls_planner_next(pl, 1, 200, &a), 0);
    assert_int_equal(ls_planner_next(pl, 0, 200, &a), 0);
    assert_true(a.chunk_id < 8);
    ls_planner_free(pl);
    ls_manifest_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adaptive_plan_is_near_ideal_and_beats_round_robin),
        cmocka_unit_test(busy_backoff_follows_the_chunk_size),
        cmocka_unit_test(given_leaves_the_peer_askable_for_other_chunks),
        cmocka_unit_test(given_chunk_stays_off_that_peer_for_the_hold),
        cmocka_unit_test(busy_peer_is_asked_nothing_for_the_backoff),
        cmocka_unit_test(lost_partial_peer_is_back_on_its_next_have),
        cmocka_unit_test(vanished_peer_chunks_are_redone_by_the_others),
        cmocka_unit_test(corrupting_peer_is_dropped_after_two_bad_chunks),
        cmocka_unit_test(flaky_streams_are_retried_and_the_download_completes),
        cmocka_unit_test(endgame_duplicate_wins_and_the_loser_is_cancelled),
        cmocka_unit_test(chunk_bad_on_every_seeder_fails_with_a_reason_naming_it),
        cmocka_unit_test(losing_every_peer_fails_the_download),
        cmocka_unit_test(bad_chunk_goes_to_another_peer_when_one_is_available),
        cmocka_unit_test(cancelled_duplicate_answer_is_stale),
        cmocka_unit_test(endgame_duplicate_waits_while_our_link_is_full),
        cmocka_unit_test(per_peer_rate_is_bytes_over_the_sample_window),
        cmocka_unit_test(resumed_chunks_are_not_planned),
        cmocka_unit_test(batching_peer_window_counts_bytes_up_to_its_request_cap),
        cmocka_unit_test(selected_files_only_are_planned),
        cmocka_unit_test(window_grows_with_a_fast_peer_and_stays_small_for_a_slow_one),
        cmocka_unit_test(window_covers_a_long_round_trip),
        cmocka_unit_test(failures_halve_the_window_and_good_chunks_regrow_it),
        cmocka_unit_test(a_window_failing_at_once_is_one_failure),
        cmocka_unit_test(round_robin_mode_deals_chunks_like_the_seed),
        cmocka_unit_test(lost_peer_may_rejoin_but_a_dropped_one_may_not),
        cmocka_unit_test(a_peer_whose_connection_closes_again_and_again_stays),
        cmocka_unit_test(a_partial_peer_that_finished_joins_as_a_seeder),
        cmocka_unit_test(a_partial_peer_holding_every_chunk_is_promoted_to_seeder),
        cmocka_unit_test(progress_reports_bytes_and_rates),
        cmocka_unit_test(progress_rates_count_arriving_bytes_once),
        cmocka_unit_test(progress_is_due_at_most_four_times_a_second),
        cmocka_unit_test(rarest_first_feeds_the_swarm),
        cmocka_unit_test(busy_is_not_a_failure),
        cmocka_unit_test(requeued_chunk_goes_to_a_downloader_before_the_seeder),
        cmocka_unit_test(seeder_duplicates_only_in_the_endgame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
