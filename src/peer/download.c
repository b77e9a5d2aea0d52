/* Downloads driven by the runtime: manifests fetched from the seeders
 * (GetGame), then one job per game that feeds the planner's assignments to
 * chunk requests on the peers' links, verifies and writes each chunk on the
 * thread pool, and commits version.ini last (see download.h). */
#include "runtime_internal.h"

#include "lanspread/download.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/planner.h"
#include "lanspread/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESUME_SAVE_MS 2000
#define PUMP_BATCH_MAX 64

typedef struct ls_fetch {
    struct ls_fetch *next;
    ls_download_t *dl;
    ls_assignment_t a;
    ls_exchange_t *exchange; /* NULL once its callback ran */
    uint64_t sent_ms;
} ls_fetch_t;

typedef enum { DL_PREPARING, DL_FETCHING, DL_COMMITTING, DL_ENDING } ls_dl_state_t;

struct ls_download {
    ls_download_t *next;
    ls_peer_runtime_t *rt;
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
    ls_fetch_t *fetches;
    int pending_jobs;
    ls_dl_state_t state;
    int end_code;
    char end_reason[LS_PLANNER_REASON_MAX];
    uint64_t last_resume_save_ms;
    bool install_after; /* commit job: local/ existed, so update */
    bool has_local_dir;
    ls_library_adoption_t *adoption; /* commit job: the committed game for the library */
};

/* ---- manifests: GetGame / FetchLatestFromPeers ---- */

typedef struct {
    ls_peer_runtime_t *rt;
    char game_id[LS_GAME_ID_MAX + 1];
    size_t outstanding;
    bool for_update;
    char *download_arg; /* start a download when the manifests are in */
} ls_query_t;

static void emit_dl_failure(ls_peer_runtime_t *rt, const char *game_id, const char *reason)
{
    ls_rt_emit(rt, LS_EVENT_DOWNLOAD_FAILED,
               json_pack("{s:s,s:s}", "game_id", game_id, "reason", reason));
}

/* Seeders of the latest version whose manifest we hold, all agreeing on it. */
static const ls_game_manifest_t *pick_manifest(ls_peer_runtime_t *rt, const char *game_id,
                                               const char ***peers, size_t *count)
{
    const char **seeders = NULL;
    size_t n = 0, kept = 0;
    const ls_game_manifest_t *chosen = NULL;
    uint8_t chosen_id[LS_SHA256_LEN], id[LS_SHA256_LEN];
    *peers = NULL;
    *count = 0;
    if (ls_peerdb_seeders(rt->peerdb, game_id, &seeders, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const ls_game_manifest_t *m = ls_peerdb_manifest(rt->peerdb, seeders[i], game_id);
        if (!m)
            continue;
        ls_resume_manifest_id(m, id);
        if (!chosen) {
            chosen = m;
            memcpy(chosen_id, id, sizeof id);
        }
        if (memcmp(id, chosen_id, sizeof id) == 0)
            seeders[kept++] = seeders[i];
        else
            ls_warn("download",
                    "%s: %.12s serves different files for the same version; "
                    "not used",
                    game_id, seeders[i]);
    }
    *peers = seeders;
    *count = kept;
    return chosen;
}

static void emit_got_game_files(ls_peer_runtime_t *rt, const char *game_id)
{
    const char **peers;
    size_t count;
    const ls_game_manifest_t *m = pick_manifest(rt, game_id, &peers, &count);
    if (!m) {
        free(peers);
        emit_dl_failure(rt, game_id, "no peer answered with the game's files");
        return;
    }
    json_t *files = json_array(), *ids = json_array();
    for (size_t i = 0; i < m->file_count; i++)
        json_array_append_new(files, json_pack("{s:s,s:I,s:b}", "path", m->files[i].path, "size",
                                               (json_int_t)m->files[i].size, "is_dir",
                                               m->files[i].is_dir));
    for (size_t i = 0; i < count; i++)
        json_array_append_new(ids, json_string(peers[i]));
    free(peers);
    ls_rt_emit(rt, LS_EVENT_GOT_GAME_FILES,
               json_pack("{s:s,s:s,s:o,s:o}", "game_id", game_id, "version", m->version, "files",
                         files, "peers", ids));
}

static void start_download(ls_peer_runtime_t *rt, const char *game_id, const char *arg,
                           bool use_resume);

/* Called once per answered request, and once by the sender when all are
 * out: the last call reports the result. */
static void query_release(ls_query_t *q)
{
    if (--q->outstanding > 0)
        return;
    if (!q->rt->is_shutting_down) {
        emit_got_game_files(q->rt, q->game_id);
        if (q->download_arg)
            start_download(q->rt, q->game_id, q->download_arg, !q->for_update);
    }
    free(q->download_arg);
    free(q);
}

static void query_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    ls_query_t *q = userdata;
    if (status == 0 && reply && reply->kind == LS_MSG_GAME &&
        strcmp(reply->u.game.game_id, q->game_id) == 0)
        ls_peerdb_set_manifest(q->rt->peerdb, link->peer_id, &reply->u.game);
    else if (!link->is_closing)
        ls_warn("download", "%s: no file list from %.12s: %s", q->game_id, link->peer_id,
                reply && reply->kind == LS_MSG_ERROR ? reply->u.error.message
                                                     : ls_strerror(status));
    query_release(q);
}

