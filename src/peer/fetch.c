/* Downloads driven by the runtime: manifests fetched from the seeders
 * (GetGame), then one job per game that feeds the planner's assignments to
 * chunk requests on the peers' links, verifies and writes each chunk on the
 * thread pool, and commits version.ini last (see download.h). */
#include "fetch.h"
#include "exchange.h"
#include "reply_rx.h"

#include "lanspread/download.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/planner.h"
#include "lanspread/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ls__download ls__download_t;

struct ls__fetcher {
    ls__fetcher_config_t config;
    char *state_dir; /* our copy */
    uv_loop_t *loop;
    ls_library_t *library;
    ls__download_t *downloads;
    bool is_shutting_down;
    bool is_swarm; /* rarest first, partial peers and partial serving */
    /* Wakes the downloads before the next periodic tick: a chunk verified
     * within ls_have_interval_ms of the last `have` is announced when the
     * interval ends (a round of chunks completes nearly at once, and a
     * chunk not announced is one nobody fetches from us), and a peer that
     * answered `busy` is asked again once its backoff is over
     * (ls_planner_busy_backoff_ms; no answer of ours may be due before
     * then). */
    uv_timer_t wake_timer;
    bool has_wake_timer; /* initialised (closed at shutdown) */
};

static bool is_busy(ls__fetcher_t *fr, const char *game_id);
static void ended(ls__fetcher_t *fr, const char *game_id, bool ok, bool has_local)
{
    if (fr->config.hooks.ended)
        fr->config.hooks.ended(game_id, ok, has_local, fr->config.hooks.userdata);
}

/* A join answered before the peer took us for ready is asked again this
 * much later (or at the periodic tick, whichever comes first). */
#define JOIN_RETRY_MS 100
/* A download whose every serving peer is gone waits this long for one to
 * come back (a restart, or a link replaced by a new connection: all of a
 * peer's links can drop at once) before it fails with LS_ENOPEERS; the
 * seeders the PeerGameDB lists are asked to join every PEERLESS_REJOIN_MS
 * meanwhile. Its verified chunks stay on disk either way. */
#define LS_DL_PEERLESS_GRACE_MS 10000
#define PEERLESS_REJOIN_MS 1000
/* Seeders with no ready link (relayed peers, issue #17) are dialled on
 * demand, at most this many per query pass; a download none of whose
 * seeders is linked waits this long for a dialled one's link before it
 * fails with LS_ENOPEERS. */
#define ONDEMAND_DIALS_MAX 4
#define ONDEMAND_WAIT_MS 10000
/* Peers asked at once for their file list to join a running download. */
#define LS_JOINING_MAX 16
#define RESUME_SAVE_MS 2000
#define PUMP_BATCH_MAX 64
/* Manifest queries asked again on a peer's replacement link, per download. */
#define REQUERY_MAX 8
/* Chunks this small go into get_game_file_batch requests to peers that
 * take them (LS_FEATURE_BATCH): a folder of small files costs one request
 * per LS_BATCH_BYTES_MAX instead of one per file. */
#define BATCH_CHUNK_MAX (LS_BATCH_BYTES_MAX / 4)
/* Requests in flight to a batching peer (its window then counts bytes, see
 * ls_planner_set_requests_max): a few batches' worth. */
#define BATCH_REQUESTS_MAX (4 * LS_BATCH_RANGES_MAX)

/* One request on the wire: one chunk, or a batch of small ones (as[0..count),
 * answered back to back in that order). */
typedef struct ls__request {
    struct ls__request *next;
    ls__download_t *dl;
    ls_assignment_t one;
    ls_assignment_t *as; /* &one, or the batch's own array */
    size_t count;
    int *results; /* per assignment, filled by the store job */
    int one_result;
    ls__exchange_t *exchange; /* NULL once its callback ran */
    uint64_t sent_ms;
} ls__request_t;

/* One download's lifecycle: QUERYING (file lists from the seeders) ->
 * PREPARING (resume check and pre-sizing on the pool) -> FETCHING (chunks)
 * -> COMMITTING (version.ini last, on the pool) -> freed; any failure or a
 * cancel goes through ENDING (requests canceled, jobs awaited, abort). A
 * download that finished while a join query was still out is DONE: off
 * the list, freed by the last query's callback, which holds it. */
typedef enum {
    DL_QUERYING,
    DL_PREPARING,
    DL_FETCHING,
    DL_COMMITTING,
    DL_ENDING,
    DL_DONE
} ls_dl_state_t;

struct ls__download {
    struct ls__download *next;
    ls__fetcher_t *fr;
    char game_id[LS_GAME_ID_MAX + 1];
    char *game_root;
    ls_game_manifest_t manifest;
    size_t *selected;
    size_t selected_count;
    char **peer_ids;
    size_t peer_count;
    bool use_resume;
    ls_planner_t *planner;
    ls_dl_tx_t *tx;
    ls_resume_t resume;
    ls__request_t *fetches;
    int pending_jobs;
    ls_dl_state_t state;
    size_t queries_outstanding; /* GET_GAME requests not answered yet */
    size_t requeries;           /* of them asked again on a replacement link */
    uint64_t dial_wait_ms; /* querying: waits for seeders dialled on demand until then (0: not) */
    char *joining[LS_JOINING_MAX]; /* peers asked for their file list mid-download */
    size_t *by_path; /* selected regular files, sorted by path: partial serving looks up */
    size_t by_path_count;
    size_t *chunk_base;   /* per manifest file: its first chunk id */
    uint64_t rejoin_ms;   /* a join was answered too early: ask again from then (0: none) */
    uint64_t peerless_ms; /* when the last serving peer went (0: one serves) */
    bool is_have_dirty;   /* verified chunks the swarm was not told of yet */
    bool has_announced;   /* a `have` went out: a `gone` one follows the end */
    uint64_t last_have_ms;
    /* Timeline for the debug summary at the end (log_timeline): when the
     * command came, when chunks were first asked for, when the first was
     * verified, when no chunk was left unsent (the endgame began). */
    uint64_t start_ms, listed_ms, fetching_ms, first_chunk_ms, endgame_ms;
    size_t joining_count;
    char **wanted; /* the command's file selection (NULL: every file) */
    size_t wanted_count;
    int end_code;
    char end_reason[LS_PLANNER_REASON_MAX];
    uint64_t last_resume_save_ms;
    bool install_after; /* commit job: local/ existed, so update */
    bool has_local_dir;
    ls_library_adoption_t *adoption; /* commit job: the committed game for the library */
    /* Set when the effective catalog lacks the game: this entry goes into
     * the game directory's catalog before any file is written, so the game
     * is listed once downloaded (and after a restart). */
    ls_catalog_entry_t *catalog_entry;
    char *catalog_path;
    char prepare_error[LS_PLANNER_REASON_MAX]; /* prepare_work's reason, when it has one */
};

/* ---- manifests ---- */

static void emit_dl_failure(ls__fetcher_t *fr, const char *game_id, const char *reason)
{
    ls_peer_event_t event = {.kind = LS_EVENT_DOWNLOAD_FAILED,
                             .u.download_failed = {.game_id = game_id, .reason = reason}};
    ls__emit(fr->config.events, &event);
}

/* The game as the peer announces it in its snapshot; NULL when it does not. */
static const ls_game_summary_t *announced_game(ls__fetcher_t *fr, const char *peer_id,
                                               const char *game_id)
{
    const ls_peer_t *peer = ls_peerdb_find(fr->config.peerdb, peer_id);
    for (size_t g = 0; peer && g < peer->library.game_count; g++)
        if (strcmp(peer->library.games[g].id, game_id) == 0)
            return &peer->library.games[g];
    return NULL;
}

/* Bytes and regular files a manifest lists: what a download of all of it
 * writes, counted as a snapshot counts a game (ls_game_summary_t). */
static void manifest_totals(const ls_game_manifest_t *m, uint64_t *bytes, uint64_t *files)
{
    *bytes = 0;
    *files = 0;
    for (size_t i = 0; i < m->file_count; i++) {
        if (m->files[i].is_dir)
            continue;
        *bytes = m->files[i].size > UINT64_MAX - *bytes ? UINT64_MAX : *bytes + m->files[i].size;
        *files += 1;
    }
}

/* A seeder's manifest may list no more than the peer announced for the
 * game (its size and file count are what the user was shown and chose to
 * download), and its version.ini stays within the limit the scan applies.
 * Otherwise false, with why in `why`. */
static bool is_as_announced(ls__fetcher_t *fr, const char *peer_id, const ls_game_manifest_t *m,
                            char *why, size_t why_len)
{
    const ls_game_summary_t *game = announced_game(fr, peer_id, m->game_id);
    char listed[32], announced[32];
    uint64_t bytes, files;
    manifest_totals(m, &bytes, &files);
    if (!game || bytes > game->size || files > game->file_count) {
        snprintf(why, why_len,
                 "refused the file list of peer %.12s: it lists %s in %llu files, but the peer "
                 "announced %s in %llu files",
                 peer_id, ls_format_size(bytes, listed, sizeof listed), (unsigned long long)files,
                 ls_format_size(game ? game->size : 0, announced, sizeof announced),
                 (unsigned long long)(game ? game->file_count : 0));
        return false;
    }
    for (size_t i = 0; i < m->file_count; i++)
        if (!m->files[i].is_dir && strcmp(m->files[i].path, LS_VERSION_FILE) == 0 &&
            m->files[i].size > LS_VERSION_FILE_MAX) {
            snprintf(why, why_len,
                     "refused the file list of peer %.12s: its %s has %llu bytes, more than %u",
                     peer_id, LS_VERSION_FILE, (unsigned long long)m->files[i].size,
                     (unsigned)LS_VERSION_FILE_MAX);
            return false;
        }
    return true;
}

/* One seeder's manifest in the vote. */
typedef struct {
    const ls_game_manifest_t *manifest;
    uint8_t id[LS_SHA256_LEN]; /* ls_resume_manifest_id */
    uint64_t bytes;
    size_t seeder; /* index into the seeder list, to keep its order */
} ls__vote_t;

