/* Work classes: latency work (libuv's pool, uv_fs_read included) runs while
 * the bulk and install lanes are full of jobs that do not end; each lane runs
 * at most its threads at once; completions come back on their own loop. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/workq.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

/* The old scan queued one job per changed file: more than libuv has threads. */
#define HELD_BULK_JOBS (2 * LS_WORKQ_LATENCY_THREADS)
/* Generous for a shared machine: a latency job here takes microseconds,
 * while behind held jobs it would wait for ever. */
#define LATENCY_BUDGET_MS 3000
#define JOB_SLEEP_US 30000

/* Jobs that stay inside work_cb until the test opens the gate. */
typedef struct {
    uv_mutex_t lock;
    uv_cond_t cond;
    bool is_open;
    int running; /* inside work_cb now */
    int peak;
    int finished; /* after_work_cb ran */
    int order[32];
    int started;
    bool wrong_thread;
    uv_thread_t loop_thread;
} gate_t;

typedef struct {
    uv_work_t req;
    gate_t *gate;
    int index;
    bool is_held;
} job_t;

static void gate_init(gate_t *g)
{
    memset(g, 0, sizeof *g);
    uv_mutex_init(&g->lock);
    uv_cond_init(&g->cond);
    g->loop_thread = uv_thread_self();
}

static void gate_open(gate_t *g)
{
    uv_mutex_lock(&g->lock);
    g->is_open = true;
    uv_cond_broadcast(&g->cond);
    uv_mutex_unlock(&g->lock);
}

static void gate_free(gate_t *g)
{
    uv_cond_destroy(&g->cond);
    uv_mutex_destroy(&g->lock);
}

static void job_work(uv_work_t *req)
{
    job_t *job = req->data;
    gate_t *g = job->gate;
    uv_mutex_lock(&g->lock);
    if (g->started < (int)(sizeof g->order / sizeof g->order[0]))
        g->order[g->started] = job->index;
    g->started++;
    if (++g->running > g->peak)
        g->peak = g->running;
    while (job->is_held && !g->is_open)
        uv_cond_wait(&g->cond, &g->lock);
    uv_mutex_unlock(&g->lock);
    if (!job->is_held)
        usleep(JOB_SLEEP_US); /* long enough for the lane's threads to overlap */
    uv_mutex_lock(&g->lock);
    g->running--;
    uv_mutex_unlock(&g->lock);
}

/* Frees the request: the lane must not touch it after this. */
static void job_done(uv_work_t *req, int status)
{
    job_t *job = req->data;
    gate_t *g = job->gate;
    uv_thread_t self = uv_thread_self();
    assert_int_equal(status, 0);
    if (!uv_thread_equal(&self, &g->loop_thread))
        g->wrong_thread = true;
    g->finished++;
    free(job);
}

static void queue_job(uv_loop_t *loop, gate_t *g, ls_workq_class_t cls, int index, bool is_held)
{
    job_t *job = calloc(1, sizeof *job);
    assert_non_null(job);
    job->req.data = job;
    job->gate = g;
    job->index = index;
    job->is_held = is_held;
    assert_int_equal(ls_workq_queue(loop, &job->req, cls, job_work, job_done), 0);
}

/* The latency side: one job and one uv_fs_read of a file. */
typedef struct {
    uv_loop_t *loop;
    uv_work_t work;
    uv_fs_t read;
    char buf[16];
    bool is_work_done;
    bool is_read_done;
    bool is_timed_out;
    uint64_t started_ms;
    uint64_t done_ms;
} probe_t;

static void probe_check(probe_t *p)
{
    if (p->is_work_done && p->is_read_done) {
        p->done_ms = uv_now(p->loop);
        uv_stop(p->loop);
    }
}

static void probe_work(uv_work_t *req)
{
    (void)req;
}

static void probe_work_done(uv_work_t *req, int status)
{
    probe_t *p = req->data;
    p->is_work_done = status == 0;
    probe_check(p);
}

static void probe_read_done(uv_fs_t *req)
{
    probe_t *p = req->data;
    p->is_read_done = req->result == 10;
    uv_fs_req_cleanup(req);
    probe_check(p);
}

static void probe_timeout(uv_timer_t *timer)
{
    probe_t *p = timer->data;
    p->is_timed_out = true;
    uv_stop(p->loop);
}

