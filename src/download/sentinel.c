/* The version-sentinel transaction and the chunk writer: park the old
 * version.ini, pre-size the files, write verified chunks at their offsets,
 * and make version.ini appear only once everything else is durable.
 * Blocking code for the thread pool. */
#include "lanspread/array.h"
#include "lanspread/download.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MOD "download"

/* What begin found already there, so that an abort removes only what the
 * download made: a file's size before begin, or one of these. */
#define SIZE_UNTOUCHED UINT64_MAX /* begin did not reach the file */
#define FILE_MODE 0644            /* files the download creates */

struct ls_dl_tx {
    const ls_game_manifest_t *manifest;
    int root_fd;
    char *root_path;
    bool is_root_made;       /* begin created the game root */
    bool *is_made;           /* per manifest file: begin (or its write) created it */
    bool *is_whole;          /* per manifest file: its write created it whole (commit skips it) */
    dev_t root_dev;          /* the game root's filesystem */
    const char *last_parent; /* begin: the last file whose directories it made */
    uint64_t *size_before;   /* per manifest file: its size before begin, or SIZE_UNTOUCHED */
    char **made_dirs;        /* directories begin created, in the order made */
    size_t made_dir_count;
    size_t made_dir_cap;
    bool *is_selected;
    size_t sentinel_index; /* SIZE_MAX when version.ini is not selected */
    uint8_t *sentinel_buf;
    uint8_t *have;      /* one byte per manifest chunk */
    size_t *chunk_base; /* manifest chunk id of (file, 0), per file */
    size_t missing;
    pthread_mutex_t lock;
    ls_dl_step_cb observer;
    void *userdata;
};

static void step(const ls_dl_tx_t *tx, const char *name)
{
    if (tx->observer)
        tx->observer(name, tx->userdata);
}

/* Opens the directory `name` under dir_fd without following a symlink,
 * creating it first when asked (*is_made: this call created it). */
static int open_subdir(int dir_fd, const char *name, bool create, bool *is_made)
{
    *is_made = false;
    if (create && mkdirat(dir_fd, name, 0755) == 0)
        *is_made = true;
    else if (create && errno != EEXIST)
        return ls_error_from_errno(errno);
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int saved = errno;
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return LS_EPATH_SYMLINK;
    return ls_error_from_errno(saved);
}

/* Records a directory begin created: `copy` up to `end`, its '/' cut to
 * NULs by walk_parents, restored. */
static int record_made_dir(ls_dl_tx_t *tx, const char *copy, const char *end)
{
    if (tx->made_dir_count == tx->made_dir_cap) {
        char **grown = ls_array_grow(tx->made_dirs, &tx->made_dir_cap, sizeof *grown, 16);
        if (!grown)
            return LS_ENOMEM;
        tx->made_dirs = grown;
    }
    size_t len = (size_t)(end - copy);
    char *path = malloc(len + 1);
    if (!path)
        return LS_ENOMEM;
    for (size_t i = 0; i < len; i++)
        path[i] = copy[i] ? copy[i] : '/';
    path[len] = '\0';
    tx->made_dirs[tx->made_dir_count++] = path;
    return 0;
}

/* Walks relpath's directories under root_fd (creating them when asked) and
 * returns an fd of the last directory; *leaf points into `copy` at the final
 * component. With `sync`, every directory on the way is fsynced, so entries
 * created in them (subdirectories included) are durable. With `record`, each
 * directory created is remembered there for the abort. */
static int walk_parents(int root_fd, char *copy, bool create, bool sync, ls_dl_tx_t *record,
                        char **leaf)
{
    *leaf = copy;
    int dir_fd = dup(root_fd);
    if (dir_fd < 0)
        return ls_error_from_errno(errno);
    char *component = copy;
    char *slash;
    while ((slash = strchr(component, '/')) != NULL) {
        bool is_made;
        *slash = '\0';
        int next = open_subdir(dir_fd, component, create, &is_made);
        int rc = is_made && record ? record_made_dir(record, copy, slash) : 0;
        if (rc != 0 && next >= 0) {
            close(next);
            next = rc;
        }
        if (next >= 0 && sync && fsync(next) != 0) {
            close(next);
            next = ls_error_from_errno(errno);
        }
        close(dir_fd);
        if (next < 0)
            return next;
        dir_fd = next;
        component = slash + 1;
    }
    *leaf = component;
    return dir_fd;
}