static void query_manifests(ls_peer_runtime_t *rt, const char *game_id, bool for_update,
                            const char *download_arg)
{
    const char **seeders = NULL;
    size_t n = 0;
    ls_query_t *q = calloc(1, sizeof *q);
    if (!q || ls_peerdb_seeders(rt->peerdb, game_id, &seeders, &n) != 0 || n == 0) {
        emit_dl_failure(rt, game_id, "no peer offers this game");
        free(q);
        free(seeders);
        return;
    }
    q->rt = rt;
    snprintf(q->game_id, sizeof q->game_id, "%s", game_id);
    q->for_update = for_update;
    q->download_arg = download_arg ? strdup(download_arg) : NULL;
    q->outstanding = 1; /* held until every request is out */
    ls_msg_t req = {.kind = LS_MSG_GET_GAME, .u.game_id = (char *)game_id};
    for (size_t i = 0; i < n; i++) {
        ls_link_t *link = ls_link_find_ready(rt, seeders[i]);
        if (link && ls_exchange_start(link, &req, query_reply_cb, q) == 0)
            q->outstanding++;
    }
    free(seeders);
    query_release(q);
}

void ls_download_get_game(ls_peer_runtime_t *rt, const char *game_id, bool for_update)
{
    if (!game_id || !ls_game_id_is_valid(game_id)) {
        emit_dl_failure(rt, game_id ? game_id : "", ls_strerror(LS_EINVALID_ID));
        return;
    }
    query_manifests(rt, game_id, for_update, NULL);
}

/* ---- the download job ---- */

static void pump(ls_download_t *dl);
static void end_download(ls_download_t *dl, int code, const char *reason);

static ls_download_t *find_download(ls_peer_runtime_t *rt, const char *game_id)
{
    for (ls_download_t *d = rt->downloads; d; d = d->next)
        if (strcmp(d->game_id, game_id) == 0)
            return d;
    return NULL;
}

bool ls_download_is_active(ls_peer_runtime_t *rt, const char *game_id)
{
    return find_download(rt, game_id) != NULL;
}

static void download_free(ls_download_t *dl)
{
    for (ls_download_t **p = &dl->rt->downloads; *p; p = &(*p)->next)
        if (*p == dl) {
            *p = dl->next;
            break;
        }
    ls_planner_free(dl->planner);
    ls_library_adoption_free(dl->adoption);
    ls_dl_tx_free(dl->tx);
    ls_resume_free(&dl->resume);
    ls_manifest_free(&dl->manifest);
    for (size_t i = 0; i < dl->peer_count; i++)
        free(dl->peer_ids[i]);
    free(dl->peer_ids);
    free(dl->selected);
    free(dl->game_root);
    free(dl);
}

