/* Where the runtime's objects send their events: the application's sink,
 * called on the runtime thread with a typed ls_peer_event_t (no JSON here:
 * the application makes it at its edge, ls_peer_event_json). */
#ifndef LS_PEER_EVENTS_H
#define LS_PEER_EVENTS_H

#include "lanspread/peer.h"

typedef struct {
    ls_peer_event_cb sink;
    void *userdata;
} ls__events_t;

/* Hands the event to the sink; what it points to need only live for the call. */
void ls__emit(const ls__events_t *events, const ls_peer_event_t *event);
/* A RUNTIME_FAILURE {what, reason}, also logged. */
void ls__emit_failure(const ls__events_t *events, const char *what, int code);

#endif
