/* The runtime's side of LAN discovery (src/discovery): publishes this peer
 * over mDNS, dials the peers it resolves through the links (with the same
 * backoff as --peer targets), keeps their advertised rev/digest in the
 * PeerGameDB and re-syncs when those differ from the applied library. Loop
 * thread only. */
#ifndef LS_PEER_MDNS_H
#define LS_PEER_MDNS_H

#include "link.h"

#include "lanspread/peerdb.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct ls__mdns ls__mdns_t;

/* At most this many peers found over mDNS are dial targets; more are not
 * dialled (a flood of bogus services costs a bounded number of dials). */
#define LS_MDNS_TARGETS_MAX 256
/* ... and at most this many of them at one IP address. */
#define LS_MDNS_TARGETS_PER_HOST_MAX 4
/* A peer's TXT record or address changes make us act (re-handshake, or dial
 * the new address) at most once per this interval; later changes wait. */
#define LS_MDNS_RESYNC_MIN_MS 5000

/* Whether a newly found peer becomes a dial target, given the targets there
 * are and how many of them share its IP address. Pure. */
bool ls__mdns_admits_target(size_t targets, size_t targets_at_host);
/* Whether a TXT- or address-driven action may run now: never acted
 * (has_acted false), or LS_MDNS_RESYNC_MIN_MS after the last one. Pure. */
bool ls__mdns_may_resync(bool has_acted, uint64_t last_ms, uint64_t now_ms);
/* Whether discovery's repair browse is worth its query: when mDNS saw no
 * service at all, or more services than we have peers as dial targets
 * (resolved, or learnt through peer exchange). Pure. */
bool ls__mdns_is_repair_needed(size_t targets, size_t services_seen);
/* Whether the party is sized (a small one turns to a full mesh, link.h)
 * since_start_ms after mDNS started, with `known` other peers heard of
 * (ls__links_party_size) and `present` (linked or relayed), whose count
 * last grew since_growth_ms ago: from MDNS_PARTY_SIZED_MS on, once every
 * peer heard of is present, or more than LS_PEER_FULL_MESH_MAX are known
 * (the bound stays either way), or no peer has come for
 * MDNS_PARTY_STILL_MS (one heard of may never come: a peer of another
 * version, a stranger's service); at MDNS_PARTY_SIZED_MAX_MS whatever the
 * counts. Pure. */
#define MDNS_PARTY_SIZED_MS 3000
#define MDNS_PARTY_STILL_MS 2000
#define MDNS_PARTY_SIZED_MAX_MS 10000
bool ls__mdns_is_party_heard(uint64_t since_start_ms, size_t known, size_t present,
                             uint64_t since_growth_ms);

typedef struct {
    uv_loop_t *loop;
    ls__links_t *links;  /* borrowed */
    ls_peerdb_t *peerdb; /* borrowed */
    const char *name;    /* instance name */
    const char *peer_id;
    const char *listen; /* our listen address: loopback means nobody could reach us */
    int listen_port;
    uint32_t protocol_version;
} ls__mdns_config_t;

/* Publishes (TXT: rev, digest) and browses. *out is NULL, with 0, when
 * mDNS is pointless (listening on loopback only). */
int ls__mdns_start(const ls__mdns_config_t *config, uint64_t rev, const char *digest,
                   ls__mdns_t **out);
/* Re-publishes the TXT record after the announced library changed. */
void ls__mdns_update(ls__mdns_t *mdns, uint64_t rev, const char *digest);
/* Peers a linked peer told us of (`peers`): those we have no target for and
 * no connection to, at an address on one of our links (IPv4, like mDNS),
 * become dial targets within the caps above, dialled like resolved ones
 * (the smaller peer_id at once) and forgotten if they never complete a
 * handshake as the id they were listed with. NULL md: ignored. */
void ls__mdns_learn(ls__mdns_t *mdns, const ls_peer_list_t *list);
/* From the reconnect timer: dials resolved peers that have no connection. */
void ls__mdns_tick(ls__mdns_t *mdns);
/* Dials every target that is due (after a held dial, LS_DIALS_IN_FLIGHT_MAX). */
void ls__mdns_dial_due(ls__mdns_t *mdns);
/* Sends the goodbye and closes the discovery's handles (the loop must run
 * on until they are closed). Then ls__mdns_free after the loop ended. */
void ls__mdns_stop(ls__mdns_t *mdns);
void ls__mdns_free(ls__mdns_t *mdns);

#endif
