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
    bool is_scanning; /* the job is in flight: it reads game_dir and walk, writes found */
    bool is_stopped;
    bool is_armed;
    ls__playing_walk_t walk; /* of game_dir */
    uint32_t walks_done;     /* the loop's count: walk is the job's while it runs */
    char *game_dir;          /* as configured */
    char *next_game_dir;     /* set while a job runs: taken when it ends */
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

/* The pid a /proc entry names; -1 for any other entry. */
static long pid_of(const char *name)
{
    long pid = 0;
    if (!*name)
        return -1;
    for (; *name; name++) {
        if (*name < '0' || *name > '9' || pid > (LONG_MAX - 9) / 10)
            return -1;
        pid = pid * 10 + (*name - '0');
    }
    return pid;
}

static int compare_pid(const void *a, const void *b)
{
    long x = ((const ls__playing_proc_t *)a)->pid, y = ((const ls__playing_proc_t *)b)->pid;
    return (x > y) - (x < y);
}

static const ls__playing_proc_t *remembered(const ls__playing_walk_t *w, long pid)
{
    ls__playing_proc_t key = {.pid = pid};
    return w->count ? bsearch(&key, w->procs, w->count, sizeof key, compare_pid) : NULL;
}

/* Whether this walk reads the process's exe (see LS_PLAYING_YOUNG_WALKS). */
static bool is_due(const ls__playing_proc_t *old, long pid, uint32_t walk)
{
    return !old || old->is_game || walk - old->first_walk < LS_PLAYING_YOUNG_WALKS ||
           (walk + (uint32_t)pid) % LS_PLAYING_RECHECK_WALKS == 0;
}

/* Reads proc_dir/<name>/exe: true when it lies under a game's local/. */
static bool runs_game(const char *proc_dir, const char *name, const char *game_dir, char *id)
{
    char link[PATH_MAX], exe[PATH_MAX];
    snprintf(link, sizeof link, "%s/%s/exe", proc_dir, name);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n <= 0)
        return false; /* gone, a kernel thread, or not ours to read */
    exe[n] = '\0';
    return game_of_exe(exe, game_dir, id);
}

/* Keeps a process for the next walk; past LS_PLAYING_REMEMBER_MAX, or
 * short of memory, it is not kept (read every walk). The array starts at
 * the last walk's size: /proc rarely changes much in a second. */
#define KEEP_FIRST_CAP 64
static void keep(ls__playing_proc_t **procs, size_t *count, size_t *cap, size_t last_count,
                 const ls__playing_proc_t *proc)
{
    if (*count == *cap) {
        size_t grown = *cap ? *cap * 2 : last_count + KEEP_FIRST_CAP;
        ls__playing_proc_t *bigger;
        if (grown > LS_PLAYING_REMEMBER_MAX || !(bigger = realloc(*procs, grown * sizeof *bigger)))
            return;
        *procs = bigger;
        *cap = grown;
    }
    (*procs)[(*count)++] = *proc;
}

void ls__playing_walk(ls__playing_walk_t *w, const char *proc_dir, const char *game_dir, char *id)
{
    ls__playing_proc_t *procs = NULL;
    size_t count = 0, cap = 0;
    bool is_sorted = true;
    uint32_t walk = w->walks++;
    DIR *dir = opendir(proc_dir);
    struct dirent *e;

    id[0] = '\0';
    w->reads = 0;
    while (dir && (e = readdir(dir)) != NULL) {
        long pid = pid_of(e->d_name);
        if (pid < 0)
            continue;
        const ls__playing_proc_t *old = remembered(w, pid);
        ls__playing_proc_t now = {.pid = pid, .first_walk = old ? old->first_walk : walk};
        char found[LS_GAME_ID_MAX + 1];
        /* not due: an old process, its exe read before and not a game,
         * keeps that verdict */
        if (is_due(old, pid, walk)) {
            w->reads++;
            now.is_game = runs_game(proc_dir, e->d_name, game_dir, found);
            if (now.is_game && !id[0])
                memcpy(id, found, sizeof found);
        }
        is_sorted = is_sorted && (count == 0 || procs[count - 1].pid < pid);
        keep(&procs, &count, &cap, w->count, &now);
    }
    if (dir)
        closedir(dir);
    if (!is_sorted) /* /proc lists pids in order; a stand-in may not */
        qsort(procs, count, sizeof *procs, compare_pid);
    free(w->procs);
    w->procs = procs;
    w->count = count;
}

void ls__playing_walk_free(ls__playing_walk_t *w)
{
    free(w->procs);
    *w = (ls__playing_walk_t){0};
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
    ls__playing_walk(&p->walk, LS_PLAYING_PROC_DIR, real, p->found);
}

/* No game found, no process remembered: the state of an unarmed watch,
 * and of one whose directory changed. Not while a job runs. */
static void forget(ls__playing_t *p)
{
    p->found[0] = '\0';
    ls__playing_walk_free(&p->walk);
}

/* The walk's verdicts belong to the directory it read. */
static void take_game_dir(ls__playing_t *p, char *game_dir)
{
    free(p->game_dir);
    p->game_dir = game_dir;
    forget(p);
    p->walks_done = 0;
}

/* Tells the loop when the game found differs from what it was told. */
static void report(ls__playing_t *p)
{
    if (p->is_stopped || strcmp(p->found, p->current) == 0)
        return;
    snprintf(p->current, sizeof p->current, "%s", p->found);
    p->changed_cb(p->current[0] ? p->current : NULL, p->userdata);
}

static void scan_done(uv_work_t *req, int status)
{
    ls__playing_t *p = req->data;
    (void)status;
    p->is_scanning = false;
    p->walks_done++;
    if (p->next_game_dir) {
        take_game_dir(p, p->next_game_dir);
        p->next_game_dir = NULL;
    }
    if (!p->is_armed) /* disarmed while the job ran */
        forget(p);
    report(p);
}

static void timer_cb(uv_timer_t *timer)
{
    ls__playing_t *p = timer->data;
    if (p->is_scanning)
        return; /* a slow /proc: skip a beat rather than queue jobs */
    if (!p->is_armed) {
        p->found[0] = '\0';
        report(p);
        return;
    }
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
    take_game_dir(p, copy);
    return 0;
}

void ls__playing_set_armed(ls__playing_t *p, bool is_armed)
{
    if (!p)
        return;
    p->is_armed = is_armed;
    /* A pid the system reuses while we do not look would inherit a
     * verdict and skip its youth: unarmed, nothing is remembered (a job in
     * flight frees it when it ends). */
    if (!is_armed && !p->is_scanning)
        forget(p);
}

uint32_t ls__playing_walks(const ls__playing_t *p)
{
    return p->walks_done;
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
    ls__playing_walk_free(&p->walk);
    free(p);
}
