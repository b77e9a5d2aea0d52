/* The mDNS responses heard lately (repeat.h). */
#include "discovery/repeat.h"

#include "lanspread/hash.h"

#include <string.h>

_Static_assert((LS_REPEAT_SLOTS & (LS_REPEAT_SLOTS - 1)) == 0, "slots: a power of two");
_Static_assert(LS_REPEAT_PROBES <= LS_REPEAT_SLOTS, "probes within the table");

void ls__repeat_init(ls__repeat_t *r)
{
    memset(r, 0, sizeof *r);
}

void ls__repeat_query_heard(ls__repeat_t *r, uint64_t now_ms)
{
    r->query_ms = now_ms;
}

/* Sender, interface and bytes, each under the process's key; 0 marks a
 * slot never used. */
static uint64_t hash_of(const struct sockaddr *from, socklen_t from_len, unsigned ifindex,
                        const uint8_t *packet, size_t len)
{
    uint64_t h = ls_hash_private(packet, len) ^
                 (ls_hash_private(from, from_len) + ifindex) * 0x9e3779b97f4a7c15u;
    return h ? h : 1;
}

bool ls__repeat_seen(ls__repeat_t *r, const struct sockaddr *from, socklen_t from_len,
                     unsigned ifindex, const uint8_t *packet, size_t len, uint64_t now_ms)
{
    uint64_t h = hash_of(from, from_len, ifindex, packet, len);
    size_t stalest = 0;
    uint64_t stalest_at = UINT64_MAX;
    for (size_t k = 0; k < LS_REPEAT_PROBES; k++) {
        size_t i = (size_t)(h + k) & (LS_REPEAT_SLOTS - 1);
        bool is_live = r->slots[i].hash && now_ms - r->slots[i].at_ms < LS_REPEAT_WINDOW_MS;
        if (is_live && r->slots[i].hash == h) {
            if (r->slots[i].at_ms > r->query_ms ||
                now_ms - r->slots[i].at_ms < LS_REPEAT_AFTER_QUERY_MS)
                return true;
            r->slots[i].at_ms = now_ms; /* asked for since: avahi hears it again */
            return false;
        }
        uint64_t at = is_live ? r->slots[i].at_ms : 0;
        if (at < stalest_at) {
            stalest_at = at;
            stalest = i;
        }
    }
    r->slots[stalest].hash = h;
    r->slots[stalest].at_ms = now_ms;
    return false;
}