/* Opens `leaf` in dir_fd as a regular file with a single link. A file with
 * other hard links may share its inode with a file outside the root: when
 * creating, the link is broken (this name gets a fresh, empty file, the other
 * names keep their data); otherwise it is refused. *is_made (may be NULL)
 * tells whether the name did not exist and this call created it. */
static int open_leaf(int dir_fd, const char *leaf, int flags, bool create, bool *is_made)
{
    struct stat st;
    int oflags = flags | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dir_fd, leaf, oflags);
    if (fd < 0 && errno == ENOENT && create) {
        fd = openat(dir_fd, leaf, oflags | O_CREAT | O_EXCL, FILE_MODE);
        if (fd >= 0 && is_made)
            *is_made = true;
        else if (fd < 0 && errno == EEXIST) /* made meanwhile by someone else */
            fd = openat(dir_fd, leaf, oflags);
    }
    if (fd < 0)
        return ls_error_from_errno(errno); /* ELOOP (a symlink) maps to LS_EPATH_SYMLINK */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return LS_EPATH_INVALID;
    }
    if (st.st_nlink <= 1)
        return fd;
    close(fd);
    if (!create)
        return LS_EPATH_INVALID;
    if (unlinkat(dir_fd, leaf, 0) != 0)
        return ls_error_from_errno(errno);
    fd = openat(dir_fd, leaf, oflags | O_CREAT | O_EXCL, FILE_MODE);
    return fd < 0 ? ls_error_from_errno(errno) : fd;
}

/* The common cases in one openat2 (no symlink anywhere on the way): a file
 * created on write that is not there yet (O_EXCL: this call made it, so it
 * is regular with one link), or an existing regular file with one link.
 * -1 for anything else: the caller takes the component walk, which handles
 * (and names) the rest. */
static int open_fast(int root_fd, const char *relpath, int flags, bool create, bool *is_made)
{
    struct stat st;
    if (create) {
        int fd = ls_openat_beneath(root_fd, relpath, flags | O_CREAT | O_EXCL, FILE_MODE);
        if (fd >= 0 && is_made)
            *is_made = true;
        return fd;
    }
    int fd = ls_openat_beneath(root_fd, relpath, flags, 0);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink <= 1)
        return fd;
    close(fd);
    return -1;
}

/* Opens a regular file inside the root; every component is refused if it
 * is a symlink. With `create` the file is created when missing (*is_made:
 * this call did); with `make_dirs` (begin) its directories too, remembered
 * in that transaction. Returns an fd or LS_E*. */
static int open_file_in_root(int root_fd, const char *relpath, int flags, bool create,
                             ls_dl_tx_t *make_dirs, bool *is_made)
{
    if (!make_dirs) {
        int fd = open_fast(root_fd, relpath, flags, create, is_made);
        if (fd >= 0)
            return fd;
    }
    char *copy = strdup(relpath);
    char *leaf = NULL;
    int rc;
    if (!copy)
        return LS_ENOMEM;
    int dir_fd = walk_parents(root_fd, copy, make_dirs != NULL, false, make_dirs, &leaf);
    if (dir_fd < 0) {
        rc = dir_fd;
    } else {
        rc = open_leaf(dir_fd, leaf, flags, create, is_made);
        close(dir_fd);
    }
    free(copy);
    return rc;
}

/* Removes `relpath` inside the root (a file, or with AT_REMOVEDIR an empty
 * directory) without following a symlink on the way. */
static int unlink_path_in_root(int root_fd, const char *relpath, int flags)
{
    char *copy = strdup(relpath);
    char *leaf = NULL;
    int rc = 0;
    if (!copy)
        return LS_ENOMEM;
    int dir_fd = walk_parents(root_fd, copy, false, false, NULL, &leaf);
    if (dir_fd < 0) {
        rc = dir_fd;
    } else {
        if (unlinkat(dir_fd, leaf, flags) != 0)
            rc = ls_error_from_errno(errno);
        close(dir_fd);
    }
    free(copy);
    return rc;
}

