/* Install, update and uninstall of one game root as transactions: each
 * records its phase in the intent log before the step that phase names, so
 * ls_install_recover() can always finish or undo it. A failure midway is
 * handled by that same recovery. */
#include "install_internal.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A game root never legitimately holds more files than a manifest may list. */
#define ARCHIVES_MAX 200000

typedef struct {
    const char *root;
    ls_install_op_t op;
    const ls_install_opts_t *opts;
    char *reason;
    size_t reason_len;
    uint64_t total;     /* bytes of all archives */
    uint64_t done_base; /* bytes of the archives already unpacked */
} txn_t;

typedef struct {
    char *name;
    uint64_t size;
} archive_t;

static int say(txn_t *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int say(txn_t *t, int code, const char *fmt, ...)
{
    if (t->reason && t->reason_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->reason, t->reason_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

typedef struct {
    archive_t *items;
    size_t count;
} archive_list_t;

static void archive_list_free(archive_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int cmp_archives(const void *a, const void *b)
{
    return strcmp(((const archive_t *)a)->name, ((const archive_t *)b)->name);
}

/* Decides whether one root entry is an archive to unpack; anything else is
 * logged and left out. */
static bool is_archive_entry(const char *root, const char *name, uint64_t *size)
{
    struct stat st;
    char *path;
    bool ok = false;
    if (ls_is_reserved_root_name(name) || strcmp(name, LS_VERSION_FILE) == 0 ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    path = ls_path_join(root, name);
    if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        ok = ls_unpack_is_archive_name(name);
        *size = (uint64_t)st.st_size;
        if (!ok)
            ls_info("install", "%s: '%s' is not an archive, not unpacked", root, name);
    }
    free(path);
    return ok;
}

static int archive_list_add(archive_list_t *l, const char *name, uint64_t size)
{
    if (l->count == ARCHIVES_MAX)
        return LS_ETOOBIG;
    archive_t *items = realloc(l->items, (l->count + 1) * sizeof *items);
    if (!items)
        return LS_ENOMEM;
    l->items = items;
    items[l->count].name = strdup(name);
    if (!items[l->count].name)
        return LS_ENOMEM;
    items[l->count++].size = size;
    return 0;
}

/* Archives at the root, in name order: later ones overwrite earlier ones. */
static int list_archives(const char *root, archive_list_t *out)
{
    DIR *d = opendir(root);
    struct dirent *de;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!d)
        return ls_error_from_errno(errno);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        uint64_t size = 0;
        if (is_archive_entry(root, de->d_name, &size))
            rc = archive_list_add(out, de->d_name, size);
    }
    closedir(d);
    if (rc != 0)
        archive_list_free(out);
    else if (out->count > 1)
        qsort(out->items, out->count, sizeof *out->items, cmp_archives);
    return rc;
}

static void unpack_progress_cb(const ls_unpack_progress_t *p, void *userdata)
{
    txn_t *t = userdata;
    if (t->opts && t->opts->progress)
        t->opts->progress(t->done_base + p->archive_bytes_read, t->total, t->opts->userdata);
}

/* An injected unpacker may fail without a reason; the archive is named anyway. */
static int unpack_one(txn_t *t, const char *dest, const archive_t *item, const ls_unpack_opts_t *uo)
{
    char *path = ls_path_join(t->root, item->name);
    int rc;
    if (!path)
        return say(t, LS_ENOMEM, "out of memory");
    rc = ls_unpack_archive(t->opts ? t->opts->unpacker : NULL, path, dest, uo, t->reason,
                           t->reason_len);
    if (rc != 0 && t->reason && t->reason_len > 0 && t->reason[0] == '\0')
        say(t, rc, "archive '%s': %s", item->name, ls_strerror(rc));
    free(path);
    return rc;
}

static int unpack_all(txn_t *t)
{
    archive_list_t list;
    char *dest = ls_path_join(t->root, LS_INSTALLING_DIR);
    int rc = dest ? list_archives(t->root, &list) : LS_ENOMEM;
    if (rc != 0) {
        free(dest);
        return say(t, rc, "cannot list the archives: %s", ls_strerror(rc));
    }
    if (list.count == 0)
        ls_warn("install", "%s: no archive to unpack, local/ will be empty", t->root);
    t->total = 0;
    for (size_t i = 0; i < list.count; i++)
        t->total += list.items[i].size;
    ls_unpack_opts_t uo = {
        .max_entry_size = t->opts ? t->opts->max_entry_size : 0,
        .progress = unpack_progress_cb,
        .userdata = t,
    };
    t->done_base = 0;
    for (size_t i = 0; i < list.count && rc == 0; i++) {
        rc = unpack_one(t, dest, &list.items[i], &uo);
        t->done_base += list.items[i].size;
        if (rc == 0)
            ls_install_crash_point(t->op, "archive_unpacked");
    }
    if (rc == 0 && t->opts && t->opts->progress)
        t->opts->progress(t->total, t->total, t->opts->userdata);
    archive_list_free(&list);
    free(dest);
    return rc;
}

static int set_phase(txn_t *t, ls_install_phase_t phase, unsigned owns)
{
    ls_intent_t intent = {.op = t->op, .phase = phase, .owns = owns};
    int rc = ls_intent_write(t->root, &intent);
    if (rc != 0)
        say(t, rc, "cannot write the intent log: %s", ls_strerror(rc));
    return rc;
}

/* Recovery has removed every marked leftover already; a reserved folder still
 * there is the user's (or appeared since), and stops the operation. */
static int clear_reserved(txn_t *t, const char *name)
{
    int present = ls_install_exists(t->root, name);
    int marked;
    int rc;
    if (present <= 0)
        return present;
    marked = ls_owned_dir_is_marked(t->root, name);
    if (marked < 0)
        return say(t, marked, "cannot inspect %s/: %s", name, ls_strerror(marked));
    if (marked == 0)
        return say(t, LS_ENOT_OWNED, "%s/ exists and carries no %s marker; it is left alone", name,
                   LS_OWNED_MARKER);
    rc = ls_owned_dir_remove(t->root, name);
    if (rc != 0)
        say(t, rc, "cannot remove the leftover %s/: %s", name, ls_strerror(rc));
    return rc;
}

static int check_preconditions(txn_t *t, bool want_installed)
{
    int rc = 0;
    char *version = ls_path_join(t->root, LS_VERSION_FILE);
    if (!version)
        return say(t, LS_ENOMEM, "out of memory");
    if (t->op != LS_INSTALL_OP_UNINSTALL && ls_fs_exists(version) != 1)
        rc = say(t, LS_ENOT_DOWNLOADED, "%s is missing: the game is not downloaded",
                 LS_VERSION_FILE);
    else if (want_installed && ls_install_is_dir(t->root, LS_INSTALL_DIR) != 1)
        rc = say(t, LS_ENOT_INSTALLED, "%s/ does not exist: the game is not installed",
                 LS_INSTALL_DIR);
    else if (!want_installed && ls_install_exists(t->root, LS_INSTALL_DIR) == 1)
        rc = say(t, LS_EINSTALLED, "%s/ already exists: the game is installed", LS_INSTALL_DIR);
    if (rc == 0)
        rc = clear_reserved(t, LS_INSTALLING_DIR);
    if (rc == 0)
        rc = clear_reserved(t, LS_BACKUP_DIR);
    free(version);
    return rc;
}

/* Finishes an interrupted operation, and puts back or clears what an earlier
 * run left, before starting a new one: only then can a reserved folder still
 * in the way be known to be the user's. */
static int recover_first(txn_t *t)
{
    ls_recover_report_t report;
    int rc = ls_install_recover_locked(t->root, &report);
    if (rc != 0)
        say(t, rc, "an earlier operation could not be recovered: %s", report.reason);
    return rc;
}

/* On failure the intent says how far the operation got; recovery rolls it
 * back (or forward once it is past the point of no return). */
static int fail_and_recover(txn_t *t, int rc)
{
    ls_recover_report_t report;
    int rrc = ls_install_recover_locked(t->root, &report);
    if (rrc != 0)
        ls_error("install", "%s: recovery after a failed %s failed too: %s", t->root,
                 ls_install_op_name(t->op), report.reason);
    return rc;
}

static int step(txn_t *t, int rc, const char *what)
{
    if (rc != 0 && t->reason && t->reason_len > 0 && t->reason[0] == '\0')
        say(t, rc, "%s: %s", what, ls_strerror(rc));
    return rc;
}

/* Shared first half of install and update: the intent log says UNPACKING,
 * then every archive is unpacked into .local.installing/. A failure once the
 * intent exists is rolled back before it is returned. */
static int unpack_to_staging(txn_t *t)
{
    const ls_install_op_t op = t->op;
    int rc = set_phase(t, LS_PHASE_UNPACKING, LS_OWNS_INSTALLING);
    if (rc != 0)
        return rc;
    ls_install_crash_point(op, "intent_written");
    rc = step(t, ls_owned_dir_create(t->root, LS_INSTALLING_DIR),
              "cannot create " LS_INSTALLING_DIR);
    if (rc == 0) {
        ls_install_crash_point(op, "staging_created");
        rc = unpack_all(t);
    }
    if (rc != 0)
        return fail_and_recover(t, rc);
    ls_install_crash_point(op, "unpacked");
    return 0;
}

static int run_install(txn_t *t)
{
    const ls_install_op_t op = t->op;
    int rc = check_preconditions(t, false);
    if (rc != 0)
        return rc;
    rc = unpack_to_staging(t);
    if (rc != 0)
        return rc;
    rc = set_phase(t, LS_PHASE_COMMITTING, LS_OWNS_INSTALLING);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "committing");
    rc = step(t, ls_owned_dir_unmark(t->root, LS_INSTALLING_DIR), "cannot remove the marker");
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "marker_removed");
    rc = step(t, ls_install_rename(t->root, LS_INSTALLING_DIR, LS_INSTALL_DIR),
              "cannot rename " LS_INSTALLING_DIR " to " LS_INSTALL_DIR);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "renamed");
    return step(t, ls_intent_remove(t->root), "cannot remove the intent log");
