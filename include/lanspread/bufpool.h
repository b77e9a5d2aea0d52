/* A bounded cache of equal-sized heap blocks for the buffers a transfer
 * takes and drops by the hundred: a chunk's received body, a file source's
 * read. A fresh block of hundreds of KiB comes from pages the kernel must
 * fault in and zero (glibc maps it, or trims the heap it came from once it
 * is freed): at N=12 in bench_fanout.sh that was ~10 % of the daemons' CPU.
 * A kept block is warm. At most `keep` blocks wait in a pool; a block given
 * back to a full pool is freed. Thread-safe: one mutex per pool, taken once
 * per block. */
#ifndef LANSPREAD_BUFPOOL_H
#define LANSPREAD_BUFPOOL_H

#include <pthread.h>
#include <stddef.h>

/* The most blocks any pool keeps. */
#define LS_BUFPOOL_KEEP_MAX 32

typedef struct {
    pthread_mutex_t lock;
    size_t size;  /* bytes of every block */
    size_t keep;  /* blocks kept at most, <= LS_BUFPOOL_KEEP_MAX */
    size_t count; /* blocks kept now */
    void *kept[LS_BUFPOOL_KEEP_MAX];
} ls_bufpool_t;

/* A pool of blocks of `size` bytes keeping at most `keep`; a static
 * initializer, so a pool needs no set-up and no teardown at exit (what it
 * keeps stays reachable). */
#define LS_BUFPOOL_INIT(block_size, keep_max)                                                      \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER, .size = (block_size), .keep = (keep_max), .count = 0    \
    }

/* A block of pool->size bytes, kept or new; NULL when out of memory. */
void *ls_bufpool_get(ls_bufpool_t *pool);
/* Gives a block of this pool back (NULL is ignored): kept, or freed when the
 * pool is full. */
void ls_bufpool_put(ls_bufpool_t *pool, void *block);
/* From now on keeps at most `keep` blocks (capped at LS_BUFPOOL_KEEP_MAX),
 * and frees those beyond it at once. The bound is sticky: while it is low
 * (the owner is idle), blocks given back late are freed, not kept. */
void ls_bufpool_set_keep(ls_bufpool_t *pool, size_t keep);

#endif