/* Creates (and records) the directories on the way to `path`'s last
 * component; `copy` is a copy of path the walk may cut, freed here. */
static int make_parents(ls_dl_tx_t *tx, char *copy)
{
    char *leaf = NULL;
    if (!copy)
        return LS_ENOMEM;
    int fd = walk_parents(tx->root_fd, copy, true, false, tx, &leaf);
    free(copy);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* Creates every directory of relpath (itself included) inside the root. */
static int make_dir_in_root(ls_dl_tx_t *tx, const char *relpath)
{
    return make_parents(tx, ls_strdup_printf("%s/x", relpath));
}

static bool is_sentinel(const ls_file_desc_t *f)
{
    return strcmp(f->path, LS_VERSION_FILE) == 0;
}

static uint64_t chunk_length(const ls_game_manifest_t *m, const ls_file_desc_t *f, size_t ci)
{
    uint64_t offset = (uint64_t)ci * m->chunk_size;
    return f->size - offset < m->chunk_size ? f->size - offset : m->chunk_size;
}

static int unlink_in_root(int root_fd, const char *name)
{
    if (unlinkat(root_fd, name, 0) != 0 && errno != ENOENT)
        return ls_error_from_errno(errno);
    return 0;
}

/* Failed or cancelled: the old sentinel is not restored (seed behaviour). */
static int sweep(ls_dl_tx_t *tx)
{
    int rc = unlink_in_root(tx->root_fd, LS_VERSION_TMP);
    int rc2 = unlink_in_root(tx->root_fd, LS_VERSION_DISCARDED);
    if (fsync(tx->root_fd) != 0 && rc == 0)
        rc = ls_error_from_errno(errno);
    step(tx, "swept");
    return rc ? rc : rc2;
}

static int park_sentinel(ls_dl_tx_t *tx)
{
    struct stat st;
    int rc = unlink_in_root(tx->root_fd, LS_VERSION_TMP);
    if (rc != 0)
        return rc;
    if (fstatat(tx->root_fd, LS_VERSION_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (renameat(tx->root_fd, LS_VERSION_FILE, tx->root_fd, LS_VERSION_DISCARDED) != 0)
            return ls_error_from_errno(errno);
    } else if (errno != ENOENT) {
        return ls_error_from_errno(errno);
    }
    if (fsync(tx->root_fd) != 0)
        return ls_error_from_errno(errno);
    step(tx, "parked");
    return 0;
}

/* Grows a file to its manifest size without touching its data, as a
 * sparse file: reserving its blocks is ls_dl_tx_reserve's, after the
 * transfer has started (fallocate of a whole game takes a tenth of a
 * second and more where it must clear the pages, as on tmpfs, and the
 * start of a download waited for it). *size_before is the file's size
 * before (what an abort cuts it back to). */
static int presize_file(int fd, uint64_t size, uint64_t *size_before)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ls_error_from_errno(errno);
    *size_before = (uint64_t)st.st_size;
    if ((uint64_t)st.st_size >= size || size == 0)
        return 0; /* a longer file is trimmed at commit, not now */
    if (ftruncate(fd, (off_t)size) != 0)
        return ls_error_from_errno(errno);
    return 0;
}

/* A small file is written whole by its only chunk: it is created then, on
 * the pool beside the transfer, rather than before the first request (a
 * folder of 40,000 small files spent seconds here first). Its blocks are
 * not reserved ahead; the free-space check before the download covers it. */
static bool is_created_on_write(const ls_dl_tx_t *tx, const ls_file_desc_t *f)
{
    return !f->is_dir && f->chunk_count == 1 && f->size <= LS_DL_CREATE_ON_WRITE_MAX &&
           f->size <= tx->manifest->chunk_size;
}

/* FALLOC_FL_KEEP_SIZE: the size is begin's, and a file longer than the
 * manifest keeps its length until the commit trims it. fallocate never
 * touches data already written, so chunk writes may run beside it. */
int ls_dl_tx_reserve(ls_dl_tx_t *tx)
{
    const ls_game_manifest_t *m = tx->manifest;
    bool is_unsupported = false; /* the filesystem reserves nothing ahead */
    int rc = 0;
    for (size_t i = 0; rc == 0 && !is_unsupported && i < m->file_count; i++) {
        const ls_file_desc_t *f = &m->files[i];
        if (!tx->is_selected[i] || f->is_dir || i == tx->sentinel_index || f->size == 0 ||
            is_created_on_write(tx, f))
            continue;
        int fd = open_file_in_root(tx->root_fd, f->path, O_WRONLY, false, NULL, NULL);
        if (fd < 0) {
            rc = fd;
        } else {
            if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)f->size) != 0) {
                is_unsupported = errno == EOPNOTSUPP || errno == ENOSYS;
                rc = is_unsupported ? 0 : ls_error_from_errno(errno);
            }
            close(fd);
        }
    }
    if (rc != 0)
        ls_warn(LOG_MOD, "cannot reserve the files of %s: %s", tx->root_path, ls_strerror(rc));
    return rc;
}