static int compare_votes(const void *a, const void *b)
{
    const ls__vote_t *x = a, *y = b;
    int c = memcmp(x->id, y->id, LS_SHA256_LEN);
    return c ? c : (x->seeder > y->seeder) - (x->seeder < y->seeder);
}

/* The run of equal manifests that wins: the most seeders; on a tie the
 * fewer bytes (a manifest inflated to fill the disk loses), then the lower
 * id, so every downloader decides the same. votes are sorted by id. */
static size_t winning_run(const ls__vote_t *votes, size_t n, size_t *run_len)
{
    size_t best = 0, best_len = 0;
    for (size_t i = 0, len; i < n; i += len) {
        for (len = 1; i + len < n && memcmp(votes[i].id, votes[i + len].id, LS_SHA256_LEN) == 0;
             len++)
            ;
        if (len > best_len || (len == best_len && votes[i].bytes < votes[best].bytes)) {
            best = i;
            best_len = len;
        }
    }
    *run_len = best_len;
    return best;
}

/* The manifest most seeders of the latest version agree on (see
 * winning_run), among those within what each seeder announced; *peers gets
 * the seeders that serve it, in peerdb order. The others are logged and
 * not used. NULL when no seeder's manifest is usable; `why` then says why. */
static const ls_game_manifest_t *pick_manifest(ls__fetcher_t *fr, const char *game_id,
                                               const char ***peers, size_t *count, char *why,
                                               size_t why_len)
{
    const char **seeders = NULL;
    ls__vote_t *votes = NULL;
    size_t n = 0, voted = 0, run_len = 0;
    const ls_game_manifest_t *chosen = NULL;
    uint64_t files;
    *peers = NULL;
    *count = 0;
    snprintf(why, why_len, "no peer answered with the game's files");
    if (ls_peerdb_seeders(fr->config.peerdb, game_id, &seeders, &n) != 0 ||
        !(votes = calloc(n + 1, sizeof *votes)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const ls_game_manifest_t *m = ls_peerdb_manifest(fr->config.peerdb, seeders[i], game_id);
        char refusal[LS_PLANNER_REASON_MAX];
        if (!m)
            continue;
        if (!is_as_announced(fr, seeders[i], m, refusal, sizeof refusal)) {
            ls_warn("download", "%s: %s", game_id, refusal);
            snprintf(why, why_len, "%s", refusal);
            continue;
        }
        votes[voted] = (ls__vote_t){.manifest = m, .seeder = i};
        ls_resume_manifest_id(m, votes[voted].id);
        manifest_totals(m, &votes[voted].bytes, &files);
        voted++;
    }
    if (voted == 0)
        goto out;
    qsort(votes, voted, sizeof *votes, compare_votes);
    size_t first = winning_run(votes, voted, &run_len);
    chosen = votes[first].manifest;
    for (size_t i = 0; i < voted; i++)
        if (i < first || i >= first + run_len)
            ls_warn("download",
                    "%s: %.12s serves other files for the same version than %zu of %zu seeders; "
                    "not used",
                    game_id, seeders[votes[i].seeder], run_len, voted);
    /* A run is in seeder order (compare_votes), and votes[first + k].seeder
     * >= k: compacting in place reads only slots not yet written. */
    for (size_t k = 0; k < run_len; k++)
        seeders[k] = seeders[votes[first + k].seeder];
    *peers = seeders;
    *count = run_len;
    seeders = NULL;
out:
    free(votes);
    free(seeders);
    return chosen;
}

/* ---- the download job ---- */

static void pump(ls__download_t *dl);
static void end_download(ls__download_t *dl, int code, const char *reason);
static void send_have(ls__download_t *dl, bool is_gone);
static void send_have_end(ls__download_t *dl);
static void maybe_send_have(ls__download_t *dl);
static void wake_in(ls__fetcher_t *fr, uint64_t delay_ms);
static void wake_after_backoff(ls__download_t *dl);
static void use_known_partials(ls__download_t *dl);

static ls__download_t *find_download(ls__fetcher_t *fr, const char *game_id)
{
    for (ls__download_t *d = fr->downloads; d; d = d->next)
        if (strcmp(d->game_id, game_id) == 0)
            return d;
    return NULL;
}

bool ls__fetcher_is_active(ls__fetcher_t *fr, const char *game_id)
{
    return find_download(fr, game_id) != NULL;
}

static void download_unlink(ls__download_t *dl)
{
    for (ls__download_t **p = &dl->fr->downloads; *p; p = &(*p)->next)
        if (*p == dl) {
            *p = dl->next;
            break;
        }
    if (!dl->fr->downloads)
        ls__reply_body_keep(false); /* the last one: keep no chunk bodies idle */
}

static void download_free(ls__download_t *dl)
{
    if (dl->state != DL_DONE) /* DONE: unlinked already, the fetcher may be gone */
        download_unlink(dl);
    ls_planner_free(dl->planner);
    ls_library_adoption_free(dl->adoption);
    ls_dl_tx_free(dl->tx);
    ls_resume_free(&dl->resume);
    ls_manifest_free(&dl->manifest);
    for (size_t i = 0; i < dl->peer_count; i++)
        free(dl->peer_ids[i]);
    free(dl->peer_ids);
    for (size_t i = 0; i < dl->wanted_count; i++)
        free(dl->wanted[i]);
    for (size_t i = 0; i < dl->joining_count; i++)
        free(dl->joining[i]);
    free(dl->by_path);
    free(dl->chunk_base);
    free(dl->wanted);
    free(dl->selected);
    free(dl->game_root);
    ls_catalog_entry_free(dl->catalog_entry);
    free(dl->catalog_entry);
    free(dl->catalog_path);
    free(dl);
}

/* A job owned by a download: the job holds the download alive. Chunk
 * verify+write, resume saves and the abort are short (latency lane); the
 * prepare re-reads resumed chunks, the reservation allocates every file's
 * blocks and the commit fsyncs every file (bulk). */
typedef struct {
    uv_work_t req;
    ls__download_t *dl;
    int status;
    ls__request_t *fetch; /* store jobs */
    uint8_t *data;
    size_t len;
    uint8_t *resume_blob;
    size_t resume_len;
} ls_dl_job_t;

static int queue_job(ls__download_t *dl, ls_dl_job_t *job, ls_workq_class_t lane, uv_work_cb work,
                     uv_after_work_cb done)
{
    job->dl = dl;
    job->req.data = job;
    dl->pending_jobs++;
    if (ls_workq_queue(dl->fr->loop, &job->req, lane, work, done) != 0) {
        dl->pending_jobs--;
        return LS_EIO;
    }
    return 0;
}

/* ---- emitting ---- */

static uint64_t request_bytes(const ls__request_t *fetch)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < fetch->count; i++)
        bytes += fetch->as[i].length;
    return bytes;
}

/* ls_planner_progress, with the bytes of the requests on the wire that
 * arrived and are not yet done: a request still receiving, or one whose
 * store job (verify and write) is under way. One pass over the requests
 * (the windows' sum). */
static void plan_progress(ls__download_t *dl, uint64_t now, ls_plan_progress_t *p,
                          ls_plan_peer_stat_t *stats, size_t cap)
{
    for (const ls__request_t *f = dl->fetches; f; f = f->next)
        ls_planner_add_arriving(dl->planner, f->as[0].peer,
                                f->exchange ? ls__exchange_body_len(f->exchange)
                                            : request_bytes(f));
    ls_planner_progress(dl->planner, now, p, stats, cap);
}

static void emit_progress(ls__download_t *dl, uint64_t now)
{
    ls_plan_progress_t p;
    ls_plan_peer_stat_t stats[LS_PLANNER_PEERS_MAX];
    plan_progress(dl, now, &p, stats, LS_PLANNER_PEERS_MAX);
    ls_peer_ev_source_t peers[LS_PLANNER_PEERS_MAX];
    ls_peer_ev_download_progress_t progress = {.game_id = dl->game_id,
                                               .bytes_done = p.bytes_done,
                                               .bytes_total = p.bytes_total,
                                               .rate_bps = p.rate_bps,
                                               .peers = peers};
    for (size_t i = 0; i < p.peer_count && i < LS_PLANNER_PEERS_MAX; i++) {
        *(stats[i].is_partial ? &progress.from_downloaders : &progress.from_seeders) +=
            stats[i].bytes_done;
        peers[progress.peer_count++] = (ls_peer_ev_source_t){
            .peer_id = stats[i].peer_id,
            .bytes = stats[i].bytes_done,
            .rate_bps = stats[i].rate_bps,
            .is_active = stats[i].is_active,
            .is_partial = stats[i].is_partial,
            .window = (uint32_t)stats[i].window,
            .latency_ms = (uint32_t)stats[i].latency_ms,
        };
    }
    ls_peer_event_t event = {.kind = LS_EVENT_DOWNLOAD_PROGRESS, .u.download_progress = progress};
    ls__emit(dl->fr->config.events, &event);
}

/* ---- resume file: a snapshot encoded on the loop, written on the pool ---- */

static void save_resume_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls_resume_t parsed;
    /* The blob is the encoded record; parse it back to reuse the atomic save. */
    if (ls_resume_parse(job->resume_blob, job->resume_len, &parsed) == 0) {
        job->status = ls_resume_save(&parsed, job->dl->fr->state_dir);
        ls_resume_free(&parsed);
    }
}

static void job_done_common(ls_dl_job_t *job)
{
    ls__download_t *dl = job->dl;
    free(job->resume_blob);
    ls__reply_body_free(job->data, job->len);
    free(job);
    dl->pending_jobs--;
}

/* A side job (a resume save, the reservation) of a download ended: an
 * ending download finishes once its last job is in; a fetching one pumps,
 * since a game whose last chunk was stored while the job ran commits only
 * when no job is pending (without this, it waited at 100 % for a peer to
 * join or the runtime's tick). */
static void side_job_settled(ls__download_t *dl)
{
    if (dl->state == DL_ENDING)
        end_download(dl, dl->end_code, NULL);
    else
        pump(dl);
}

static void save_resume_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    job_done_common(job);
    side_job_settled(dl);
}

/* The record carries the byte counts a UI shows as "N% kept" while the
 * download is not running (GET /api/games reads them). Loop thread. */
