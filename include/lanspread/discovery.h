/* LAN discovery: advertise this peer as `_lanspread._udp` over mDNS and
 * report the other peers on the link, with an avahi-core responder embedded
 * in the process (no avahi-daemon, no D-Bus). The responder runs on the
 * caller's libuv loop and never blocks it. Only IPv4 is used for mDNS.
 *
 * The TXT record carries pv=<protocol version>, id=<peer_id>,
 * rev=<library_rev> and dg=<library digest>. See docs/ARCHITECTURE.md. */
#ifndef LANSPREAD_DISCOVERY_H
#define LANSPREAD_DISCOVERY_H

#include "lanspread/hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LS_DISCOVERY_SERVICE_TYPE "_lanspread._udp"
#define LS_DISCOVERY_ADDRESS_MAX 64 /* "ip:port" and its NUL */
#define LS_DISCOVERY_IFNAME_MAX 16  /* IF_NAMESIZE */
#define LS_DISCOVERY_NAME_MAX 40    /* instance name bytes we keep (UTF-8) */
#define LS_DISCOVERY_INTERFACES_MAX 16
/* Browsed services tracked (each with a resolver in avahi-core): the
 * runtime dials at most this many peers found over mDNS (its
 * LS_MDNS_TARGETS_MAX is no larger), so more would only cost memory and
 * resolver traffic. When
 * full, a new service replaces the oldest one that resolved to no usable
 * peer (malformed, off-link, expired, still resolving); services bound to a
 * peer are kept, so a flood of bogus names cannot evict a found peer. */
#define LS_DISCOVERY_SERVICES_MAX 256
/* A TXT record larger than this is rejected before it is parsed. */
#define LS_DISCOVERY_TXT_MAX 1024

typedef struct ls_discovery ls_discovery_t;

/* A peer as mDNS reported it. */
typedef struct {
    char peer_id[LS_SHA256_HEX_LEN + 1];
    uint32_t protocol_version;
    uint64_t library_rev;
    char digest[LS_SHA256_HEX_LEN + 1];
    char address[LS_DISCOVERY_ADDRESS_MAX];  /* "ip:port" of its QUIC socket */
    char interface[LS_DISCOVERY_IFNAME_MAX]; /* where it was heard */
} ls_discovered_peer_t;

/* Called when a peer of our protocol version (the configured one) is resolved, and again whenever
 * its rev, digest or address changes. `peer` is only valid during the call.
 * Peers announcing another protocol version never reach this callback: each
 * is logged once (ls_warn) and otherwise ignored. */
typedef void (*ls_discovery_found_cb)(const ls_discovered_peer_t *peer, void *userdata);

/* Called once when the last announcement of a reported peer goes away
 * (goodbye, expiry, or its records could no longer be resolved). */
typedef void (*ls_discovery_lost_cb)(const char *peer_id, void *userdata);

