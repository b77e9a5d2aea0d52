/* Work classes: latency work on libuv's pool, bulk and install work on
 * threads of their own, each lane a FIFO queue woken by a condition variable.
 * A finished job wakes its loop through a uv_async_t of its own, so jobs of
 * any number of loops share the lanes. */
#include "lanspread/workq.h"

#include "lanspread/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* libuv gives its pool threads 8 MiB stacks: work moved off the pool keeps
 * what it had there. */
#define LANE_STACK_SIZE (8u << 20)
#define NICE_MAX 19

typedef struct job {
    struct job *next;
    uv_async_t done; /* sent by the worker once work_cb returned */
    uv_work_t *req;
    uv_work_cb work_cb;
    uv_after_work_cb after_work_cb;
} job_t;

typedef struct {
    const char *name; /* the threads' name, for ps and debuggers */
    unsigned thread_count;
    /* under lock */
    uv_mutex_t lock;
    uv_cond_t has_work;
    unsigned started;
    job_t *head;
    job_t *tail;
} lane_t;

static lane_t lanes[] = {
    [LS_WORKQ_BULK] = {.name = "ls-bulk", .thread_count = LS_WORKQ_BULK_THREADS},
    [LS_WORKQ_INSTALL] = {.name = "ls-install", .thread_count = LS_WORKQ_INSTALL_THREADS},
};
static uv_once_t lanes_once = UV_ONCE_INIT;
static uv_once_t pool_size_once = UV_ONCE_INIT;

static void lanes_reset(void)
{
    for (size_t i = 0; i < sizeof lanes / sizeof lanes[0]; i++) {
        if (!lanes[i].name)
            continue;
        uv_mutex_init(&lanes[i].lock);
        uv_cond_init(&lanes[i].has_work);
        lanes[i].started = 0;
        lanes[i].head = lanes[i].tail = NULL;
    }
}

/* A forked child has none of the parent's threads, and the parent's queued
 * jobs belong to the parent's loops: start afresh (a lock the parent held
 * at fork time is re-made unlocked). */
static void lanes_init(void)
{
    lanes_reset();
    pthread_atfork(NULL, NULL, lanes_reset);
}

static void lower_priority(void)
{
    /* Per-thread on Linux: the thread id names this thread only. */
    id_t self = (id_t)syscall(SYS_gettid);
    int nice = getpriority(PRIO_PROCESS, self) + LS_WORKQ_BACKGROUND_NICE;
    setpriority(PRIO_PROCESS, self, nice < NICE_MAX ? nice : NICE_MAX);
}

static void worker(void *arg)
{
    lane_t *lane = arg;
    pthread_setname_np(pthread_self(), lane->name);
    lower_priority();
    for (;;) {
        uv_mutex_lock(&lane->lock);
        while (!lane->head)
            uv_cond_wait(&lane->has_work, &lane->lock);
        job_t *job = lane->head;
        lane->head = job->next;
        if (!lane->head)
            lane->tail = NULL;
        uv_mutex_unlock(&lane->lock);
        job->work_cb(job->req);
        uv_async_send(&job->done); /* the job is the loop's from here on */
    }
}

/* Called with lane->lock held. A lane that got some of its threads works
 * with those. */
static int lane_start(lane_t *lane)
{
    uv_thread_options_t options = {.flags = UV_THREAD_HAS_STACK_SIZE,
                                   .stack_size = LANE_STACK_SIZE};
    while (lane->started < lane->thread_count) {
        uv_thread_t thread;
        if (uv_thread_create_ex(&thread, &options, worker, lane) != 0)
            break;
        lane->started++;
    }
    return lane->started > 0 ? 0 : LS_EIO;
}

/* The request is the caller's again once its handle is closed. */
static void job_closed_cb(uv_handle_t *handle)
{
    job_t *job = handle->data;
    uv_work_t *req = job->req;
    uv_after_work_cb after_work_cb = job->after_work_cb;
    free(job);
    if (after_work_cb)
        after_work_cb(req, 0);
}

static void job_done_cb(uv_async_t *handle)
{
    uv_close((uv_handle_t *)handle, job_closed_cb);
}

static int lane_queue(uv_loop_t *loop, lane_t *lane, uv_work_t *req, uv_work_cb work_cb,
                      uv_after_work_cb after_work_cb)
{
    job_t *job = calloc(1, sizeof *job);
    int rc = job ? 0 : LS_ENOMEM;
    uv_once(&lanes_once, lanes_init);
    if (rc == 0) {
        uv_mutex_lock(&lane->lock);
        rc = lane_start(lane);
        uv_mutex_unlock(&lane->lock);
    }
    if (rc == 0 && uv_async_init(loop, &job->done, job_done_cb) != 0)
        rc = LS_EIO;
    if (rc != 0) {
        free(job);
        return rc;
    }
    job->done.data = job;
    job->req = req;
    job->work_cb = work_cb;
    job->after_work_cb = after_work_cb;
    uv_mutex_lock(&lane->lock);
    if (lane->tail)
        lane->tail->next = job;
    else
        lane->head = job;
    lane->tail = job;
    uv_cond_signal(&lane->has_work);
    uv_mutex_unlock(&lane->lock);
    return 0;
}

int ls_workq_queue(uv_loop_t *loop, uv_work_t *req, ls_workq_class_t cls, uv_work_cb work_cb,
                   uv_after_work_cb after_work_cb)
{
    if (!loop || !req || !work_cb)
        return LS_EINVAL;
    switch (cls) {
    case LS_WORKQ_LATENCY:
        return uv_queue_work(loop, req, work_cb, after_work_cb) == 0 ? 0 : LS_EIO;
    case LS_WORKQ_BULK:
    case LS_WORKQ_INSTALL:
        return lane_queue(loop, &lanes[cls], req, work_cb, after_work_cb);
    }
    return LS_EINVAL;
}

static void set_pool_size(void)
{
    char size[16];
    snprintf(size, sizeof size, "%d", LS_WORKQ_LATENCY_THREADS);
    setenv("UV_THREADPOOL_SIZE", size, 0); /* a size the user set wins */
}

void ls_workq_set_pool_size(void)
{
    uv_once(&pool_size_once, set_pool_size);
}
