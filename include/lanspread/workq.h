/* Work classes: where blocking work runs, so that short jobs never wait
 * behind long ones. Three lanes:
 *
 *   LS_WORKQ_LATENCY  libuv's thread pool (uv_queue_work), which also runs
 *                     every uv_fs_* request. Short jobs only, each bounded
 *                     by a chunk: opening a served file (its blocks are read
 *                     with uv_fs_read, on the same pool), verifying and
 *                     writing a downloaded chunk, saving a resume record,
 *                     a download's abort; a library's first scan (its walk,
 *                     save and first 64 MiB of hashes: until it ends the
 *                     peer is not announced, library.h).
 *   LS_WORKQ_BULK     LS_WORKQ_BULK_THREADS threads of this module, in FIFO
 *                     order: the library's walk, hashing and index save; a
 *                     download's prepare (resumed chunks re-verified), the
 *                     reservation of its files' blocks and its commit (an
 *                     fsync per file).
 *   LS_WORKQ_INSTALL  LS_WORKQ_INSTALL_THREADS thread(s), in FIFO order:
 *                     install, update and uninstall (a whole-game unpack),
 *                     and the recovery of a new game directory.
 *
 * Bulk and install jobs never hold a libuv pool thread, so any amount of them
 * leaves every pool thread to latency work. Their threads run at nice
 * LS_WORKQ_BACKGROUND_NICE above the thread that started them, so on a busy
 * CPU (and disk, with an I/O scheduler that follows nice) the loop and the
 * pool go first.
 *
 * Threads: ls_workq_queue is called on the thread that runs `loop`, like
 * uv_queue_work. work_cb runs on a lane's thread; after_work_cb runs on the
 * loop thread with status 0 (nothing is ever cancelled), and may free the
 * request. A queued job keeps its loop alive until after_work_cb has run.
 * The bulk and install threads are shared by every loop of the process,
 * started at the first job of their lane and never stopped; a forked child
 * starts its own. */
#ifndef LANSPREAD_WORKQ_H
#define LANSPREAD_WORKQ_H

#include <uv.h>

typedef enum {
    LS_WORKQ_LATENCY = 1,
    LS_WORKQ_BULK,
    LS_WORKQ_INSTALL,
} ls_workq_class_t;

/* libuv's pool: enough for the chunk verify+write of a 1 Gbit/s download
 * (about one thread busy) beside serving reads, with room for a slow read. */
#define LS_WORKQ_LATENCY_THREADS 4
/* Hashing is CPU-bound: two threads use two cores without letting a scan
 * queue reads for every file at once. */
#define LS_WORKQ_BULK_THREADS 2
/* Unpacking is disk-bound: a second install waits rather than seeking
 * against the first. */
#define LS_WORKQ_INSTALL_THREADS 1
#define LS_WORKQ_BACKGROUND_NICE 10

/* Sets libuv's pool to LS_WORKQ_LATENCY_THREADS threads (UV_THREADPOOL_SIZE)
 * unless the environment already names a size. libuv reads the variable once,
 * at the first use of its pool in the process: call this before that, while no
 * other thread reads the environment. ls_peer_start does, first thing. */
void ls_workq_set_pool_size(void);

/* Queues work_cb(req) on the lane of `cls`, then after_work_cb(req, 0) on
 * the loop thread. The request and callbacks are libuv's own types, so a call
 * site moves between lanes by changing one argument; req->data is the
 * caller's. On the bulk and install lanes libuv never sees req: do not
 * uv_cancel it. Returns 0, LS_EINVAL, LS_ENOMEM or LS_EIO (no thread could be
 * started); on failure neither callback runs. */
int ls_workq_queue(uv_loop_t *loop, uv_work_t *req, ls_workq_class_t cls, uv_work_cb work_cb,
                   uv_after_work_cb after_work_cb);

#endif
