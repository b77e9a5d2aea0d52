/* The daemon's human log lines for runtime events (contract in
 * event_log.h). */
#include "app/event_log.h"

#include "app/app_common.h"

#include "lanspread/install.h"
#include "lanspread/log.h"

#include <stdio.h>
#include <string.h>

#define MODULE "event"
/* Peer ids are 64 hex digits: a prefix is enough for a person. */
#define PEER_ID_SHOWN 12

/* The progress slot of a download; NULL when all are taken (its progress
 * is then not logged, the rest is). */
static ls_event_log_download_t *download_slot(ls_event_log_t *log, const char *game_id, bool is_new)
{
    ls_event_log_download_t *free_slot = NULL;
    for (size_t i = 0; i < LS_EVENT_LOG_DOWNLOADS; i++) {
        ls_event_log_download_t *d = &log->downloads[i];
        if (strcmp(d->game_id, game_id) == 0)
            return d;
        if (!free_slot && d->game_id[0] == '\0')
            free_slot = d;
    }
    if (!is_new || !free_slot)
        return NULL;
    snprintf(free_slot->game_id, sizeof free_slot->game_id, "%s", game_id);
    free_slot->last_step = 0;
    return free_slot;
}

static void end_download(ls_event_log_t *log, const char *game_id)
{
    ls_event_log_download_t *d = download_slot(log, game_id, false);
    if (d)
        d->game_id[0] = '\0';
}

static void log_progress(ls_event_log_t *log, const ls_peer_ev_download_progress_t *p)
{
    char done[32], rate[32];
    ls_event_log_download_t *d = download_slot(log, p->game_id, true);
    int percent = p->bytes_total ? (int)(100 * p->bytes_done / p->bytes_total) : 0;
    int step = percent / LS_EVENT_LOG_STEP;
    if (!d || step <= d->last_step)
        return;
    d->last_step = step;
    ls_info(MODULE, "download %s: %d%% of %s at %s/s from %zu peers", p->game_id,
            step * LS_EVENT_LOG_STEP, ls_app_format_size(p->bytes_total, done, sizeof done),
            ls_app_format_size(p->rate_bps, rate, sizeof rate), p->peer_count);
}

static void log_upload(ls_event_log_t *log, const ls_peer_ev_upload_t *u)
{
    char bytes[32];
    bool is_uploading = u->rate_bps > 0;
    if (is_uploading == log->is_uploading)
        return;
    log->is_uploading = is_uploading;
    if (!is_uploading) {
        ls_info(MODULE, "uploads stopped");
        return;
    }
    for (size_t i = 0; i < u->game_count; i++)
        if (u->games[i].rate_bps > 0)
            ls_info(MODULE, "uploading %s to %u peers (%s so far)", u->games[i].game_id,
                    u->games[i].peers, ls_app_format_size(u->games[i].bytes, bytes, sizeof bytes));
}

static void log_install(const ls_peer_event_t *e)
{
    const ls_peer_ev_install_t *in = &e->u.install;
    const char *op = in->op ? ls_install_op_name(in->op) : "install";
    switch (e->kind) {
    case LS_EVENT_INSTALL_BEGIN:
    case LS_EVENT_UNINSTALL_BEGIN:
        ls_info(MODULE, "%s %s started", op, in->game_id);
        break;
    case LS_EVENT_INSTALL_FINISHED:
    case LS_EVENT_UNINSTALL_FINISHED:
        ls_info(MODULE, "%s %s finished", op, in->game_id);
        break;
    default:
        ls_warn(MODULE, "%s %s failed: %s", op, in->game_id, in->reason ? in->reason : "?");
        break;
    }
}