static void note_resume_bytes(ls__download_t *dl)
{
    ls_plan_progress_t p;
    if (!dl->planner)
        return;
    plan_progress(dl, uv_now(dl->fr->loop), &p, NULL, 0);
    dl->resume.bytes_total = p.bytes_total;
    dl->resume.bytes_done = p.bytes_done;
}

static void save_resume(ls__download_t *dl)
{
    ls_dl_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return;
    note_resume_bytes(dl);
    if (ls_resume_encode(&dl->resume, &job->resume_blob, &job->resume_len) != 0 ||
        queue_job(dl, job, LS_WORKQ_LATENCY, save_resume_work, save_resume_done) != 0) {
        free(job->resume_blob);
        free(job);
    }
}

/* ---- chunks ---- */

/* Verifies and writes each chunk of the answer: results[i] is 0, LS_ECHUNK
 * (bad data: that chunk only) or a write error (which ends the download). */
static void store_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    ls__request_t *fetch = job->fetch;
    size_t at = 0;
    job->status = 0;
    for (size_t i = 0; i < fetch->count; i++) {
        const ls_assignment_t *a = &fetch->as[i];
        const uint8_t *data = job->data + at;
        int rc = ls_dl_chunk_verify(&dl->manifest, a->file_index, a->chunk_index, data, a->length);
        if (rc == 0)
            rc = ls_dl_tx_write_chunk(dl->tx, a->file_index, a->chunk_index, data, a->length);
        fetch->results[i] = rc;
        if (rc != 0 && rc != LS_ECHUNK && job->status == 0)
            job->status = rc;
        at += a->length;
    }
}

static void request_free(ls__request_t *fetch)
{
    if (fetch->as != &fetch->one)
        free(fetch->as);
    if (fetch->results != &fetch->one_result)
        free(fetch->results);
    free(fetch);
}

static void fetch_forget(ls__download_t *dl, ls__request_t *fetch)
{
    for (ls__request_t **p = &dl->fetches; *p; p = &(*p)->next)
        if (*p == fetch) {
            *p = fetch->next;
            break;
        }
    request_free(fetch);
}

/* Every chunk of a request failed without data. */
static void fail_request(ls__download_t *dl, ls__request_t *fetch, int reason)
{
    for (size_t i = 0; i < fetch->count; i++)
        ls_planner_failed(dl->planner, &fetch->as[i], reason);
}

/* An endgame duplicate lost the race. A batch is not cancelled for one of
 * its chunks: the planner drops that chunk's late answer (LS_ESTATE). */
static void cancel_ticket(ls__download_t *dl, uint64_t ticket)
{
    for (ls__request_t *f = dl->fetches; f; f = f->next)
        if (f->count == 1 && f->as[0].ticket == ticket && f->exchange) {
            ls__exchange_t *ex = f->exchange;
            f->exchange = NULL;
            ls__exchange_cancel(ex); /* its callback frees f */
            return;
        }
}

/* One chunk of an answer, verified (or not) and written. */
static void chunk_stored(ls__download_t *dl, const ls_assignment_t *a, int result, uint64_t now)
{
    bool is_verified = result == 0;
    ls_plan_outcome_t outcome = {0};
    if (result == LS_ECHUNK)
        ls_warn("download", "%s: chunk %zu from %.12s does not match its hash", dl->game_id,
                a->chunk_id, ls_planner_peer_id(dl->planner, a->peer));
    if (ls_planner_done(dl->planner, a, a->length, now, is_verified, &outcome) != 0)
        return;
    if (outcome.counted) {
        if (!dl->first_chunk_ms)
            dl->first_chunk_ms = now;
        ls_resume_mark(&dl->resume, a->chunk_id);
        dl->is_have_dirty = true;
    }
    if (outcome.has_cancel)
        cancel_ticket(dl, outcome.cancel.ticket);
    if (outcome.peer_dropped)
        ls_warn("download", "%s: %.12s dropped: it sent bad data twice", dl->game_id,
                ls_planner_peer_id(dl->planner, a->peer));
}

static void store_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    ls__request_t *fetch = job->fetch;
    int write_error = job->status;
    uint64_t now = uv_now(dl->fr->loop);

    job->fetch = NULL;
    job_done_common(job);
    if (dl->state != DL_FETCHING) {
        /* Written and verified while the download ends: the abort keeps
         * it on disk, so the resume record must know it too. */
        for (size_t i = 0; i < fetch->count; i++)
            if (fetch->results[i] == 0)
                ls_resume_mark(&dl->resume, fetch->as[i].chunk_id);
        fetch_forget(dl, fetch);
        end_download(dl, dl->end_code, NULL);
        return;
    }
    if (write_error) {
        fetch_forget(dl, fetch);
        end_download(dl, write_error, ls_strerror(write_error));
        return;
    }
    for (size_t i = 0; i < fetch->count; i++)
        chunk_stored(dl, &fetch->as[i], fetch->results[i], now);
    fetch_forget(dl, fetch);
    if (ls_planner_progress_due(dl->planner, now))
        emit_progress(dl, now);
    if (now - dl->last_resume_save_ms >= RESUME_SAVE_MS) {
        dl->last_resume_save_ms = now;
        save_resume(dl);
    }
    maybe_send_have(dl);
    pump(dl);
    if (!dl->endgame_ms && dl->state == DL_FETCHING && ls_planner_unsent(dl->planner) == 0)
        dl->endgame_ms = now;
}

/* Whether a request ended with the peer's error frame of this code. */
static bool is_wire_error(int status, const ls_msg_t *reply, ls_wire_error_t code)
{
    return status == LS_EREMOTE && reply && reply->kind == LS_MSG_ERROR &&
           reply->u.error.code == code;
}

static void fetch_cb(ls_link_t *link, int status, const ls_msg_t *reply, uint8_t *body, size_t len,
                     void *userdata)
{
    ls__request_t *fetch = userdata;
    ls__download_t *dl = fetch->dl;
    fetch->exchange = NULL;
    if (status == 0 && dl->state == DL_FETCHING && fetch->count > 1 &&
        len != request_bytes(fetch)) {
        /* A batch answer of another length than asked: bad data for each
         * chunk (a single chunk's wrong length fails its hash check). */
        for (size_t i = 0; i < fetch->count; i++)
            chunk_stored(dl, &fetch->as[i], LS_ECHUNK, uv_now(dl->fr->loop));
        ls__reply_body_free(body, len);
        fetch_forget(dl, fetch);
        pump(dl);
        return;
    }
    if (status == 0 && dl->state == DL_FETCHING) {
        ls_dl_job_t *job = calloc(1, sizeof *job);
        if (job) {
            job->fetch = fetch;
            job->data = body;
            job->len = len;
            if (queue_job(dl, job, LS_WORKQ_LATENCY, store_work, store_done) == 0)
                return;
            free(job);
        }
        status = LS_ENOMEM;
    }
    ls__reply_body_free(body, len);
    /* `busy`: the peer is at its upload limit (or, from a peer that does
     * not send `given`, sends this chunk to another downloader right now)
     * — ask elsewhere, no failure. */
    if (is_wire_error(status, reply, LS_WIRE_BUSY))
        status = LS_EBUSY;
    /* `unauthorized` ("hello first") soon after the link became ready: the
     * peer has not taken our side of the handshake on this connection yet,
     * its streams having raced the request's (N=12 fan-outs: 12-26 a run,
     * all from partial copies) — ask elsewhere for a backoff, no failure.
     * Past the peer's hello deadline it would have closed the connection,
     * so a peer still saying it then counts tries as any refusal does. */
    if (is_wire_error(status, reply, LS_WIRE_UNAUTHORIZED) &&
        ls__links_now(link->links) - link->ready_ms < LS_HELLO_DEADLINE_MS)
        status = LS_EBUSY;
    /* `given`: that chunk is on its way to another swarm peer; this peer
     * takes requests for others (ls_planner_given). */
    if (is_wire_error(status, reply, LS_WIRE_GIVEN) && dl->state == DL_FETCHING) {
        for (size_t i = 0; i < fetch->count; i++)
            ls_planner_given(dl->planner, &fetch->as[i]);
        wake_after_backoff(dl);
        fetch_forget(dl, fetch);
        pump(dl);
        return;
    }
    if (status == LS_EBUSY && dl->state == DL_FETCHING)
        wake_after_backoff(dl);
    /* The connection closed under it (a peer's restart: its new connection
     * replaced this one, and no peer-lost comes; or the peer or an idle
     * timeout closed it, which tears it down before the link hears of
     * it): the peer's serving did not fail, the planner counts nothing
     * against it. */
    if (status != 0 && status != LS_ECANCELED &&
        (link->is_closing || !ls_net_conn_is_open(link->conn)))
        status = LS_EPEER_GONE;
    if (dl->state == DL_FETCHING && status != LS_ECANCELED)
        fail_request(dl, fetch, status);
    fetch_forget(dl, fetch);
    if (dl->state == DL_FETCHING)
        pump(dl);
    else
        end_download(dl, dl->end_code, NULL);
}

/* Sends one request for as[0..count): a get_game_file_chunk for one
 * chunk, a get_game_file_batch for several. On failure nothing is kept
 * and the caller fails the chunks. */
static int send_request(ls__download_t *dl, ls_link_t *link, const ls_assignment_t *as,
                        size_t count)
{
    ls__request_t *fetch = calloc(1, sizeof *fetch);
    ls_file_range_t ranges[LS_BATCH_RANGES_MAX];
    ls_msg_t req = {.kind = LS_MSG_GET_FILE_CHUNK};
    int rc = LS_ENOMEM;
    if (!fetch)
        return LS_ENOMEM;
    fetch->dl = dl;
    fetch->count = count;
    fetch->as = &fetch->one;
    fetch->results = &fetch->one_result;
    if (count > 1) {
        fetch->as = malloc(count * sizeof *fetch->as);
        fetch->results = malloc(count * sizeof *fetch->results);
        if (!fetch->as || !fetch->results)
            goto out;
    }
    memcpy(fetch->as, as, count * sizeof *as);
    fetch->sent_ms = uv_now(dl->fr->loop);
    if (count == 1) {
        req.u.file_request.game_id = dl->game_id;
        req.u.file_request.path = dl->manifest.files[as[0].file_index].path;
        req.u.file_request.offset = as[0].offset;
        req.u.file_request.length = as[0].length;
    } else {
        req.kind = LS_MSG_GET_FILE_BATCH;
        for (size_t i = 0; i < count; i++)
            ranges[i] = (ls_file_range_t){.path = dl->manifest.files[as[i].file_index].path,
                                          .offset = as[i].offset,
                                          .length = as[i].length};
        req.u.batch_request.game_id = dl->game_id;
        req.u.batch_request.ranges = ranges;
        req.u.batch_request.range_count = count;
    }
    rc = ls__exchange_fetch(link, &req, count == 1 ? dl->manifest.chunk_size : LS_BATCH_BYTES_MAX,
                            fetch_cb, fetch, &fetch->exchange);
out:
    if (rc != 0) {
        fetch->next = NULL;
        request_free(fetch);
        return rc;
    }
    fetch->next = dl->fetches;
    dl->fetches = fetch;
    return 0;
}

