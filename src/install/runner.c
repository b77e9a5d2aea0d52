/* The install runner: executes transactions on the install lane (workq.h),
 * one at a time per game, and reports them as events on the loop thread. */
#include "lanspread/install.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"
#include "lanspread/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    struct ls_install_runner *runner;
    struct job *next;
    uv_work_t work;
    uv_async_t async;
    ls_install_op_t op;
    char game_id[LS_GAME_ID_MAX + 1];
    char *root;
    /* written by the worker, read by the loop, under lock */
    uv_mutex_t lock;
    bool started;
    bool progress_dirty;
    uint64_t done;
    uint64_t total;
    /* loop thread only */
    bool begin_sent;
    /* written by the worker before after_work runs */
    int rc;
    char reason[LS_REASON_MAX];
} job_t;

struct ls_install_runner {
    uv_loop_t *loop;
    char *games_dir;
    ls_install_opts_t opts;
    ls_install_event_cb cb;
    void *userdata;
    job_t *active;       /* queued or running: the busy games */
    size_t open_handles; /* jobs whose async handle is not closed yet */
    bool closing;
};

static void runner_free(ls_install_runner_t *r)
{
    free(r->games_dir);
    free(r);
}

static void emit(job_t *job, ls_install_event_kind_t kind)
{
    ls_install_runner_t *r = job->runner;
    ls_install_event_t ev = {
        .kind = kind,
        .op = job->op,
        .game_id = job->game_id,
        .done = job->done,
        .total = job->total,
        .error = job->rc,
        .reason = job->reason,
    };
    if (!r->closing && r->cb)
        r->cb(&ev, r->userdata);
}

static void flush_progress(job_t *job)
{
    uv_mutex_lock(&job->lock);
    bool started = job->started;
    bool dirty = job->progress_dirty;
    job->progress_dirty = false;
    uv_mutex_unlock(&job->lock);
    if (started && !job->begin_sent) {
        job->begin_sent = true;
        emit(job, LS_INSTALL_EV_BEGIN);
    }
    if (dirty)
        emit(job, LS_INSTALL_EV_PROGRESS);
}

static void async_cb(uv_async_t *handle)
{
    flush_progress(handle->data);
}

static void progress_cb(uint64_t done, uint64_t total, void *userdata)
{
    job_t *job = userdata;
    uv_mutex_lock(&job->lock);
    job->done = done;
    job->total = total;
    job->progress_dirty = true;
    uv_mutex_unlock(&job->lock);
    uv_async_send(&job->async);
}

static void work_cb(uv_work_t *req)
{
    job_t *job = req->data;
    ls_install_opts_t opts = job->runner->opts;
    uv_mutex_lock(&job->lock);
    job->started = true;
    uv_mutex_unlock(&job->lock);
    uv_async_send(&job->async);
    opts.progress = progress_cb;
    opts.userdata = job;
    job->rc = ls_install_run(job->op, job->root, &opts, job->reason, sizeof job->reason);
}

static void job_closed_cb(uv_handle_t *handle)
{
    job_t *job = handle->data;
    ls_install_runner_t *r = job->runner;
    uv_mutex_destroy(&job->lock);
    free(job->root);
    free(job);
    r->open_handles--;
    if (r->closing && r->open_handles == 0)
        runner_free(r);
}

static void unlink_job(job_t *job)
{
    for (job_t **p = &job->runner->active; *p; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            return;
        }
    }
}

static void after_work_cb(uv_work_t *req, int status)
{
    job_t *job = req->data;
    (void)status; /* jobs are never cancelled */
    uv_mutex_lock(&job->lock);
    job->started = true;
    uv_mutex_unlock(&job->lock);
    flush_progress(job);
    /* not busy any more by the time the outcome is seen */
    unlink_job(job);
    emit(job, job->rc == 0 ? LS_INSTALL_EV_FINISHED : LS_INSTALL_EV_FAILED);
    uv_close((uv_handle_t *)&job->async, job_closed_cb);
}

int ls_install_runner_new(uv_loop_t *loop, const char *games_dir, const ls_install_opts_t *opts,
                          ls_install_event_cb cb, void *userdata, ls_install_runner_t **out)
{
    ls_install_runner_t *r;
    *out = NULL;
    if (!loop || !games_dir)
        return LS_EINVAL;
    r = calloc(1, sizeof *r);
    if (!r)
        return LS_ENOMEM;
    r->games_dir = strdup(games_dir);
    if (!r->games_dir) {
        free(r);
        return LS_ENOMEM;
    }
    r->loop = loop;
    if (opts)
        r->opts = *opts;
    r->cb = cb;
    r->userdata = userdata;
    *out = r;
    return 0;
}

bool ls_install_runner_is_busy(const ls_install_runner_t *r, const char *game_id)
{
    for (const job_t *j = r->active; j; j = j->next)
        if (strcmp(j->game_id, game_id) == 0)
            return true;
    return false;
}

/* Takes the job: on failure it is freed here. */
static int job_start(ls_install_runner_t *r, job_t *job)
{
    int rc = uv_mutex_init(&job->lock);
    if (rc == 0 && (rc = uv_async_init(r->loop, &job->async, async_cb)) != 0)
        uv_mutex_destroy(&job->lock);
    if (rc != 0) {
        free(job->root);
        free(job);
        return LS_EIO;
    }
    job->async.data = job;
    job->work.data = job;
    r->open_handles++;
    rc = ls_workq_queue(r->loop, &job->work, LS_WORKQ_INSTALL, work_cb, after_work_cb);
    if (rc != 0) {
        /* the close callback frees the job */
        uv_close((uv_handle_t *)&job->async, job_closed_cb);
        return LS_EIO;
    }
    job->next = r->active;
    r->active = job;
    return 0;
}

int ls_install_runner_submit(ls_install_runner_t *r, ls_install_op_t op, const char *game_id)
{
    job_t *job;
    if (r->closing)
        return LS_ESTATE;
    if (!ls_game_id_is_valid(game_id))
        return LS_EINVALID_ID;
    if (op < LS_INSTALL_OP_INSTALL || op > LS_INSTALL_OP_UNINSTALL)
        return LS_EINVAL;
    if (ls_install_runner_is_busy(r, game_id))
        return LS_EBUSY;
    job = calloc(1, sizeof *job);
    if (!job)
        return LS_ENOMEM;
    job->runner = r;
    job->op = op;
    snprintf(job->game_id, sizeof job->game_id, "%s", game_id);
    job->root = ls_path_join(r->games_dir, game_id);
    if (!job->root) {
        free(job);
        return LS_ENOMEM;
    }
    return job_start(r, job);
}

void ls_install_runner_close(ls_install_runner_t *r)
{
    if (!r)
        return;
    r->closing = true;
    if (r->open_handles == 0)
        runner_free(r);
}