/* True when `path` lives in the same directory as `prev` (manifests list
 * a directory's files together). */
static bool is_same_parent(const char *prev, const char *path)
{
    if (!prev)
        return false;
    const char *a = strrchr(prev, '/'), *b = strrchr(path, '/');
    size_t la = a ? (size_t)(a - prev) : 0, lb = b ? (size_t)(b - path) : 0;
    return la == lb && strncmp(prev, path, la) == 0;
}

/* A file created on write needs its directories now (the writes run on
 * several threads; only begin records what it made): one walk per run of
 * files in the same directory. */
static int make_parent_in_root(ls_dl_tx_t *tx, const char *relpath)
{
    if (is_same_parent(tx->last_parent, relpath))
        return 0;
    int rc = make_parents(tx, strdup(relpath));
    if (rc == 0)
        tx->last_parent = relpath;
    return rc;
}

static int prepare_entry(ls_dl_tx_t *tx, size_t index)
{
    const ls_file_desc_t *f = &tx->manifest->files[index];
    bool is_made = false;
    if (f->is_dir)
        return make_dir_in_root(tx, f->path);
    if (index == tx->sentinel_index)
        return 0;
    if (is_created_on_write(tx, f))
        return make_parent_in_root(tx, f->path);
    int fd = open_file_in_root(tx->root_fd, f->path, O_RDWR, true, tx, &is_made);
    if (fd < 0)
        return fd;
    tx->is_made[index] = is_made;
    int rc = presize_file(fd, f->size, &tx->size_before[index]);
    close(fd);
    return rc;
}

static int check_selection(ls_dl_tx_t *tx, const size_t *selected, size_t n)
{
    const ls_game_manifest_t *m = tx->manifest;
    for (size_t i = 0; i < (selected ? n : m->file_count); i++) {
        size_t idx = selected ? selected[i] : i;
        if (idx >= m->file_count || tx->is_selected[idx])
            return LS_EINVAL;
        const ls_file_desc_t *f = &m->files[idx];
        int rc = ls_relpath_check(f->path, strlen(f->path));
        if (rc != 0)
            return rc;
        if (!f->is_dir && f->chunk_count != (f->size + m->chunk_size - 1) / m->chunk_size)
            return LS_EINVAL;
        if (is_sentinel(f)) {
            if (f->is_dir)
                return LS_EINVAL;
            if (f->size > LS_VERSION_FILE_MAX)
                return LS_ETOOBIG;
            tx->sentinel_index = idx;
        }
        tx->is_selected[idx] = true;
    }
    return 0;
}

