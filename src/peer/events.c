/* Events from the runtime's objects to the application's sink. */
#include "events.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

void ls__emit(const ls__events_t *events, const ls_peer_event_t *event)
{
    if (events->sink)
        events->sink(event, events->userdata);
}

void ls__emit_failure(const ls__events_t *events, const char *what, int code)
{
    ls_error("peer", "%s: %s", what, ls_strerror(code));
    ls_peer_event_t event = {.kind = LS_EVENT_RUNTIME_FAILURE,
                             .u.failure = {.what = what, .reason = ls_strerror(code)}};
    ls__emit(events, &event);
}
