/* The daemon's terminal, without --json-events: one human log line for
 * each event a person watching cares about that the runtime does not log
 * itself (it logs peers coming and going, its library and readiness),
 * through the logger (so --log-file gets them too). Bounded whatever the
 * event rate: download progress at most every LS_EVENT_LOG_STEP percent,
 * nothing for install progress, peer counts or upload ticks (uploads: one
 * line when they start and one when they stop), and the network's game
 * list only when its size changes. Called on the runtime thread only (the
 * event sink). */
#ifndef LS_APP_EVENT_LOG_H
#define LS_APP_EVENT_LOG_H

#include "lanspread/path.h"
#include "lanspread/peer.h"

#include <stdbool.h>
#include <stddef.h>

#define LS_EVENT_LOG_STEP 25
/* Downloads whose progress is tracked at once; more are logged without
 * their progress lines. */
#define LS_EVENT_LOG_DOWNLOADS 16

typedef struct {
    char game_id[LS_GAME_ID_MAX + 1];
    int last_step;
} ls_event_log_download_t;

typedef struct {
    ls_event_log_download_t downloads[LS_EVENT_LOG_DOWNLOADS];
    size_t remote_games; /* the last logged size of the network's list */
    bool is_remote_logged;
    bool is_uploading;
} ls_event_log_t;

void ls_event_log(ls_event_log_t *log, const ls_peer_event_t *event);

#endif