static int count_missing(ls_dl_tx_t *tx)
{
    const ls_game_manifest_t *m = tx->manifest;
    size_t total = 0;
    tx->chunk_base = calloc(m->file_count ? m->file_count : 1, sizeof *tx->chunk_base);
    if (!tx->chunk_base)
        return LS_ENOMEM;
    for (size_t i = 0; i < m->file_count; i++) {
        tx->chunk_base[i] = total;
        total += m->files[i].is_dir ? 0 : m->files[i].chunk_count;
    }
    tx->have = calloc(total ? total : 1, 1);
    if (!tx->have)
        return LS_ENOMEM;
    for (size_t i = 0; i < m->file_count; i++)
        if (tx->is_selected[i] && !m->files[i].is_dir)
            tx->missing += m->files[i].chunk_count;
    if (tx->sentinel_index != SIZE_MAX) {
        size_t size = m->files[tx->sentinel_index].size;
        tx->sentinel_buf = calloc(size ? size : 1, 1);
        if (!tx->sentinel_buf)
            return LS_ENOMEM;
    }
    return 0;
}

static int tx_alloc(const ls_game_manifest_t *manifest, ls_dl_tx_t **out)
{
    ls_dl_tx_t *tx = calloc(1, sizeof *tx);
    if (!tx)
        return LS_ENOMEM;
    tx->manifest = manifest;
    tx->root_fd = -1;
    tx->sentinel_index = SIZE_MAX;
    pthread_mutex_init(&tx->lock, NULL);
    *out = tx;
    size_t n = manifest->file_count ? manifest->file_count : 1;
    tx->is_selected = calloc(n, sizeof(bool));
    tx->is_made = calloc(n, sizeof(bool));
    tx->is_whole = calloc(n, sizeof(bool));
    tx->size_before = malloc(n * sizeof *tx->size_before);
    if (!tx->is_selected || !tx->is_made || !tx->is_whole || !tx->size_before)
        return LS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        tx->size_before[i] = SIZE_UNTOUCHED;
    return 0;
}

static int open_root(ls_dl_tx_t *tx, const char *game_root)
{
    struct stat st;
    tx->root_path = strdup(game_root);
    if (!tx->root_path)
        return LS_ENOMEM;
    bool is_there = lstat(game_root, &st) == 0;
    int rc = ls_fs_mkdir_p(game_root, 0755);
    if (rc != 0)
        return rc;
    tx->is_root_made = !is_there;
    tx->root_fd = open(game_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tx->root_fd < 0 || fstat(tx->root_fd, &st) != 0)
        return ls_error_from_errno(errno);
    tx->root_dev = st.st_dev;
    return 0;
}

/* Where the file's verified data ends: the end of its last chunk written
 * or marked present; 0 when it holds none. */
static uint64_t verified_end(const ls_dl_tx_t *tx, size_t fi)
{
    const ls_file_desc_t *f = &tx->manifest->files[fi];
    for (size_t ci = f->chunk_count; ci-- > 0;)
        if (tx->have[tx->chunk_base[fi] + ci])
            return (uint64_t)ci * tx->manifest->chunk_size + chunk_length(tx->manifest, f, ci);
    return 0;
}

/* Cuts a file begin grew back to `keep` bytes (never below its size
 * before begin); a file with other links is left alone. */
static void cut_back(ls_dl_tx_t *tx, const ls_file_desc_t *f, uint64_t keep)
{
    struct stat st;
    int fd = open_file_in_root(tx->root_fd, f->path, O_WRONLY, false, NULL, NULL);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > keep && ftruncate(fd, (off_t)keep) != 0)
        ls_warn(LOG_MOD, "cannot cut %s back: %s", f->path,
                ls_strerror(ls_error_from_errno(errno)));
    close(fd);
}

/* Undoes what begin made, keeping every verified chunk (the resume file
 * points at them): a file begin created that holds none is removed, a file
 * it created or grew is cut back to the end of its last verified chunk (a
 * file that was there keeps at least its old size), then the directories
 * it created, deepest first, when empty, and the game root when begin made
 * it and it is empty. Anything that was there before begin stays. */
