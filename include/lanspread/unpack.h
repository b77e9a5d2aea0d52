/* The unpacker interface: turns one archive into files inside one destination
 * directory. The peer receives an unpacker instead of calling libarchive
 * itself, so a platform can inject its own (a sidecar tool, say). */
#ifndef LANSPREAD_UNPACK_H
#define LANSPREAD_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Progress of one archive. */
typedef struct {
    uint64_t bytes_written;      /* uncompressed bytes written so far */
    uint64_t archive_bytes_read; /* bytes of the archive file consumed so far */
    uint64_t archive_size;       /* size of the archive file; 0 when unknown */
} ls_unpack_progress_t;

/* Called from the thread that unpacks; `p` is only valid during the call. */
typedef void (*ls_unpack_progress_cb)(const ls_unpack_progress_t *p, void *userdata);

typedef struct {
    /* An entry whose declared size exceeds this is refused before anything of
     * it is written, and so is an archive whose written bytes exceed it.
     * 0 means: the free space of the destination's file system. A nonzero
     * cap is lowered to the free space when that is smaller. */
    uint64_t max_entry_size;
    ls_unpack_progress_cb progress; /* may be NULL */
    void *userdata;
} ls_unpack_opts_t;

/* Unpacks `archive_path` into the existing directory `dest_dir`. Must never
 * create or change anything outside `dest_dir`. Returns 0 or a negative
 * LS_E* code; on failure writes a reason naming the archive and the entry
 * into `reason` (always NUL-terminated when reason_len > 0). What was already
 * written stays: the caller owns `dest_dir` and removes it. `opts` may be
 * NULL. Must be safe to call from several threads at once. */
typedef int (*ls_unpack_fn)(void *self, const char *archive_path, const char *dest_dir,
                            const ls_unpack_opts_t *opts, char *reason, size_t reason_len);

typedef struct {
    ls_unpack_fn unpack;
    void *self; /* owned by whoever built the unpacker; passed back to unpack */
} ls_unpacker_t;

/* The default unpacker (libarchive: zip, 7z, rar, tar and compressed tars).
 * Static storage: never free it.
 *
 * What it refuses, with LS_EUNSAFE_ENTRY: absolute paths, '..' components,
 * symlinks whose target is absolute or leaves the destination, hard links to
 * anything but a regular file inside the destination, device, FIFO and
 * socket entries, and any entry whose path passes through a symlink. With
 * LS_ETOOBIG: an entry whose declared size exceeds the limit, or an archive
 * that writes more than the limit. With LS_EARCHIVE: unreadable or encrypted
 * archives. Files are written with openat(O_NOFOLLOW) relative to
 * descriptors of directories it created itself. */
const ls_unpacker_t *ls_unpacker_libarchive(void);

/* Calls u->unpack; u NULL means ls_unpacker_libarchive(). */
int ls_unpack_archive(const ls_unpacker_t *u, const char *archive_path, const char *dest_dir,
                      const ls_unpack_opts_t *opts, char *reason, size_t reason_len);

/* True when a root-level file name is an archive the install unpacks, judged
 * by its extension, case-insensitively: .zip .7z .rar .tar .tar.gz .tgz
 * .tar.bz2 .tbz .tbz2 .tar.xz .txz .tar.zst .tzst .tar.lz .tar.lzma. */
bool ls_unpack_is_archive_name(const char *name);

#endif
