/* The playing watch: a timer on the loop, a /proc walk on the pool. */
#include "playing.h"

#include "lanspread/error.h"
#include "lanspread/path.h"
#include "lanspread/workq.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ls__playing {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_work_t job;
    bool is_scanning; /* the job is in flight: it reads game_dir and writes found */
    bool is_stopped;
    char *game_dir;      /* as configured */
    char *next_game_dir; /* set while a job runs: taken when it ends */
    char found[LS_GAME_ID_MAX + 1];
    char current[LS_GAME_ID_MAX + 1]; /* what changed_cb was last told */
    ls__playing_cb changed_cb;
    void *userdata;
};

/* The game id when exe is GAME_DIR/<id>/local/...; false otherwise. */
static bool game_of_exe(const char *exe, const char *game_dir, char *id)
{
    size_t dir_len = strlen(game_dir), id_len;
    const char *rest;
    if (strncmp(exe, game_dir, dir_len) != 0 || exe[dir_len] != '/')
        return false;
    rest = exe + dir_len + 1;
    id_len = strcspn(rest, "/");
    if (id_len == 0 || id_len > LS_GAME_ID_MAX || rest[id_len] != '/' ||
        strncmp(rest + id_len + 1, LS_INSTALL_DIR "/", sizeof LS_INSTALL_DIR) != 0)
        return false;
    memcpy(id, rest, id_len);
    id[id_len] = '\0';
    return ls_game_id_is_valid(id);
}

static bool is_pid(const char *name)
{
    if (!*name)
        return false;
    for (; *name; name++)
        if (*name < '0' || *name > '9')
            return false;
    return true;
}

void ls__playing_scan(const char *proc_dir, const char *game_dir, char *id)
{
    char link[PATH_MAX], exe[PATH_MAX];
    DIR *dir = opendir(proc_dir);
    struct dirent *e;
    id[0] = '\0';
    if (!dir)
        return;
    while (!id[0] && (e = readdir(dir)) != NULL) {
        if (!is_pid(e->d_name))
            continue;
        snprintf(link, sizeof link, "%s/%s/exe", proc_dir, e->d_name);
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        if (n <= 0)
            continue; /* gone, a kernel thread, or not ours to read */
        exe[n] = '\0';
        if (!game_of_exe(exe, game_dir, id))
            id[0] = '\0';
    }
    closedir(dir);
}

static void scan_work(uv_work_t *req)
{
    ls__playing_t *p = req->data;
    char real[PATH_MAX];
    /* /proc names executables by their real path */
    if (!realpath(p->game_dir, real)) {
        p->found[0] = '\0';
        return;
    }
    ls__playing_scan(LS_PLAYING_PROC_DIR, real, p->found);
}

static void scan_done(uv_work_t *req, int status)
{
    ls__playing_t *p = req->data;
    (void)status;
    p->is_scanning = false;
    if (p->next_game_dir) {
        free(p->game_dir);
        p->game_dir = p->next_game_dir;
        p->next_game_dir = NULL;
    }
    if (p->is_stopped || strcmp(p->found, p->current) == 0)
        return;
    snprintf(p->current, sizeof p->current, "%s", p->found);
    p->changed_cb(p->current[0] ? p->current : NULL, p->userdata);
}

static void timer_cb(uv_timer_t *timer)
{
    ls__playing_t *p = timer->data;
    if (p->is_scanning)
        return; /* a slow /proc: skip a beat rather than queue jobs */
    p->job.data = p;
    if (ls_workq_queue(p->loop, &p->job, LS_WORKQ_LATENCY, scan_work, scan_done) == 0)
        p->is_scanning = true;
}

int ls__playing_start(uv_loop_t *loop, const char *game_dir, ls__playing_cb changed_cb,
                      void *userdata, ls__playing_t **out)
{
    ls__playing_t *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->game_dir = strdup(game_dir))) {
        free(p);
        return LS_ENOMEM;
    }
    p->loop = loop;
    p->changed_cb = changed_cb;
    p->userdata = userdata;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, timer_cb, 0, LS_PLAYING_SCAN_MS);
    *out = p;
    return 0;
}

int ls__playing_set_game_dir(ls__playing_t *p, const char *game_dir)
{
    char *copy = strdup(game_dir);
    if (!copy)
        return LS_ENOMEM;
    if (p->is_scanning) { /* the job reads game_dir: swapped when it ends */
        free(p->next_game_dir);
        p->next_game_dir = copy;
        return 0;
    }
    free(p->game_dir);
    p->game_dir = copy;
    return 0;
}

const char *ls__playing_game(const ls__playing_t *p)
{
    return p ? p->current : "";
}

void ls__playing_stop(ls__playing_t *p)
{
    if (!p || p->is_stopped)
        return;
    p->is_stopped = true;
    uv_close((uv_handle_t *)&p->timer, NULL);
}

void ls__playing_free(ls__playing_t *p)
{
    if (!p)
        return;
    free(p->game_dir);
    free(p->next_game_dir);
    free(p);
}
