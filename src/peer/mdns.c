/* The runtime's side of LAN discovery: publishes this peer over mDNS, dials
 * the peers it resolves through the same path as static peers, keeps their
 * advertised rev/digest in the PeerGameDB and re-syncs when those differ from
 * the applied library. A peer whose connection was pruned stays a dial target
 * until mDNS reports it lost, so a peer that comes back is reconnected even
 * when its new announcement looks exactly like the old one.
 *
 * mDNS answers are unauthenticated: the dial targets are capped (in all and
 * per IP address), a target whose certificate is not the advertised peer_id
 * is not dialled again (link.c), and what TXT or address changes make us do
 * is rate-limited per peer. Discovery already dropped off-link addresses. */
#include "mdns.h"

#include "lanspread/discovery.h"

#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/peer.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct ls_mdns_peer {
    struct ls_mdns_peer *next;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    ls__dial_target_t target; /* dialled with backoff like a --peer (link.c) */
    /* The last TXT values, and the rate limit of what they make us do. */
    uint64_t found_rev;
    char found_digest[LS_SHA256_HEX_LEN + 1];
    bool has_resynced;
    bool is_resync_pending; /* a change came while rate-limited */
    uint64_t resync_ms;
    /* Learnt from a linked peer's `peers`, not heard over mDNS: dialled
     * PEERS_TARGET_DIALS_MAX times at most unless a handshake completes,
     * then forgotten (a made-up entry does not keep its slot). */
    bool is_hearsay;
    bool has_linked;
    uint8_t dials;
} ls_mdns_peer_t;

struct ls__mdns {
    ls__mdns_config_t config; /* strings: our copies below */
    char *name;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    ls_discovery_t *discovery; /* NULL once stopped */
    ls_mdns_peer_t *peers;     /* resolved peers: dial targets */
    size_t peer_count;         /* <= LS_MDNS_TARGETS_MAX */
    bool is_cap_logged;
    bool is_stopping;
    uv_timer_t yield_timer; /* dials the targets we let the other side dial first */
    uv_timer_t party_timer; /* the party is sized (ls__mdns_is_party_heard) */
    uint64_t started_ms;
    size_t present;           /* peers present at the party timer's last look */
    uint64_t present_grew_ms; /* when that count last grew */
};

/* The larger peer_id lets the smaller dial first, for this long: long enough
 * for the other side's resolution, short enough that a restarted peer is
 * back at once. */
#define MDNS_YIELD_MS 500

/* Party scale: every browser and resolver that keeps running re-queries
 * with all the answers it knows, and each peer's avahi compares each known
 * answer it hears with each one heard in the last 0.7 s, so N peers that
 * all keep watching cost each one O(N^4) per query round (measured: 30
 * peers spent 76% of their idle CPU there; 60 never converged). We browse
 * only at start, for the browser's first query alone: avahi sends it at
 * once, from a fresh cache, with almost no known answers; the second, 1 s
 * after the start, lists every peer heard by then (with it, avahi was
 * 13-27% of the CPU of a 60- or 100-peer start). Peers started with us we
 * hear announce; a peer that comes later browses and dials us itself, and
 * peer exchange tells of the rest. A resolved peer is not watched: library
 * changes reach linked peers as library_delta, and a lost link is
 * redialled at its last address. */
#define MDNS_BROWSE_MS 900
/* The party's size (MDNS_PARTY_SIZED_MS, mdns.h) is what mDNS heard by
 * then: the browse's answers and the announcements of peers starting with
 * us, and what links and relays told. Answers come within 20-120 ms of the
 * query, but a busy host reads them late: sized at 1 s, 62 of 100 peers
 * starting together on 2 cores took their party for a small one and made
 * a median 21 links; sized at 3 s on a machine at load 15-50, 43 to 75 of
 * 100 still did (counts of 3 to 32), dialled up to 32 peers each and
 * turned back to the bound a second or two later: those runs did not
 * converge in 40 s, with thousands of get_library deadlines missed, where
 * a run without such a peer converged in 8 s. A peer that has not yet
 * got the library of every peer it heard of, and still gets more, is
 * still learning the party: it is sized once they are all present, or
 * none came for MDNS_PARTY_STILL_MS (checked every MDNS_PARTY_RECHECK_MS),
 * or at MDNS_PARTY_SIZED_MAX_MS. A small party
 * converges by relay meanwhile (30 peers: in 1.5-2.5 s) and turns to a
 * full mesh after. */
