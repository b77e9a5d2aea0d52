/* Startup recovery: from the intent log and what is on disk, brings a game
 * root back to the state before or after its interrupted operation. A
 * reserved folder is deleted only when the intent or its marker proves it is
 * Lanspread's; a local/ is never deleted without intent. */
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
#include <unistd.h>

#define BACKUP_LOCAL LS_BACKUP_DIR "/" LS_INSTALL_DIR

/* What is on disk. */
typedef struct {
    bool local;
    bool installing;
    bool installing_marked;
    bool backup;
    bool backup_marked;
    bool backup_local;
} observed_t;

typedef struct {
    const char *root;
    ls_intent_t intent; /* op 0: none usable */
    observed_t seen;
    ls_recover_report_t *report;
} recovery_t;

static void note(recovery_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(recovery_t *r, const char *fmt, ...)
{
    size_t used = strlen(r->report->reason);
    size_t room = sizeof r->report->reason - used;
    va_list ap;
    if (room <= 2)
        return;
    if (used > 0) {
        memcpy(r->report->reason + used, "; ", 3);
        used += 2;
        room -= 2;
    }
    va_start(ap, fmt);
    vsnprintf(r->report->reason + used, room, fmt, ap);
    va_end(ap);
}

static int observe(recovery_t *r)
{
    const int v[6] = {
        ls_install_is_dir(r->root, LS_INSTALL_DIR),
        ls_install_is_dir(r->root, LS_INSTALLING_DIR),
        ls_owned_dir_is_marked(r->root, LS_INSTALLING_DIR),
        ls_install_is_dir(r->root, LS_BACKUP_DIR),
        ls_owned_dir_is_marked(r->root, LS_BACKUP_DIR),
        ls_install_is_dir(r->root, BACKUP_LOCAL),
    };
    for (size_t i = 0; i < 6; i++)
        if (v[i] < 0)
            return v[i];
    r->seen = (observed_t){v[0] == 1, v[1] == 1, v[2] == 1, v[3] == 1, v[4] == 1, v[5] == 1};
    return 0;
}

static bool owns_installing(const recovery_t *r)
{
    return (r->intent.owns & LS_OWNS_INSTALLING) || r->seen.installing_marked;
}

static bool owns_backup(const recovery_t *r)
{
    return (r->intent.owns & LS_OWNS_BACKUP) || r->seen.backup_marked;
}

static int drop_installing(recovery_t *r)
{
    if (!r->seen.installing)
        return 0;
    if (!owns_installing(r)) {
        note(r, "%s/ has no marker and is left alone", LS_INSTALLING_DIR);
        return 0;
    }
    return ls_owned_dir_remove(r->root, LS_INSTALLING_DIR);
}

/* Removing the backup is only safe once local/ holds a game again. */
static int drop_backup(recovery_t *r)
{
    if (!r->seen.backup)
        return 0;
    if (!owns_backup(r)) {
        note(r, "%s/ has no marker and is left alone", LS_BACKUP_DIR);
        return 0;
    }
    return ls_owned_dir_remove(r->root, LS_BACKUP_DIR);
}

static int restore_backup(recovery_t *r)
{
    int rc = ls_install_rename(r->root, BACKUP_LOCAL, LS_INSTALL_DIR);
    if (rc == 0) {
        r->seen.local = true;
        r->seen.backup_local = false;
        note(r, "restored %s/ from %s/", LS_INSTALL_DIR, LS_BACKUP_DIR);
    }
    return rc;
}

static int commit_installing(recovery_t *r)
{
    int rc = ls_owned_dir_unmark(r->root, LS_INSTALLING_DIR);
    if (rc == 0)
        rc = ls_install_rename(r->root, LS_INSTALLING_DIR, LS_INSTALL_DIR);
    if (rc == 0) {
        r->seen.local = true;
        r->seen.installing = false;
    }
    return rc;
}

static void set_action(recovery_t *r, ls_recover_action_t action)
{
    r->report->action = action;
}

static int recover_install(recovery_t *r)
{
    int rc = 0;
    if (r->intent.phase == LS_PHASE_COMMITTING && r->seen.installing && !r->seen.local) {
        rc = commit_installing(r);
        set_action(r, LS_RECOVER_ROLLED_FORWARD);
    } else if (r->intent.phase == LS_PHASE_COMMITTING && r->seen.local) {
        set_action(r, LS_RECOVER_ROLLED_FORWARD);
    } else {
        set_action(r, LS_RECOVER_ROLLED_BACK);
    }
    if (rc == 0)
        rc = drop_installing(r);
    if (rc == 0)
        rc = drop_backup(r);
    return rc;
}

/* The unpacked new version is complete once SWAPPING is recorded, so an
 * interrupted swap is always finished rather than undone. */
static int recover_swap(recovery_t *r)
{
    const observed_t *s = &r->seen;
    int rc = 0;
    if (s->local && s->backup_local && s->installing) {
        note(r, "%s/ reappeared during the swap", LS_INSTALL_DIR);
        return LS_EINCONSISTENT;
    }
    if (s->installing && s->local) {
        rc = ls_owned_dir_ensure(r->root, LS_BACKUP_DIR);
        if (rc == 0)
            rc = ls_install_rename(r->root, LS_INSTALL_DIR, BACKUP_LOCAL);
        if (rc == 0) {
            r->seen.local = false;
            r->seen.backup = r->seen.backup_local = true;
        }
    }
    if (rc == 0 && r->seen.installing && !r->seen.local)
        rc = commit_installing(r);
    if (rc == 0 && !r->seen.local && r->seen.backup_local) {
        set_action(r, LS_RECOVER_ROLLED_BACK);
        return restore_backup(r);
    }
    set_action(r, LS_RECOVER_ROLLED_FORWARD);
    return rc;
}

static int recover_update(recovery_t *r)
{
    int rc = 0;
    switch (r->intent.phase) {
    case LS_PHASE_SWAPPING:
        rc = recover_swap(r);
        break;
    case LS_PHASE_CLEANUP:
        set_action(r, LS_RECOVER_ROLLED_FORWARD);
        break;
    default:
        set_action(r, LS_RECOVER_ROLLED_BACK);
        break;
    }
    /* never end with neither local/ nor its backup */
    if (rc == 0 && !r->seen.local && r->seen.backup_local)
        rc = restore_backup(r);
    if (rc == 0)
        rc = drop_installing(r);
    if (rc == 0)
        rc = drop_backup(r);
    return rc;
}

static int recover_uninstall(recovery_t *r)
{
    int rc = 0;
    if (r->seen.local && r->seen.backup_local) {
        note(r, "%s/ reappeared during the uninstall", LS_INSTALL_DIR);
        return LS_EINCONSISTENT;
    }
    /* once local/ has moved the uninstall is finished, whatever the phase */
    set_action(r, r->seen.local ? LS_RECOVER_ROLLED_BACK : LS_RECOVER_ROLLED_FORWARD);
    rc = drop_backup(r);
    if (rc == 0)
        rc = drop_installing(r);
    return rc;
}

/* Without a usable intent only markers prove ownership, and an owned backup
 * holding the only copy of the game is put back rather than deleted. */
static int recover_without_intent(recovery_t *r)
{
    int rc = 0;
    bool acted = false;
    if (r->seen.backup && r->seen.backup_marked && r->seen.backup_local && !r->seen.local) {
        rc = restore_backup(r);
        set_action(r, LS_RECOVER_ROLLED_BACK);
        acted = true;
    }
    if (rc == 0 &&
        ((r->seen.installing && r->seen.installing_marked) ||
         (r->seen.backup && r->seen.backup_marked)) &&
        !acted)
        set_action(r, LS_RECOVER_LEFTOVERS);
    if (rc == 0)
        rc = drop_installing(r);
    if (rc == 0)
        rc = drop_backup(r);
    return rc;
}

/* ls_fs_write_atomic leaves "<intent>.tmp.<pid>" behind when it is killed. */
static int remove_intent_temps(const char *root)
{
    static const char prefix[] = LS_INTENT_FILE ".tmp.";
    DIR *d = opendir(root);
    struct dirent *de;
    int rc = 0;
    if (!d)
        return ls_error_from_errno(errno);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, sizeof prefix - 1) != 0)
            continue;
        char *path = ls_path_join(root, de->d_name);
        rc = path ? ls_fs_remove_tree(path) : LS_ENOMEM;
        free(path);
    }
    closedir(d);
    return rc;
}

