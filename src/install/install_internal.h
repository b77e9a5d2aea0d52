/* Helpers shared by the transactions and the recovery: Lanspread-owned
 * folders, durable renames, the crash-injection hook. Internal to src/install. */
#ifndef LS_INSTALL_INTERNAL_H
#define LS_INSTALL_INTERNAL_H

#include "lanspread/install.h"

#include <stdbool.h>

/* Test hook: aborts the process when $LS_CRASH_AT equals "<op>:<point>".
 * Read only at the named points of the transactions. */
void ls_install_crash_point(ls_install_op_t op, const char *point);

/* Creates root/name with the .lanspread_owned marker inside, durably.
 * LS_EEXIST when something is already there. */
int ls_owned_dir_create(const char *root, const char *name);
/* Makes sure an existing root/name (owned by the intent) carries the marker,
 * creating the folder when missing. */
int ls_owned_dir_ensure(const char *root, const char *name);
/* 1 when root/name is a directory carrying the marker, 0 when not, <0 on error. */
int ls_owned_dir_is_marked(const char *root, const char *name);
/* Removes root/name: every child but the marker first, then the marker, then
 * the folder, so an interrupted removal still leaves proof of ownership. */
int ls_owned_dir_remove(const char *root, const char *name);
/* Removes the marker from root/name (it must not end up in local/). */
int ls_owned_dir_unmark(const char *root, const char *name);

/* rename(root/from, root/to), then fsyncs the directories involved. */
int ls_install_rename(const char *root, const char *from, const char *to);

/* Removes the intent log and fsyncs the root. */
int ls_intent_remove(const char *root);

/* 1 if root/rel is a directory (not a symlink), 0 if not, <0 on error. */
int ls_install_is_dir(const char *root, const char *rel);

/* Takes an exclusive flock(2) on the game root, so that operations on one
 * game never overlap, across threads and processes. Returns an fd to pass to
 * ls_install_unlock(), or LS_EBUSY when another holder has it. The kernel
 * drops the lock when the process dies. */
int ls_install_lock(const char *game_root);
void ls_install_unlock(int lock_fd);

/* ls_install_recover() for a caller that holds the game's lock. */
int ls_install_recover_locked(const char *game_root, ls_recover_report_t *report);

/* 1 if something (even a dangling symlink) is at root/rel, 0 if not. */
int ls_install_exists(const char *root, const char *rel);

#endif
