/* The cover cache (any thread) and the cover fetch (loop thread); see
 * covers.h. */
#include "covers.h"
#include "exchange.h"

#include "lanspread/cover.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"
#include "lanspread/path.h"
#include "lanspread/workq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char sha256[LS_SHA256_HEX_LEN + 1];
    ls_cover_type_t type;
    uint64_t size;
    uint64_t used; /* the cache's clock at its last use: the smallest goes first */
} ls__cover_entry_t;

/* A hash being fetched, and the callers waiting for it. */
typedef struct ls__cover_wait {
    struct ls__cover_wait *next;
    char sha256[LS_SHA256_HEX_LEN + 1];
    int status;    /* LS_COVER_PENDING until ls__covers_finish */
    unsigned refs; /* waiters, plus one for the fetch while it runs */
} ls__cover_wait_t;

#define LS_COVER_PENDING 1

struct ls__covers {
    char *dir;
    uint64_t max_bytes;
    uv_mutex_t lock;
    uv_cond_t done; /* a fetch finished */
    ls__cover_entry_t *entries;
    size_t count; /* <= LS_COVER_CACHE_ENTRIES_MAX */
    uint64_t total;
    uint64_t clock;
    ls__cover_wait_t *waits;
    size_t wait_count; /* <= LS_COVER_FETCHES_MAX */
};

/* --- cache ----------------------------------------------------------------- */

/* "<64 hex>.<ext>" -> hash and type; false for anything else. */
static bool parse_name(const char *name, char sha256[LS_SHA256_HEX_LEN + 1], ls_cover_type_t *type)
{
    if (strlen(name) < LS_SHA256_HEX_LEN + 2 || name[LS_SHA256_HEX_LEN] != '.' ||
        !ls_cover_hash_is_valid(name))
        return false;
    for (int t = LS_COVER_PNG; t <= LS_COVER_WEBP; t++) {
        if (strcmp(name + LS_SHA256_HEX_LEN + 1, ls_cover_ext((ls_cover_type_t)t)) == 0) {
            memcpy(sha256, name, LS_SHA256_HEX_LEN);
            sha256[LS_SHA256_HEX_LEN] = '\0';
            *type = (ls_cover_type_t)t;
            return true;
        }
    }
    return false;
}

static void entry_path(const ls__covers_t *c, const ls__cover_entry_t *e, char *path, size_t len)
{
    snprintf(path, len, "%s/%s.%s", c->dir, e->sha256, ls_cover_ext(e->type));
}

static ls__cover_entry_t *find_entry(ls__covers_t *c, const char *sha256)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->entries[i].sha256, sha256) == 0)
            return &c->entries[i];
    return NULL;
}

/* Lock held. Removes the least recently used entries (never `keep`) until
 * `more` bytes and one more entry fit. */
