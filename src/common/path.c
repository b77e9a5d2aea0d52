/* Game ids, reserved names and confinement of relative paths to a root. */
#include "lanspread/path.h"

#include "lanspread/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

bool ls_game_id_is_valid(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > LS_GAME_ID_MAX || id[0] == '.' || id[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool ls_is_reserved_root_name(const char *name)
{
    static const char *const reserved[] = {
        LS_INSTALL_DIR,  LS_INTENT_FILE, LS_INSTALLING_DIR,    LS_BACKUP_DIR,
        LS_OWNED_MARKER, LS_VERSION_TMP, LS_VERSION_DISCARDED,
    };
    /* Without regard to case: on vfat, exFAT or a casefold ext4, `LOCAL` is
     * `local/` and `.Lanspread.json` is the intent log. */
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    return strncasecmp(name, LS_RESERVED_PREFIX, strlen(LS_RESERVED_PREFIX)) == 0;
}

int ls_relpath_check(const char *path, size_t len)
{
    char first[LS_RELPATH_MAX + 1];
    size_t start = 0;

    if (!path || len == 0)
        return LS_EPATH_INVALID;
    if (len > LS_RELPATH_MAX)
        return LS_EPATH_INVALID;
    if (memchr(path, '\0', len))
        return LS_EPATH_NUL;
    if (path[0] == '/')
        return LS_EPATH_ABSOLUTE;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        size_t clen = i - start;
        if (clen == 0)
            return LS_EPATH_INVALID;
        if (clen == 2 && path[start] == '.' && path[start + 1] == '.')
            return LS_EPATH_DOTDOT;
        if (clen == 1 && path[start] == '.')
            return LS_EPATH_INVALID;
        if (start == 0) {
            memcpy(first, path, clen);
            first[clen] = '\0';
            if (ls_is_reserved_root_name(first))
                return LS_EPATH_RESERVED;
        }
        start = i + 1;
    }
    return 0;
}

/* Tells a refused symlink apart from an ordinary open failure. */
static int open_failure_code(int dirfd, const char *component, int open_errno)
{
    struct stat st;
    if (fstatat(dirfd, component, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return LS_EPATH_SYMLINK;
    return ls_error_from_errno(open_errno);
}

/* Set once openat2 answered ENOSYS (Linux < 5.6, or a seccomp filter that
 * says so): every later open goes straight to the walk. */
static atomic_bool is_openat2_missing;

int ls_openat_beneath(int dir_fd, const char *relpath, int flags, mode_t mode)
{
#ifdef SYS_openat2
    if (atomic_load_explicit(&is_openat2_missing, memory_order_relaxed)) {
        errno = ENOSYS;
        return -1;
    }
    /* RESOLVE_BENEATH: no absolute path or '..' leaves dir_fd;
     * RESOLVE_NO_SYMLINKS: a symlink anywhere, the last component included,
     * fails with ELOOP, as the walk's O_NOFOLLOW on each component does. */
    struct open_how how = {
        .flags = (uint64_t)(unsigned)(flags | O_NOFOLLOW | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? (uint64_t)mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, dir_fd, relpath, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS)
        atomic_store_explicit(&is_openat2_missing, true, memory_order_relaxed);
    return fd;
#else
    (void)dir_fd;
    (void)relpath;
    (void)flags;
    (void)mode;
    errno = ENOSYS;
    return -1;
#endif
}

/* The component walk: each directory opened with O_NOFOLLOW relative to
 * its parent. Slower (two syscalls per component) but it tells a refused
 * symlink (LS_EPATH_SYMLINK) from an ordinary failure, and works where
 * openat2 does not (Linux < 5.6, seccomp filters). Takes dirfd. */
static int open_walk(int dirfd, const char *relpath, int flags)
{
    char *copy = strdup(relpath);
    int rc;
    if (!copy) {
        rc = LS_ENOMEM;
        goto out;
    }
    char *component = copy;
    for (;;) {
        char *slash = strchr(component, '/');
        bool is_last = slash == NULL;
        if (slash)
            *slash = '\0';
        int next_flags = is_last ? (flags | O_NOFOLLOW | O_CLOEXEC)
                                 : (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int next = openat(dirfd, component, next_flags);
        if (next < 0) {
            rc = open_failure_code(dirfd, component, errno);
            goto out;
        }
        close(dirfd);
        dirfd = next;
        if (is_last)
            break;
        component = slash + 1;
    }
    rc = dirfd;
    dirfd = -1;
out:
    if (dirfd >= 0)
        close(dirfd);
    free(copy);
    return rc;
}

int ls_open_beneath(int root_fd, const char *relpath, int flags)
{
    int rc = ls_relpath_check(relpath, strlen(relpath));
    if (rc != 0)
        return rc;
    /* One syscall for the whole path where the kernel has openat2; any
     * failure goes the slow way, which also names the reason. */
    int fd = ls_openat_beneath(root_fd, relpath, flags, 0);
    if (fd >= 0)
        return fd;
    int dirfd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    if (dirfd < 0)
        return ls_error_from_errno(errno);
    return open_walk(dirfd, relpath, flags);
}

int ls_open_in_root(const char *root, const char *relpath, int flags)
{
    int rc = ls_relpath_check(relpath, strlen(relpath));
    if (rc != 0)
        return rc;
    int dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return ls_error_from_errno(errno);
    rc = ls_open_beneath(dirfd, relpath, flags);
    close(dirfd);
    return rc;
}