/* What a request that could not be sent tells the planner. Neither the
 * chunk nor the peer's serving failed when the connection is going (its
 * peer-lost follows: requeued, nothing counted) or every stream the peer
 * allows is in use now (asked less of it for a backoff, like `busy`);
 * counted as tries, these failed whole downloads in N=12 fan-outs. */
static int unsent_reason(int rc)
{
    if (rc == LS_ESTATE)
        return LS_EPEER_GONE;
    if (rc == LS_ELIMIT)
        return LS_EBUSY;
    return rc;
}

/* A request not sent: the planner told why, and a busy backoff gets its
 * wake-up. */
static void unsent(ls__download_t *dl, const ls_assignment_t *a, int rc)
{
    int reason = unsent_reason(rc);
    ls_planner_failed(dl->planner, a, reason);
    if (reason == LS_EBUSY)
        wake_after_backoff(dl);
}

/* Small chunks for one batching peer, gathered while the planner hands
 * them out and sent as one batch when full or at the end of the pump. */
typedef struct {
    ls_assignment_t as[LS_BATCH_RANGES_MAX];
    size_t count;
    uint64_t bytes;
} ls__batch_t;

static void batch_flush(ls__download_t *dl, ls_link_t *link, ls__batch_t *b)
{
    int rc = b->count ? send_request(dl, link, b->as, b->count) : 0;
    for (size_t i = 0; rc != 0 && i < b->count; i++)
        unsent(dl, &b->as[i], rc);
    b->count = 0;
    b->bytes = 0;
}

/* Requests for one peer while the planner has chunks for it. */
static void pump_peer(ls__download_t *dl, uint32_t slot, ls_link_t *link, uint64_t now)
{
    static ls__batch_t batch; /* loop thread only; empty between calls */
    bool is_batching = link->takes_batch && !ls_planner_peer_is_partial(dl->planner, slot);
    int limit = is_batching ? BATCH_REQUESTS_MAX : PUMP_BATCH_MAX;
    ls_assignment_t a;
    ls_planner_set_requests_max(dl->planner, slot, is_batching ? BATCH_REQUESTS_MAX : 0);
    ls__shaper_t *shaper = dl->fr->config.shaper;
    for (int i = 0; i < limit && (!shaper || ls__shaper_download_admits(shaper)) &&
                    ls_planner_next(dl->planner, slot, now, &a) == 0;
         i++) {
        if (shaper)
            ls__shaper_download_charge(shaper, a.length);
        if (!is_batching || a.length > BATCH_CHUNK_MAX) {
            int rc = send_request(dl, link, &a, 1);
            if (rc != 0) {
                unsent(dl, &a, rc);
                break;
            }
            continue;
        }
        if (batch.count == LS_BATCH_RANGES_MAX || batch.bytes + a.length > LS_BATCH_BYTES_MAX)
            batch_flush(dl, link, &batch);
        batch.as[batch.count++] = a;
        batch.bytes += a.length;
    }
    batch_flush(dl, link, &batch);
}

static void commit_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    if (dl->fr->config.commit_hook)
        dl->fr->config.commit_hook(dl->game_id, dl->fr->config.commit_arg);
    job->status = ls_dl_tx_commit(dl->tx);
    if (job->status == 0) {
        ls_resume_remove(dl->fr->state_dir, dl->game_id);
        char *local = ls_path_join(dl->game_root, LS_INSTALL_DIR);
        dl->has_local_dir = local && ls_fs_is_dir(local) == 1;
        free(local);
        /* The library learns the game from the verified manifest: no
         * rehash, and no moment where it looks not downloaded. */
        int rc = ls_library_adoption_prepare(dl->fr->library, &dl->manifest, dl->selected,
                                             dl->selected_count, &dl->adoption);
        if (rc != 0)
            ls_warn("download", "%s: committed, but the library will rescan it: %s", dl->game_id,
                    ls_strerror(rc));
    }
}

static void commit_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    int rc = status != 0 ? LS_ECANCELED : job->status;
    job_done_common(job);
    if (rc != 0) {
        end_download(dl, rc, ls_strerror(rc));
        return;
    }
    ls__fetcher_t *fr = dl->fr;
    char game_id[LS_GAME_ID_MAX + 1];
    bool has_local = dl->has_local_dir;
    snprintf(game_id, sizeof game_id, "%s", dl->game_id);
    ls_info("download", "%s: complete", game_id);
    emit_progress(dl, uv_now(fr->loop));
    bool is_published = false, has_adoption = dl->adoption != NULL;
    if (has_adoption) {
        /* Published (and announced) before download-finished, so no reader
         * ever sees the game finished but not downloaded. */
        rc = ls_library_adopt(fr->library, dl->adoption);
        dl->adoption = NULL;
        /* served now: not while a scan holds the adoption back, nor while
         * a file outside the selection waits for hashing */
        is_published = rc >= 0 && ls_library_serves(fr->library, game_id, dl->manifest.version);
        if (rc < 0)
            ls_warn("download", "%s: not published at once: %s", game_id, ls_strerror(rc));
    }
    /* Published: the library serves every chunk from now on. The swarm hears
     * so in this `have` (every chunk), at once: a `gone` here left the
     * others without us until our library's delta reached them and their
     * get_game came back (ls_planner_promote_seeder makes us complete there
     * when the delta comes). Not published: our copy is not served until
     * the rescan finds it, so the partial copy is withdrawn. */
    if (is_published)
        send_have_end(dl);
    else if (dl->has_announced)
        send_have(dl, true);
    if (has_adoption && fr->config.hooks.published)
        fr->config.hooks.published(fr->config.hooks.userdata);
    ls_peer_event_t event = {.kind = LS_EVENT_DOWNLOAD_FINISHED,
                             .u.download_finished = {game_id, dl->manifest.version}};
    ls__emit(fr->config.events, &event);
    if (dl->queries_outstanding > 0) {
        /* a join query's callback holds dl (freed under it, the callback
         * read freed memory when the query's link closed: a daemon died so
         * in tests/netns/chaos.sh, seed 61; ASan, seed 70) */
        download_unlink(dl);
        dl->state = DL_DONE;
    } else {
        download_free(dl);
    }
    ended(fr, game_id, true, has_local);
}

/* Debug log, once per finished download: where its time went (start-up,
 * first chunk, endgame) and what each peer gave, asked and refused (the
 * fan-out benchmark's trace reads these lines). */
static void log_timeline(ls__download_t *dl)
{
    ls_plan_peer_stat_t st[LS_PLANNER_PEERS_MAX];
    ls_plan_progress_t pr;
    uint64_t now = uv_now(dl->fr->loop), t0 = dl->start_ms;
    plan_progress(dl, now, &pr, st, LS_PLANNER_PEERS_MAX);
    ls_debug("download",
             "%s timeline: file list +%llu ms, fetching +%llu ms, first chunk +%llu ms, "
             "endgame +%llu ms, done +%llu ms",
             dl->game_id, (unsigned long long)(dl->listed_ms - t0),
             (unsigned long long)(dl->fetching_ms - t0),
             (unsigned long long)(dl->first_chunk_ms ? dl->first_chunk_ms - t0 : 0),
             (unsigned long long)(dl->endgame_ms ? dl->endgame_ms - t0 : 0),
             (unsigned long long)(now - t0));
    for (uint32_t i = 0; i < pr.peer_count && i < LS_PLANNER_PEERS_MAX; i++)
        ls_debug("download",
                 "%s timeline: peer %.12s%s: %llu KiB, %u requests, %u busy, window %u, "
                 "latency %u ms",
                 dl->game_id, st[i].peer_id, st[i].is_partial ? " (partial)" : "",
                 (unsigned long long)(st[i].bytes_done / 1024), st[i].requests, st[i].busy_answers,
                 st[i].window, st[i].latency_ms);
}

static void start_commit(ls__download_t *dl)
{
    ls_dl_job_t *job = calloc(1, sizeof *job);
    log_timeline(dl);
    dl->state = DL_COMMITTING;
    if (!job || queue_job(dl, job, LS_WORKQ_BULK, commit_work, commit_done) != 0) {
        free(job);
        end_download(dl, LS_ENOMEM, ls_strerror(LS_ENOMEM));
    }
}

static void join_seeders(ls__download_t *dl);

/* No peer serves the download: ask the known seeders to join until one
 * does, and give up after LS_DL_PEERLESS_GRACE_MS. */
static void wait_for_peers(ls__download_t *dl, uint64_t now)
{
    if (ls_planner_has_active_peer(dl->planner)) {
        dl->peerless_ms = 0;
        return;
    }
    if (dl->peerless_ms == 0) {
        dl->peerless_ms = now;
        ls_info("download", "%s: every serving peer is gone; waiting up to %d s for one",
                dl->game_id, LS_DL_PEERLESS_GRACE_MS / 1000);
    }
    if (now - dl->peerless_ms >= LS_DL_PEERLESS_GRACE_MS) {
        end_download(dl, LS_ENOPEERS, "every serving peer was lost or dropped");
        return;
    }
    if (!dl->rejoin_ms)
        dl->rejoin_ms = now + PEERLESS_REJOIN_MS;
    wake_in(dl->fr, dl->rejoin_ms > now ? dl->rejoin_ms - now : 0);
}