/* A job owned by a download: the job holds the download alive. Chunk
 * verify+write, resume saves and the abort are short (latency lane); the
 * prepare re-reads resumed chunks and the commit fsyncs every file (bulk). */
typedef struct {
    uv_work_t req;
    ls_download_t *dl;
    int status;
    ls_fetch_t *fetch; /* store jobs */
    uint8_t *data;
    size_t len;
    uint8_t *resume_blob;
    size_t resume_len;
} ls_dl_job_t;

static int queue_job(ls_download_t *dl, ls_dl_job_t *job, ls_workq_class_t lane, uv_work_cb work,
                     uv_after_work_cb done)
{
    job->dl = dl;
    job->req.data = job;
    dl->pending_jobs++;
    if (ls_workq_queue(&dl->rt->loop, &job->req, lane, work, done) != 0) {
        dl->pending_jobs--;
        return LS_EIO;
    }
    return 0;
}

/* ---- emitting ---- */

static void emit_progress(ls_download_t *dl, uint64_t now)
{
    ls_plan_progress_t p;
    ls_plan_peer_stat_t stats[LS_PLANNER_PEERS_MAX];
    ls_planner_progress(dl->planner, now, &p, stats, LS_PLANNER_PEERS_MAX);
    json_t *peers = json_array();
    for (size_t i = 0; i < p.peer_count; i++)
        json_array_append_new(
            peers, json_pack("{s:s,s:I,s:I,s:b,s:i,s:i}", "peer_id", stats[i].peer_id, "bytes",
                             (json_int_t)stats[i].bytes_done, "rate_bps",
                             (json_int_t)stats[i].rate_bps, "active", stats[i].is_active, "window",
                             (int)stats[i].window, "latency_ms", (int)stats[i].latency_ms));
    ls_rt_emit(dl->rt, LS_EVENT_DOWNLOAD_PROGRESS,
               json_pack("{s:s,s:I,s:I,s:I,s:o}", "game_id", dl->game_id, "bytes_done",
                         (json_int_t)p.bytes_done, "bytes_total", (json_int_t)p.bytes_total,
                         "rate_bps", (json_int_t)p.rate_bps, "peers", peers));
}

/* ---- resume file: a snapshot encoded on the loop, written on the pool ---- */

static void save_resume_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls_resume_t parsed;
    /* The blob is the encoded record; parse it back to reuse the atomic save. */
    if (ls_resume_parse(job->resume_blob, job->resume_len, &parsed) == 0) {
        job->status = ls_resume_save(&parsed, job->dl->rt->state_dir);
        ls_resume_free(&parsed);
    }
}

static void job_done_common(ls_dl_job_t *job)
{
    ls_download_t *dl = job->dl;
    free(job->resume_blob);
    free(job->data);
    free(job);
    dl->pending_jobs--;
}

static void save_resume_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    job_done_common(job);
    if (dl->state == DL_ENDING)
        end_download(dl, dl->end_code, NULL);
}

static void save_resume(ls_download_t *dl)
{
    ls_dl_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return;
    if (ls_resume_encode(&dl->resume, &job->resume_blob, &job->resume_len) != 0 ||
        queue_job(dl, job, LS_WORKQ_LATENCY, save_resume_work, save_resume_done) != 0) {
        free(job->resume_blob);
        free(job);
    }
}

/* ---- chunks ---- */

static void store_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    const ls_assignment_t *a = &job->fetch->a;
    job->status =
        ls_dl_chunk_verify(&dl->manifest, a->file_index, a->chunk_index, job->data, job->len);
    if (job->status == 0)
        job->status =
            ls_dl_tx_write_chunk(dl->tx, a->file_index, a->chunk_index, job->data, job->len);
}

static void fetch_forget(ls_download_t *dl, ls_fetch_t *fetch)
{
    for (ls_fetch_t **p = &dl->fetches; *p; p = &(*p)->next)
        if (*p == fetch) {
            *p = fetch->next;
            break;
        }
    free(fetch);
}