#define MDNS_PARTY_RECHECK_MS 250
/* Party scale, with peer exchange: each resolution is an SRV, a TXT and an
 * A query that every peer on the link hears and answers or compares, so N
 * peers resolving each other cost O(N^2) queries heard N times. A peer
 * resolves only the first MDNS_RESOLVE_FIRST services it finds; its links
 * to them tell it of the rest (`peers`). A service still neither linked
 * nor a target MDNS_UNKNOWN_AGE_MS after it was found (by the peer_id
 * prefix of its name) is resolved then, MDNS_RESOLVE_PER_TICK per
 * reconnect tick: what peer exchange missed, mDNS still finds. */
#define MDNS_RESOLVE_FIRST 4
#define MDNS_UNKNOWN_AGE_MS 3000
#define MDNS_RESOLVE_PER_TICK 16
/* Dials of a peer learnt from `peers` before it is forgotten, if none
 * completed a handshake with the advertised id. */
#define PEERS_TARGET_DIALS_MAX 2

/* Discovery tracks no fewer services than we may dial. */
_Static_assert(LS_MDNS_TARGETS_MAX <= LS_DISCOVERY_SERVICES_MAX,
               "discovery drops services the runtime would dial");

bool ls__mdns_admits_target(size_t targets, size_t targets_at_host)
{
    return targets < LS_MDNS_TARGETS_MAX && targets_at_host < LS_MDNS_TARGETS_PER_HOST_MAX;
}

bool ls__mdns_may_resync(bool has_acted, uint64_t last_ms, uint64_t now_ms)
{
    return !has_acted || now_ms - last_ms >= LS_MDNS_RESYNC_MIN_MS;
}

bool ls__mdns_is_party_heard(uint64_t since_start_ms, size_t known, size_t present,
                             uint64_t since_growth_ms)
{
    if (since_start_ms >= MDNS_PARTY_SIZED_MAX_MS)
        return true;
    return since_start_ms >= MDNS_PARTY_SIZED_MS &&
           (present >= known || known > LS_PEER_FULL_MESH_MAX ||
            since_growth_ms >= MDNS_PARTY_STILL_MS);
}

bool ls__mdns_is_repair_needed(size_t targets, size_t services_seen)
{
    return services_seen == 0 || targets < services_seen;
}

/* The repair browse lists every service we know as a known answer, and
 * every peer compares each with all it heard in the last 0.7 s: once peer
 * exchange has given us a target for as many peers as mDNS saw, the peers
 * it might still find would have to be unknown to all of our links too. */
/* The other peers the browse heard (discovery counts each peer once). */
static void services_cb(size_t peers, void *userdata)
{
    ls__mdns_t *md = userdata;
    ls__links_note_party(md->config.links, peers);
}

static bool is_repair_needed_cb(size_t services_seen, void *userdata)
{
    const ls__mdns_t *md = userdata;
    return ls__mdns_is_repair_needed(md->peer_count, services_seen);
}

static ls_mdns_peer_t *find_target(ls__mdns_t *md, const char *peer_id)
{
    for (ls_mdns_peer_t *p = md->peers; p; p = p->next)
        if (strcmp(p->peer_id, peer_id) == 0)
            return p;
    return NULL;
}

static void maybe_dial(ls__mdns_t *md, ls_mdns_peer_t *p)
{
    if (ls__links_find_ready(md->config.links, p->peer_id)) {
        p->target.backoff_ms = 0; /* connected: a later loss starts afresh */
        p->has_linked = true;
        return;
    }
    bool was_dialling = p->target.link != NULL;
    ls__links_dial_if_due(md->config.links, &p->target);
    if (!was_dialling && p->target.link && p->dials < UINT8_MAX)
        p->dials++;
}

static void resync_library(ls__mdns_t *md, ls_mdns_peer_t *p);
static void forget_target(ls__mdns_t *md, ls_mdns_peer_t **pp);

/* A peer learnt from `peers` that never answered as itself. */
static bool is_hearsay_spent(const ls_mdns_peer_t *p)
{
    return p->is_hearsay && !p->has_linked && !p->target.link &&
           (p->target.is_ignored || p->dials >= PEERS_TARGET_DIALS_MAX);
}

static bool is_known_prefix(const char *prefix, void *userdata)
{
    ls__mdns_t *md = userdata;
    size_t len = strlen(prefix);
    for (const ls_mdns_peer_t *p = md->peers; p; p = p->next)
        if (strncmp(p->peer_id, prefix, len) == 0)
            return true;
    return ls__links_exists_prefix(md->config.links, prefix);
}

