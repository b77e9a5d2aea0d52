/* The mDNS responses heard lately, to tell a repeat from news. avahi
 * announces each of a service's records on its own timer (at its start,
 * +1 s and +3 s, each with its own jitter), and each of those packets
 * carries the whole set (a PTR's SRV and TXT, an SRV's address), so every
 * peer hears every other's identical packet four to ten times in its first
 * seconds, and avahi compares each record of each with every record heard
 * in the last 0.5 s. A packet whose sender and bytes equal one seen within
 * LS_REPEAT_WINDOW_MS tells avahi nothing it does not know: discovery.c
 * drops it before avahi reads it.
 * The table is bounded (LS_REPEAT_SLOTS, LS_REPEAT_PROBES looked at per
 * packet) and hashed under a per-process key, so what a sender floods it
 * with costs O(1) per packet and can only make us forget, never drop a
 * packet we have not seen. Internal to src/discovery (and its test);
 * single-threaded. */
#ifndef LS_DISCOVERY_REPEAT_H
#define LS_DISCOVERY_REPEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LS_REPEAT_WINDOW_MS 10000
#define LS_REPEAT_SLOTS 1024 /* a power of two */
#define LS_REPEAT_PROBES 8

typedef struct {
    struct {
        uint64_t hash; /* of sender and bytes; 0 with at_ms 0: never used */
        uint64_t at_ms;
    } slots[LS_REPEAT_SLOTS];
} ls__repeat_t;

void ls__repeat_init(ls__repeat_t *r);

/* True when the same sender sent the same bytes within LS_REPEAT_WINDOW_MS
 * before now_ms (which must not go back); otherwise remembers them (the
 * stalest of LS_REPEAT_PROBES slots makes room) and returns false. A
 * repeat does not renew its time: one copy passes every window. */
bool ls__repeat_seen(ls__repeat_t *r, const struct sockaddr *from, socklen_t from_len,
                     const uint8_t *packet, size_t len, uint64_t now_ms);

#endif
