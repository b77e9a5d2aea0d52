/* Bridges avahi-core's polling abstraction onto libuv so the embedded mDNS
 * responder shares the runtime's loop instead of owning a thread.
 * Avahi may free a watch or timeout from inside its own callback; libuv
 * closes handles asynchronously, so each object is marked dead at once and
 * its memory released in the close callback. */
#include "discovery/uv_avahi_poll.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/time.h>

struct AvahiWatch {
    uv_poll_t handle; /* first: the close callback casts back */
    const ls_avahi_poll_t *poll;
    AvahiWatchCallback callback;
    void *userdata;
    int fd;
    AvahiWatchEvent happened; /* only meaningful during the callback */
    bool is_dead;
};

struct AvahiTimeout {
    uv_timer_t handle; /* first: the close callback casts back */
    uv_loop_t *loop;
    AvahiTimeoutCallback callback;
    void *userdata;
    bool is_dead;
};

static void free_on_close_cb(uv_handle_t *handle)
{
    free(handle);
}

static int uv_events_from(AvahiWatchEvent event)
{
    int events = 0;
    if (event & AVAHI_WATCH_IN)
        events |= UV_READABLE;
    if (event & AVAHI_WATCH_OUT)
        events |= UV_WRITABLE;
    return events;
}

static void poll_cb(uv_poll_t *handle, int status, int events)
{
    AvahiWatch *w = (AvahiWatch *)handle;
    AvahiWatchEvent happened = 0;

    if (w->is_dead)
        return;
    if (status < 0)
        happened = AVAHI_WATCH_ERR;
    if (events & UV_READABLE)
        happened |= AVAHI_WATCH_IN;
    if (events & UV_WRITABLE)
        happened |= AVAHI_WATCH_OUT;
    if (events & UV_DISCONNECT)
        happened |= AVAHI_WATCH_HUP;
    if (happened == AVAHI_WATCH_IN && w->poll->is_for_avahi &&
        !w->poll->is_for_avahi(w->fd, w->poll->filter_userdata))
        return;
    w->happened = happened;
    w->callback(w, w->fd, happened, w->userdata);
    /* The callback may have freed w: its memory lives until the close
     * callback, which cannot run before we return to the loop. */
    w->happened = 0;
}

static void watch_update(AvahiWatch *w, AvahiWatchEvent event)
{
    int events = uv_events_from(event);
    if (w->is_dead)
        return;
    if (events)
        uv_poll_start(&w->handle, events, poll_cb);
    else
        uv_poll_stop(&w->handle);
}

static AvahiWatch *watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent event,
                             AvahiWatchCallback callback, void *userdata)
{
    const ls_avahi_poll_t *p = api->userdata;
    AvahiWatch *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    if (uv_poll_init(p->loop, &w->handle, fd) < 0) {
        free(w);
        return NULL;
    }
    w->poll = p;
    w->callback = callback;
    w->userdata = userdata;
    w->fd = fd;
    watch_update(w, event);
    return w;
}

static AvahiWatchEvent watch_get_events(AvahiWatch *w)
{
    return w->happened;
}

static void watch_free(AvahiWatch *w)
{
    if (w->is_dead)
        return;
    w->is_dead = true;
    /* Stopping here (not in the close callback) takes the fd out of epoll
     * before avahi closes it. */
    uv_poll_stop(&w->handle);
    uv_close((uv_handle_t *)&w->handle, free_on_close_cb);
}

static void timer_cb(uv_timer_t *handle)
{
    AvahiTimeout *t = (AvahiTimeout *)handle;
    if (!t->is_dead)
        t->callback(t, t->userdata);
}

/* Avahi deadlines are absolute gettimeofday() times; libuv wants a delay.
 * Rounded up, plus one millisecond: libuv counts from its loop time in whole
 * milliseconds (truncated), which may lie up to 1 ms behind the real time,
 * and a timer must never fire just before its deadline (avahi would re-arm
 * it at once and spin; seen once under ASan as a timer 1 ms early). */
static uint64_t delay_ms_until(const struct timeval *tv)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    int64_t usec = ((int64_t)tv->tv_sec - (int64_t)now.tv_sec) * 1000000 +
                   ((int64_t)tv->tv_usec - (int64_t)now.tv_usec);
    if (usec <= 0)
        return 0;
    return (uint64_t)((usec + 999) / 1000) + 1;
}

static void timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
    if (t->is_dead)
        return;
    if (!tv) {
        uv_timer_stop(&t->handle);
        return;
    }
    /* The loop's cached time may be stale inside a callback. */
    uv_update_time(t->loop);
    uv_timer_start(&t->handle, timer_cb, delay_ms_until(tv), 0);
}

static AvahiTimeout *timeout_new(const AvahiPoll *api, const struct timeval *tv,
                                 AvahiTimeoutCallback callback, void *userdata)
{
    const ls_avahi_poll_t *p = api->userdata;
    AvahiTimeout *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    uv_timer_init(p->loop, &t->handle);
    t->loop = p->loop;
    t->callback = callback;
    t->userdata = userdata;
    timeout_update(t, tv);
    return t;
}

static void timeout_free(AvahiTimeout *t)
{
    if (t->is_dead)
        return;
    t->is_dead = true;
    uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, free_on_close_cb);
}

void ls_avahi_poll_init(ls_avahi_poll_t *p, uv_loop_t *loop)
{
    p->loop = loop;
    p->is_for_avahi = NULL;
    p->filter_userdata = NULL;
    p->api.userdata = p;
    p->api.watch_new = watch_new;
    p->api.watch_update = watch_update;
    p->api.watch_get_events = watch_get_events;
    p->api.watch_free = watch_free;
    p->api.timeout_new = timeout_new;
    p->api.timeout_update = timeout_update;
    p->api.timeout_free = timeout_free;
}