static int read_intent(recovery_t *r)
{
    char detail[256] = "";
    int rc = ls_intent_read(r->root, &r->intent, detail, sizeof detail);
    if (rc == LS_ENOENT)
        return 0;
    if (rc == LS_EINTENT || rc == LS_EVERSION) {
        r->report->intent_corrupt = true;
        memset(&r->intent, 0, sizeof r->intent);
        note(r, "intent log %s is unusable (%s); recovered from markers only", LS_INTENT_FILE,
             detail);
        ls_error("install", "%s: intent log %s is unusable: %s", r->root, LS_INTENT_FILE, detail);
        return 0;
    }
    if (rc == 0) {
        r->report->op = r->intent.op;
        note(r, "interrupted %s in phase %s", ls_install_op_name(r->intent.op),
             ls_install_phase_name(r->intent.phase));
    }
    return rc;
}

static int dispatch(recovery_t *r)
{
    switch (r->intent.op) {
    case LS_INSTALL_OP_INSTALL:
        return recover_install(r);
    case LS_INSTALL_OP_UPDATE:
        return recover_update(r);
    case LS_INSTALL_OP_UNINSTALL:
        return recover_uninstall(r);
    default:
        return recover_without_intent(r);
    }
}

int ls_install_recover(const char *game_root, ls_recover_report_t *report)
{
    int lock;
    int rc;
    if (report)
        memset(report, 0, sizeof *report);
    if (!game_root)
        return LS_EINVAL;
    lock = ls_install_lock(game_root);
    if (lock < 0) {
        if (report)
            snprintf(report->reason, sizeof report->reason, "cannot lock %s: %s", game_root,
                     ls_strerror(lock));
        return lock;
    }
    rc = ls_install_recover_locked(game_root, report);
    ls_install_unlock(lock);
    return rc;
}