static void pump(ls__download_t *dl)
{
    uint64_t now = uv_now(dl->fr->loop);
    int code;
    const char *reason;
    if (dl->state != DL_FETCHING)
        return;
    if (dl->rejoin_ms && now >= dl->rejoin_ms) {
        dl->rejoin_ms = 0;
        join_seeders(dl);
    }
    const char *peer_id;
    for (uint32_t slot = 0; (peer_id = ls_planner_peer_id(dl->planner, slot)) != NULL; slot++) {
        ls_link_t *link = ls__links_find_ready(dl->fr->config.links, peer_id);
        if (link)
            pump_peer(dl, slot, link, now);
    }
    if (ls_planner_has_failed(dl->planner, &code, &reason)) {
        end_download(dl, code, reason);
        return;
    }
    if (ls_planner_is_finished(dl->planner) && !dl->fetches && dl->pending_jobs == 0) {
        start_commit(dl);
        return;
    }
    wait_for_peers(dl, now);
}

/* ---- ending: cancel every request, wait for pool jobs, sweep ---- */

static void abort_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    if (dl->tx)
        job->status = ls_dl_tx_abort(dl->tx);
    if (ls_resume_count(&dl->resume) > 0)
        ls_resume_save(&dl->resume, dl->fr->state_dir);
}

static void abort_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    ls__fetcher_t *fr = dl->fr;
    char game_id[LS_GAME_ID_MAX + 1];
    job_done_common(job);
    snprintf(game_id, sizeof game_id, "%s", dl->game_id);
    ls_warn("download", "%s: %s (%zu verified chunks kept for resume)", game_id, dl->end_reason,
            ls_resume_count(&dl->resume));
    ls_peer_event_t event = {.kind = LS_EVENT_DOWNLOAD_FAILED,
                             .u.download_failed = {.game_id = game_id,
                                                   .reason = dl->end_reason,
                                                   .has_canceled = true,
                                                   .is_canceled = dl->end_code == LS_ECANCELED}};
    ls__emit(fr->config.events, &event);
    download_free(dl);
    ended(fr, game_id, false, false);
}

/* Cancelling runs fetch callbacks at once, which edit the list: start over
 * from the head after each one. */
static void cancel_all_fetches(ls__download_t *dl)
{
    for (;;) {
        ls__request_t *f = dl->fetches;
        while (f && !f->exchange)
            f = f->next;
        if (!f)
            return;
        ls__exchange_t *ex = f->exchange;
        f->exchange = NULL;
        ls__exchange_cancel(ex);
    }
}

static void end_download(ls__download_t *dl, int code, const char *reason)
{
    if (dl->state != DL_ENDING && dl->has_announced)
        send_have(dl, true); /* our partial copy is no longer served */
    if (dl->state != DL_ENDING) {
        dl->state = DL_ENDING;
        dl->end_code = code;
        snprintf(dl->end_reason, sizeof dl->end_reason, "%s", reason ? reason : "failed");
        cancel_all_fetches(dl);
    }
    if (dl->fetches || dl->pending_jobs > 0 || dl->queries_outstanding > 0)
        return;            /* the last callback comes back here */
    note_resume_bytes(dl); /* abort_work saves the record */
    ls_dl_job_t *job = calloc(1, sizeof *job);
    if (!job || queue_job(dl, job, LS_WORKQ_LATENCY, abort_work, abort_done) != 0) {
        free(job);
        ls__fetcher_t *fr = dl->fr;
        char game_id[LS_GAME_ID_MAX + 1];
        snprintf(game_id, sizeof game_id, "%s", dl->game_id);
        emit_dl_failure(fr, game_id, dl->end_reason);
        download_free(dl);
        ended(fr, game_id, false, false);
    }
}

/* ---- starting ---- */

/* Refuses a download the game directory's file system has no room for
 * (less LS_DL_FREE_MARGIN), before any file is created or pre-sized: a
 * manifest that lists more than the disk holds must not fill it. */
static int check_space(ls__download_t *dl)
{
    ls_dl_space_t space;
    char needed[32], available[32], margin[32];
    int rc =
        ls_dl_space_check(dl->game_root, &dl->manifest, dl->selected, dl->selected_count, &space);
    if (rc == LS_ENOSPC)
        snprintf(dl->prepare_error, sizeof dl->prepare_error,
                 "not enough free space for %s: the download needs %s more, %s are free and %s "
                 "are kept free",
                 dl->game_root, ls_format_size(space.needed, needed, sizeof needed),
                 ls_format_size(space.available, available, sizeof available),
                 ls_format_size(LS_DL_FREE_MARGIN, margin, sizeof margin));
    else if (rc != 0)
        snprintf(dl->prepare_error, sizeof dl->prepare_error,
                 "cannot check the free space for %s: %s", dl->game_root, ls_strerror(rc));
    return rc;
}

static void prepare_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    char why[LS_PLANNER_REASON_MAX / 2];
    /* Before anything is written, the catalog entry included. */
    job->status = check_space(dl);
    if (job->status != 0)
        return;
    if (dl->catalog_entry) {
        job->status = ls_catalog_file_add(dl->catalog_path, dl->catalog_entry, why, sizeof why);
        if (job->status != 0) {
            snprintf(dl->prepare_error, sizeof dl->prepare_error,
                     "cannot list the game in the game directory's catalog: %s", why);
            return;
        }
    }
    if (dl->use_resume) {
        ls_resume_load(dl->fr->state_dir, &dl->manifest, &dl->resume);
    } else {
        ls_resume_remove(dl->fr->state_dir, dl->game_id);
        ls_resume_init(&dl->resume, &dl->manifest);
    }
    job->status = ls_dl_tx_begin(dl->game_root, &dl->manifest, dl->selected, dl->selected_count,
                                 NULL, NULL, &dl->tx);
    if (job->status != 0)
        return;
    /* A resumed chunk counts only if it is still on disk, unchanged. */
    size_t chunk_id = 0;
    for (size_t f = 0; f < dl->manifest.file_count; f++) {
        for (size_t c = 0; c < dl->manifest.files[f].chunk_count; c++, chunk_id++) {
            if (!ls_resume_has(&dl->resume, chunk_id))
                continue;
            if (ls_dl_chunk_verify_on_disk(dl->game_root, &dl->manifest, f, c) != 0 ||
                ls_dl_tx_mark_present(dl->tx, f, c) != 0)
                dl->resume.bitmap[chunk_id / 8] &= (uint8_t) ~(1u << (chunk_id % 8));
        }
    }
}

/* The blocks of the files begin sized sparse, reserved while the first
 * chunks are on their way (bulk lane; see ls_dl_tx_reserve). */
static void reserve_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    job->status = ls_dl_tx_reserve(job->dl->tx);
}

static void reserve_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    int rc = status != 0 ? LS_ECANCELED : job->status;
    char reason[LS_PLANNER_REASON_MAX];
    job_done_common(job);
    if (rc != 0 && dl->state != DL_ENDING) {
        snprintf(reason, sizeof reason, "cannot reserve the space of the game's files in %s: %s",
                 dl->game_root, ls_strerror(rc));
        end_download(dl, rc, reason);
    } else {
        side_job_settled(dl);
    }
}

static void reserve_files(ls__download_t *dl)
{
    ls_dl_job_t *job = calloc(1, sizeof *job);
    int rc = job ? queue_job(dl, job, LS_WORKQ_BULK, reserve_work, reserve_done) : LS_ENOMEM;
    if (rc != 0) {
        free(job); /* a write that finds the disk full still ends the download */
        ls_warn("download", "%s: files not reserved ahead: %s", dl->game_id, ls_strerror(rc));
    }
}

static void prepare_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls__download_t *dl = job->dl;
    int rc = status != 0 ? LS_ECANCELED : job->status;
    job_done_common(job);
    /* Rarest first with a seed of our own, so downloaders of one seeder
     * start on different chunks and have something to trade. */
    ls_planner_config_t plan = {.mode = (ls_plan_mode_t)dl->fr->config.plan_mode,
                                .is_rarest_first = dl->fr->is_swarm,
                                .waits_for_peers = true,
                                .seed = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^
                                        (uint64_t)(uintptr_t)dl};
    if (rc == 0 && dl->state == DL_PREPARING)
        rc = ls_planner_new(&dl->manifest, dl->selected, dl->selected_count,
                            (const char *const *)dl->peer_ids, dl->peer_count, dl->resume.bitmap,
                            &plan, &dl->planner);
    if (rc != 0 || dl->state != DL_PREPARING) {
        const char *why = dl->prepare_error[0] ? dl->prepare_error : ls_strerror(rc);
        end_download(dl, rc ? rc : LS_ECANCELED, rc ? why : "canceled");
        return;
    }
    ls_plan_progress_t p;
    plan_progress(dl, uv_now(dl->fr->loop), &p, NULL, 0);
    ls_info("download", "%s %s: %zu chunks from %zu peers (%zu already on disk)", dl->game_id,
            dl->manifest.version, p.chunks_total, dl->peer_count, p.chunks_done);
    ls_peer_event_t event = {.kind = LS_EVENT_DOWNLOAD_BEGIN,
                             .u.download_begin = {.game_id = dl->game_id,
                                                  .version = dl->manifest.version,
                                                  .bytes_total = p.bytes_total,
                                                  .bytes_done = p.bytes_done,
                                                  .peer_count = dl->peer_count}};
    ls__emit(dl->fr->config.events, &event);
    dl->state = DL_FETCHING;
    dl->fetching_ms = uv_now(dl->fr->loop);
    dl->last_resume_save_ms = uv_now(dl->fr->loop);
    /* A resumed download re-announces what it holds, before it asks for
     * more: a restarted peer serves its chunks from the start. */
    dl->is_have_dirty = true;
    maybe_send_have(dl);
    reserve_files(dl);
    use_known_partials(dl);
    pump(dl);
}

/* The command's selection over the manifest: every file when it named
 * none. Paths are looked up by binary search over a sorted copy of the
 * wanted list, so a large selection costs O(n log n). */
static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const ls_game_manifest_t *sort_manifest; /* qsort has no context argument */

