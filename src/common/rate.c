/* Rates and sizes: the suffix notation and the token bucket. */
#include "lanspread/rate.h"

#include "lanspread/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ls_size_parse(const char *text, uint64_t max, uint64_t *out)
{
    static const char suffixes[] = "KMG";
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    const char *unit = *end ? strchr(suffixes, *end) : NULL;
    if (errno || end == text || text[0] < '0' || text[0] > '9' || (*end && (!unit || end[1])))
        return LS_EINVAL;
    for (const char *u = suffixes; unit && u <= unit; u++) {
        if (value > max / 1024)
            return LS_EINVAL;
        value *= 1024;
    }
    if (value > max)
        return LS_EINVAL;
    *out = value;
    return 0;
}

static int64_t burst_of(uint64_t rate)
{
    uint64_t burst = rate / LS_BUCKET_BURST_DIV;
    return (int64_t)(burst < LS_BUCKET_BURST_MIN ? LS_BUCKET_BURST_MIN : burst);
}

/* Adds what the rate earned since last_us; the remainder below one byte is
 * carried in frac, so a slow rate polled often still earns every byte.
 * Whole seconds and the rest are multiplied apart: rate * elapsed in
 * microseconds would overflow after a few seconds at LS_RATE_MAX. */
static void refill(ls_bucket_t *b, uint64_t now_us)
{
    if (now_us <= b->last_us)
        return;
    uint64_t elapsed = now_us - b->last_us;
    b->last_us = now_us;
    if (b->rate == 0)
        return;
    if (elapsed > LS_BUCKET_IDLE_MAX_US)
        elapsed = LS_BUCKET_IDLE_MAX_US;
    uint64_t part = b->rate * (elapsed % LS_US_PER_S) + b->frac;
    uint64_t add = b->rate * (elapsed / LS_US_PER_S) + part / LS_US_PER_S;
    b->frac = part % LS_US_PER_S;
    if (add >= (uint64_t)(b->burst - b->tokens)) {
        b->tokens = b->burst;
        b->frac = 0;
        return;
    }
    b->tokens += (int64_t)add;
}

void ls_bucket_init(ls_bucket_t *b, uint64_t rate, uint64_t now_us)
{
    rate = rate > LS_RATE_MAX ? LS_RATE_MAX : rate;
    *b = (ls_bucket_t){.rate = rate, .burst = burst_of(rate), .last_us = now_us};
    b->tokens = b->burst;
}

void ls_bucket_set_rate(ls_bucket_t *b, uint64_t rate, uint64_t now_us)
{
    bool was_unlimited = b->rate == 0;
    refill(b, now_us);
    b->rate = rate > LS_RATE_MAX ? LS_RATE_MAX : rate;
    b->burst = burst_of(b->rate);
    /* unlimited forgives any debt, and a new limit starts full */
    if (b->rate == 0 || was_unlimited || b->tokens > b->burst)
        b->tokens = b->burst;
}

uint64_t ls_bucket_take(ls_bucket_t *b, uint64_t now_us, uint64_t want)
{
    if (b->rate == 0)
        return want;
    refill(b, now_us);
    if (b->tokens <= 0)
        return 0;
    uint64_t granted = want < (uint64_t)b->tokens ? want : (uint64_t)b->tokens;
    b->tokens -= (int64_t)granted;
    return granted;
}

uint64_t ls_bucket_peek(ls_bucket_t *b, uint64_t now_us)
{
    if (b->rate == 0)
        return LS_RATE_MAX;
    refill(b, now_us);
    return b->tokens > 0 ? (uint64_t)b->tokens : 0;
}

void ls_bucket_charge(ls_bucket_t *b, uint64_t now_us, uint64_t n)
{
    if (b->rate == 0)
        return;
    refill(b, now_us);
    n = n > LS_RATE_MAX ? LS_RATE_MAX : n;
    b->tokens -= (int64_t)n;
    if (b->tokens < -(int64_t)LS_RATE_MAX)
        b->tokens = -(int64_t)LS_RATE_MAX;
}

uint64_t ls_bucket_wait_us(ls_bucket_t *b, uint64_t now_us, uint64_t need)
{
    if (b->rate == 0)
        return 0;
    refill(b, now_us);
    int64_t target = (int64_t)need > b->burst ? b->burst : (int64_t)need;
    if (b->tokens >= target)
        return 0;
    uint64_t missing = (uint64_t)(target - b->tokens) * LS_US_PER_S;
    missing = missing > b->frac ? missing - b->frac : 0;
    return (missing + b->rate - 1) / b->rate;
}
