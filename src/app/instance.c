/* Running daemons: the state directory's lock and the per-user registry
 * (contract in instance.h). */
#include "app/instance.h"

#include "app/app_common.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTRY_PREFIX "daemon-"
#define ENTRY_SUFFIX ".json"
#define ENTRY_MAX_BYTES 8192
#define PID_TEXT_MAX 32

/* Alive, or alive under another user (EPERM). */
static bool pid_is_alive(long pid)
{
    return pid > 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* A directory this user owns that no one else may write: the registry must
 * not be one another user can plant entries in. */
static bool is_private_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
           (st.st_mode & 0077) == 0;
}

char *ls_instance_registry_dir(void)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    char run_user[64];
    if (xdg && xdg[0] == '/')
        return ls_path_join(xdg, "lanspread");
    snprintf(run_user, sizeof run_user, "/run/user/%u", (unsigned)getuid());
    if (stat(run_user, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid())
        return ls_path_join(run_user, "lanspread");
    return ls_strdup_printf("/tmp/lanspread-%u", (unsigned)getuid());
}

/* The registry directory, made 0700 when missing and checked. */
static int open_registry_dir(char **out)
{
    char *dir = ls_instance_registry_dir();
    int rc = dir ? ls_fs_mkdir_p(dir, 0700) : LS_ENOMEM;
    if (rc == 0 && !is_private_dir(dir))
        rc = LS_EACCES;
    if (rc != 0) {
        free(dir);
        dir = NULL;
    }
    *out = dir;
    return rc;
}

static long read_lock_pid(int fd)
{
    char text[PID_TEXT_MAX] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    return n > 0 ? strtol(text, NULL, 10) : 0;
}