static int compare_by_path(const void *a, const void *b)
{
    return strcmp(sort_manifest->files[*(const size_t *)a].path,
                  sort_manifest->files[*(const size_t *)b].path);
}

/* The selected regular files sorted by path, so that a chunk request for a
 * partial copy is looked up in O(log n). version.ini is left out: it is
 * kept in memory until the commit, never served from a partial copy. */
static int index_by_path(ls__download_t *dl)
{
    dl->by_path = calloc(dl->selected_count + 1, sizeof *dl->by_path);
    dl->chunk_base = calloc(dl->manifest.file_count + 1, sizeof *dl->chunk_base);
    if (!dl->by_path || !dl->chunk_base)
        return LS_ENOMEM;
    for (size_t f = 0, base = 0; f < dl->manifest.file_count; f++) {
        dl->chunk_base[f] = base;
        base += dl->manifest.files[f].is_dir ? 0 : dl->manifest.files[f].chunk_count;
    }
    for (size_t i = 0; i < dl->selected_count; i++) {
        const ls_file_desc_t *f = &dl->manifest.files[dl->selected[i]];
        if (!f->is_dir && strcmp(f->path, LS_VERSION_FILE) != 0)
            dl->by_path[dl->by_path_count++] = dl->selected[i];
    }
    sort_manifest = &dl->manifest; /* loop thread only */
    qsort(dl->by_path, dl->by_path_count, sizeof *dl->by_path, compare_by_path);
    sort_manifest = NULL;
    return 0;
}

static int select_files(ls__download_t *dl)
{
    dl->selected = calloc(dl->manifest.file_count + 1, sizeof *dl->selected);
    if (!dl->selected)
        return LS_ENOMEM;
    if (dl->wanted)
        qsort(dl->wanted, dl->wanted_count, sizeof *dl->wanted, compare_strings);
    for (size_t f = 0; f < dl->manifest.file_count; f++) {
        const char *path = dl->manifest.files[f].path;
        bool wanted = !dl->wanted || bsearch(&path, dl->wanted, dl->wanted_count,
                                             sizeof *dl->wanted, compare_strings);
        /* version.ini is the sentinel: always part of a download. */
        if (wanted || strcmp(path, LS_VERSION_FILE) == 0)
            dl->selected[dl->selected_count++] = f;
    }
    return index_by_path(dl);
}

static int copy_peers(ls__download_t *dl, const char **peers, size_t count)
{
    dl->peer_ids = calloc(count + 1, sizeof *dl->peer_ids);
    if (!dl->peer_ids)
        return LS_ENOMEM;
    for (size_t i = 0; i < count; i++, dl->peer_count++)
        if (!(dl->peer_ids[i] = strdup(peers[i])))
            return LS_ENOMEM;
    return 0;
}

/* The name a seeder announces for the game: the entry of last resort when
 * no seeder sent its catalog entry (one without LS_FEATURE_GAME_META). */
static const char *announced_name(ls__fetcher_t *fr, const char *game_id, const char **peers,
                                  size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const ls_game_summary_t *game = announced_game(fr, peers[i], game_id);
        if (game && game->name[0])
            return game->name;
    }
    return game_id;
}

/* The catalog entry a download of a game this peer's catalog lacks brings
 * along: a seeder's (game.meta), else the id and the announced name. */
static int catalog_entry_for(ls__download_t *dl, const char **peers, size_t count)
{
    ls__fetcher_t *fr = dl->fr;
    const ls_game_meta_t *meta = NULL;
    if (ls_catalog_find(ls_library_catalog(fr->library), dl->game_id))
        return 0;
    for (size_t i = 0; i < count && !meta; i++) {
        const ls_game_manifest_t *m = ls_peerdb_manifest(fr->config.peerdb, peers[i], dl->game_id);
        meta = m ? m->meta : NULL;
    }
    ls_catalog_entry_t view = {
        .id = dl->game_id,
        .name = (char *)(meta ? meta->name : announced_name(fr, dl->game_id, peers, count)),
        .description = meta ? meta->description : NULL,
        .genre = meta ? meta->genre : NULL,
        .max_players = meta ? meta->max_players : 0,
        .release_year = meta ? meta->release_year : 0,
    };
    dl->catalog_path = ls_path_join(ls_library_game_dir(fr->library), LS_LOCAL_CATALOG_FILE);
    dl->catalog_entry = calloc(1, sizeof *dl->catalog_entry);
    if (!dl->catalog_path || !dl->catalog_entry)
        return LS_ENOMEM;
    return ls_catalog_entry_copy(dl->catalog_entry, &view);
}

static void emit_got_game_files(ls__download_t *dl)
{
    ls_peer_ev_game_files_t files = {.game_id = dl->game_id,
                                     .version = dl->manifest.version,
                                     .peers = (const char *const *)dl->peer_ids,
                                     .peer_count = dl->peer_count};
    for (size_t i = 0; i < dl->selected_count; i++) {
        files.size += dl->manifest.files[dl->selected[i]].size;
        files.file_count += !dl->manifest.files[dl->selected[i]].is_dir;
    }
    ls_peer_event_t event = {.kind = LS_EVENT_GOT_GAME_FILES, .u.game_files = files};
    ls__emit(dl->fr->config.events, &event);
}

/* Every seeder answered (or failed): take the manifest most of them agree
 * on and start preparing. */
static void manifests_in(ls__download_t *dl)
{
    ls__fetcher_t *fr = dl->fr;
    const char **peers = NULL;
    size_t count = 0;
    char why[LS_PLANNER_REASON_MAX];
    const ls_game_manifest_t *m = pick_manifest(fr, dl->game_id, &peers, &count, why, sizeof why);
    int rc = m ? 0 : LS_ENOPEERS;
    if (rc == 0)
        rc = ls_manifest_copy(&dl->manifest, m);
    if (rc == 0)
        rc = select_files(dl);
    if (rc == 0)
        rc = copy_peers(dl, peers, count);
    if (rc == 0)
        rc = catalog_entry_for(dl, peers, count);
    free(peers);
    ls_dl_job_t *job = rc == 0 ? calloc(1, sizeof *job) : NULL;
    if (rc == 0 && !job)
        rc = LS_ENOMEM;
    if (rc != 0) {
        end_download(dl, rc, rc == LS_ENOPEERS ? why : ls_strerror(rc));
        return;
    }
    emit_got_game_files(dl);
    dl->state = DL_PREPARING;
    dl->listed_ms = uv_now(fr->loop);
    if (queue_job(dl, job, LS_WORKQ_BULK, prepare_work, prepare_done) != 0) {
        free(job);
        end_download(dl, LS_EIO, ls_strerror(LS_EIO));
    }
}

static void query_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata);

/* The query's link went away but the peer is still there on another one
 * (a duplicate connection replaced it, e.g. a --peer target and a
 * remembered one dialled at once): ask again there, a bounded number of
 * times per download. */
static bool requery_elsewhere(ls__download_t *dl, const ls_link_t *gone)
{
    ls_link_t *other = ls__links_find_ready(dl->fr->config.links, gone->peer_id);
    ls_msg_t req = {.kind = LS_MSG_GET_GAME, .u.game_id = dl->game_id};
    if (!other || other == gone || dl->requeries >= REQUERY_MAX || dl->state != DL_QUERYING)
        return false;
    if (ls__exchange_start(other, &req, query_reply_cb, dl) != 0)
        return false;
    dl->requeries++;
    return true;
}

static void query_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    ls__download_t *dl = userdata;
    if (status == 0 && reply && reply->kind == LS_MSG_GAME &&
        strcmp(reply->u.game.game_id, dl->game_id) == 0)
        ls_peerdb_set_manifest(dl->fr->config.peerdb, link->peer_id, &reply->u.game);
    else if (status != 0 && link->is_closing && requery_elsewhere(dl, link))
        return; /* still outstanding, on the other link */
    else if (!link->is_closing)
        ls_warn("download", "%s: no file list from %.12s: %s", dl->game_id, link->peer_id,
                reply && reply->kind == LS_MSG_ERROR ? reply->u.error.message
                                                     : ls_strerror(status));
    if (--dl->queries_outstanding > 0)
        return;
    if (dl->state == DL_ENDING)
        end_download(dl, dl->end_code, dl->end_reason); /* canceled meanwhile */
    else if (!dl->fr->is_shutting_down)
        manifests_in(dl);
}

/* Asks every peer holding the latest version for its file list. The
 * download holds one extra count until every request is out, so a reply
 * that comes at once cannot end the query early. Seeders with no ready
 * link are dialled on demand (bounded); with none linked, the download
 * waits for their links (ls__fetcher_peers_changed asks again). */
static void query_manifests(ls__download_t *dl)
{
    const char **seeders = NULL;
    size_t n = 0, dials = 0;
    ls__fetcher_t *fr = dl->fr;
    uint64_t now = uv_now(fr->loop);
    ls_msg_t req = {.kind = LS_MSG_GET_GAME, .u.game_id = dl->game_id};
    if (ls_peerdb_seeders(fr->config.peerdb, dl->game_id, &seeders, &n) != 0)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        ls_link_t *link = ls__links_find_ready(fr->config.links, seeders[i]);
        if (link && ls__exchange_start(link, &req, query_reply_cb, dl) == 0)
            dl->queries_outstanding++;
        else if (!link && dials < ONDEMAND_DIALS_MAX && fr->config.hooks.need_link &&
                 fr->config.hooks.need_link(seeders[i], fr->config.hooks.userdata))
            dials++;
    }
    free(seeders);
    if (dl->queries_outstanding > 0) {
        dl->dial_wait_ms = 0;
        return;
    }
    if (dials > 0 && dl->dial_wait_ms == 0)
        dl->dial_wait_ms = now + ONDEMAND_WAIT_MS;
    if (dials == 0 || now >= dl->dial_wait_ms)
        end_download(dl, LS_ENOPEERS, "no peer offers this game");
}

static int take_selection(ls__download_t *dl, const char *const *files, size_t count)
{
    if (!files)
        return 0;
    dl->wanted = calloc(count + 1, sizeof *dl->wanted);
    if (!dl->wanted)
        return LS_ENOMEM;
    for (size_t i = 0; i < count; i++, dl->wanted_count++)
        if (!(dl->wanted[i] = strdup(files[i])))
            return LS_ENOMEM;
    return 0;
}

