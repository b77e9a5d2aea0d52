/* The daemon's human log lines for runtime events (contract in
 * event_log.h). */
#include "app/event_log.h"

#include "app/app_common.h"

#include "lanspread/install.h"
#include "lanspread/log.h"

#include <stdio.h>
#include <string.h>

#define MODULE "event"

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

static void log_remote_games(ls_event_log_t *log, const ls_peer_ev_list_games_t *list)
{
    if (log->is_remote_logged && log->remote_games == list->game_count)
        return;
    log->is_remote_logged = true;
    log->remote_games = list->game_count;
    ls_info(MODULE, "%zu games on the network", log->remote_games);
}

void ls_event_log(ls_event_log_t *log, const ls_peer_event_t *e)
{
    switch (e->kind) {
    case LS_EVENT_LIST_GAMES:
        log_remote_games(log, &e->u.list_games);
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
    case LS_EVENT_UPLOAD_PROGRESS:
        log_upload(log, &e->u.upload);
        break;
    default: /* the runtime logs peers, its library, readiness and a new game
                directory itself; peer counts and install progress add nothing */
        break;
    }
}