void ls__mdns_tick(ls__mdns_t *md)
{
    if (!md)
        return;
    if (md->discovery && !md->is_stopping)
        ls_discovery_resolve_unknown(md->discovery, MDNS_UNKNOWN_AGE_MS, is_known_prefix, md,
                                     MDNS_RESOLVE_PER_TICK);
    for (ls_mdns_peer_t **pp = &md->peers; *pp;) {
        ls_mdns_peer_t *p = *pp;
        if (p->is_resync_pending)
            resync_library(md, p);
        maybe_dial(md, p);
        if (is_hearsay_spent(p)) {
            ls_debug("mdns", "%.12s at %s (from peers) never answered: forgotten", p->peer_id,
                     p->target.address);
            forget_target(md, pp);
            continue;
        }
        pp = &p->next;
    }
}

void ls__mdns_dial_due(ls__mdns_t *md)
{
    if (!md || md->is_stopping)
        return;
    for (ls_mdns_peer_t *p = md->peers; p; p = p->next)
        maybe_dial(md, p);
}

static int set_address(ls_mdns_peer_t *p, const char *address)
{
    int rc = ls__parse_address(address, false, &p->target.sockaddr);
    if (rc == 0)
        snprintf(p->target.address, sizeof p->target.address, "%s", address);
    return rc;
}

/* Both sides of a pair resolve each other at about the same time; only the
 * smaller peer_id dials at once, so the pair does not open two connections.
 * The other waits MDNS_YIELD_MS and dials only if nothing came (the smaller
 * side may not hear us: multicast is not always symmetric). */
static void yield_timer_cb(uv_timer_t *timer)
{
    ls__mdns_tick(timer->data);
}

/* The browse heard every peer that answers by now: a small party turns to
 * a full mesh, and the targets the links target held back are dialled. */
static void party_timer_cb(uv_timer_t *timer)
{
    ls__mdns_t *md = timer->data;
    uint64_t now = ls__links_now(md->config.links);
    size_t present = ls_peerdb_count(md->config.peerdb);
    if (present > md->present) {
        md->present = present;
        md->present_grew_ms = now;
    }
    if (!ls__mdns_is_party_heard(now - md->started_ms, ls__links_party_size(md->config.links),
                                 present, now - md->present_grew_ms)) {
        uv_timer_start(&md->party_timer, party_timer_cb, MDNS_PARTY_RECHECK_MS, 0);
        return; /* still learning of the party */
    }
    ls__links_party_sizing(md->config.links, true);
    ls__mdns_tick(md);
}

/* mDNS reports IPv4 only (discovery.h). */
static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
    return a->ss_family == AF_INET && b->ss_family == AF_INET &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static bool admits(ls__mdns_t *md, const ls_discovered_peer_t *found, struct sockaddr_storage *addr)
{
    size_t at_host = 0;
    if (ls__parse_address(found->address, false, addr) != 0) {
        ls_warn("mdns", "%.12s: unusable address", found->peer_id);
        return false;
    }
    for (ls_mdns_peer_t *p = md->peers; p; p = p->next)
        at_host += same_host(&p->target.sockaddr, addr);
    if (ls__mdns_admits_target(md->peer_count, at_host))
        return true;
    if (!md->is_cap_logged)
        ls_warn("mdns", "%.12s at %s not dialled: %s", found->peer_id, found->address,
                md->peer_count >= LS_MDNS_TARGETS_MAX ? "too many peers found"
                                                      : "too many peers at that address");
    md->is_cap_logged = true;
    return false;
}

/* The targets that may be at the party now: a target whose last dial got
 * no handshake (a peer that left: after the browse, mDNS reports no loss)
 * does not keep the party big. One pass over at most LS_MDNS_TARGETS_MAX,
 * per target added. */
static size_t live_targets(const ls__mdns_t *md)
{
    size_t n = 0;
    for (const ls_mdns_peer_t *p = md->peers; p; p = p->next)
        n += p->target.backoff_ms == 0 || p->target.link != NULL;
    return n;
}