fail:
    return fail_and_recover(t, rc);
}

/* local/ goes into .local.backup/ (update and uninstall alike). */
static int move_install_to_backup(txn_t *t)
{
    int rc = step(t, ls_owned_dir_create(t->root, LS_BACKUP_DIR), "cannot create " LS_BACKUP_DIR);
    if (rc != 0)
        return rc;
    ls_install_crash_point(t->op, "backup_created");
    return step(t, ls_install_rename(t->root, LS_INSTALL_DIR, LS_BACKUP_DIR "/" LS_INSTALL_DIR),
                "cannot move " LS_INSTALL_DIR " into " LS_BACKUP_DIR);
}

/* The last step of update and uninstall before the intent goes. */
static int remove_backup(txn_t *t)
{
    int rc = step(t, ls_owned_dir_remove(t->root, LS_BACKUP_DIR), "cannot remove " LS_BACKUP_DIR);
    if (rc == 0)
        ls_install_crash_point(t->op, "backup_removed");
    return rc;
}

static int run_update(txn_t *t)
{
    const ls_install_op_t op = t->op;
    int rc = check_preconditions(t, true);
    if (rc != 0)
        return rc;
    rc = unpack_to_staging(t);
    if (rc != 0)
        return rc;
    rc = set_phase(t, LS_PHASE_SWAPPING, LS_OWNS_INSTALLING | LS_OWNS_BACKUP);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "swapping");
    rc = move_install_to_backup(t);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "after_backup");
    rc = step(t, ls_owned_dir_unmark(t->root, LS_INSTALLING_DIR), "cannot remove the marker");
    if (rc == 0)
        rc = step(t, ls_install_rename(t->root, LS_INSTALLING_DIR, LS_INSTALL_DIR),
                  "cannot rename " LS_INSTALLING_DIR " to " LS_INSTALL_DIR);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "swapped");
    rc = set_phase(t, LS_PHASE_CLEANUP, LS_OWNS_BACKUP);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "cleanup");
    rc = remove_backup(t);
    if (rc != 0)
        goto fail;
    return step(t, ls_intent_remove(t->root), "cannot remove the intent log");
