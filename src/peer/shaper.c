/* Token buckets for upload and download, woken by timers. */
#include "shaper.h"

#include "lanspread/array.h"
#include "lanspread/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const void *key; /* the link */
    ls_bucket_t bucket;
    uint64_t active_ms; /* when it last asked for bytes */
} ls_lane_t;

typedef struct {
    ls_net_stream_t *stream;
} ls_waiter_t;

struct ls__shaper {
    uv_loop_t *loop;
    uv_timer_t up_timer;   /* resumes the waiting streams */
    uv_timer_t down_timer; /* calls download_ready */
    bool is_closed;
    ls_bucket_t up;
    uint32_t share_pct;
    ls_bucket_t down;
    bool is_download_waiting;
    void (*download_ready)(void *userdata);
    void *userdata;
    ls_lane_t *lanes;
    size_t lane_count, lane_cap;
    ls_waiter_t *waiters; /* bounded by the streams served at once */
    size_t waiter_count, waiter_cap;
};

static uint64_t now_us(void)
{
    return uv_hrtime() / 1000u;
}

static uint64_t lane_rate(const ls__shaper_t *sh)
{
    return sh->up.rate / LS_SHAPER_SHARE_FULL * sh->share_pct +
           sh->up.rate % LS_SHAPER_SHARE_FULL * sh->share_pct / LS_SHAPER_SHARE_FULL;
}

/* The lane of key, made if new (forgetting idle ones); NULL when the
 * table is full of busy lanes or memory is short: that lane is then held
 * to the global limit only. */
static ls_lane_t *lane_of(ls__shaper_t *sh, const void *key, uint64_t now_ms)
{
    for (size_t i = 0; i < sh->lane_count; i++)
        if (sh->lanes[i].key == key)
            return &sh->lanes[i];
    for (size_t i = 0; i < sh->lane_count;) {
        if (now_ms - sh->lanes[i].active_ms > LS_SHAPER_LANE_IDLE_MS)
            sh->lanes[i] = sh->lanes[--sh->lane_count];
        else
            i++;
    }
    if (sh->lane_count == LS_SHAPER_LANES_MAX)
        return NULL;
    if (sh->lane_count == sh->lane_cap) {
        ls_lane_t *grown = ls_array_grow(sh->lanes, &sh->lane_cap, sizeof *grown, 8);
        if (!grown)
            return NULL;
        sh->lanes = grown;
    }
    ls_lane_t *lane = &sh->lanes[sh->lane_count++];
    *lane = (ls_lane_t){.key = key, .active_ms = now_ms};
    ls_bucket_init(&lane->bucket, lane_rate(sh), now_us());
    return lane;
}

/* Whether another lane than `lane` wants bytes now. */
static bool is_contended(const ls__shaper_t *sh, const ls_lane_t *lane, uint64_t now_ms)
{
    for (size_t i = 0; i < sh->lane_count; i++)
        if (&sh->lanes[i] != lane && now_ms - sh->lanes[i].active_ms <= LS_SHAPER_LANE_ACTIVE_MS)
            return true;
    return false;
}

static void wake_streams_cb(uv_timer_t *timer)
{
    ls__shaper_t *sh = timer->data;
    ls_waiter_t *waiters = sh->waiters;
    size_t count = sh->waiter_count;
    /* a resumed stream may ask again at once and wait again: it joins a
     * fresh list, not the one being walked */
    sh->waiters = NULL;
    sh->waiter_count = sh->waiter_cap = 0;
    for (size_t i = 0; i < count; i++)
        ls_net_stream_resume(waiters[i].stream);
    free(waiters);
}

/* Arms the wake-up `wait_us` from now, unless one is due sooner. */
static void arm(ls__shaper_t *sh, uv_timer_t *timer, uv_timer_cb cb, uint64_t wait_us)
{
    uint64_t ms = (wait_us + 999) / 1000;
    if (sh->is_closed)
        return;
    if (uv_is_active((uv_handle_t *)timer) && uv_timer_get_due_in(timer) <= ms)
        return;
    uv_timer_start(timer, cb, ms ? ms : 1, 0);
}

/* Puts s on the list the timer resumes; false when memory is short. */
static bool add_waiter(ls__shaper_t *sh, ls_net_stream_t *s, uint64_t wait_us)
{
    bool is_listed = false;
    for (size_t i = 0; i < sh->waiter_count && !is_listed; i++)
        is_listed = sh->waiters[i].stream == s;
    if (!is_listed && sh->waiter_count == sh->waiter_cap) {
        ls_waiter_t *grown = ls_array_grow(sh->waiters, &sh->waiter_cap, sizeof *grown, 16);
        if (!grown)
            return false;
        sh->waiters = grown;
    }
    if (!is_listed)
        sh->waiters[sh->waiter_count++] = (ls_waiter_t){.stream = s};
    arm(sh, &sh->up_timer, wake_streams_cb, wait_us);
    return true;
}

