/* File-system helpers used by every module that touches disk.
 * All of them block: call them from a work lane (workq.h), never from the loop. */
#ifndef LANSPREAD_FSUTIL_H
#define LANSPREAD_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Reads a whole file. Fails with LS_ETOOBIG when it is larger than max_len.
 * *out is NUL-terminated and owned by the caller (free()). */
int ls_fs_read_file(const char *path, size_t max_len, char **out, size_t *out_len);

/* Replaces `path` atomically: writes a temp file beside it, fsyncs it,
 * renames it over `path`, then fsyncs the directory. */
int ls_fs_write_atomic(const char *path, const void *data, size_t len);
/* The same, with the file created with `mode` from the start (0600 for a
 * private key: it never exists with wider permissions, even briefly). */
int ls_fs_write_atomic_mode(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all of `data` at `offset` (pwrite loop). */
int ls_fs_pwrite_all(int fd, const void *data, size_t len, off_t offset);

/* Reads exactly `len` bytes at `offset`; LS_ECORRUPT on a short file. */
int ls_fs_pread_all(int fd, void *data, size_t len, off_t offset);

int ls_fs_fsync_dir(const char *dir);
/* fsyncs the directory that contains `path`. */
int ls_fs_fsync_parent(const char *path);

/* Creates a directory and its parents; an existing directory is fine. */
int ls_fs_mkdir_p(const char *path, mode_t mode);

/* Removes a file or a whole tree without following symlinks.
 * A missing path is success. */
int ls_fs_remove_tree(const char *path);

/* 1 if path is a directory (not following a final symlink), 0 if not, <0 on error. */
int ls_fs_is_dir(const char *path);
/* 1 if something exists at path (lstat), 0 if not. */
int ls_fs_exists(const char *path);

/* Checks that `path` can be a game directory: absolute, an existing
 * directory, writable (proven by creating and removing a file, since
 * access(2) says yes to root even on a read-only mount). On success `real`
 * (PATH_MAX bytes) holds its canonical path; on failure `why` says what is
 * wrong, naming the path. */
int ls_fs_check_game_dir(const char *path, char *real, char *why, size_t why_len);

/* Joins two path parts with one '/'. Returns NULL on allocation failure.
 * Caller frees. */
char *ls_path_join(const char *a, const char *b);

/* printf into a fresh string; caller frees. NULL on failure. */
char *ls_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A byte count as people read it ("512 B", "1.5 GiB") into buf; returns
 * buf. Does not block. */
const char *ls_format_size(unsigned long long bytes, char *buf, size_t len);

#endif