static void cancel_ticket(ls_download_t *dl, uint64_t ticket)
{
    for (ls_fetch_t *f = dl->fetches; f; f = f->next)
        if (f->a.ticket == ticket && f->exchange) {
            ls_exchange_t *ex = f->exchange;
            f->exchange = NULL;
            ls_exchange_cancel(ex); /* its callback frees f */
            return;
        }
}

static void store_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    ls_fetch_t *fetch = job->fetch;
    bool is_verified = job->status == 0;
    bool is_bad_data = job->status == LS_ECHUNK;
    int write_error = (is_verified || is_bad_data) ? 0 : job->status;
    uint64_t now = ls_rt_now_ms(dl->rt);
    ls_plan_outcome_t outcome = {0};

    job->fetch = NULL;
    job_done_common(job);
    if (dl->state != DL_FETCHING) {
        fetch_forget(dl, fetch);
        end_download(dl, dl->end_code, NULL);
        return;
    }
    if (write_error) {
        fetch_forget(dl, fetch);
        end_download(dl, write_error, ls_strerror(write_error));
        return;
    }
    if (is_bad_data)
        ls_warn("download", "%s: chunk %zu from %.12s does not match its hash", dl->game_id,
                fetch->a.chunk_id, ls_planner_peer_id(dl->planner, fetch->a.peer));
    if (ls_planner_done(dl->planner, &fetch->a, fetch->a.length, now, is_verified, &outcome) == 0) {
        if (outcome.counted)
            ls_resume_mark(&dl->resume, fetch->a.chunk_id);
        if (outcome.has_cancel)
            cancel_ticket(dl, outcome.cancel.ticket);
        if (outcome.peer_dropped)
            ls_warn("download", "%s: %.12s dropped: it sent bad data twice", dl->game_id,
                    ls_planner_peer_id(dl->planner, fetch->a.peer));
    }
    fetch_forget(dl, fetch);
    if (ls_planner_progress_due(dl->planner, now))
        emit_progress(dl, now);
    if (now - dl->last_resume_save_ms >= RESUME_SAVE_MS) {
        dl->last_resume_save_ms = now;
        save_resume(dl);
    }
    pump(dl);
}

static void fetch_cb(ls_link_t *link, int status, const ls_msg_t *reply, uint8_t *body, size_t len,
                     void *userdata)
{
    ls_fetch_t *fetch = userdata;
    ls_download_t *dl = fetch->dl;
    fetch->exchange = NULL;
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
    free(body);
    if (dl->state == DL_FETCHING && status != LS_ECANCELED)
        ls_planner_failed(dl->planner, &fetch->a, status);
    fetch_forget(dl, fetch);
    if (dl->state == DL_FETCHING)
        pump(dl);
    else
        end_download(dl, dl->end_code, NULL);
}

static int request_chunk(ls_download_t *dl, ls_link_t *link, const ls_assignment_t *a)
{
    const ls_file_desc_t *file = &dl->manifest.files[a->file_index];
    ls_fetch_t *fetch = calloc(1, sizeof *fetch);
    if (!fetch)
        return LS_ENOMEM;
    fetch->dl = dl;
    fetch->a = *a;
    fetch->sent_ms = ls_rt_now_ms(dl->rt);
    ls_msg_t req = {.kind = LS_MSG_GET_FILE_CHUNK};
    req.u.file_request.game_id = dl->game_id;
    req.u.file_request.path = file->path;
    req.u.file_request.offset = a->offset;
    req.u.file_request.length = a->length;
    int rc = ls_exchange_fetch(link, &req, LS_CHUNK_SIZE, fetch_cb, fetch, &fetch->exchange);
    if (rc != 0) {
        free(fetch);
        return rc;
    }
    fetch->next = dl->fetches;
    dl->fetches = fetch;
    return 0;
}