static void undo_begin(ls_dl_tx_t *tx)
{
    const ls_game_manifest_t *m = tx->manifest;
    for (size_t i = 0; i < m->file_count; i++) {
        if (tx->size_before[i] == SIZE_UNTOUCHED)
            continue;
        uint64_t keep = verified_end(tx, i);
        if (tx->is_made[i] && keep == 0)
            unlink_path_in_root(tx->root_fd, m->files[i].path, 0);
        else
            cut_back(tx, &m->files[i], keep > tx->size_before[i] ? keep : tx->size_before[i]);
    }
    /* Made in order, parents first: the reverse removes children first.
     * rmdir only removes an empty directory, so nothing else is lost. */
    for (size_t i = tx->made_dir_count; i-- > 0;)
        unlink_path_in_root(tx->root_fd, tx->made_dirs[i], AT_REMOVEDIR);
    if (tx->is_root_made)
        rmdir(tx->root_path);
}

int ls_dl_tx_begin(const char *game_root, const ls_game_manifest_t *manifest,
                   const size_t *selected, size_t selected_count, ls_dl_step_cb observer,
                   void *userdata, ls_dl_tx_t **out)
{
    ls_dl_tx_t *tx = NULL;
    bool is_parked = false;
    int rc;

    *out = NULL;
    if (!game_root || !manifest || manifest->chunk_size == 0)
        return LS_EINVAL;
    rc = tx_alloc(manifest, &tx);
    if (rc != 0)
        goto out;
    tx->observer = observer;
    tx->userdata = userdata;
    rc = check_selection(tx, selected, selected_count);
    if (rc == 0)
        rc = count_missing(tx);
    if (rc == 0)
        rc = open_root(tx, game_root);
    if (rc == 0)
        rc = park_sentinel(tx);
    is_parked = rc == 0;
    for (size_t i = 0; rc == 0 && i < manifest->file_count; i++)
        if (tx->is_selected[i])
            rc = prepare_entry(tx, i);
    if (rc != 0)
        goto out;
    step(tx, "prepared");
    *out = tx;
    tx = NULL;
out:
    if (tx && is_parked)
        sweep(tx);
    if (tx && tx->root_fd >= 0)
        undo_begin(tx);
    if (rc != 0)
        ls_warn(LOG_MOD, "cannot prepare %s: %s", game_root, ls_strerror(rc));
    ls_dl_tx_free(tx);
    return rc;
}

void ls_dl_tx_free(ls_dl_tx_t *tx)
{
    if (!tx)
        return;
    if (tx->root_fd >= 0)
        close(tx->root_fd);
    pthread_mutex_destroy(&tx->lock);
    for (size_t i = 0; i < tx->made_dir_count; i++)
        free(tx->made_dirs[i]);
    free(tx->made_dirs);
    free(tx->root_path);
    free(tx->is_made);
    free(tx->is_whole);
    free(tx->size_before);
    free(tx->is_selected);
    free(tx->sentinel_buf);
    free(tx->have);
    free(tx->chunk_base);
    free(tx);
}

static int check_chunk(const ls_dl_tx_t *tx, size_t fi, size_t ci, size_t len)
{
    const ls_game_manifest_t *m = tx->manifest;
    if (fi >= m->file_count || !tx->is_selected[fi] || m->files[fi].is_dir)
        return LS_ECHUNK;
    if (ci >= m->files[fi].chunk_count || len != chunk_length(m, &m->files[fi], ci))
        return LS_ECHUNK;
    return 0;
}

/* Counts a chunk once, however often it is written. */
static void record_chunk(ls_dl_tx_t *tx, size_t fi, size_t ci)
{
    size_t id = tx->chunk_base[fi] + ci;
    pthread_mutex_lock(&tx->lock);
    if (!tx->have[id]) {
        tx->have[id] = 1;
        tx->missing--;
    }
    pthread_mutex_unlock(&tx->lock);
}

/* A file this write created holds exactly its manifest size now (its only
 * chunk, from offset 0), so the commit has nothing to trim or check there;
 * syncfs covers it on the root's filesystem, and on another one (a mount
 * point inside the game) it is fsynced now. The commit then skips it: a
 * folder of 40,000 small files spent a quarter of its download's CPU
 * opening each file again at the commit. */