static void evict(ls__covers_t *c, uint64_t more, const char *keep)
{
    char path[PATH_MAX];
    while (c->count > 0 &&
           (c->total + more > c->max_bytes || c->count + 1 > LS_COVER_CACHE_ENTRIES_MAX)) {
        size_t oldest = c->count;
        for (size_t i = 0; i < c->count; i++)
            if ((!keep || strcmp(c->entries[i].sha256, keep) != 0) &&
                (oldest == c->count || c->entries[i].used < c->entries[oldest].used))
                oldest = i;
        if (oldest == c->count)
            return;
        entry_path(c, &c->entries[oldest], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            ls_warn("covers", "cannot remove %s: %s", path, strerror(errno));
        c->total -= c->entries[oldest].size;
        c->entries[oldest] = c->entries[--c->count];
    }
}

static void index_dir(ls__covers_t *c)
{
    DIR *dir = opendir(c->dir);
    struct dirent *d;
    struct stat st;
    while (dir && (d = readdir(dir)) != NULL && c->count < LS_COVER_CACHE_ENTRIES_MAX) {
        ls__cover_entry_t e = {.used = 0};
        if (!parse_name(d->d_name, e.sha256, &e.type) ||
            fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_size <= 0 || (uint64_t)st.st_size > LS_COVER_MAX || find_entry(c, e.sha256))
            continue;
        e.size = (uint64_t)st.st_size;
        /* Older files count as less recently used. */
        e.used = (uint64_t)st.st_mtim.tv_sec;
        c->entries[c->count++] = e;
        c->total += e.size;
        if (e.used > c->clock)
            c->clock = e.used;
    }
    if (dir)
        closedir(dir);
    evict(c, 0, NULL);
}

int ls__covers_open(const char *state_dir, uint64_t max_bytes, ls__covers_t **out)
{
    ls__covers_t *c = calloc(1, sizeof *c);
    int rc = LS_ENOMEM;
    *out = NULL;
    if (!c)
        return rc;
    c->max_bytes = max_bytes;
    c->dir = ls_path_join(state_dir, LS_COVER_DIR);
    c->entries = calloc(LS_COVER_CACHE_ENTRIES_MAX, sizeof *c->entries);
    if (!c->dir || !c->entries)
        goto fail;
    rc = ls_fs_mkdir_p(c->dir, 0700);
    if (rc != 0)
        goto fail;
    uv_mutex_init(&c->lock);
    uv_cond_init(&c->done);
    index_dir(c);
    *out = c;
    return 0;
fail:
    free(c->dir);
    free(c->entries);
    free(c);
    return rc;
}

void ls__covers_free(ls__covers_t *c)
{
    if (!c)
        return;
    while (c->waits) {
        ls__cover_wait_t *w = c->waits;
        c->waits = w->next;
        free(w);
    }
    uv_cond_destroy(&c->done);
    uv_mutex_destroy(&c->lock);
    free(c->entries);
    free(c->dir);
    free(c);
}

static ls__cover_wait_t *find_wait(ls__covers_t *c, const char *sha256)
{
    for (ls__cover_wait_t *w = c->waits; w; w = w->next)
        if (strcmp(w->sha256, sha256) == 0)
            return w;
    return NULL;
}

/* Lock held. */
static void release_wait(ls__covers_t *c, ls__cover_wait_t *w)
{
    if (--w->refs > 0)
        return;
    for (ls__cover_wait_t **p = &c->waits; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    c->wait_count--;
    free(w);
}

/* Lock held on entry and exit; reads the file without it. LS_ENOENT when
 * the hash is not cached (or its file went). */
static int read_cached(ls__covers_t *c, const char *sha256, ls_peer_cover_t *out)
{
    char path[PATH_MAX];
    ls__cover_entry_t *e = find_entry(c, sha256);
    if (!e)
        return LS_ENOENT;
    e->used = ++c->clock;
    ls_cover_type_t type = e->type;
    entry_path(c, e, path, sizeof path);
    uv_mutex_unlock(&c->lock);
    char *data = NULL;
    size_t len = 0;
    int rc = ls_fs_read_file(path, LS_COVER_MAX, &data, &len);
    uv_mutex_lock(&c->lock);
    if (rc != 0) {
        free(data);
        /* Evicted meanwhile, or removed by hand: fetched again. */
        e = find_entry(c, sha256);
        if (e && rc == LS_ENOENT) {
            c->total -= e->size;
            *e = c->entries[--c->count];
        }
        return rc == LS_ENOENT ? LS_ENOENT : rc;
    }
    *out = (ls_peer_cover_t){.data = (uint8_t *)data, .len = len, .type = (int)type};
    return 0;
}

static void deadline_of(uint32_t timeout_ms, uint64_t *deadline_ns)
{
    *deadline_ns = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
}

int ls__covers_get(ls__covers_t *c, const char *sha256, uint32_t timeout_ms,
                   ls__covers_start_cb start, void *userdata, ls_peer_cover_t *out)
{
    uint64_t deadline;
    int rc;
    memset(out, 0, sizeof *out);
    deadline_of(timeout_ms, &deadline);
    uv_mutex_lock(&c->lock);
    rc = read_cached(c, sha256, out);
    if (rc != LS_ENOENT)
        goto out;
    ls__cover_wait_t *w = find_wait(c, sha256);
    if (!w) {
        if (c->wait_count >= LS_COVER_FETCHES_MAX) {
            rc = LS_EBUSY;
            goto out;
        }
        w = calloc(1, sizeof *w);
        if (!w) {
            rc = LS_ENOMEM;
            goto out;
        }
        snprintf(w->sha256, sizeof w->sha256, "%s", sha256);
        w->status = LS_COVER_PENDING;
        w->refs = 2; /* this caller and the fetch */
        w->next = c->waits;
        c->waits = w;
        c->wait_count++;
        uv_mutex_unlock(&c->lock);
        rc = start(sha256, userdata);
        uv_mutex_lock(&c->lock);
        if (rc != 0 && w->status == LS_COVER_PENDING) {
            w->status = rc;
            w->refs--; /* the fetch that never started; this caller still holds it */
        }
    } else {
        w->refs++;
    }
    while (w->status == LS_COVER_PENDING) {
        uint64_t now = uv_hrtime();
        if (now >= deadline || uv_cond_timedwait(&c->done, &c->lock, deadline - now) != 0)
            break;
    }
    rc = w->status == LS_COVER_PENDING ? LS_ETIMEDOUT : w->status;
    release_wait(c, w);
    if (rc == 0)
        rc = read_cached(c, sha256, out);
out:
    uv_mutex_unlock(&c->lock);
    return rc;
}

void ls__covers_finish(ls__covers_t *c, const char *sha256, int status)
{
    uv_mutex_lock(&c->lock);
    ls__cover_wait_t *w = find_wait(c, sha256);
    if (w && w->status == LS_COVER_PENDING) {
        w->status = status;
        uv_cond_broadcast(&c->done);
        release_wait(c, w);
    }
    uv_mutex_unlock(&c->lock);
}

int ls__covers_store(ls__covers_t *c, const char *sha256, const uint8_t *data, size_t len)
{
    uint8_t raw[LS_SHA256_LEN];
    char hex[LS_SHA256_HEX_LEN + 1];
    char path[PATH_MAX];
    if (len == 0 || len > LS_COVER_MAX)
        return LS_ETOOBIG;
    ls_sha256(data, len, raw);
    ls_hex_encode(raw, LS_SHA256_LEN, hex);
    ls__cover_entry_t e = {.type = ls_cover_sniff(data, len), .size = len};
    if (strcmp(hex, sha256) != 0 || e.type == LS_COVER_NONE)
        return LS_ECORRUPT;
    memcpy(e.sha256, hex, sizeof e.sha256);
    entry_path(c, &e, path, sizeof path);
    int rc = ls_fs_write_atomic(path, data, len);
    if (rc != 0)
        return rc;
    uv_mutex_lock(&c->lock);
    if (!find_entry(c, hex)) {
        evict(c, len, hex);
        e.used = ++c->clock;
        c->entries[c->count++] = e;
        c->total += len;
    }
    uv_mutex_unlock(&c->lock);
    return 0;
}

/* --- fetch (loop thread) ----------------------------------------------------- */

typedef struct {
    uv_work_t req;
    ls__covers_t *covers;
    uv_loop_t *loop;
    char sha256[LS_SHA256_HEX_LEN + 1];
    char *game_root; /* local source: the game folder and its cover file */
    const char *name;
    uint8_t *data; /* peer source: the body it sent */
    size_t len;
    int status;
} ls__cover_job_t;

static void job_free(ls__cover_job_t *job)
{
    free(job->game_root);
    free(job->data);
    free(job);
}

static int read_local(ls__cover_job_t *job)
{
    struct stat st;
    int fd = ls_open_in_root(job->game_root, job->name, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return fd;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > LS_COVER_MAX)
        rc = LS_ECORRUPT;
    job->len = rc == 0 ? (size_t)st.st_size : 0;
    job->data = rc == 0 ? malloc(job->len) : NULL;
    if (rc == 0 && !job->data)
        rc = LS_ENOMEM;
    if (rc == 0)
        rc = ls_fs_pread_all(fd, job->data, job->len, 0);
    close(fd);
    return rc;
}

static void store_work(uv_work_t *req)
{
    ls__cover_job_t *job = req->data;
    job->status = job->game_root ? read_local(job) : 0;
    if (job->status == 0)
        job->status = ls__covers_store(job->covers, job->sha256, job->data, job->len);
}

static void store_done(uv_work_t *req, int status)
{
    ls__cover_job_t *job = req->data;
    (void)status; /* workq jobs are never cancelled */
    if (job->status != 0)
        ls_warn("covers", "cover %.12s not stored: %s", job->sha256, ls_strerror(job->status));
    ls__covers_finish(job->covers, job->sha256, job->status);
    job_free(job);
}

static void store(ls__cover_job_t *job)
{
    job->req.data = job;
    if (ls_workq_queue(job->loop, &job->req, LS_WORKQ_LATENCY, store_work, store_done) != 0) {
        ls__covers_finish(job->covers, job->sha256, LS_EIO);
        job_free(job);
    }
}

static void peer_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, uint8_t *body,
                          size_t len, void *userdata)
{
    ls__cover_job_t *job = userdata;
    if (status == 0 && (reply->kind != LS_MSG_COVER || len != reply->u.file_header.length))
        status = LS_ECORRUPT;
    if (status != 0) {
        ls_info("covers", "%s: cover %.12s not fetched: %s", link->address, job->sha256,
                ls_strerror(status));
        free(body);
        ls__covers_finish(job->covers, job->sha256, status == LS_EREMOTE ? LS_ENOENT : status);
        job_free(job);
        return;
    }
    job->data = body;
    job->len = len;
    store(job);
}

static int compare_summary_id(const void *key, const void *item)
{
    return strcmp(key, ((const ls_game_summary_t *)item)->id);
}

/* The first seeder of game_id announcing that cover, on a ready link to a
 * peer that answers get_cover. */
static ls_link_t *peer_with_cover(const ls__cover_sources_t *src, const char *game_id,
                                  const char *sha256)
{
    const char **ids = NULL;
    size_t n = 0;
    ls_link_t *found = NULL;
    if (ls_peerdb_seeders(src->peerdb, game_id, &ids, &n) != 0)
        return NULL;
    for (size_t i = 0; i < n && !found; i++) {
        const ls_peer_t *peer = ls_peerdb_find(src->peerdb, ids[i]);
        const ls_game_summary_t *g =
            peer ? bsearch(game_id, peer->library.games, peer->library.game_count, sizeof *g,
                           compare_summary_id)
                 : NULL;
        ls_link_t *link = g && g->cover && strcmp(g->cover, sha256) == 0
                              ? ls__links_find_ready(src->links, ids[i])
                              : NULL;
        if (link && link->wants_cover)
            found = link;
    }
    free(ids);
    return found;
}

void ls__covers_fetch(ls__covers_t *c, const ls__cover_sources_t *src, const char *game_id,
                      const char *sha256)
{
    ls__cover_job_t *job = calloc(1, sizeof *job);
    const ls_local_game_t *local = ls_library_find(src->library, game_id);
    int rc = job ? 0 : LS_ENOMEM;
    if (rc == 0) {
        job->covers = c;
        job->loop = src->loop;
        snprintf(job->sha256, sizeof job->sha256, "%s", sha256);
    }
    if (rc == 0 && local && local->cover_file && strcmp(local->cover, sha256) == 0) {
        job->name = local->cover_file;
        job->game_root = ls_library_game_root(src->library, game_id);
        if (!job->game_root)
            rc = LS_ENOMEM;
        if (rc == 0) {
            store(job);
            return;
        }
    }
    ls_link_t *link = rc == 0 ? peer_with_cover(src, game_id, sha256) : NULL;
    if (rc == 0 && !link)
        rc = LS_ENOENT;
    if (rc == 0) {
        ls_msg_t req = {.kind = LS_MSG_GET_COVER};
        req.u.cover_request.game_id = (char *)game_id;
        memcpy(req.u.cover_request.sha256, sha256, sizeof req.u.cover_request.sha256);
        rc = ls__exchange_fetch(link, &req, LS_COVER_MAX, peer_reply_cb, job, NULL);
        if (rc == 0)
            return;
    }
    ls__covers_finish(c, sha256, rc);
    if (job)
        job_free(job);
}