static void commit_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    job->status = ls_dl_tx_commit(dl->tx);
    if (job->status == 0) {
        ls_resume_remove(dl->rt->state_dir, dl->game_id);
        char *local = ls_path_join(dl->game_root, LS_INSTALL_DIR);
        dl->has_local_dir = local && ls_fs_is_dir(local) == 1;
        free(local);
        /* The library learns the game from the verified manifest: no
         * rehash, and no moment where it looks not downloaded. */
        int rc = ls_library_adoption_prepare(dl->rt->library, &dl->manifest, dl->selected,
                                             dl->selected_count, &dl->adoption);
        if (rc != 0)
            ls_warn("download", "%s: committed, but the library will rescan it: %s", dl->game_id,
                    ls_strerror(rc));
    }
}

static void commit_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    int rc = status != 0 ? LS_ECANCELED : job->status;
    job_done_common(job);
    if (rc != 0) {
        dl->state = DL_FETCHING; /* lets end_download run the abort */
        end_download(dl, rc, ls_strerror(rc));
        return;
    }
    ls_peer_runtime_t *rt = dl->rt;
    char game_id[LS_GAME_ID_MAX + 1];
    bool has_local = dl->has_local_dir;
    snprintf(game_id, sizeof game_id, "%s", dl->game_id);
    ls_info("download", "%s: complete", game_id);
    emit_progress(dl, ls_rt_now_ms(rt));
    if (dl->adoption) {
        /* Published (and announced) before download-finished, so no reader
         * ever sees the game finished but not downloaded. */
        rc = ls_library_adopt(rt->library, dl->adoption);
        dl->adoption = NULL;
        if (rc < 0)
            ls_warn("download", "%s: not published at once: %s", game_id, ls_strerror(rc));
        ls_rt_library_changed(rt);
    }
    ls_rt_emit(rt, LS_EVENT_DOWNLOAD_FINISHED,
               json_pack("{s:s,s:s}", "game_id", game_id, "version", dl->manifest.version));
    download_free(dl);
    ls_rt_download_ended(rt, game_id, true, has_local);
}

static void start_commit(ls_download_t *dl)
{
    ls_dl_job_t *job = calloc(1, sizeof *job);
    dl->state = DL_COMMITTING;
    if (!job || queue_job(dl, job, LS_WORKQ_BULK, commit_work, commit_done) != 0) {
        free(job);
        dl->state = DL_FETCHING;
        end_download(dl, LS_ENOMEM, ls_strerror(LS_ENOMEM));
    }
}

static void pump(ls_download_t *dl)
{
    uint64_t now = ls_rt_now_ms(dl->rt);
    int code;
    const char *reason;
    if (dl->state != DL_FETCHING)
        return;
    for (size_t slot = 0; slot < dl->peer_count; slot++) {
        ls_link_t *link = ls_link_find_ready(dl->rt, dl->peer_ids[slot]);
        ls_assignment_t a;
        for (int i = 0; link && i < PUMP_BATCH_MAX; i++) {
            if (ls_planner_next(dl->planner, (uint32_t)slot, now, &a) != 0)
                break;
            int rc = request_chunk(dl, link, &a);
            if (rc != 0) {
                ls_planner_failed(dl->planner, &a, rc);
                break;
            }
        }
    }
    if (ls_planner_has_failed(dl->planner, &code, &reason)) {
        end_download(dl, code, reason);
        return;
    }
    if (ls_planner_is_finished(dl->planner) && !dl->fetches && dl->pending_jobs == 0)
        start_commit(dl);
}

/* ---- ending: cancel every request, wait for pool jobs, sweep ---- */

static void abort_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    if (dl->tx)
        job->status = ls_dl_tx_abort(dl->tx);
    if (ls_resume_count(&dl->resume) > 0)
        ls_resume_save(&dl->resume, dl->rt->state_dir);
}

