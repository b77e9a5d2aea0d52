/* The free-space check a download passes before it creates or pre-sizes
 * anything: what the selected files still need against what the game
 * directory's file system has free, less a margin. Blocking (stat of every
 * file, statvfs): for a work lane. */
#include "lanspread/download.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* st_blocks counts units of this size whatever the file system's block. */
#define STAT_BLOCK_BYTES 512u

/* Bytes the file system already holds for relpath under root_fd: a resumed
 * or re-downloaded file needs only the rest. A missing file, or anything
 * but a regular file, holds nothing we can count on. Only a stat: a path
 * through a symlink is refused by ls_dl_tx_begin before anything is written. */
static uint64_t allocated_bytes(int root_fd, const char *relpath)
{
    struct stat st;
    if (root_fd < 0 || fstatat(root_fd, relpath, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
        return 0;
    return (uint64_t)st.st_blocks * STAT_BLOCK_BYTES;
}

/* statvfs of game_root, or of its parent (the game directory) when the
 * root is not there yet. */
static int free_bytes(const char *game_root, uint64_t *out)
{
    struct statvfs vfs;
    int rc = statvfs(game_root, &vfs) == 0 ? 0 : ls_error_from_errno(errno);
    if (rc == LS_ENOENT) {
        char *parent = strdup(game_root);
        char *slash = parent ? strrchr(parent, '/') : NULL;
        if (slash && slash != parent)
            *slash = '\0';
        rc = !parent ? LS_ENOMEM : statvfs(parent, &vfs) == 0 ? 0 : ls_error_from_errno(errno);
        free(parent);
    }
    if (rc != 0)
        return rc;
    /* f_bavail, not f_bfree: the blocks reserved for root are the system's. */
    *out = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    return 0;
}

int ls_dl_space_check(const char *game_root, const ls_game_manifest_t *manifest,
                      const size_t *selected, size_t selected_count, ls_dl_space_t *out)
{
    int root_fd = open(game_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t n = selected ? selected_count : manifest->file_count;
    int rc;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        size_t idx = selected ? selected[i] : i;
        if (idx >= manifest->file_count) {
            rc = LS_EINVAL;
            goto out;
        }
        const ls_file_desc_t *f = &manifest->files[idx];
        if (f->is_dir || f->size == 0)
            continue;
        uint64_t have = allocated_bytes(root_fd, f->path);
        uint64_t need = f->size > have ? f->size - have : 0;
        out->needed = need > UINT64_MAX - out->needed ? UINT64_MAX : out->needed + need;
    }
    rc = free_bytes(game_root, &out->available);
    if (rc == 0 &&
        (out->needed > out->available || out->available - out->needed < LS_DL_FREE_MARGIN))
        rc = LS_ENOSPC;
out:
    if (root_fd >= 0)
        close(root_fd);
    return rc;
}
