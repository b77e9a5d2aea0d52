/* An AvahiPoll that runs avahi-core on a libuv loop: avahi's fd watches
 * become uv_poll_t handles and its timeouts uv_timer_t handles. Internal to
 * src/discovery (and its unit test). */
#ifndef LS_DISCOVERY_UV_AVAHI_POLL_H
#define LS_DISCOVERY_UV_AVAHI_POLL_H

#include <avahi-common/watch.h>
#include <uv.h>

#include <stdbool.h>

typedef struct {
    AvahiPoll api; /* handed to avahi_server_new(); must outlive the server */
    uv_loop_t *loop;
    /* Optional, set before avahi creates its watches: asked before avahi's
     * callback whenever one of its fds is readable. False means the filter
     * read (and dropped) what was there, and avahi is not called; a fd
     * still readable is reported again on the next loop iteration. */
    bool (*is_for_avahi)(int fd, void *userdata);
    void *filter_userdata;
} ls_avahi_poll_t;

/* Fills in the vtable (no filter). Nothing to free: every watch and timeout owns its
 * memory, released in its handle's close callback after avahi frees it. */
void ls_avahi_poll_init(ls_avahi_poll_t *p, uv_loop_t *loop);

#endif