static void abort_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    ls_peer_runtime_t *rt = dl->rt;
    char game_id[LS_GAME_ID_MAX + 1];
    job_done_common(job);
    snprintf(game_id, sizeof game_id, "%s", dl->game_id);
    ls_warn("download", "%s: %s (%zu verified chunks kept for resume)", game_id, dl->end_reason,
            ls_resume_count(&dl->resume));
    ls_rt_emit(rt, LS_EVENT_DOWNLOAD_FAILED,
               json_pack("{s:s,s:s,s:b}", "game_id", game_id, "reason", dl->end_reason, "canceled",
                         dl->end_code == LS_ECANCELED));
    download_free(dl);
    ls_rt_download_ended(rt, game_id, false, false);
}

/* Cancelling runs fetch callbacks at once, which edit the list: start over
 * from the head after each one. */
static void cancel_all_fetches(ls_download_t *dl)
{
    for (;;) {
        ls_fetch_t *f = dl->fetches;
        while (f && !f->exchange)
            f = f->next;
        if (!f)
            return;
        ls_exchange_t *ex = f->exchange;
        f->exchange = NULL;
        ls_exchange_cancel(ex);
    }
}

static void end_download(ls_download_t *dl, int code, const char *reason)
{
    if (dl->state != DL_ENDING) {
        dl->state = DL_ENDING;
        dl->end_code = code;
        snprintf(dl->end_reason, sizeof dl->end_reason, "%s", reason ? reason : "failed");
        cancel_all_fetches(dl);
    }
    if (dl->fetches || dl->pending_jobs > 0)
        return; /* the last callback comes back here */
    ls_dl_job_t *job = calloc(1, sizeof *job);
    if (!job || queue_job(dl, job, LS_WORKQ_LATENCY, abort_work, abort_done) != 0) {
        free(job);
        ls_peer_runtime_t *rt = dl->rt;
        char game_id[LS_GAME_ID_MAX + 1];
        snprintf(game_id, sizeof game_id, "%s", dl->game_id);
        emit_dl_failure(rt, game_id, dl->end_reason);
        download_free(dl);
        ls_rt_download_ended(rt, game_id, false, false);
    }
}

/* ---- starting ---- */

