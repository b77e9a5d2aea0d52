/* Rates and sizes: the "50M" notation of the command line, and the token
 * bucket that bandwidth limits are made of.
 *
 * A rate is in bytes per second (not bits), written as a whole number with
 * an optional binary suffix: K = 1024, M = 1024^2, G = 1024^3 ("50M" is
 * 50 MiB/s). 0 means unlimited.
 *
 * The bucket is plain arithmetic on a caller-supplied clock in
 * microseconds: no timers, no threads, so it can be tested with a fake
 * clock. Not thread-safe: one owner (the peer loop's shaper). */
#ifndef LANSPREAD_RATE_H
#define LANSPREAD_RATE_H

#include <stdbool.h>
#include <stdint.h>

/* Largest rate accepted: 1 TiB/s, far above any link, small enough that
 * rate * elapsed never overflows. */
#define LS_RATE_MAX (1024ull * 1024 * 1024 * 1024)
/* A bucket holds at most this fraction of a second of its rate
 * (1/LS_BUCKET_BURST_DIV s), and never less than LS_BUCKET_BURST_MIN
 * bytes: small enough that a limit holds over any second, large enough
 * that a slow rate still sends whole packets. */
#define LS_BUCKET_BURST_DIV 20
#define LS_BUCKET_BURST_MIN (16u * 1024u)
#define LS_US_PER_S 1000000ull
/* Longer gaps between refills count as this long (a day), so rate *
 * seconds never overflows. */
#define LS_BUCKET_IDLE_MAX_US (86400ull * LS_US_PER_S)

/* "32M" -> 33554432: a byte count with an optional K, M or G suffix, at
 * most max. LS_EINVAL for anything else (signs, spaces, other suffixes). */
int ls_size_parse(const char *text, uint64_t max, uint64_t *out);

typedef struct {
    uint64_t rate;    /* bytes per second; 0: unlimited */
    int64_t tokens;   /* bytes that may go now; negative: a debt to wait out */
    int64_t burst;    /* tokens never exceed it */
    uint64_t frac;    /* refill remainder, in byte-microseconds, so no byte is lost */
    uint64_t last_us; /* clock of the last refill */
} ls_bucket_t;

/* Starts full. rate 0: unlimited (every take is granted whole). */
void ls_bucket_init(ls_bucket_t *b, uint64_t rate, uint64_t now_us);
/* A new rate; the tokens held are kept, capped at the new burst (a bucket
 * that was unlimited starts full). */
void ls_bucket_set_rate(ls_bucket_t *b, uint64_t rate, uint64_t now_us);
/* Up to want bytes that may go now (0 when the bucket is empty or in
 * debt); they are taken. */
uint64_t ls_bucket_take(ls_bucket_t *b, uint64_t now_us, uint64_t want);
/* Bytes a take could have now (0 when empty or in debt); nothing taken. */
uint64_t ls_bucket_peek(ls_bucket_t *b, uint64_t now_us);
/* Takes n bytes whatever the bucket holds: a debt is waited out before the
 * next take. For bytes that went (or must go) in one piece. The debt is
 * capped at LS_RATE_MAX. */
void ls_bucket_charge(ls_bucket_t *b, uint64_t now_us, uint64_t n);
/* Microseconds until the bucket holds at least `need` bytes (capped at the
 * burst); 0 when it does now. */
uint64_t ls_bucket_wait_us(ls_bucket_t *b, uint64_t now_us, uint64_t need);

#endif
