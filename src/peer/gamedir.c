/* LS_CMD_SET_GAME_DIR: the new directory is checked and recovered on the
 * install lane, then swapped in on the loop (library, install runner and
 * monitor), rescanned in full, and announced to the peers as a library
 * delta. The library must stay open while a scan runs, so a swap that comes
 * during a scan waits for its end. */
#include "runtime_internal.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/workq.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_work_t req;
    ls_peer_runtime_t *rt;
    char dir[PATH_MAX]; /* as asked, then canonical */
    int status;
    char why[PATH_MAX + 128];
} ls_game_dir_job_t;

static void refuse(ls_peer_runtime_t *rt, const char *dir, const char *why)
{
    ls_warn("peer", "set game directory: %s", why);
    ls_peer_event_t event = {.kind = LS_EVENT_RUNTIME_FAILURE,
                             .u.failure = {"set game directory", why, dir}};
    ls_rt_emit(rt, &event);
}

/* A download or install works inside the current directory: it must end
 * first. */
static bool any_game_busy(ls_peer_runtime_t *rt)
{
    size_t count;
    const ls_local_game_t *games = ls_library_games(rt->library, &count);
    if (ls__fetcher_any_active(rt->fetcher))
        return true;
    for (size_t i = 0; i < count; i++)
        if (ls_install_runner_is_busy(rt->installs, games[i].id))
            return true;
    return false;
}

static void check_work(uv_work_t *req)
{
    ls_game_dir_job_t *job = req->data;
    char real[PATH_MAX];
    job->status = ls_fs_check_game_dir(job->dir, real, job->why, sizeof job->why);
    if (job->status != 0)
        return;
    snprintf(job->dir, sizeof job->dir, "%s", real);
    /* As at boot: nothing half-installed is ever announced. */
    int rc = ls_install_recover_all(job->dir, NULL, NULL);
    if (rc != 0)
        ls_warn("peer", "install recovery of %s: %s", job->dir, ls_strerror(rc));
}

static int swap_in(ls_peer_runtime_t *rt, const char *dir)
{
    ls_library_config_t lib_config = {.game_dir = dir,
                                      .state_dir = rt->state_dir,
                                      .catalog = rt->catalog,
                                      .is_first_scan_background = true};
    ls_install_opts_t install_opts = {.unpacker = rt->unpacker};
    ls_library_t *library = NULL;
    ls_install_runner_t *installs = NULL;
    char *copy = strdup(dir);
    int rc = copy ? ls_library_open(&lib_config, &library) : LS_ENOMEM;
    if (rc == 0)
        rc = ls_install_runner_new(&rt->loop, dir, &install_opts, ls_rt_install_event_cb, rt,
                                   &installs);
    if (rc != 0) {
        ls_library_close(library);
        free(copy);
        return rc;
    }
    ls_monitor_stop(rt->monitor);
    rt->monitor = NULL;
    ls_install_runner_close(rt->installs);
    rt->installs = installs;
    ls_library_close(rt->library);
    ls_rt_use_library(rt, library);
    free(rt->game_dir);
    rt->game_dir = copy;
    if (rt->playing && ls__playing_set_game_dir(rt->playing, copy) != 0)
        ls_warn("peer", "the playing watch keeps the old game directory: out of memory");
    /* Until the new directory's scan ends (its library_changed arms the
     * watch for what it holds), what it has installed is not known yet. */
    ls__playing_set_armed(rt->playing, true);
    ls_info("peer", "game directory is now %s", dir);
    ls_rt_emit(rt, &(ls_peer_event_t){.kind = LS_EVENT_GAME_DIR_CHANGED, .u.game_dir = {dir}});
    ls_rt_start_monitor(rt);
    rt->rescan_pending = false;
    ls_rt_rescan(rt, NULL); /* its end announces the new library */
    return 0;
}

static void apply(ls_peer_runtime_t *rt, const char *dir)
{
    char why[PATH_MAX + 128];
    int rc = any_game_busy(rt) ? LS_EBUSY : swap_in(rt, dir);
    if (rc == LS_EBUSY)
        snprintf(why, sizeof why, "a download or install is running; try again when it ends");
    else
        snprintf(why, sizeof why, "cannot open %s: %s", dir, ls_strerror(rc));
    if (rc != 0)
        refuse(rt, dir, why);
}

static void check_done(uv_work_t *req, int status)
{
    ls_game_dir_job_t *job = req->data;
    ls_peer_runtime_t *rt = job->rt;
    rt->is_game_dir_job = false;
    if (rt->is_shutting_down || status != 0) {
        free(job);
        return;
    }
    if (job->status != 0) {
        refuse(rt, job->dir, job->why);
    } else if (rt->is_scanning) {
        free(rt->pending_game_dir);
        rt->pending_game_dir = strdup(job->dir);
        if (!rt->pending_game_dir)
            refuse(rt, job->dir, ls_strerror(LS_ENOMEM));
    } else {
        apply(rt, job->dir);
    }
    free(job);
}

void ls_rt_set_game_dir(ls_peer_runtime_t *rt, const char *dir)
{
    ls_game_dir_job_t *job = NULL;
    const char *why = NULL;
    if (!dir || !dir[0])
        why = "no directory given";
    else if (strlen(dir) >= PATH_MAX)
        why = "directory path too long";
    else if (rt->is_game_dir_job || rt->pending_game_dir)
        why = "another game directory change is running";
    else if (any_game_busy(rt))
        why = "a download or install is running; try again when it ends";
    else if (!(job = calloc(1, sizeof *job)))
        why = ls_strerror(LS_ENOMEM);
    if (why) {
        refuse(rt, dir ? dir : "", why);
        return;
    }
    job->rt = rt;
    job->req.data = job;
    snprintf(job->dir, sizeof job->dir, "%s", dir);
    /* Recovery may remove whole install trees: the install lane's kind of work. */
    if (ls_workq_queue(&rt->loop, &job->req, LS_WORKQ_INSTALL, check_work, check_done) != 0) {
        refuse(rt, dir, ls_strerror(LS_EIO));
        free(job);
        return;
    }
    rt->is_game_dir_job = true;
}

bool ls_rt_game_dir_scan_ended(ls_peer_runtime_t *rt)
{
    char *dir = rt->pending_game_dir;
    if (!dir || rt->is_shutting_down)
        return false;
    rt->pending_game_dir = NULL;
    apply(rt, dir);
    free(dir);
    return !rt->pending_game_dir && rt->is_scanning;
}