static void latency_work_runs_while_bulk_and_install_lanes_are_held(void **state)
{
    (void)state;
    uv_loop_t loop;
    gate_t gate;
    probe_t probe = {.loop = &loop};
    uv_timer_t timer;
    char *dir = ls_test_mkdtemp("workq");
    ls_test_write_text(dir, "served.pak", "0123456789");
    char path[512];
    snprintf(path, sizeof path, "%s/served.pak", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    gate_init(&gate);

    /* A whole-library hash and an unpack that do not end until released. */
    for (int i = 0; i < HELD_BULK_JOBS; i++)
        queue_job(&loop, &gate, LS_WORKQ_BULK, i, true);
    queue_job(&loop, &gate, LS_WORKQ_INSTALL, HELD_BULK_JOBS, true);

    /* Serving meanwhile: a chunk verify+write style job and a file read. */
    uv_update_time(&loop);
    probe.started_ms = uv_now(&loop);
    probe.work.data = &probe;
    probe.read.data = &probe;
    assert_int_equal(
        ls_workq_queue(&loop, &probe.work, LS_WORKQ_LATENCY, probe_work, probe_work_done), 0);
    uv_buf_t iov = uv_buf_init(probe.buf, sizeof probe.buf);
    assert_int_equal(uv_fs_read(&loop, &probe.read, fd, &iov, 1, 0, probe_read_done), 0);
    uv_timer_init(&loop, &timer);
    timer.data = &probe;
    uv_timer_start(&timer, probe_timeout, LATENCY_BUDGET_MS, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* stopped by the probe or the timeout */

    bool is_bulk_still_held = gate.finished == 0;
    gate_open(&gate);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* drains the released jobs */
    if (probe.is_timed_out)
        fail_msg("latency work still waiting after %d ms behind %d held bulk jobs",
                 LATENCY_BUDGET_MS, HELD_BULK_JOBS);
    printf("latency job and read done in %llu ms while %d bulk jobs and an install held their "
           "lanes\n",
           (unsigned long long)(probe.done_ms - probe.started_ms), HELD_BULK_JOBS);
    assert_true(is_bulk_still_held);
    assert_int_equal(gate.finished, HELD_BULK_JOBS + 1);
    assert_false(gate.wrong_thread);
    assert_int_equal(uv_loop_close(&loop), 0);
    gate_free(&gate);
    close(fd);
    ls_test_rmtree(dir);
    free(dir);
}

static void bulk_lane_runs_its_threads_at_once_and_no_more(void **state)
{
    (void)state;
    uv_loop_t loop;
    gate_t gate;
    assert_int_equal(uv_loop_init(&loop), 0);
    gate_init(&gate);
    for (int i = 0; i < 4 * LS_WORKQ_BULK_THREADS; i++)
        queue_job(&loop, &gate, LS_WORKQ_BULK, i, false);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(gate.finished, 4 * LS_WORKQ_BULK_THREADS);
    assert_int_equal(gate.peak, LS_WORKQ_BULK_THREADS);
    assert_false(gate.wrong_thread);
    assert_int_equal(uv_loop_close(&loop), 0);
    gate_free(&gate);
}

static void install_lane_runs_its_jobs_in_the_order_queued(void **state)
{
    (void)state;
    uv_loop_t loop;
    gate_t gate;
    enum { JOBS = 6 };
    assert_int_equal(uv_loop_init(&loop), 0);
    gate_init(&gate);
    for (int i = 0; i < JOBS; i++)
        queue_job(&loop, &gate, LS_WORKQ_INSTALL, i, false);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(gate.finished, JOBS);
    assert_int_equal(gate.peak, LS_WORKQ_INSTALL_THREADS);
    if (LS_WORKQ_INSTALL_THREADS == 1)
        for (int i = 0; i < JOBS; i++)
            assert_int_equal(gate.order[i], i);
    assert_int_equal(uv_loop_close(&loop), 0);
    gate_free(&gate);
}

/* Runtimes in one process share the lanes; each loop gets its own jobs back. */
static void other_loop_thread(void *arg)
{
    gate_t *g = arg;
    uv_loop_t loop;
    g->loop_thread = uv_thread_self();
    if (uv_loop_init(&loop) != 0)
        return;
    for (int i = 0; i < 5; i++)
        queue_job(&loop, g, LS_WORKQ_BULK, i, false);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void two_loops_each_get_their_own_completions(void **state)
{
    (void)state;
    uv_loop_t loop;
    gate_t mine, theirs;
    uv_thread_t other;
    assert_int_equal(uv_loop_init(&loop), 0);
    gate_init(&mine);
    gate_init(&theirs);
    assert_int_equal(uv_thread_create(&other, other_loop_thread, &theirs), 0);
    for (int i = 0; i < 5; i++)
        queue_job(&loop, &mine, LS_WORKQ_BULK, i, false);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_thread_join(&other), 0);
    assert_int_equal(mine.finished, 5);
    assert_int_equal(theirs.finished, 5);
    assert_false(mine.wrong_thread);
    assert_false(theirs.wrong_thread);
    assert_int_equal(uv_loop_close(&loop), 0);
    gate_free(&mine);
    gate_free(&theirs);
}

static void bad_arguments_are_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_work_t req;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ls_workq_queue(&loop, &req, LS_WORKQ_BULK, NULL, NULL), LS_EINVAL);
    assert_int_equal(ls_workq_queue(&loop, &req, (ls_workq_class_t)99, probe_work, NULL),
                     LS_EINVAL);
    assert_int_equal(ls_workq_queue(NULL, &req, LS_WORKQ_BULK, probe_work, NULL), LS_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* libuv reads UV_THREADPOOL_SIZE once, so each case runs in a fresh child. */
static int pool_size_after_set(const char *preset)
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        char expected[16];
        snprintf(expected, sizeof expected, "%d", LS_WORKQ_LATENCY_THREADS);
        if (preset)
            setenv("UV_THREADPOOL_SIZE", preset, 1);
        else
            unsetenv("UV_THREADPOOL_SIZE");
        ls_workq_set_pool_size();
        const char *now = getenv("UV_THREADPOOL_SIZE");
        _exit(now && strcmp(now, preset ? preset : expected) == 0 ? 0 : 1);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void pool_size_is_set_unless_the_environment_names_one(void **state)
{
    (void)state;
    assert_int_equal(pool_size_after_set(NULL), 0);
    assert_int_equal(pool_size_after_set("9"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(latency_work_runs_while_bulk_and_install_lanes_are_held),
        cmocka_unit_test(bulk_lane_runs_its_threads_at_once_and_no_more),
        cmocka_unit_test(install_lane_runs_its_jobs_in_the_order_queued),
        cmocka_unit_test(two_loops_each_get_their_own_completions),
        cmocka_unit_test(bad_arguments_are_refused),
        cmocka_unit_test(pool_size_is_set_unless_the_environment_names_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