void ls__fetcher_start(ls__fetcher_t *fr, const char *game_id, const char *const *files,
                       size_t file_count, uint32_t flags)
{
    ls__download_t *dl = NULL;
    int rc = is_busy(fr, game_id) ? LS_EBUSY : 0;
    if (rc == 0 && !(dl = calloc(1, sizeof *dl)))
        rc = LS_ENOMEM;
    if (rc == 0) {
        dl->fr = fr;
        dl->state = DL_QUERYING;
        dl->start_ms = uv_now(fr->loop);
        snprintf(dl->game_id, sizeof dl->game_id, "%s", game_id);
        dl->use_resume = !(flags & LS_DOWNLOAD_FRESH);
        dl->game_root = ls_library_game_root(fr->library, game_id);
        rc = dl->game_root ? take_selection(dl, files, file_count) : LS_ENOMEM;
    }
    if (rc != 0) {
        if (dl) {
            dl->next = NULL;
            download_free(dl);
        }
        emit_dl_failure(fr, game_id, ls_strerror(rc));
        return;
    }
    dl->next = fr->downloads;
    fr->downloads = dl;
    ls__reply_body_keep(true);
    query_manifests(dl);
}

void ls__fetcher_cancel(ls__fetcher_t *fr, const char *game_id)
{
    ls__download_t *dl = game_id ? find_download(fr, game_id) : NULL;
    if (!dl) {
        emit_dl_failure(fr, game_id ? game_id : "", "no download of this game is running");
        return;
    }
    if (dl->state == DL_COMMITTING)
        return; /* too late: version.ini is being committed */
    /* A query or pool job in flight comes back to end_download when done. */
    end_download(dl, LS_ECANCELED, "canceled");
}

/* ---- swarm: announcing and using partial copies ---- */

/* A `have` of the chunks the resume record marks (or, gone, none), with
 * fields borrowed from dl: nothing to free. False when none may be sent. */
static bool have_fill(ls__download_t *dl, bool is_gone, ls_msg_t *msg)
{
    ls_have_t *h = &msg->u.have;
    memset(msg, 0, sizeof *msg);
    if (!dl->fr->is_swarm || dl->resume.chunk_count > LS_HAVE_CHUNKS_MAX || !dl->resume.bitmap)
        return false;
    msg->kind = LS_MSG_HAVE;
    h->game_id = dl->game_id;
    h->version = dl->manifest.version;
    ls_hex_encode(dl->resume.manifest_id, LS_SHA256_LEN, h->manifest_id);
    h->chunk_count = is_gone ? 0 : (uint32_t)dl->resume.chunk_count;
    h->bitmap = is_gone ? NULL : dl->resume.bitmap;
    return true;
}

/* Tells every swarm peer which verified, written chunks we hold (or, gone,
 * that we no longer offer a partial copy). The bitmap is the resume
 * record's: marked only once a chunk is verified and on disk. */
static void send_have(ls__download_t *dl, bool is_gone)
{
    ls_msg_t msg;
    if (!have_fill(dl, is_gone, &msg))
        return;
    ls__links_send_swarm(dl->fr->config.links, &msg);
    dl->has_announced = !is_gone;
    dl->is_have_dirty = false;
    dl->last_have_ms = uv_now(dl->fr->loop);
}

/* A finished download that the library serves: its last `have` names every
 * chunk to the peers that keep it as a source then (LS_FEATURE_HAVE_COMPLETE);
 * the others get the empty one, if we had announced, as before. */
static void send_have_end(ls__download_t *dl)
{
    ls_msg_t complete, gone;
    ls_resume_mark_committed(&dl->resume); /* version.ini: on disk now */
    if (!have_fill(dl, false, &complete) || !have_fill(dl, true, &gone))
        return;
    ls__links_send_swarm_end(dl->fr->config.links, &complete, dl->has_announced ? &gone : NULL);
}

static void wake_timer_cb(uv_timer_t *timer)
{
    ls__fetcher_t *fr = timer->data;
    struct ls__download *next;
    for (ls__download_t *dl = fr->downloads; dl; dl = next) {
        next = dl->next; /* pump may end and free dl */
        if (dl->state != DL_FETCHING)
            continue;
        maybe_send_have(dl);
        pump(dl);
    }
}

/* Arms the wake timer to fire in `delay_ms`, unless it fires sooner. */
/* A peer refused for a backoff may be asked again only then: nothing else
 * need come before the reconnect tick. */
static void wake_after_backoff(ls__download_t *dl)
{
    wake_in(dl->fr, ls_planner_busy_backoff_ms(dl->planner) + 1);
}

static void wake_in(ls__fetcher_t *fr, uint64_t delay_ms)
{
    if (fr->is_shutting_down)
        return;
    if (!fr->has_wake_timer) {
        if (uv_timer_init(fr->loop, &fr->wake_timer) != 0)
            return; /* the periodic tick still does it */
        fr->wake_timer.data = fr;
        fr->has_wake_timer = true;
    }
    if (uv_is_active((uv_handle_t *)&fr->wake_timer) &&
        uv_timer_get_due_in(&fr->wake_timer) <= delay_ms)
        return;
    uv_timer_start(&fr->wake_timer, wake_timer_cb, delay_ms, 0);
}

/* At most one `have` per ls_have_interval_ms, and only after a change; a
 * change inside the interval goes out when it ends. */
static void maybe_send_have(ls__download_t *dl)
{
    if (!dl->is_have_dirty || dl->state != DL_FETCHING || ls_resume_count(&dl->resume) == 0)
        return;
    uint64_t since = uv_now(dl->fr->loop) - dl->last_have_ms;
    uint64_t interval = ls_have_interval_ms(dl->resume.chunk_count);
    if (since >= interval)
        send_have(dl, false);
    else
        wake_in(dl->fr, interval - since);
}

/* A peer's partial copy of the manifest we fetch: it gets the chunks it
 * holds (a new slot, or its old one). is_seeder: its library lists the
 * game already, so a copy with every chunk is a complete seeder at once. */
static void use_partial(ls__download_t *dl, const char *peer_id, const uint8_t *bitmap,
                        uint32_t chunk_count, bool is_seeder)
{
    if (ls_planner_peer_has(dl->planner, peer_id, bitmap, chunk_count, NULL) != 0)
        return;
    if (is_seeder)
        ls_planner_promote_seeder(dl->planner, peer_id); /* its delta came first */
    pump(dl); /* last: it may end the download and free dl */
}

/* The partial copies the PeerGameDB already knows of, when a download
 * starts fetching. */
static void use_known_partials(ls__download_t *dl)
{
    char manifest_id[LS_SHA256_HEX_LEN + 1];
    const char **ids = NULL;
    size_t n = 0;
    ls_hex_encode(dl->resume.manifest_id, LS_SHA256_LEN, manifest_id);
    if (ls_peerdb_partials(dl->fr->config.peerdb, dl->game_id, manifest_id, &ids, &n) != 0)
        return;
    for (size_t i = 0; i < n && dl->state == DL_FETCHING; i++) {
        const ls_peer_partial_t *part =
            ls_peerdb_partial(dl->fr->config.peerdb, ids[i], dl->game_id);
        if (part && ls__links_find_ready(dl->fr->config.links, ids[i]))
            use_partial(dl, ids[i], part->bitmap, part->chunk_count, false);
    }
    free(ids);
}

void ls__fetcher_have(ls__fetcher_t *fr, const char *peer_id, const ls_have_t *have, bool is_seeder)
{
    char manifest_id[LS_SHA256_HEX_LEN + 1];
    ls__download_t *dl = fr->is_swarm ? find_download(fr, have->game_id) : NULL;
    if (!dl || dl->state != DL_FETCHING)
        return;
    ls_hex_encode(dl->resume.manifest_id, LS_SHA256_LEN, manifest_id);
    if (strcmp(manifest_id, have->manifest_id) != 0)
        return; /* a copy of other files: nothing we can use */
    /* A copy withdrawn, unless the peer's library lists the game: a late
     * `gone` (from a peer of an earlier version, which withdrew its copy
     * as it finished) must not drop a complete seeder. */
    if (have->chunk_count == 0) {
        uint32_t slot;
        if (!is_seeder && ls_planner_peer_slot(dl->planner, peer_id, &slot) == 0)
            ls_planner_peer_lost(dl->planner, slot); /* it no longer offers it */
        pump(dl);
        return;
    }
    use_partial(dl, peer_id, have->bitmap, have->chunk_count, is_seeder);
}

/* ---- peers that join mid-download ---- */

/* A GET_GAME sent to a peer that offers the version being fetched. */
typedef struct {
    ls__download_t *dl;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
} ls__join_t;

static bool is_joining(const ls__download_t *dl, const char *peer_id)
{
    for (size_t i = 0; i < dl->joining_count; i++)
        if (strcmp(dl->joining[i], peer_id) == 0)
            return true;
    return false;
}

static void join_done(ls__download_t *dl, const char *peer_id)
{
    for (size_t i = 0; i < dl->joining_count; i++) {
        if (strcmp(dl->joining[i], peer_id) != 0)
            continue;
        free(dl->joining[i]);
        dl->joining[i] = dl->joining[--dl->joining_count];
        return;
    }
}

/* Its file list must be the very manifest being fetched: then it gets
 * work at once (a new slot, or its old one when it comes back). */
static void join_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    ls__join_t *join = userdata;
    ls__download_t *dl = join->dl;
    uint8_t want[LS_SHA256_LEN], got[LS_SHA256_LEN];
    uint32_t slot;
    join_done(dl, join->peer_id);
    dl->queries_outstanding--;
    if (dl->state == DL_DONE) {
        if (dl->queries_outstanding == 0)
            download_free(dl);
    } else if (dl->state == DL_ENDING) {
        end_download(dl, dl->end_code, dl->end_reason);
    } else if (dl->state == DL_FETCHING && status == 0 && reply && reply->kind == LS_MSG_GAME) {
        ls_resume_manifest_id(&dl->manifest, want);
        ls_resume_manifest_id(&reply->u.game, got);
        if (memcmp(want, got, sizeof want) != 0) {
            ls_info("download", "%s: %.12s serves other files for this version; not used",
                    dl->game_id, join->peer_id);
        } else if (ls_planner_add_peer(dl->planner, join->peer_id, &slot) == 0) {
            ls_info("download", "%s: %.12s joins the download", dl->game_id, join->peer_id);
            pump(dl);
        }
    } else if (dl->state == DL_FETCHING) {
        /* Typically `unauthorized`: we answered its hello, and asked before
         * it had read our hello_ack. Ask again shortly. */
        dl->rejoin_ms = uv_now(dl->fr->loop) + JOIN_RETRY_MS;
    }
    free(join);
}