static int note_whole(ls_dl_tx_t *tx, size_t file_index, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ls_error_from_errno(errno);
    if (st.st_dev != tx->root_dev && fsync(fd) != 0)
        return ls_error_from_errno(errno);
    tx->is_whole[file_index] = true;
    return 0;
}

int ls_dl_tx_write_chunk(ls_dl_tx_t *tx, size_t file_index, size_t chunk_index, const void *data,
                         size_t len)
{
    int rc = check_chunk(tx, file_index, chunk_index, len);
    if (rc != 0)
        return rc;
    const ls_file_desc_t *f = &tx->manifest->files[file_index];
    uint64_t offset = (uint64_t)chunk_index * tx->manifest->chunk_size;
    if (file_index == tx->sentinel_index) {
        /* version.ini last: its presence means the game is complete */
        memcpy(tx->sentinel_buf + offset, data, len);
    } else {
        bool is_lazy = is_created_on_write(tx, f), is_made = false;
        int fd = open_file_in_root(tx->root_fd, f->path, O_WRONLY, is_lazy, NULL, &is_made);
        if (fd < 0)
            return fd;
        if (is_made) {
            /* one writer per small file (its only chunk): no race here */
            tx->is_made[file_index] = true;
            tx->size_before[file_index] = 0;
        }
        rc = ls_fs_pwrite_all(fd, data, len, (off_t)offset);
        if (rc == 0 && is_made)
            rc = note_whole(tx, file_index, fd);
        close(fd);
        if (rc != 0)
            return rc;
    }
    record_chunk(tx, file_index, chunk_index);
    return 0;
}

int ls_dl_tx_mark_present(ls_dl_tx_t *tx, size_t file_index, size_t chunk_index)
{
    if (file_index == tx->sentinel_index)
        return LS_ECHUNK;
    size_t len = 0;
    if (file_index < tx->manifest->file_count && !tx->manifest->files[file_index].is_dir &&
        chunk_index < tx->manifest->files[file_index].chunk_count)
        len = chunk_length(tx->manifest, &tx->manifest->files[file_index], chunk_index);
    int rc = check_chunk(tx, file_index, chunk_index, len);
    if (rc == 0)
        record_chunk(tx, file_index, chunk_index);
    return rc;
}

size_t ls_dl_tx_missing(ls_dl_tx_t *tx)
{
    pthread_mutex_lock(&tx->lock);
    size_t missing = tx->missing;
    pthread_mutex_unlock(&tx->lock);
    return missing;
}

/* Trims a file that was longer than the manifest (the deliberate truncation,
 * only once all its chunks are in). Durability comes after, for all files
 * at once (sync_data), except for a file on another filesystem than the
 * game root (a mount point inside the game), which syncfs would miss. */
static int finish_file(ls_dl_tx_t *tx, const ls_file_desc_t *f, dev_t root_dev)
{
    struct stat st;
    int fd = open_file_in_root(tx->root_fd, f->path, O_RDWR, false, NULL, NULL);
    int rc = 0;
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) != 0)
        rc = ls_error_from_errno(errno);
    else if ((uint64_t)st.st_size != f->size && ftruncate(fd, (off_t)f->size) != 0)
        rc = ls_error_from_errno(errno);
    if (rc == 0 && st.st_dev != root_dev && fsync(fd) != 0)
        rc = ls_error_from_errno(errno);
    close(fd);
    return rc;
}

/* Every data file and directory durable before the sentinel is written:
 * one syncfs of the game's filesystem rather than an fsync per file and
 * per directory, which cost a game of 40,000 small files tens of thousands
 * of journal commits on a real disk. syncfs reports write-back errors of
 * the files since they were opened (Linux >= 5.8). */
static int sync_data(ls_dl_tx_t *tx)
{
    const ls_game_manifest_t *m = tx->manifest;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->file_count; i++) {
        if (!tx->is_selected[i] || i == tx->sentinel_index || m->files[i].is_dir || tx->is_whole[i])
            continue;
        rc = finish_file(tx, &m->files[i], tx->root_dev);
    }
    if (rc == 0 && syncfs(tx->root_fd) != 0)
        rc = ls_error_from_errno(errno);
    if (rc == 0)
        step(tx, "data_synced");
    return rc;
}