size_t ls__shaper_upload_grant(ls__shaper_t *sh, const void *lane_key, ls_net_stream_t *s,
                               size_t want)
{
    if (sh->up.rate == 0)
        return want;
    uint64_t us = now_us(), ms = us / 1000;
    uint64_t need = want < LS_SHAPER_QUANTUM ? want : LS_SHAPER_QUANTUM;
    ls_lane_t *lane = lane_of(sh, lane_key, ms);
    bool is_shared = lane && sh->share_pct < LS_SHAPER_SHARE_FULL && is_contended(sh, lane, ms);
    if (lane)
        lane->active_ms = ms;
    uint64_t wait = ls_bucket_wait_us(&sh->up, us, need);
    if (is_shared && wait == 0)
        wait = ls_bucket_wait_us(&lane->bucket, us, need);
    /* a stream nobody would resume goes unshaped rather than stall */
    if (wait > 0 && add_waiter(sh, s, wait))
        return 0;
    if (wait > 0)
        return want;
    uint64_t granted = ls_bucket_peek(&sh->up, us);
    if (is_shared && ls_bucket_peek(&lane->bucket, us) < granted)
        granted = ls_bucket_peek(&lane->bucket, us);
    granted = granted < want ? granted : want;
    ls_bucket_charge(&sh->up, us, granted);
    if (is_shared)
        ls_bucket_charge(&lane->bucket, us, granted);
    return (size_t)granted;
}

void ls__shaper_upload_charge(ls__shaper_t *sh, const void *lane_key, uint64_t n)
{
    uint64_t us = now_us();
    ls_bucket_charge(&sh->up, us, n);
    ls_lane_t *lane = sh->up.rate ? lane_of(sh, lane_key, us / 1000) : NULL;
    if (lane && sh->share_pct < LS_SHAPER_SHARE_FULL && is_contended(sh, lane, us / 1000))
        ls_bucket_charge(&lane->bucket, us, n);
}

void ls__shaper_forget(ls__shaper_t *sh, ls_net_stream_t *s)
{
    for (size_t i = 0; i < sh->waiter_count; i++)
        if (sh->waiters[i].stream == s) {
            sh->waiters[i] = sh->waiters[--sh->waiter_count];
            return;
        }
}

void ls__shaper_set_upload(ls__shaper_t *sh, uint64_t rate, uint32_t share_pct)
{
    uint64_t us = now_us();
    sh->share_pct =
        share_pct == 0 || share_pct > LS_SHAPER_SHARE_FULL ? LS_SHAPER_SHARE_FULL : share_pct;
    ls_bucket_set_rate(&sh->up, rate, us);
    for (size_t i = 0; i < sh->lane_count; i++)
        ls_bucket_set_rate(&sh->lanes[i].bucket, lane_rate(sh), us);
    if (sh->waiter_count)
        arm(sh, &sh->up_timer, wake_streams_cb, 0);
}

static void download_ready_cb(uv_timer_t *timer)
{
    ls__shaper_t *sh = timer->data;
    sh->is_download_waiting = false;
    sh->download_ready(sh->userdata);
}

void ls__shaper_set_download(ls__shaper_t *sh, uint64_t rate)
{
    ls_bucket_set_rate(&sh->down, rate, now_us());
    if (sh->is_download_waiting)
        arm(sh, &sh->down_timer, download_ready_cb, 0);
}

bool ls__shaper_download_admits(ls__shaper_t *sh)
{
    uint64_t wait = ls_bucket_wait_us(&sh->down, now_us(), 1);
    if (wait == 0)
        return true;
    sh->is_download_waiting = true;
    arm(sh, &sh->down_timer, download_ready_cb, wait);
    return false;
}

void ls__shaper_download_charge(ls__shaper_t *sh, uint64_t n)
{
    ls_bucket_charge(&sh->down, now_us(), n);
}

int ls__shaper_new(uv_loop_t *loop, void (*download_ready)(void *userdata), void *userdata,
                   ls__shaper_t **out)
{
    ls__shaper_t *sh = calloc(1, sizeof *sh);
    *out = sh;
    if (!sh)
        return LS_ENOMEM;
    sh->loop = loop;
    sh->download_ready = download_ready;
    sh->userdata = userdata;
    sh->share_pct = LS_SHAPER_SHARE_FULL;
    ls_bucket_init(&sh->up, 0, now_us());
    ls_bucket_init(&sh->down, 0, now_us());
    uv_timer_init(loop, &sh->up_timer);
    uv_timer_init(loop, &sh->down_timer);
    sh->up_timer.data = sh;
    sh->down_timer.data = sh;
    return 0;
}

void ls__shaper_close_handles(ls__shaper_t *sh)
{
    if (!sh || sh->is_closed)
        return;
    sh->is_closed = true;
    uv_close((uv_handle_t *)&sh->up_timer, NULL);
    uv_close((uv_handle_t *)&sh->down_timer, NULL);
}

void ls__shaper_free(ls__shaper_t *sh)
{
    if (!sh)
        return;
    free(sh->lanes);
    free(sh->waiters);
    free(sh);
}