static void prepare_work(uv_work_t *req)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    if (dl->use_resume) {
        ls_resume_load(dl->rt->state_dir, &dl->manifest, &dl->resume);
    } else {
        ls_resume_remove(dl->rt->state_dir, dl->game_id);
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

static void prepare_done(uv_work_t *req, int status)
{
    ls_dl_job_t *job = req->data;
    ls_download_t *dl = job->dl;
    int rc = status != 0 ? LS_ECANCELED : job->status;
    job_done_common(job);
    ls_planner_config_t plan = {.mode = (ls_plan_mode_t)dl->rt->plan_mode};
    if (rc == 0 && dl->state == DL_PREPARING)
        rc = ls_planner_new(&dl->manifest, dl->selected, dl->selected_count,
                            (const char *const *)dl->peer_ids, dl->peer_count, dl->resume.bitmap,
                            &plan, &dl->planner);
    if (rc != 0 || dl->state != DL_PREPARING) {
        dl->state = DL_FETCHING;
        end_download(dl, rc ? rc : LS_ECANCELED, rc ? ls_strerror(rc) : "canceled");
        return;
    }
    ls_plan_progress_t p;
    ls_planner_progress(dl->planner, ls_rt_now_ms(dl->rt), &p, NULL, 0);
    ls_info("download", "%s %s: %zu chunks from %zu peers (%zu already on disk)", dl->game_id,
            dl->manifest.version, p.chunks_total, dl->peer_count, p.chunks_done);
    ls_rt_emit(dl->rt, LS_EVENT_DOWNLOAD_BEGIN,
               json_pack("{s:s,s:s,s:I,s:I,s:I}", "game_id", dl->game_id, "version",
                         dl->manifest.version, "bytes_total", (json_int_t)p.bytes_total,
                         "bytes_done", (json_int_t)p.bytes_done, "peers",
                         (json_int_t)dl->peer_count));
    dl->state = DL_FETCHING;
    dl->last_resume_save_ms = ls_rt_now_ms(dl->rt);
    pump(dl);
}

/* arg: a game id (every file), or {"game_id": ID, "files": [paths]}. */
static int parse_selection(ls_download_t *dl, const char *arg)
{
    json_t *doc = arg[0] == '{' ? json_loads(arg, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *files = doc ? json_object_get(doc, "files") : NULL;
    int rc = 0;
    if (arg[0] == '{' && !json_is_array(files))
        rc = LS_EINVAL;
    dl->selected = calloc(dl->manifest.file_count + 1, sizeof *dl->selected);
    if (rc == 0 && !dl->selected)
        rc = LS_ENOMEM;
    for (size_t f = 0; rc == 0 && f < dl->manifest.file_count; f++) {
        bool wanted = !files;
        size_t i;
        json_t *path;
        json_array_foreach(files, i, path) wanted |=
            json_is_string(path) &&
            strcmp(json_string_value(path), dl->manifest.files[f].path) == 0;
        /* version.ini is the sentinel: always part of a download. */
        wanted |= strcmp(dl->manifest.files[f].path, LS_VERSION_FILE) == 0;
        if (wanted)
            dl->selected[dl->selected_count++] = f;
    }
    json_decref(doc);
    return rc;
}

static int copy_peers(ls_download_t *dl, const char **peers, size_t count)
{
    dl->peer_ids = calloc(count + 1, sizeof *dl->peer_ids);
    if (!dl->peer_ids)
        return LS_ENOMEM;
    for (size_t i = 0; i < count; i++, dl->peer_count++)
        if (!(dl->peer_ids[i] = strdup(peers[i])))
            return LS_ENOMEM;
    return 0;
}

static void start_download(ls_peer_runtime_t *rt, const char *game_id, const char *arg,
                           bool use_resume)
{
    const char **peers = NULL;
    size_t count = 0;
    const ls_game_manifest_t *m = pick_manifest(rt, game_id, &peers, &count);
    ls_download_t *dl = NULL;
    int rc = m ? 0 : LS_ENOPEERS;
    if (rc == 0 && find_download(rt, game_id))
        rc = LS_EBUSY;
    if (rc == 0 && (rc = ls_rt_game_busy(rt, game_id) ? LS_EBUSY : 0) == 0)
        rc = (dl = calloc(1, sizeof *dl)) ? 0 : LS_ENOMEM;
    if (rc == 0) {
        dl->rt = rt;
        snprintf(dl->game_id, sizeof dl->game_id, "%s", game_id);
        dl->use_resume = use_resume;
        dl->game_root = ls_library_game_root(rt->library, game_id);
        rc = dl->game_root ? ls_manifest_copy(&dl->manifest, m) : LS_ENOMEM;
    }
    if (rc == 0)
        rc = parse_selection(dl, arg);
    if (rc == 0)
        rc = copy_peers(dl, peers, count);
    free(peers);
    ls_dl_job_t *job = rc == 0 ? calloc(1, sizeof *job) : NULL;
    if (rc == 0 && !job)
        rc = LS_ENOMEM;
    if (rc == 0) {
        dl->next = rt->downloads;
        rt->downloads = dl;
        if (queue_job(dl, job, LS_WORKQ_BULK, prepare_work, prepare_done) == 0)
            return;
        free(job);
        rc = LS_EIO;
    }
    if (dl && rt->downloads == dl)
        rt->downloads = dl->next;
    if (dl) {
        dl->next = NULL;
        dl->rt = rt;
        ls_download_t *saved = rt->downloads;
        download_free(dl);
        rt->downloads = saved;
    }
    emit_dl_failure(rt, game_id, ls_strerror(rc));
}

void ls_download_start(ls_peer_runtime_t *rt, const char *arg)
{
    char game_id[LS_GAME_ID_MAX + 1] = "";
    json_t *doc = arg && arg[0] == '{' ? json_loads(arg, 0, NULL) : NULL;
    const char *id = doc ? json_string_value(json_object_get(doc, "game_id")) : arg;
    if (id)
        snprintf(game_id, sizeof game_id, "%s", id);
    json_decref(doc);
    if (!ls_game_id_is_valid(game_id)) {
        emit_dl_failure(rt, game_id, ls_strerror(LS_EINVALID_ID));
        return;
    }
    /* Without file lists from the seeders yet, fetch them first. */
    const char **peers = NULL;
    size_t count = 0;
    const ls_game_manifest_t *m = pick_manifest(rt, game_id, &peers, &count);
    free(peers);
    if (!m)
        query_manifests(rt, game_id, false, arg);
    else
        start_download(rt, game_id, arg, true);
}

void ls_download_cancel(ls_peer_runtime_t *rt, const char *game_id)
{
    ls_download_t *dl = game_id ? find_download(rt, game_id) : NULL;
    if (!dl) {
        emit_dl_failure(rt, game_id ? game_id : "", "no download of this game is running");
        return;
    }
    if (dl->state == DL_PREPARING || dl->state == DL_COMMITTING) {
        /* The pool job in flight sees the state when it returns. */
        if (dl->state == DL_PREPARING) {
            dl->state = DL_ENDING;
            dl->end_code = LS_ECANCELED;
            snprintf(dl->end_reason, sizeof dl->end_reason, "canceled");
        }
        return;
    }
    end_download(dl, LS_ECANCELED, "canceled");
}

void ls_download_peer_lost(ls_peer_runtime_t *rt, const char *peer_id)
{
    for (ls_download_t *dl = rt->downloads; dl; dl = dl->next) {
        uint32_t slot;
        if (dl->planner && ls_planner_peer_slot(dl->planner, peer_id, &slot) == 0) {
            ls_planner_peer_lost(dl->planner, slot);
            pump(dl);
        }
    }
}

/* A request whose peer has sent no reply byte, on any stream, for
 * fetch_stall_ms since the request went out. A peer that keeps its
 * connection but stops sending would otherwise hold its chunks for ever.
 * Counting per peer, not per request, keeps a busy peer's deep window (its
 * streams interleaved, each answered slowly) from looking stalled. */
static ls_fetch_t *find_stalled(ls_download_t *dl, uint64_t now)
{
    for (ls_fetch_t *f = dl->fetches; f; f = f->next) {
        if (!f->exchange)
            continue;
        ls_link_t *link = ls_link_find_ready(dl->rt, ls_planner_peer_id(dl->planner, f->a.peer));
        uint64_t since = f->sent_ms;
        if (link && link->last_data_ms > since)
            since = link->last_data_ms;
        if (now - since >= dl->rt->fetch_stall_ms)
            return f;
    }
    return NULL;
}

static void give_up_stalled(ls_download_t *dl, uint64_t now)
{
    ls_fetch_t *f;
    /* Bounded: each pass removes one request, and new ones are not stalled. */
    while (dl->state == DL_FETCHING && (f = find_stalled(dl, now)) != NULL) {
        ls_warn("download", "%s: chunk %zu: no data from %.12s in %u ms, asking elsewhere",
                dl->game_id, f->a.chunk_id, ls_planner_peer_id(dl->planner, f->a.peer),
                dl->rt->fetch_stall_ms);
        ls_planner_failed(dl->planner, &f->a, LS_ETIMEDOUT);
        ls_exchange_t *ex = f->exchange;
        f->exchange = NULL;
        ls_exchange_cancel(ex); /* its callback frees f; the ticket is already failed */
    }
}

void ls_download_tick(ls_peer_runtime_t *rt)
{
    uint64_t now = ls_rt_now_ms(rt);
    ls_download_t *next;
    for (ls_download_t *dl = rt->downloads; dl; dl = next) {
        next = dl->next; /* pump may end and free dl */
        if (dl->state != DL_FETCHING)
            continue;
        give_up_stalled(dl, now);
        pump(dl);
    }
}

void ls_download_shutdown(ls_peer_runtime_t *rt)
{
    for (ls_download_t *dl = rt->downloads; dl; dl = dl->next)
        if (dl->state == DL_FETCHING)
            end_download(dl, LS_ECANCELED, "shutting down");
}
