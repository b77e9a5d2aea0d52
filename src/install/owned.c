/* Lanspread-owned working folders (.local.installing/, .local.backup/) and
 * the durable renames and removals the transactions are made of. */
#include "install_internal.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void ls_install_crash_point(ls_install_op_t op, const char *point)
{
    const char *want = getenv("LS_CRASH_AT");
    char here[64];
    if (!want || !*want)
        return;
    snprintf(here, sizeof here, "%s:%s", ls_install_op_name(op), point);
    if (strcmp(want, here) == 0) {
        ls_warn("install", "LS_CRASH_AT=%s: aborting as asked", want);
        abort();
    }
}

int ls_install_lock(const char *game_root)
{
    int fd = open(game_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ls_error_from_errno(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? LS_EBUSY : ls_error_from_errno(e);
    }
    return fd;
}

void ls_install_unlock(int lock_fd)
{
    if (lock_fd >= 0)
        close(lock_fd); /* closing the last descriptor releases the flock */
}

int ls_install_is_dir(const char *root, const char *rel)
{
    char *path = ls_path_join(root, rel);
    int rc = path ? ls_fs_is_dir(path) : LS_ENOMEM;
    free(path);
    return rc;
}

int ls_install_exists(const char *root, const char *rel)
{
    char *path = ls_path_join(root, rel);
    int rc = path ? ls_fs_exists(path) : LS_ENOMEM;
    free(path);
    return rc;
}

static int write_marker(const char *dir)
{
    char *path = ls_path_join(dir, LS_OWNED_MARKER);
    int rc = 0;
    int fd;
    if (!path)
        return LS_ENOMEM;
    fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    if (fsync(fd) != 0)
        rc = ls_error_from_errno(errno);
    close(fd);
    if (rc == 0)
        rc = ls_fs_fsync_dir(dir);
out:
    free(path);
    return rc;
}

int ls_owned_dir_create(const char *root, const char *name)
{
    char *dir = ls_path_join(root, name);
    int rc = 0;
    if (!dir)
        return LS_ENOMEM;
    if (mkdir(dir, 0755) != 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    rc = write_marker(dir);
    if (rc == 0)
        rc = ls_fs_fsync_dir(root);
out:
    free(dir);
    return rc;
}

int ls_owned_dir_ensure(const char *root, const char *name)
{
    int is_dir = ls_install_is_dir(root, name);
    char *dir;
    int rc;
    if (is_dir < 0)
        return is_dir;
    if (is_dir == 0)
        return ls_owned_dir_create(root, name);
    dir = ls_path_join(root, name);
    rc = dir ? write_marker(dir) : LS_ENOMEM;
    free(dir);
    return rc;
}

int ls_owned_dir_is_marked(const char *root, const char *name)
{
    char *dir = ls_path_join(root, name);
    char *marker = dir ? ls_path_join(dir, LS_OWNED_MARKER) : NULL;
    struct stat st;
    int rc = 0;
    if (!marker) {
        rc = LS_ENOMEM;
        goto out;
    }
    if (ls_fs_is_dir(dir) == 1 && lstat(marker, &st) == 0 && S_ISREG(st.st_mode))
        rc = 1;
out:
    free(marker);
    free(dir);
    return rc;
}

int ls_owned_dir_unmark(const char *root, const char *name)
{
    char *dir = ls_path_join(root, name);
    char *marker = dir ? ls_path_join(dir, LS_OWNED_MARKER) : NULL;
    int rc = 0;
    if (!marker) {
        rc = LS_ENOMEM;
        goto out;
    }
    if (unlink(marker) != 0 && errno != ENOENT) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    rc = ls_fs_fsync_dir(dir);
out:
    free(marker);
    free(dir);
    return rc;
}

/* Removes every child of dir except the marker. */
static int remove_children(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;
    if (!d)
        return ls_error_from_errno(errno);
    /* bounded: each pass of readdir yields each entry once */
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, LS_OWNED_MARKER) == 0)
            continue;
        char *child = ls_path_join(dir, de->d_name);
        rc = child ? ls_fs_remove_tree(child) : LS_ENOMEM;
        free(child);
    }
    closedir(d);
    return rc;
}

int ls_owned_dir_remove(const char *root, const char *name)
{
    char *dir = ls_path_join(root, name);
    char *marker = dir ? ls_path_join(dir, LS_OWNED_MARKER) : NULL;
    int rc;
    if (!marker) {
        rc = LS_ENOMEM;
        goto out;
    }
    rc = ls_fs_is_dir(dir);
    if (rc <= 0)
        goto out; /* nothing there, or an error */
    rc = remove_children(dir);
    if (rc == 0 && unlink(marker) != 0 && errno != ENOENT)
        rc = ls_error_from_errno(errno);
    if (rc == 0 && rmdir(dir) != 0)
        rc = ls_error_from_errno(errno);
    if (rc == 0)
        rc = ls_fs_fsync_dir(root);
out:
    free(marker);
    free(dir);
    return rc;
}

int ls_install_rename(const char *root, const char *from, const char *to)
{
    char *src = ls_path_join(root, from);
    char *dst = ls_path_join(root, to);
    int rc = 0;
    if (!src || !dst) {
        rc = LS_ENOMEM;
        goto out;
    }
    if (rename(src, dst) != 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    rc = ls_fs_fsync_parent(dst);
    if (rc == 0)
        rc = ls_fs_fsync_parent(src);
out:
    free(src);
    free(dst);
    return rc;
}

int ls_intent_remove(const char *root)
{
    char *path = ls_path_join(root, LS_INTENT_FILE);
    int rc = 0;
    if (!path)
        return LS_ENOMEM;
    /* nothing to make durable when there was no intent */
    if (unlink(path) == 0)
        rc = ls_fs_fsync_dir(root);
    else if (errno != ENOENT)
        rc = ls_error_from_errno(errno);
    free(path);
    return rc;
}