typedef struct {
    const char *instance_name; /* shown in service browsers; required */
    uint16_t port;             /* our QUIC UDP port; required */
    const char *peer_id;       /* 64 hex digits; required */
    /* 0 announces LS_PROTOCOL_VERSION; another value is for tests. */
    uint32_t protocol_version;
    uint64_t library_rev;
    const char *digest; /* 64 hex digits; required */
    /* Interface names mDNS may use; none means every multicast interface. */
    const char *const *interfaces;
    size_t interface_count;
    ls_discovery_found_cb found_cb;
    ls_discovery_lost_cb lost_cb;
    void *userdata;
    /* Party scale (docs/ARCHITECTURE.md, "Discovery at party scale"). Each
     * browser and resolver keeps querying with the answers it knows, and
     * avahi compares every known answer it hears with every one it heard
     * in the last 0.7 s: N peers that all keep browsing cost each one
     * O(N^4) per query round. 0 browses for as long as discovery runs;
     * otherwise the browser stops this many ms after the start (a peer
     * that comes later finds us with its own browse, and our announcement
     * stays), and browses once more, for under a second, at a random
     * moment 5 s to 5 + (services seen) s after the start: the repair for
     * announcements lost in a start-up burst. Services are reported lost
     * only by the first browse (the repair browse only adds: see
     * browse_cb). */
    uint32_t browse_ms;
    /* Asked when the repair browse is due, with the services the browser
     * saw (ours aside): false skips it. That browse's query lists every
     * service we know as a known answer, which every peer on the link
     * compares with all it heard in the last 0.7 s; a peer that already
     * knows as many peers by other means (peer exchange) gains little from
     * it. NULL: always browse. */
    bool (*is_repair_needed)(size_t services_seen, void *userdata);
    /* Told how many other peers the tracked services name (distinct by
     * ls_discovery_same_peer: a peer heard on two interfaces or under an
     * avahi alternative name counts once, ours never) each time the
     * browser reports a service of a peer not counted yet: the party's
     * size, known well before its services are resolved. A stranger's
     * services without an id prefix count once per name (a bound, not a
     * peer). NULL: not told. */
    void (*services_cb)(size_t services, void *userdata);
    /* A resolved service is not watched any more: no TXT or address
     * updates, no loss on expiry (only the browser's goodbye). A failed
     * resolution is still retried. */
    bool is_resolve_once;
    /* Party scale: only the first this many services found are resolved at
     * once (0: all); the others wait for ls_discovery_resolve_unknown.
     * Every resolution is three queries every peer on the link hears. */
    uint32_t resolve_first;
} ls_discovery_config_t;

/* Hex digits of the peer_id our instance names carry ("<name> [<8 hex>]"). */
#define LS_DISCOVERY_ID_PREFIX_LEN 8

/* One IPv4 network of a local interface (network byte order). */
typedef struct {
    unsigned ifindex;
    uint32_t address;
    uint32_t netmask;
} ls_discovery_prefix_t;

/* Whether an address mDNS resolved on interface `ifindex` may be dialled: a
 * unicast address (not loopback, unspecified, multicast or broadcast) inside
 * one of that interface's networks, so an answer cannot send us off the
 * link it came from (to loopback, or to a host elsewhere). Network byte
 * order. Pure. */
bool ls_discovery_is_on_link(uint32_t address, unsigned ifindex,
                             const ls_discovery_prefix_t *prefixes, size_t count);

/* Whether `address` is on-link for any of the interfaces in prefixes
 * (ls_discovery_is_on_link for each one's ifindex). Pure. */
bool ls_discovery_is_on_any_link(uint32_t address, const ls_discovery_prefix_t *prefixes,
                                 size_t count);
/* The peer_id prefix an instance name carries (the last "[" + 8 hex digits
 * + "]" in it), lowercased into out; NULL when it has none. Pure. */
const char *ls_discovery_id_prefix(const char *name, char out[LS_DISCOVERY_ID_PREFIX_LEN + 1]);
/* Whether two service instance names are one peer's: the same peer_id
 * prefix, or (neither has one) the same name. Pure. */
bool ls_discovery_same_peer(const char *a, const char *b);

/* Who a service instance name is, for counting the party: parsed once
 * (ls_discovery_peer_key) when the browser reports the service, so the
 * counting compares stored bytes instead of parsing names again. */
typedef struct {
    char id[LS_DISCOVERY_ID_PREFIX_LEN + 1]; /* ls_discovery_id_prefix; "" if none */
    const char *name; /* the name itself (not copied): compared when neither has an id */
} ls_discovery_peer_key_t;

/* Fills key for `name`, which must outlive it. Pure. */
void ls_discovery_peer_key(ls_discovery_peer_key_t *key, const char *name);
/* ls_discovery_same_peer over parsed keys. Pure. */
bool ls_discovery_same_key(const ls_discovery_peer_key_t *a, const ls_discovery_peer_key_t *b);
/* Whether `key` counts as a peer of the party of its own: not `own` (our
 * name), and none of the `count` others (the other tracked services, not
 * key itself) is the same peer. A service found adds it to the party's
 * size, a service gone (or evicted) takes it back, both against the other
 * services tracked then: one peer on two interfaces or renamed counts
 * once, and a name that copies another peer's prefix neither adds a peer
 * nor takes one away. One pass over the others. Pure. */