static ls_mdns_peer_t *add_target(ls__mdns_t *md, const ls_discovered_peer_t *found)
{
    struct sockaddr_storage addr;
    if (!admits(md, found, &addr))
        return NULL;
    ls_mdns_peer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->peer_id, sizeof p->peer_id, "%s", found->peer_id);
    snprintf(p->target.peer_id, sizeof p->target.peer_id, "%s", found->peer_id);
    p->target.is_id_advertised = true; /* the certificate must match (link.c) */
    p->target.next_dial_ms = ls__links_now(md->config.links);
    if (strcmp(md->peer_id, found->peer_id) > 0) {
        p->target.next_dial_ms += MDNS_YIELD_MS;
        if (!uv_is_active((uv_handle_t *)&md->yield_timer))
            uv_timer_start(&md->yield_timer, yield_timer_cb, MDNS_YIELD_MS + 1, 0);
    }
    p->next = md->peers;
    md->peers = p;
    md->peer_count++;
    ls__links_note_party(md->config.links, live_targets(md));
    return p;
}

/* Re-handshakes on the ready link when the applied library is not what
 * the peer advertises, at most once per LS_MDNS_RESYNC_MIN_MS: a spoofed
 * TXT flood costs one re-handshake per interval, not one per packet. */
static void resync_library(ls__mdns_t *md, ls_mdns_peer_t *p)
{
    uint64_t now = ls__links_now(md->config.links);
    int rc =
        ls_peerdb_update_peer_library(md->config.peerdb, p->peer_id, p->found_rev, p->found_digest);
    ls_link_t *link = rc == 1 ? ls__links_find_ready(md->config.links, p->peer_id) : NULL;
    p->is_resync_pending = false;
    if (!link)
        return;
    if (!ls__mdns_may_resync(p->has_resynced, p->resync_ms, now)) {
        p->is_resync_pending = true; /* the reconnect tick tries again */
        return;
    }
    p->has_resynced = true;
    p->resync_ms = now;
    ls_info("mdns", "%.12s advertises rev %llu, not the applied library: re-syncing", p->peer_id,
            (unsigned long long)p->found_rev);
    if (ls__link_send_hello(link) != 0)
        ls_warn("mdns", "%s: re-sync not sent", link->address);
}

/* A new address is a new process or a moved host: dial it now, or once the
 * rate limit allows (an impostor flipping addresses gets few dials). */
static void move_target(ls__mdns_t *md, ls_mdns_peer_t *p, const ls_discovered_peer_t *found)
{
    uint64_t now = ls__links_now(md->config.links);
    if (set_address(p, found->address) != 0) {
        ls_warn("mdns", "%.12s: unusable address", found->peer_id);
        return;
    }
    p->target.backoff_ms = 0;
    p->target.is_ignored = false;
    p->target.next_dial_ms = ls__mdns_may_resync(p->has_resynced, p->resync_ms, now)
                                 ? 0
                                 : p->resync_ms + LS_MDNS_RESYNC_MIN_MS;
    p->has_resynced = true;
    p->resync_ms = now;
}

static void found_cb(const ls_discovered_peer_t *found, void *userdata)
{
    ls__mdns_t *md = userdata;
    if (md->is_stopping || strcmp(found->peer_id, md->peer_id) == 0)
        return;
    ls_mdns_peer_t *p = find_target(md, found->peer_id);
    bool is_new = !p;
    if (!p && !(p = add_target(md, found)))
        return;
    if (is_new && set_address(p, found->address) != 0)
        return; /* admits() parsed it: cannot happen */
    if (!is_new && strcmp(p->target.address, found->address) != 0)
        move_target(md, p, found);
    p->is_hearsay = false; /* heard over mDNS itself */
    p->found_rev = found->library_rev;
    snprintf(p->found_digest, sizeof p->found_digest, "%s", found->digest);
    resync_library(md, p);
    maybe_dial(md, p);
}

static void forget_target(ls__mdns_t *md, ls_mdns_peer_t **pp)
{
    ls_mdns_peer_t *p = *pp;
    *pp = p->next;
    md->peer_count--;
    /* the connection lives on without us; the rank's place is given back */
    ls__links_detach_target(md->config.links, &p->target);
    free(p);
}

/* One entry of a linked peer's `peers`. Only a peer we have no target for
 * and no connection to becomes one, at an address on one of our own links,
 * within the mDNS caps; a known target is never moved by hearsay. The
 * certificate must then carry the advertised id (is_id_advertised). */
static void learn_peer(ls__mdns_t *md, const ls_peer_addr_t *entry)
{
    uint32_t ip;
    uint16_t port;
    if (strcmp(entry->peer_id, md->peer_id) == 0 || find_target(md, entry->peer_id) ||
        ls__links_exists(md->config.links, entry->peer_id) ||
        ls_peer_addr_parse(entry->address, &ip, &port) != 0 ||
        !ls_discovery_is_local_network(md->discovery, ip))
        return;
    ls_discovered_peer_t found = {.library_rev = 0};
    memcpy(found.peer_id, entry->peer_id, sizeof found.peer_id);
    snprintf(found.address, sizeof found.address, "%s", entry->address);
    ls_mdns_peer_t *p = add_target(md, &found);
    if (!p || set_address(p, found.address) != 0)
        return; /* admits() parsed it: set_address cannot fail */
    p->is_hearsay = true;
    maybe_dial(md, p);
}