int ls_instance_claim(const char *state_dir, ls_instance_t *inst, long *owner_pid)
{
    char *path = ls_path_join(state_dir, LS_INSTANCE_LOCK_FILE);
    char text[PID_TEXT_MAX];
    int rc = 0;
    *owner_pid = 0;
    inst->lock_fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
    if (!path) {
        rc = LS_ENOMEM;
        goto out;
    }
    if (inst->lock_fd < 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    if (flock(inst->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? LS_EBUSY : ls_error_from_errno(errno);
        if (rc == LS_EBUSY) {
            ls_endpoint_t e;
            *owner_pid = ls_endpoint_load(state_dir, &e) == 0 && e.pid > 0
                             ? e.pid
                             : read_lock_pid(inst->lock_fd);
            ls_endpoint_clear(&e);
        }
        goto out;
    }
    /* the pid inside is only for the message a second daemon prints */
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(inst->lock_fd, 0) != 0)
        rc = ls_error_from_errno(errno);
    else
        rc = ls_fs_pwrite_all(inst->lock_fd, text, (size_t)n, 0);
out:
    if (rc != 0 && inst->lock_fd >= 0) {
        close(inst->lock_fd);
        inst->lock_fd = -1;
    }
    free(path);
    return rc;
}

int ls_instance_register(ls_instance_t *inst, const char *state_dir)
{
    char *dir = NULL, *text = NULL;
    char *abs = realpath(state_dir, NULL);
    json_t *doc = NULL;
    int rc = abs ? open_registry_dir(&dir) : ls_error_from_errno(errno);
    if (rc != 0)
        goto out;
    doc = json_pack("{s:I,s:s}", "pid", (json_int_t)getpid(), "state_dir", abs);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    free(inst->entry);
    inst->entry = ls_strdup_printf("%s/" ENTRY_PREFIX "%ld" ENTRY_SUFFIX, dir, (long)getpid());
    rc = text && inst->entry ? ls_fs_write_atomic_mode(inst->entry, text, strlen(text), 0600)
                             : LS_ENOMEM;
    if (rc != 0) {
        free(inst->entry);
        inst->entry = NULL;
    }
out:
    json_decref(doc);
    free(text);
    free(dir);
    free(abs);
    return rc;
}

void ls_instance_unregister(ls_instance_t *inst)
{
    if (inst->entry)
        unlink(inst->entry);
    free(inst->entry);
    inst->entry = NULL;
}

void ls_instance_release(ls_instance_t *inst)
{
    ls_instance_unregister(inst);
    if (inst->lock_fd >= 0)
        close(inst->lock_fd); /* drops the lock */
    inst->lock_fd = -1;
}

/* --- finding a daemon ------------------------------------------------------ */

/* STATE/api.json of a live daemon: LS_ENODAEMON when missing or stale. */
static int load_live(const char *state_dir, ls_endpoint_t *out, char *why, size_t why_len)
{
    int rc = ls_endpoint_load(state_dir, out);
    if (rc != 0) {
        snprintf(why, why_len, "%s/%s: %s", state_dir, LS_ENDPOINT_FILE,
                 rc == LS_ENODAEMON ? "not found" : ls_strerror(rc));
        return rc == LS_ENOMEM ? rc : LS_ENODAEMON;
    }
    if (out->pid > 0 && !pid_is_alive(out->pid)) {
        snprintf(why, why_len, "%s/%s was left by pid %ld, which has exited", state_dir,
                 LS_ENDPOINT_FILE, out->pid);
        ls_endpoint_clear(out);
        return LS_ENODAEMON;
    }
    return 0;
}

/* One registry entry: its state directory when it names a live daemon
 * whose api.json is still its own; otherwise NULL and the entry removed. */
static char *entry_state_dir(const char *path)
{
    char *text = NULL, *state_dir = NULL, why[64];
    size_t len = 0;
    json_t *doc = NULL;
    ls_endpoint_t e = {.pid = 0};
    if (ls_fs_read_file(path, ENTRY_MAX_BYTES, &text, &len) != 0)
        goto out;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_int_t pid = json_integer_value(json_object_get(doc, "pid"));
    const char *dir = json_string_value(json_object_get(doc, "state_dir"));
    if (dir && pid_is_alive((long)pid) && load_live(dir, &e, why, sizeof why) == 0 &&
        e.pid == (long)pid)
        state_dir = strdup(dir);
out:
    if (!state_dir)
        unlink(path); /* stale: its daemon is gone */
    ls_endpoint_clear(&e);
    json_decref(doc);
    free(text);
    return state_dir;
}

static bool is_entry_name(const char *name)
{
    size_t len = strlen(name), pre = strlen(ENTRY_PREFIX), suf = strlen(ENTRY_SUFFIX);
    return len > pre + suf && strncmp(name, ENTRY_PREFIX, pre) == 0 &&
           strcmp(name + len - suf, ENTRY_SUFFIX) == 0;
}

/* The live registered state directories but `skip` (already tried). */
static size_t list_registered(const char *skip, char **dirs, size_t max)
{
    char *registry = ls_instance_registry_dir();
    DIR *d = registry && is_private_dir(registry) ? opendir(registry) : NULL;
    struct dirent *ent;
    char *real_skip = skip ? realpath(skip, NULL) : NULL;
    size_t count = 0;
    for (int seen = 0; d && count < max && seen < LS_INSTANCE_SCAN_MAX && (ent = readdir(d));) {
        if (!is_entry_name(ent->d_name))
            continue;
        seen++;
        char *path = ls_path_join(registry, ent->d_name);
        char *dir = path ? entry_state_dir(path) : NULL;
        if (dir && (!real_skip || strcmp(dir, real_skip) != 0))
            dirs[count++] = dir;
        else
            free(dir);
        free(path);
    }
    if (d)
        closedir(d);
    free(real_skip);
    free(registry);
    return count;
}

int ls_instance_locate(const char *state_dir, ls_endpoint_t *out, char **found_dir, char *why,
                       size_t why_len)
{
    char *dirs[LS_INSTANCE_SCAN_MAX];
    char *default_dir = NULL, *registry = NULL;
    size_t count = 0;
    int rc;
    *found_dir = NULL;
    if (state_dir) {
        rc = load_live(state_dir, out, why, why_len);
        if (rc == 0 && !(*found_dir = strdup(state_dir)))
            rc = LS_ENOMEM;
        return rc;
    }
    default_dir = ls_app_default_state_dir();
    rc = default_dir ? load_live(default_dir, out, why, why_len) : LS_ENOMEM;
    if (rc == 0) {
        *found_dir = default_dir;
        return 0;
    }
    count = list_registered(default_dir, dirs, LS_INSTANCE_SCAN_MAX);
    registry = ls_instance_registry_dir();
    if (count == 0) {
        size_t used = strlen(why);
        snprintf(why + used, why_len - used, "; no daemon registered in %s",
                 registry ? registry : "the runtime directory");
        rc = LS_ENODAEMON;
    } else if (count == 1) {
        rc = load_live(dirs[0], out, why, why_len);
        if (rc == 0) {
            *found_dir = dirs[0];
            dirs[0] = NULL;
        }
    } else {
        int used =
            snprintf(why, why_len, "%zu daemons are running; choose one with --state DIR:", count);
        for (size_t i = 0; i < count && used >= 0 && (size_t)used < why_len; i++)
            used += snprintf(why + used, why_len - (size_t)used, "\n  --state %s", dirs[i]);
        rc = LS_EBUSY;
    }
    for (size_t i = 0; i < count; i++)
        free(dirs[i]);
    free(default_dir);
    free(registry);
    return rc;
}