bool ls_discovery_is_party_peer(const ls_discovery_peer_key_t *key,
                                const ls_discovery_peer_key_t *own,
                                const ls_discovery_peer_key_t *const *others, size_t count);
/* Whether `address` (IPv4, network byte order) is on-link for one of the
 * interfaces this discovery publishes on (ls_discovery_is_on_any_link), as
 * their networks were last read. For addresses learnt other than
 * by mDNS (a peer's `peers`): they are dialled only if they are. */
bool ls_discovery_is_local_network(const ls_discovery_t *d, uint32_t address);

/* Starts resolving services found at least age_ms ago and not resolved yet
 * (beyond cfg.resolve_first) whose instance name's peer_id prefix (lowercase
 * hex, LS_DISCOVERY_ID_PREFIX_LEN digits) is_known does not know, or that
 * carry none; at most max. Returns how many were started. */
size_t ls_discovery_resolve_unknown(ls_discovery_t *d, uint64_t age_ms,
                                    bool (*is_known)(const char *id_prefix, void *userdata),
                                    void *userdata, size_t max);

/* Starts advertising and browsing on `loop`. The config is copied. On success
 * *out belongs to the caller, who ends it with ls_discovery_stop().
 * LS_EINVAL for a bad config, LS_EMDNS when the responder cannot start
 * (e.g. no socket on port 5353). */
int ls_discovery_start(uv_loop_t *loop, const ls_discovery_config_t *cfg, ls_discovery_t **out);

/* Re-publishes the TXT record with a new library rev and digest (64 hex).
 * LS_EINVAL for a bad digest, LS_ESTATE once stopping. */
int ls_discovery_update(ls_discovery_t *d, uint64_t library_rev, const char *digest);

/* Withdraws the announcement (mDNS goodbye), stops browsing and releases
 * everything. No callback runs after it returns. Safe to call from inside
 * found_cb/lost_cb. Its libuv handles close asynchronously: the caller must
 * keep running the loop (uv_run returns once they are closed). NULL is a
 * no-op. */
void ls_discovery_stop(ls_discovery_t *d);

/* How many mDNS responses were dropped before avahi read them, as repeats:
 * the same sender's identical packet within the window of
 * src/discovery/repeat.h. On d's loop thread only. */
uint64_t ls_discovery_repeats_dropped(const ls_discovery_t *d);

/* How many mDNS responses were dropped before avahi read them because
 * nothing of ours was listening: no browser, resolver or cache look live
 * (with cfg.browse_ms 0 the browser always is, and none is dropped). On
 * d's loop thread only. */
uint64_t ls_discovery_unheard_dropped(const ls_discovery_t *d);

/* The decoded TXT record. */
typedef struct {
    uint32_t protocol_version;
    char peer_id[LS_SHA256_HEX_LEN + 1]; /* lowercase; "" if absent (other versions) */
    uint64_t library_rev;
    char digest[LS_SHA256_HEX_LEN + 1]; /* lowercase */
} ls_discovery_txt_t;

/* Decodes TXT rdata in wire format (length-prefixed strings). Keys are
 * case-insensitive; the first occurrence of a key wins (RFC 6763 6.4);
 * unknown keys are ignored. Returns 0; LS_EVERSION when pv is valid but not
 * LS_PROTOCOL_VERSION (protocol_version and, if valid, peer_id are filled);
 * LS_ETXT when the record is malformed or a required key is missing or out
 * of bounds. Never reads beyond `len`. */
int ls_discovery_txt_parse(const uint8_t *data, size_t len, ls_discovery_txt_t *out);

/* Encodes txt into `buf` (wire format); *out_len gets its length.
 * LS_ETOOBIG if cap is too small, LS_EINVAL for a bad peer_id or digest. */
int ls_discovery_txt_encode(const ls_discovery_txt_t *txt, uint8_t *buf, size_t cap,
                            size_t *out_len);

#endif
