/* Names and paths inside a game directory: which game ids are valid, which
 * names Lanspread reserves, and whether a relative path stays in its root. */
#ifndef LANSPREAD_PATH_H
#define LANSPREAD_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LS_GAME_ID_MAX 64
#define LS_RELPATH_MAX 1024

/* Reserved entries at a game root: never announced, never served. */
#define LS_VERSION_FILE "version.ini"
/* One limit everywhere (scan, download, serving): a larger version.ini is
 * not a sentinel but something else, refused. */
#define LS_VERSION_FILE_MAX 4096
#define LS_INSTALL_DIR "local"
#define LS_INTENT_FILE ".lanspread.json"
#define LS_INSTALLING_DIR ".local.installing"
#define LS_BACKUP_DIR ".local.backup"
#define LS_OWNED_MARKER ".lanspread_owned"
#define LS_VERSION_TMP ".version.ini.tmp"
#define LS_VERSION_DISCARDED ".version.ini.discarded"
/* Any root name starting with this prefix is reserved for Lanspread's own use. */
#define LS_RESERVED_PREFIX ".lanspread"

/* A game id: 1..64 bytes of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool ls_game_id_is_valid(const char *id);

/* True for names at a game root that are never announced or served. */
bool ls_is_reserved_root_name(const char *name);

/* Checks a relative path received from a peer or read from a manifest:
 * non-empty, at most LS_RELPATH_MAX bytes, no NUL, not absolute, no '.' or
 * '..' component, no empty component, first component not reserved.
 * `len` is the byte length (the path may contain an embedded NUL).
 * Returns 0 or an LS_EPATH_* code. */
int ls_relpath_check(const char *path, size_t len);

/* Opens `relpath` for reading inside `root` without ever leaving it: every
 * component is opened with O_NOFOLLOW relative to its parent, so a symlink
 * anywhere on the way is refused with LS_EPATH_SYMLINK (one openat2 where
 * the kernel has it, the component walk otherwise or to name a failure). Returns an fd >= 0
 * or a negative LS_E* code. The caller closes the fd. */
int ls_open_in_root(const char *root, const char *relpath, int flags);

/* The same inside an open directory `root_fd` (not closed): for callers that
 * open many files of one root. */
int ls_open_beneath(int root_fd, const char *relpath, int flags);

/* One openat2(2) of relpath beneath dir_fd that refuses a symlink anywhere
 * on the way (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), with O_NOFOLLOW and
 * O_CLOEXEC added to `flags`; `mode` is used with O_CREAT. No relpath check.
 * Returns an fd, or -1 with errno set (ENOSYS without openat2, remembered
 * so that it is not asked again; ELOOP for a symlink): callers that need
 * the exact reason then take the component walk. Costs one syscall however deep the path is, where
 * the walk costs two per component. */
int ls_openat_beneath(int dir_fd, const char *relpath, int flags, mode_t mode);

#endif