int ls_install_recover_locked(const char *game_root, ls_recover_report_t *report)
{
    ls_recover_report_t scratch = {0};
    recovery_t r = {.root = game_root, .report = report ? report : &scratch};
    int rc;
    memset(r.report, 0, sizeof *r.report);
    if (!game_root)
        return LS_EINVAL;
    rc = remove_intent_temps(game_root);
    if (rc == 0)
        rc = read_intent(&r);
    if (rc == 0)
        rc = observe(&r);
    if (rc == 0)
        rc = dispatch(&r);
    /* the intent goes last: until then a retry knows what was going on */
    if (rc == 0)
        rc = ls_intent_remove(game_root);
    if (rc != 0) {
        note(&r, "recovery failed: %s", ls_strerror(rc));
        ls_error("install", "%s: %s", game_root, r.report->reason);
    } else if (r.report->action != LS_RECOVER_CLEAN || r.report->intent_corrupt) {
        ls_warn("install", "%s: %s", game_root, r.report->reason);
    }
    return rc;
}

int ls_install_recover_all(const char *games_dir, ls_recover_cb cb, void *userdata)
{
    DIR *d = opendir(games_dir);
    struct dirent *de;
    int first = 0;
    if (!d)
        return ls_error_from_errno(errno);
    while ((de = readdir(d)) != NULL) {
        ls_recover_report_t report = {0};
        if (!ls_game_id_is_valid(de->d_name))
            continue;
        char *root = ls_path_join(games_dir, de->d_name);
        int rc =
            root ? (ls_fs_is_dir(root) == 1 ? ls_install_recover(root, &report) : 1) : LS_ENOMEM;
        free(root);
        if (rc == 1)
            continue; /* not a folder */
        if (rc != 0 && first == 0)
            first = rc;
        if (cb && (rc != 0 || report.action != LS_RECOVER_CLEAN || report.intent_corrupt))
            cb(de->d_name, rc, &report, userdata);
    }
    closedir(d);
    return first;
}