static void maybe_join(ls__download_t *dl, const char *peer_id)
{
    /* A downloader that told us of every chunk at its end, now listed. */
    if (ls_planner_promote_seeder(dl->planner, peer_id))
        return;
    ls_link_t *link = ls__links_find_ready(dl->fr->config.links, peer_id);
    if (!link || is_joining(dl, peer_id) || dl->joining_count >= LS_JOINING_MAX ||
        !ls_planner_peer_can_join(dl->planner, peer_id))
        return;
    ls__join_t *join = calloc(1, sizeof *join);
    char *id = strdup(peer_id);
    ls_msg_t req = {.kind = LS_MSG_GET_GAME, .u.game_id = dl->game_id};
    if (!join || !id) {
        free(join);
        free(id);
        return;
    }
    join->dl = dl;
    snprintf(join->peer_id, sizeof join->peer_id, "%s", peer_id);
    if (ls__exchange_start(link, &req, join_reply_cb, join) != 0) {
        free(join);
        free(id);
        return;
    }
    dl->joining[dl->joining_count++] = id;
    dl->queries_outstanding++;
}

/* Every complete seeder of the game that is not (or no longer) in this
 * download is asked to join. */
static void join_seeders(ls__download_t *dl)
{
    const char **seeders = NULL;
    size_t n = 0;
    if (dl->state != DL_FETCHING ||
        ls_peerdb_seeders(dl->fr->config.peerdb, dl->game_id, &seeders, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        maybe_join(dl, seeders[i]);
    free(seeders);
}

void ls__fetcher_peers_changed(ls__fetcher_t *fr)
{
    struct ls__download *next;
    for (ls__download_t *dl = fr->downloads; dl; dl = next) {
        next = dl->next; /* a query that finds no seeder ends and frees dl */
        if (dl->state == DL_QUERYING && dl->dial_wait_ms && dl->queries_outstanding == 0)
            query_manifests(dl); /* a seeder dialled on demand may be linked now */
        else
            join_seeders(dl);
    }
}

void ls__fetcher_peer_lost(ls__fetcher_t *fr, const char *peer_id)
{
    for (ls__download_t *dl = fr->downloads; dl; dl = dl->next) {
        uint32_t slot;
        if (dl->planner && ls_planner_peer_slot(dl->planner, peer_id, &slot) == 0) {
            ls_planner_peer_lost(dl->planner, slot);
            pump(dl);
        }
    }
}

/* A request whose connection has sent no reply byte, on any stream, for
 * fetch_stall_ms since the request went out. A peer that keeps its
 * connection but stops sending would otherwise hold its chunks for ever.
 * Counting per connection, not per request, keeps a busy peer's deep
 * window (its streams interleaved, each answered slowly) from looking
 * stalled. The request's own connection counts, not the peer's ready one:
 * a peer that restarted is linked again on a new connection (which
 * replaces the old one, closing, without a peer-lost), and what was asked
 * on the old one is asked again at once instead of never. A request with
 * no byte of its own counts from when it went out (ls__fetch_is_stalled). */
bool ls__fetch_is_stalled(uint64_t now, uint64_t sent_ms, bool has_own_data, uint64_t link_data_ms,
                          uint32_t stall_ms)
{
    uint64_t since = sent_ms;
    if (has_own_data && link_data_ms > since)
        since = link_data_ms;
    return now >= since && now - since >= stall_ms;
}

static ls__request_t *find_stalled(ls__download_t *dl, uint64_t now, bool *is_replaced)
{
    for (ls__request_t *f = dl->fetches; f; f = f->next) {
        if (!f->exchange)
            continue;
        const ls_link_t *link = ls__exchange_link(f->exchange);
        *is_replaced = link->is_closing;
        if (*is_replaced ||
            ls__fetch_is_stalled(now, f->sent_ms, ls__exchange_has_data(f->exchange),
                                 link->last_data_ms, dl->fr->config.fetch_stall_ms))
            return f;
    }
    return NULL;
}

static void give_up_stalled(ls__download_t *dl, uint64_t now)
{
    ls__request_t *f;
    bool is_replaced = false;
    /* Bounded: each pass removes one request, and new ones are not stalled. */
    while (dl->state == DL_FETCHING && (f = find_stalled(dl, now, &is_replaced)) != NULL) {
        if (is_replaced)
            ls_info("download", "%s: chunk %zu: the connection to %.12s closed, asking again",
                    dl->game_id, f->as[0].chunk_id, ls_planner_peer_id(dl->planner, f->as[0].peer));
        else
            ls_warn("download", "%s: chunk %zu: no data from %.12s in %u ms, asking elsewhere",
                    dl->game_id, f->as[0].chunk_id, ls_planner_peer_id(dl->planner, f->as[0].peer),
                    dl->fr->config.fetch_stall_ms);
        fail_request(dl, f, is_replaced ? LS_EPEER_GONE : LS_ETIMEDOUT);
        ls__exchange_t *ex = f->exchange;
        f->exchange = NULL;
        ls__exchange_cancel(ex); /* its callback frees f; the ticket is already failed */
    }
}

void ls__fetcher_tick(ls__fetcher_t *fr)
{
    uint64_t now = uv_now(fr->loop);
    struct ls__download *next;
    for (ls__download_t *dl = fr->downloads; dl; dl = next) {
        next = dl->next; /* pump may end and free dl */
        if (dl->state != DL_FETCHING)
            continue;
        give_up_stalled(dl, now);
        maybe_send_have(dl);
        pump(dl);
    }
    /* A join asked too early (the peer still waited for our hello_ack and
     * answered unauthorized) is asked again here. */
    ls__fetcher_peers_changed(fr);
}

void ls__fetcher_pump_all(ls__fetcher_t *fr)
{
    struct ls__download *next;
    for (ls__download_t *dl = fr->downloads; dl; dl = next) {
        next = dl->next; /* pump may end and free dl */
        pump(dl);
    }
}

void ls__fetcher_shutdown(ls__fetcher_t *fr)
{
    fr->is_shutting_down = true;
    if (fr->has_wake_timer) {
        uv_timer_stop(&fr->wake_timer);
        uv_close((uv_handle_t *)&fr->wake_timer, NULL);
        fr->has_wake_timer = false;
    }
    for (ls__download_t *dl = fr->downloads; dl; dl = dl->next)
        if (dl->state == DL_FETCHING)
            end_download(dl, LS_ECANCELED, "shutting down");
}

/* ---- the object ---- */

static bool is_busy(ls__fetcher_t *fr, const char *game_id)
{
    return find_download(fr, game_id) ||
           (fr->config.hooks.is_busy &&
            fr->config.hooks.is_busy(game_id, fr->config.hooks.userdata));
}

bool ls__fetcher_any_active(const ls__fetcher_t *fr)
{
    return fr->downloads != NULL;
}

int ls__fetcher_new(const ls__fetcher_config_t *config, ls__fetcher_t **out)
{
    ls__fetcher_t *fr = calloc(1, sizeof *fr);
    *out = NULL;
    if (!fr)
        return LS_ENOMEM;
    fr->config = *config;
    fr->loop = config->loop;
    fr->state_dir = strdup(config->state_dir);
    if (!fr->state_dir) {
        free(fr);
        return LS_ENOMEM;
    }
    fr->config.state_dir = fr->state_dir;
    *out = fr;
    return 0;
}

void ls__fetcher_set_library(ls__fetcher_t *fr, ls_library_t *library)
{
    fr->library = library;
}

void ls__fetcher_free(ls__fetcher_t *fr)
{
    if (!fr)
        return;
    free(fr->state_dir);
    free(fr);
}

void ls__fetcher_set_swarm(ls__fetcher_t *fr, bool is_on)
{
    fr->is_swarm = is_on;
}

int ls__fetcher_partial_chunk(ls__fetcher_t *fr, const char *game_id, const char *path,
                              uint64_t offset, uint64_t length, char **game_root,
                              uint64_t *file_size)
{
    ls__download_t *dl = fr->is_swarm ? find_download(fr, game_id) : NULL;
    if (!dl || !dl->by_path)
        return LS_ENOENT;
    /* Committing, every chunk is verified and in place (the commit only
     * writes version.ini): refused then, five downloaders finishing
     * together answered a sixth's requests for its last chunk with errors,
     * and its download failed after its tries (netns_test_swarm, once). */
    if (dl->state != DL_FETCHING && dl->state != DL_COMMITTING)
        return LS_ENOT_DOWNLOADED; /* preparing or ending */
    size_t lo = 0, hi = dl->by_path_count;
    const ls_file_desc_t *file = NULL;
    size_t file_index = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const ls_file_desc_t *f = &dl->manifest.files[dl->by_path[mid]];
        int cmp = strcmp(f->path, path);
        if (cmp == 0) {
            file = f;
            file_index = dl->by_path[mid];
            break;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the chunks of the download's manifest, whatever size it states */
    uint32_t chunk_size = dl->manifest.chunk_size;
    if (!file || offset % chunk_size != 0 || offset >= file->size)
        return LS_ENOT_DOWNLOADED;
    uint64_t chunk_len = file->size - offset < chunk_size ? file->size - offset : chunk_size;
    size_t chunk_id = dl->chunk_base[file_index] + offset / chunk_size;
    /* Marked only once verified and written (store_done): never a byte
     * that was not checked against the manifest. */
    if (length != chunk_len || !ls_resume_has(&dl->resume, chunk_id))
        return LS_ENOT_DOWNLOADED;
    *game_root = strdup(dl->game_root);
    *file_size = file->size;
    return *game_root ? 0 : LS_ENOMEM;
}