static int write_sentinel_tmp(ls_dl_tx_t *tx)
{
    size_t size = tx->manifest->files[tx->sentinel_index].size;
    int fd = openat(tx->root_fd, LS_VERSION_TMP,
                    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return ls_error_from_errno(errno);
    int rc = ls_fs_pwrite_all(fd, tx->sentinel_buf, size, 0);
    if (rc == 0 && fsync(fd) != 0)
        rc = ls_error_from_errno(errno);
    if (close(fd) != 0 && rc == 0)
        rc = ls_error_from_errno(errno);
    if (rc == 0)
        step(tx, "tmp_written");
    return rc;
}

static int publish_sentinel(ls_dl_tx_t *tx)
{
    if (renameat(tx->root_fd, LS_VERSION_TMP, tx->root_fd, LS_VERSION_FILE) != 0)
        return ls_error_from_errno(errno);
    step(tx, "renamed");
    if (fsync(tx->root_fd) != 0)
        return ls_error_from_errno(errno);
    step(tx, "root_synced");
    return 0;
}

int ls_dl_tx_commit(ls_dl_tx_t *tx)
{
    int rc = 0;
    if (ls_dl_tx_missing(tx) != 0)
        return LS_EINCOMPLETE;
    rc = sync_data(tx);
    if (rc == 0 && tx->sentinel_index != SIZE_MAX) {
        rc = write_sentinel_tmp(tx);
        if (rc == 0)
            rc = publish_sentinel(tx);
    }
    if (rc != 0) {
        unlink_in_root(tx->root_fd, LS_VERSION_TMP);
        ls_warn(LOG_MOD, "commit of %s %s failed: %s", tx->manifest->game_id, tx->manifest->version,
                ls_strerror(rc));
        return rc;
    }
    /* the new sentinel is durable: the parked one has no use left */
    unlink_in_root(tx->root_fd, LS_VERSION_DISCARDED);
    fsync(tx->root_fd);
    step(tx, "committed");
    return 0;
}

int ls_dl_tx_abort(ls_dl_tx_t *tx)
{
    int rc = sweep(tx);
    undo_begin(tx);
    return rc;
}

int ls_dl_chunk_verify(const ls_game_manifest_t *manifest, size_t file_index, size_t chunk_index,
                       const void *data, size_t len)
{
    uint8_t digest[LS_SHA256_LEN];
    if (file_index >= manifest->file_count)
        return LS_ECHUNK;
    const ls_file_desc_t *f = &manifest->files[file_index];
    if (f->is_dir || chunk_index >= f->chunk_count || len != chunk_length(manifest, f, chunk_index))
        return LS_ECHUNK;
    ls_sha256(data, len, digest);
    return memcmp(digest, f->chunk_sha256[chunk_index], LS_SHA256_LEN) == 0 ? 0 : LS_ECHUNK;
}

int ls_dl_chunk_verify_on_disk(const char *game_root, const ls_game_manifest_t *manifest,
                               size_t file_index, size_t chunk_index)
{
    uint8_t *buf = NULL;
    int fd = -1;
    int rc;
    if (file_index >= manifest->file_count || manifest->files[file_index].is_dir ||
        chunk_index >= manifest->files[file_index].chunk_count)
        return LS_ECHUNK;
    const ls_file_desc_t *f = &manifest->files[file_index];
    size_t len = (size_t)chunk_length(manifest, f, chunk_index);
    fd = ls_open_in_root(game_root, f->path, O_RDONLY);
    if (fd < 0)
        return fd;
    buf = malloc(len ? len : 1);
    if (!buf) {
        rc = LS_ENOMEM;
        goto out;
    }
    rc = ls_fs_pread_all(fd, buf, len, (off_t)chunk_index * manifest->chunk_size);
    if (rc == 0)
        rc = ls_dl_chunk_verify(manifest, file_index, chunk_index, buf, len);
out:
    free(buf);
    close(fd);
    return rc;
}
