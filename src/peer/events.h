/* Where the runtime's objects send their events: the application's sink,
 * called on the runtime thread. */
#ifndef LS_PEER_EVENTS_H
#define LS_PEER_EVENTS_H

#include "lanspread/peer.h"

#include <jansson.h>

typedef struct {
    ls_peer_event_cb sink;
    void *userdata;
} ls__events_t;

/* Takes ownership of data (a NULL from a failed json_pack is dropped). */
void ls__emit(const ls__events_t *events, ls_peer_event_kind_t kind, json_t *data);
/* A RUNTIME_FAILURE {what, reason}, also logged. */
void ls__emit_failure(const ls__events_t *events, const char *what, int code);

#endif
