/* The runtime's side of LAN discovery: publishes this peer over mDNS, dials
 * the peers it resolves through the same path as static peers, keeps their
 * advertised rev/digest in the PeerGameDB and re-syncs when those differ from
 * the applied library. A peer whose connection was pruned stays a dial target
 * until mDNS reports it lost, so a peer that comes back is reconnected even
 * when its new announcement looks exactly like the old one. */
#include "runtime_internal.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <stdlib.h>
#include <string.h>

struct ls_mdns_peer {
    ls_mdns_peer_t *next;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    ls_static_peer_t target; /* dialled with backoff like a --peer (link.c) */
};

static ls_mdns_peer_t *find_target(ls_peer_runtime_t *rt, const char *peer_id)
{
    for (ls_mdns_peer_t *p = rt->mdns_peers; p; p = p->next)
        if (strcmp(p->peer_id, peer_id) == 0)
            return p;
    return NULL;
}

static void maybe_dial(ls_peer_runtime_t *rt, ls_mdns_peer_t *p)
{
    if (ls_link_find_ready(rt, p->peer_id)) {
        p->target.backoff_ms = 0; /* connected: a later loss starts afresh */
        return;
    }
    ls_link_dial_if_due(rt, &p->target);
}

void ls_mdns_tick(ls_peer_runtime_t *rt)
{
    for (ls_mdns_peer_t *p = rt->mdns_peers; p; p = p->next)
        maybe_dial(rt, p);
}

static int set_address(ls_mdns_peer_t *p, const char *address)
{
    int rc = ls_rt_parse_address(address, false, &p->target.sockaddr);
    if (rc == 0)
        snprintf(p->target.address, sizeof p->target.address, "%s", address);
    return rc;
}

/* Both sides of a pair resolve each other at about the same time; only the
 * smaller peer_id dials at once, so the pair does not open two connections.
 * The other waits one reconnect interval and dials only if nothing came (the
 * smaller side may not hear us: multicast is not always symmetric). */
static ls_mdns_peer_t *add_target(ls_peer_runtime_t *rt, const ls_discovered_peer_t *found)
{
    ls_mdns_peer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->peer_id, sizeof p->peer_id, "%s", found->peer_id);
    snprintf(p->target.peer_id, sizeof p->target.peer_id, "%s", found->peer_id);
    p->target.next_dial_ms = ls_rt_now_ms(rt);
    if (strcmp(rt->peer_id, found->peer_id) > 0)
        p->target.next_dial_ms += rt->reconnect_ms;
    p->next = rt->mdns_peers;
    rt->mdns_peers = p;
    return p;
}

/* The TXT record moved: record it, and re-handshake on the ready link when
 * the applied library is not what the peer now advertises. */
static void update_library(ls_peer_runtime_t *rt, const ls_discovered_peer_t *found)
{
    int rc = ls_peerdb_update_peer_library(rt->peerdb, found->peer_id, found->library_rev,
                                           found->digest);
    ls_link_t *link = rc == 1 ? ls_link_find_ready(rt, found->peer_id) : NULL;
    if (!link)
        return;
    ls_info("mdns", "%.12s advertises rev %llu, not the applied library: re-syncing",
            found->peer_id, (unsigned long long)found->library_rev);
    if (ls_link_send_hello(link) != 0)
        ls_warn("mdns", "%s: re-sync not sent", link->address);
}

static void found_cb(const ls_discovered_peer_t *found, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    if (rt->is_shutting_down || strcmp(found->peer_id, rt->peer_id) == 0)
        return;
    ls_mdns_peer_t *p = find_target(rt, found->peer_id);
    if (!p && !(p = add_target(rt, found)))
        return;
    if (strcmp(p->target.address, found->address) != 0) {
        if (set_address(p, found->address) != 0) {
            ls_warn("mdns", "%.12s: unusable address %s", found->peer_id, found->address);
            return;
        }
        /* A new address is a new process or a moved host: try it now. */
        p->target.backoff_ms = 0;
        p->target.next_dial_ms = 0;
        p->target.is_ignored = false;
    }
    update_library(rt, found);
    maybe_dial(rt, p);
}

static void forget_target(ls_peer_runtime_t *rt, ls_mdns_peer_t **pp)
{
    ls_mdns_peer_t *p = *pp;
    *pp = p->next;
    if (p->target.link)
        p->target.link->static_peer = NULL; /* the connection lives on without us */
    free(p);
}

/* The announcement went away: stop dialling. A live connection stays; the
 * ping service decides whether the peer is still there. */
static void lost_cb(const char *peer_id, void *userdata)
{
    ls_peer_runtime_t *rt = userdata;
    for (ls_mdns_peer_t **pp = &rt->mdns_peers; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->peer_id, peer_id) == 0) {
            forget_target(rt, pp);
            return;
        }
    }
}

/* A peer listening on loopback only cannot be reached from the LAN:
 * announcing it would send every other peer to a dead address. */
static bool listens_on_loopback(const ls_peer_runtime_t *rt)
{
    return strncmp(rt->listen, "127.", 4) == 0 || strncmp(rt->listen, "[::1]", 5) == 0 ||
           strncmp(rt->listen, "localhost:", 10) == 0;
}

int ls_mdns_start(ls_peer_runtime_t *rt)
{
    if (!rt->is_mdns_enabled)
        return 0;
    if (listens_on_loopback(rt)) {
        ls_info("mdns", "not announcing: listening on loopback only (%s)", rt->listen);
        return 0;
    }
    ls_discovery_config_t cfg = {
        .instance_name = rt->name,
        .port = (uint16_t)rt->listen_port,
        .peer_id = rt->peer_id,
        .protocol_version = rt->protocol_version,
        .library_rev = rt->announced.library_rev,
        .digest = rt->announced.digest,
        .found_cb = found_cb,
        .lost_cb = lost_cb,
        .userdata = rt,
    };
    return ls_discovery_start(&rt->loop, &cfg, &rt->discovery);
}

void ls_mdns_update(ls_peer_runtime_t *rt)
{
    if (!rt->discovery)
        return;
    int rc = ls_discovery_update(rt->discovery, rt->announced.library_rev, rt->announced.digest);
    if (rc != 0)
        ls_warn("mdns", "TXT record not updated: %s", ls_strerror(rc));
}

void ls_mdns_stop(ls_peer_runtime_t *rt)
{
    ls_discovery_stop(rt->discovery);
    rt->discovery = NULL;
}

/* After the loop ended: every link is gone already. */
void ls_mdns_free(ls_peer_runtime_t *rt)
{
    while (rt->mdns_peers) {
        ls_mdns_peer_t *p = rt->mdns_peers;
        rt->mdns_peers = p->next;
        free(p);
    }
}
