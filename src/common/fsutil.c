/* Blocking file-system helpers: whole-file reads, atomic replacement,
 * positional I/O and tree removal that never follows symlinks. */
#include "lanspread/fsutil.h"
#include "lanspread/log.h"

#include "lanspread/error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftw.h>

int ls_fs_read_file(const char *path, size_t max_len, char **out, size_t *out_len)
{
    int rc = 0;
    char *buf = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (fd < 0)
        return ls_error_from_errno(errno);
    if (fstat(fd, &st) != 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = LS_EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max_len) {
        rc = LS_ETOOBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = LS_ENOMEM;
        goto out;
    }
    rc = ls_fs_pread_all(fd, buf, (size_t)st.st_size, 0);
    if (rc != 0)
        goto out;
    buf[st.st_size] = '\0';
    *out = buf;
    buf = NULL;
    if (out_len)
        *out_len = (size_t)st.st_size;
out:
    free(buf);
    close(fd);
    return rc;
}

int ls_fs_pwrite_all(int fd, const void *data, size_t len, off_t offset)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ls_error_from_errno(errno);
        }
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

int ls_fs_pread_all(int fd, void *data, size_t len, off_t offset)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ls_error_from_errno(errno);
        }
        if (n == 0)
            return LS_ECORRUPT;
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

int ls_fs_fsync_dir(const char *dir)
{
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ls_error_from_errno(errno);
    if (fsync(fd) != 0)
        rc = ls_error_from_errno(errno);
    close(fd);
    return rc;
}

int ls_fs_fsync_parent(const char *path)
{
    char *copy = strdup(path);
    int rc;
    if (!copy)
        return LS_ENOMEM;
    rc = ls_fs_fsync_dir(dirname(copy));
    free(copy);
    return rc;
}

int ls_fs_write_atomic(const char *path, const void *data, size_t len)
{
    return ls_fs_write_atomic_mode(path, data, len, 0644);
}

int ls_fs_write_atomic_mode(const char *path, const void *data, size_t len, mode_t mode)
{
    /* The temp name is unique per call, not only per process: two threads
     * (the runtime and the HTTP thread) may replace the same file at once,
     * and a shared temp would let one unlink or rename the other's. */
    static atomic_uint next_temp;
    int rc = 0;
    int fd = -1;
    char *tmp =
        ls_strdup_printf("%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&next_temp, 1u));

    if (!tmp)
        return LS_ENOMEM;
    unlink(tmp); /* a stale temp of a crashed run must not keep its mode */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    if (fchmod(fd, mode) != 0) /* the umask may have narrowed it */
        rc = ls_error_from_errno(errno);
    if (rc == 0)
        rc = ls_fs_pwrite_all(fd, data, len, 0);
    if (rc == 0 && fsync(fd) != 0)
        rc = ls_error_from_errno(errno);
    if (close(fd) != 0 && rc == 0)
        rc = ls_error_from_errno(errno);
    if (rc != 0)
        goto out;
    if (rename(tmp, path) != 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    rc = ls_fs_fsync_parent(path);
out:
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int ls_fs_mkdir_p(const char *path, mode_t mode)
{
    int rc = 0;
    char *copy = strdup(path);
    if (!copy)
        return LS_ENOMEM;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) != 0 && errno != EEXIST) {
            rc = ls_error_from_errno(errno);
            goto out;
        }
        *p = '/';
    }
    if (mkdir(copy, mode) != 0 && errno != EEXIST)
        rc = ls_error_from_errno(errno);
    else if (ls_fs_is_dir(copy) != 1)
        rc = LS_ENOTDIR;
out:
    free(copy);
    return rc;
}

static int remove_entry_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
    return (r != 0 && errno != ENOENT) ? errno : 0;
}

int ls_fs_remove_tree(const char *path)
{
    struct stat st;
    int r;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : ls_error_from_errno(errno);
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : ls_error_from_errno(errno);
    /* FTW_PHYS: a symlink inside the tree is removed, never followed. */
    r = nftw(path, remove_entry_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (r < 0)
        return ls_error_from_errno(errno);
    return r == 0 ? 0 : ls_error_from_errno(r);
}

int ls_fs_is_dir(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : ls_error_from_errno(errno);
    return S_ISDIR(st.st_mode) ? 1 : 0;
}

int ls_fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? 1 : 0;
}

char *ls_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (la > 0 && a[la - 1] == '/')
        return ls_strdup_printf("%s%s", a, b);
    return ls_strdup_printf("%s/%s", a, b);
}

char *ls_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

static int probe_writable(const char *dir)
{
    char *probe = ls_strdup_printf("%s/.lanspread-write-probe-XXXXXX", dir);
    int rc = probe ? 0 : LS_ENOMEM;
    if (rc == 0) {
        int fd = mkstemp(probe);
        if (fd < 0) {
            rc = ls_error_from_errno(errno);
        } else {
            close(fd);
            unlink(probe);
        }
    }
    free(probe);
    return rc;
}

int ls_fs_check_game_dir(const char *path, char *real, char *why, size_t why_len)
{
    struct stat st;
    int rc;
    if (path[0] != '/') {
        snprintf(why, why_len, "game directory must be an absolute path: %s", path);
        return LS_EINVAL;
    }
    /* It is written into the config file, one `key = value` per line: a
     * newline would inject keys (`http = 0.0.0.0:…`) for the next start. */
    if (ls_text_has_control(path)) {
        snprintf(why, why_len, "game directory path contains a control character");
        return LS_EINVAL;
    }
    if (stat(path, &st) != 0 || !realpath(path, real)) {
        rc = ls_error_from_errno(errno);
        if (rc == LS_ENOENT || rc == LS_ENOTDIR)
            snprintf(why, why_len, "game directory %s does not exist", path);
        else
            snprintf(why, why_len, "game directory %s cannot be used: %s", path, ls_strerror(rc));
        return rc == LS_ENOTDIR ? LS_ENOENT : rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "game directory %s is not a directory", path);
        return LS_ENOTDIR;
    }
    rc = probe_writable(real);
    if (rc != 0)
        snprintf(why, why_len, "game directory %s is not writable: %s", path, ls_strerror(rc));
    return rc;
}

const char *ls_format_size(unsigned long long bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024.0;
        unit++;
    }
    if (unit == 0)
        snprintf(buf, len, "%llu B", bytes);
    else
        snprintf(buf, len, "%.1f %s", value, units[unit]);
    return buf;
}