void ls__mdns_learn(ls__mdns_t *md, const ls_peer_list_t *list)
{
    if (!md || md->is_stopping || !md->discovery)
        return;
    for (size_t i = 0; i < list->count; i++)
        learn_peer(md, &list->peers[i]);
}

/* The announcement went away: stop dialling. A live connection stays; the
 * ping service decides whether the peer is still there. */
static void lost_cb(const char *peer_id, void *userdata)
{
    ls__mdns_t *md = userdata;
    for (ls_mdns_peer_t **pp = &md->peers; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->peer_id, peer_id) == 0) {
            forget_target(md, pp);
            return;
        }
    }
}

/* A peer listening on loopback only cannot be reached from the LAN:
 * announcing it would send every other peer to a dead address. */
static bool listens_on_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]", 5) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

int ls__mdns_start(const ls__mdns_config_t *config, uint64_t rev, const char *digest,
                   ls__mdns_t **out)
{
    *out = NULL;
    if (listens_on_loopback(config->listen)) {
        ls_info("mdns", "not announcing: listening on loopback only (%s)", config->listen);
        return 0;
    }
    ls__mdns_t *md = calloc(1, sizeof *md);
    if (!md || !(md->name = strdup(config->name))) {
        free(md);
        return LS_ENOMEM;
    }
    md->config = *config;
    md->config.name = md->name;
    md->config.listen = NULL; /* only needed here */
    snprintf(md->peer_id, sizeof md->peer_id, "%s", config->peer_id);
    md->config.peer_id = md->peer_id;
    ls_discovery_config_t cfg = {
        .instance_name = md->name,
        .port = (uint16_t)config->listen_port,
        .peer_id = md->peer_id,
        .protocol_version = config->protocol_version,
        .library_rev = rev,
        .digest = digest,
        .found_cb = found_cb,
        .lost_cb = lost_cb,
        .userdata = md,
        .browse_ms = MDNS_BROWSE_MS,
        .is_repair_needed = is_repair_needed_cb,
        .services_cb = services_cb,
        .is_resolve_once = true,
        .resolve_first = MDNS_RESOLVE_FIRST,
    };
    int rc = ls_discovery_start(config->loop, &cfg, &md->discovery);
    if (rc != 0) {
        ls__mdns_free(md);
        return rc;
    }
    /* After the start: a failed one frees md, which a handle must not
     * outlive. Discovery reports peers from the loop, later. */
    uv_timer_init(config->loop, &md->yield_timer);
    md->yield_timer.data = md;
    uv_timer_init(config->loop, &md->party_timer);
    md->party_timer.data = md;
    ls__links_party_sizing(config->links, false);
    md->started_ms = ls__links_now(config->links);
    md->present_grew_ms = md->started_ms;
    /* looks from the first recheck on: the count's growth is followed
     * before the party may be sized */
    uv_timer_start(&md->party_timer, party_timer_cb, MDNS_PARTY_RECHECK_MS, 0);
    *out = md;
    return 0;
}

void ls__mdns_update(ls__mdns_t *md, uint64_t rev, const char *digest)
{
    if (!md || !md->discovery)
        return;
    int rc = ls_discovery_update(md->discovery, rev, digest);
    if (rc != 0)
        ls_warn("mdns", "TXT record not updated: %s", ls_strerror(rc));
}

void ls__mdns_stop(ls__mdns_t *md)
{
    if (!md)
        return;
    md->is_stopping = true;
    uv_timer_stop(&md->yield_timer);
    uv_close((uv_handle_t *)&md->yield_timer, NULL);
    uv_timer_stop(&md->party_timer);
    uv_close((uv_handle_t *)&md->party_timer, NULL);
    ls_discovery_stop(md->discovery);
    md->discovery = NULL;
}

/* After the loop ended: every link is gone already. */
void ls__mdns_free(ls__mdns_t *md)
{
    if (!md)
        return;
    while (md->peers) {
        ls_mdns_peer_t *p = md->peers;
        md->peers = p->next;
        free(p);
    }
    free(md->name);
    free(md);
}
