/* Running daemons: at most one per state directory, and a per-user registry
 * that lets the CLI find a daemon without flags.
 *
 * A daemon claims its state directory with an exclusive lock on
 * STATE/LS_INSTANCE_LOCK_FILE (flock, held until the process exits; the
 * kernel drops it when the process dies, so a crash leaves no stale lock).
 * Once its API listens and STATE/api.json is written, it registers the file
 * REGISTRY/daemon-PID.json, {"pid": PID, "state_dir": "/abs/state"}, where
 * REGISTRY is $XDG_RUNTIME_DIR/lanspread, else /run/user/UID/lanspread, else
 * /tmp/lanspread-UID (made 0700; refused when another user owns it or others
 * may write it). The entry is removed before api.json at exit.
 *
 * ls_instance_locate picks the daemon a CLI command talks to: the one of an
 * explicit state directory, else the default state directory's, else the
 * only live registered one. An api.json or entry whose pid is gone (or, for
 * an entry, whose api.json names another pid) is stale: ignored, and the
 * entry removed.
 *
 * Everything here blocks on small files; the daemon calls it from its main
 * thread, before and after the runtime runs. */
#ifndef LS_APP_INSTANCE_H
#define LS_APP_INSTANCE_H

#include "app/config.h"

#include <stdbool.h>
#include <stddef.h>

#define LS_INSTANCE_LOCK_FILE "daemon.lock"
/* Registry entries looked at per lookup: a bound on a directory anyone of
 * this user could fill. */
#define LS_INSTANCE_SCAN_MAX 64

typedef struct {
    int lock_fd; /* -1: not claimed */
    char *entry; /* the registry file written, or NULL */
} ls_instance_t;

#define LS_INSTANCE_INIT                                                                           \
    {                                                                                              \
        .lock_fd = -1, .entry = NULL                                                               \
    }

/* Locks STATE_DIR for this process. LS_EBUSY when another daemon holds it:
 * *owner_pid is its pid (from api.json, else from the lock file; 0 when
 * neither names one). */
int ls_instance_claim(const char *state_dir, ls_instance_t *inst, long *owner_pid);

/* Adds this process to the registry, pointing at STATE_DIR (made absolute). */
int ls_instance_register(ls_instance_t *inst, const char *state_dir);

/* Removes the registry entry (at exit, before api.json goes). */
void ls_instance_unregister(ls_instance_t *inst);

/* Removes the registry entry, then drops the lock. Safe on an instance
 * that was never claimed (LS_INSTANCE_INIT). */
void ls_instance_release(ls_instance_t *inst);

/* The daemon to talk to. state_dir: the one given with --state, or NULL to
 * try the default state directory and then the registry. On success *out
 * holds its endpoint and *found_dir (caller frees) its state directory.
 * LS_ENODAEMON: none runs; LS_EBUSY: several are registered and none is the
 * default one. Both fill `why` with a sentence for the user (the several
 * listed with their state directories). */
int ls_instance_locate(const char *state_dir, ls_endpoint_t *out, char **found_dir, char *why,
                       size_t why_len);

/* The registry directory (without creating it). Caller frees; NULL when
 * no usable one exists. */
char *ls_instance_registry_dir(void);

#endif
