/* A bounded cache of equal-sized heap blocks (see bufpool.h). */
#include "lanspread/bufpool.h"

#include <stdlib.h>

void *ls_bufpool_get(ls_bufpool_t *pool)
{
    void *block = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->count > 0)
        block = pool->kept[--pool->count];
    pthread_mutex_unlock(&pool->lock);
    return block ? block : malloc(pool->size);
}

void ls_bufpool_put(ls_bufpool_t *pool, void *block)
{
    if (!block)
        return;
    pthread_mutex_lock(&pool->lock);
    if (pool->count < pool->keep && pool->count < LS_BUFPOOL_KEEP_MAX) {
        pool->kept[pool->count++] = block;
        block = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    free(block);
}

void ls_bufpool_set_keep(ls_bufpool_t *pool, size_t keep)
{
    void *drop[LS_BUFPOOL_KEEP_MAX];
    size_t n = 0;

    if (keep > LS_BUFPOOL_KEEP_MAX)
        keep = LS_BUFPOOL_KEEP_MAX;
    pthread_mutex_lock(&pool->lock);
    pool->keep = keep;
    while (pool->count > keep)
        drop[n++] = pool->kept[--pool->count];
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < n; i++)
        free(drop[i]); /* outside the lock: a free may return pages to the kernel */
}