fail:
    return fail_and_recover(t, rc);
}

static int run_uninstall(txn_t *t)
{
    const ls_install_op_t op = t->op;
    int rc = check_preconditions(t, true);
    if (rc != 0)
        return rc;
    rc = set_phase(t, LS_PHASE_MOVING, LS_OWNS_BACKUP);
    if (rc != 0)
        return rc;
    ls_install_crash_point(op, "intent_written");
    rc = move_install_to_backup(t);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "moved");
    rc = set_phase(t, LS_PHASE_REMOVING, LS_OWNS_BACKUP);
    if (rc != 0)
        goto fail;
    ls_install_crash_point(op, "removing");
    rc = remove_backup(t);
    if (rc != 0)
        goto fail;
    return step(t, ls_intent_remove(t->root), "cannot remove the intent log");
fail:
    return fail_and_recover(t, rc);
}

static int run_locked(txn_t *t)
{
    int rc = recover_first(t);
    if (rc != 0)
        return rc;
    switch (t->op) {
    case LS_INSTALL_OP_INSTALL:
        return run_install(t);
    case LS_INSTALL_OP_UPDATE:
        return run_update(t);
    default:
        return run_uninstall(t);
    }
}

int ls_install_run(ls_install_op_t op, const char *game_root, const ls_install_opts_t *opts,
                   char *reason, size_t reason_len)
{
    txn_t t = {
        .root = game_root, .op = op, .opts = opts, .reason = reason, .reason_len = reason_len};
    int lock;
    int rc;
    if (reason && reason_len > 0)
        reason[0] = '\0';
    if (!game_root)
        return say(&t, LS_EINVAL, "no game folder given");
    if (op < LS_INSTALL_OP_INSTALL || op > LS_INSTALL_OP_UNINSTALL)
        return say(&t, LS_EINVAL, "unknown operation %d", (int)op);
    if (ls_install_is_dir(game_root, ".") != 1)
        return say(&t, LS_ENOENT, "game folder %s does not exist", game_root);
    lock = ls_install_lock(game_root);
    if (lock == LS_EBUSY)
        return say(&t, lock, "another operation on this game is running");
    if (lock < 0)
        return say(&t, lock, "cannot lock the game folder: %s", ls_strerror(lock));
    rc = run_locked(&t);
    ls_install_unlock(lock);
    if (rc == 0)
        ls_info("install", "%s: %s finished", game_root, ls_install_op_name(op));
    else
        ls_warn("install", "%s: %s failed: %s", game_root, ls_install_op_name(op),
                reason && *reason ? reason : ls_strerror(rc));
    return rc;
}

int ls_install_game(const char *game_root, const ls_install_opts_t *opts, char *reason,
                    size_t reason_len)
{
    return ls_install_run(LS_INSTALL_OP_INSTALL, game_root, opts, reason, reason_len);
}

int ls_update_game(const char *game_root, const ls_install_opts_t *opts, char *reason,
                   size_t reason_len)
{
    return ls_install_run(LS_INSTALL_OP_UPDATE, game_root, opts, reason, reason_len);
}

int ls_uninstall_game(const char *game_root, char *reason, size_t reason_len)
{
    return ls_install_run(LS_INSTALL_OP_UNINSTALL, game_root, NULL, reason, reason_len);
}
