/* The mDNS responses heard lately, to tell a repeat from news. avahi
 * announces a record at a peer's start, +1 s and +3 s, and every answer to
 * a query for it is the same packet again; at a party's start each peer
 * hears each other's identical packet several times, and avahi parses
 * each and compares each record with every record heard in the last
 * 0.5 s. A response whose sender, arrival interface and bytes equal one
 * let through within LS_REPEAT_WINDOW_MS tells avahi nothing new, with
 * one exception: avahi expires a cached record after hearing several
 * queries for it go unanswered (RFC 6762 10.5: avahi counts five, at
 * least 1 s apart), so once a query has been handed to avahi
 * (ls__repeat_query_heard), a repeat whose copy avahi got
 * LS_REPEAT_AFTER_QUERY_MS ago or more passes, and its window starts
 * again: while queries come, avahi hears each record at least that often.
 * discovery.c drops the others before avahi reads them.
 * The table is bounded (LS_REPEAT_SLOTS, LS_REPEAT_PROBES looked at per
 * packet) and hashed under a per-process key, so what a sender floods it
 * with costs O(1) per packet and can only make us forget, never drop a
 * packet we have not seen. Internal to src/discovery (and its test);
 * single-threaded: its loop's. */
#ifndef LS_DISCOVERY_REPEAT_H
#define LS_DISCOVERY_REPEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LS_REPEAT_WINDOW_MS 10000
#define LS_REPEAT_SLOTS 1024 /* a power of two */
#define LS_REPEAT_PROBES 8
#define LS_REPEAT_AFTER_QUERY_MS 2000

typedef struct {
    struct {
        uint64_t hash; /* of sender and bytes; 0 with at_ms 0: never used */
        uint64_t at_ms;
    } slots[LS_REPEAT_SLOTS];
    uint64_t query_ms; /* the last query handed to avahi */
} ls__repeat_t;

void ls__repeat_init(ls__repeat_t *r);

/* A query was handed to avahi at now_ms: the next copy of every response
 * remembered before it is news again. */
void ls__repeat_query_heard(ls__repeat_t *r, uint64_t now_ms);

/* True when the same sender sent the same bytes on the same interface
 * within LS_REPEAT_WINDOW_MS before now_ms (which must not go back),
 * unless a query came since and that copy is LS_REPEAT_AFTER_QUERY_MS old;
 * otherwise remembers them from now_ms (the stalest
 * of LS_REPEAT_PROBES slots makes room) and returns false. A repeat that
 * is dropped does not renew its time: one copy passes every window. */
bool ls__repeat_seen(ls__repeat_t *r, const struct sockaddr *from, socklen_t from_len,
                     unsigned ifindex, const uint8_t *packet, size_t len, uint64_t now_ms);

#endif