static void log_download(ls_event_log_t *log, const ls_peer_event_t *e)
{
    char size[32], done[32];
    switch (e->kind) {
    case LS_EVENT_GOT_GAME_FILES:
        ls_info(MODULE, "download %s %s: %llu files, %s, from %zu peers", e->u.game_files.game_id,
                e->u.game_files.version, (unsigned long long)e->u.game_files.file_count,
                ls_app_format_size(e->u.game_files.size, size, sizeof size),
                e->u.game_files.peer_count);
        break;
    case LS_EVENT_DOWNLOAD_BEGIN:
        end_download(log, e->u.download_begin.game_id);
        download_slot(log, e->u.download_begin.game_id, true);
        ls_info(MODULE, "download %s %s started: %s (%s already here)", e->u.download_begin.game_id,
                e->u.download_begin.version,
                ls_app_format_size(e->u.download_begin.bytes_total, size, sizeof size),
                ls_app_format_size(e->u.download_begin.bytes_done, done, sizeof done));
        break;
    case LS_EVENT_DOWNLOAD_PROGRESS:
        log_progress(log, &e->u.download_progress);
        break;
    case LS_EVENT_DOWNLOAD_FINISHED:
        end_download(log, e->u.download_finished.game_id);
        ls_info(MODULE, "download %s %s finished", e->u.download_finished.game_id,
                e->u.download_finished.version);
        break;
    default: /* LS_EVENT_DOWNLOAD_FAILED */
        end_download(log, e->u.download_failed.game_id);
        if (e->u.download_failed.is_canceled)
            ls_info(MODULE, "download %s canceled (verified chunks kept)",
                    e->u.download_failed.game_id);
        else
            ls_warn(MODULE, "download %s failed: %s", e->u.download_failed.game_id,
                    e->u.download_failed.reason ? e->u.download_failed.reason : "?");
        break;
    }
}

static void log_peer(ls_event_log_t *log, const ls_peer_event_t *e)
{
    const ls_peer_ev_peer_t *p = &e->u.peer;
    if (e->kind == LS_EVENT_PEER_DISCOVERED)
        ls_info(MODULE, "peer %s (%.*s) at %s: %llu games", p->name ? p->name : "?", PEER_ID_SHOWN,
                p->peer_id, p->address ? p->address : "?", (unsigned long long)p->game_count);
    else if (e->kind == LS_EVENT_PEER_LOST)
        ls_info(MODULE, "peer %s (%.*s) left: %s", p->name ? p->name : "?", PEER_ID_SHOWN,
                p->peer_id, p->reason ? p->reason : "?");
    else if (e->kind == LS_EVENT_LIST_GAMES &&
             (!log->is_remote_logged || log->remote_games != e->u.list_games.game_count)) {
        log->is_remote_logged = true;
        log->remote_games = e->u.list_games.game_count;
        ls_info(MODULE, "%zu games on the network", log->remote_games);
    }
}

void ls_event_log(ls_event_log_t *log, const ls_peer_event_t *e)
{
    switch (e->kind) {
    case LS_EVENT_LOCAL_LIBRARY:
        ls_info(MODULE, "library: %zu games (rev %llu)", e->u.local_library.game_count,
                (unsigned long long)e->u.local_library.rev);
        break;
    case LS_EVENT_LIST_GAMES:
    case LS_EVENT_PEER_DISCOVERED:
    case LS_EVENT_PEER_LOST:
        log_peer(log, e);
        break;
    case LS_EVENT_GOT_GAME_FILES:
    case LS_EVENT_DOWNLOAD_BEGIN:
    case LS_EVENT_DOWNLOAD_PROGRESS:
    case LS_EVENT_DOWNLOAD_FINISHED:
    case LS_EVENT_DOWNLOAD_FAILED:
        log_download(log, e);
        break;
    case LS_EVENT_INSTALL_BEGIN:
    case LS_EVENT_INSTALL_FINISHED:
    case LS_EVENT_INSTALL_FAILED:
    case LS_EVENT_UNINSTALL_BEGIN:
    case LS_EVENT_UNINSTALL_FINISHED:
    case LS_EVENT_UNINSTALL_FAILED:
        log_install(e);
        break;
    case LS_EVENT_RUNTIME_FAILURE:
        ls_warn(MODULE, "%s: %s", e->u.failure.what ? e->u.failure.what : "runtime",
                e->u.failure.reason ? e->u.failure.reason : "?");
        break;
    case LS_EVENT_READY:
        ls_info(MODULE, "ready: peer %.*s on UDP port %d, mDNS %s", PEER_ID_SHOWN,
                e->u.ready.peer_id, e->u.ready.port, e->u.ready.has_mdns ? "on" : "off");
        break;
    case LS_EVENT_GAME_DIR_CHANGED:
        ls_info(MODULE, "game directory is now %s", e->u.game_dir.game_dir);
        break;
    case LS_EVENT_UPLOAD_PROGRESS:
        log_upload(log, &e->u.upload);
        break;
    default: /* peer counts, install progress: the lines above say enough */
        break;
    }
}
