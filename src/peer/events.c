/* Events from the runtime's objects to the application's sink. */
#include "events.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

void ls__emit(const ls__events_t *events, ls_peer_event_kind_t kind, json_t *data)
{
    if (!data)
        return;
    ls_peer_event_t event = {.kind = kind, .data = data};
    if (events->sink)
        events->sink(&event, events->userdata);
    json_decref(data);
}

void ls__emit_failure(const ls__events_t *events, const char *what, int code)
{
    ls_error("peer", "%s: %s", what, ls_strerror(code));
    ls__emit(events, LS_EVENT_RUNTIME_FAILURE,
             json_pack("{s:s,s:s}", "what", what, "reason", ls_strerror(code)));
}
