/* LAN discovery: an embedded avahi-core responder on the caller's libuv loop
 * that publishes our `_lanspread._udp` service and turns the services it
 * browses into found/lost reports keyed by peer_id.
 *
 * Coexistence with other mDNS stacks on the same host (a system
 * avahi-daemon, other Lanspread processes) rests on three choices:
 *  - the sockets on 5353 are shared (disallow_other_stacks stays off, so
 *    avahi sets SO_REUSEADDR and multicast reaches every process);
 *  - each instance uses its own host name, derived from its peer_id, and
 *    publishes no HINFO, no workstation service and no reverse (PTR) address
 *    records: a reverse record for a shared address is unique per address, so
 *    two stacks publishing it would fight over it and rename each other;
 *  - the service name carries a peer_id prefix, so equal instance names on
 *    one link do not collide. */
#include "lanspread/discovery.h"

#include "discovery/repeat.h"
#include "discovery/uv_avahi_poll.h"
#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sys/random.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-core/core.h>
#include <avahi-core/log.h>
#include <avahi-core/lookup.h>
#include <avahi-core/publish.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "discovery"
/* Address changes and failed resolutions are looked at this often. */
#define MAINTENANCE_MS 5000
#define RESOLVE_RETRY_MIN_MS 5000
#define RESOLVE_RETRY_MAX_MS 60000
#define HOST_ADDRESSES_MAX 32
#define WARNED_MAX 64 /* peers whose version mismatch was logged */

/* Our addresses: published as A records, and the networks an answer's
 * address must lie in (ls_discovery_is_on_link). */
typedef ls_discovery_prefix_t host_address_t;

typedef struct known_peer {
    struct known_peer *next;
    ls_discovered_peer_t info;
    unsigned service_count; /* browsed services resolved to this peer */
} known_peer_t;

/* One (interface, name) the browser reported, and its resolver. */
typedef struct service {
    struct service *next;
    ls_discovery_t *d;
    AvahiIfIndex ifindex;
    AvahiProtocol protocol;
    char name[AVAHI_LABEL_MAX];
    ls_discovery_peer_key_t key; /* of name, parsed once when found */
    char *domain;
    AvahiSServiceResolver *resolver;     /* NULL while waiting to retry */
    char peer_id[LS_SHA256_HEX_LEN + 1]; /* whom it resolved to; "" if nobody */
    uint64_t retry_at_ms;
    uint64_t retry_ms;
    bool is_malformed_logged;
    bool is_deferred;  /* found beyond resolve_first: resolved only when asked */
    uint64_t found_ms; /* when the browser reported it */
    /* Deferred: the next look into avahi's cache (0: none left), and
     * whether the resolver running now is such a look. */
    uint64_t cache_at_ms;
    uint8_t cache_tries;
    bool is_cache_look;
} service_t;

struct ls_discovery {
    uv_loop_t *loop;
    ls_avahi_poll_t poll;
    AvahiServer *server;
    AvahiSEntryGroup *group;
    AvahiSServiceBrowser *browser;
    uv_timer_t maintenance;
    uv_timer_t deferred_stop;
    uv_timer_t browse_end; /* frees the browser after browse_ms, then the repair */
    uv_timer_t cache_look; /* deferred services resolved from the cache (CACHE_*) */
    uint32_t browse_ms;
    bool is_repair_done; /* the one late browse (REPAIR_*) ran or was skipped */
    bool (*is_repair_needed)(size_t services_seen, void *userdata);
    void (*services_cb)(size_t services, void *userdata);
    bool is_resolve_once;
    uint32_t resolve_first; /* 0: every service is resolved as it is found */
    uint32_t resolves_started;
    int open_handles;
    int callback_depth;
    bool is_stopping;

    char service_name[AVAHI_LABEL_MAX];
    ls_discovery_peer_key_t own_key; /* of service_name (a rename keeps its id) */
    char host_name[AVAHI_LABEL_MAX];
    uint16_t port;
    ls_discovery_txt_t txt; /* what we announce */
    char interfaces[LS_DISCOVERY_INTERFACES_MAX][LS_DISCOVERY_IFNAME_MAX];
    size_t interface_count;
    host_address_t addresses[HOST_ADDRESSES_MAX];
    size_t address_count;

    service_t *services;
    size_t service_count;
    size_t party_count; /* distinct other peers among them (ls_discovery_is_party_peer) */
    known_peer_t *peers;
    char warned[WARNED_MAX][LS_SHA256_HEX_LEN + 1];
    size_t warned_count;

    ls__repeat_t repeats;       /* responses heard lately (repeat.h) */
    uint64_t repeats_dropped;   /* ls_discovery_repeats_dropped */
    unsigned resolvers_running; /* services whose resolver is live (is_listening) */
    uint64_t unheard_dropped;   /* ls_discovery_unheard_dropped */

    ls_discovery_found_cb found_cb;
    ls_discovery_lost_cb lost_cb;
    void *userdata;
};

static void publish(ls_discovery_t *d);
static void start_resolver(service_t *s);
static void free_resolver(service_t *s);
static int start_browser(ls_discovery_t *d);

/* ---- configuration and names ---- */

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != LS_SHA256_HEX_LEN)
        return false;
    return strspn(s, "0123456789abcdefABCDEF") == LS_SHA256_HEX_LEN;
}

static void lowercase_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'F') ? (char)(src[i] - 'A' + 'a') : src[i];
    dst[n] = '\0';
}

/* Strict enough for a DNS-SD instance name: well-formed sequences, no
 * overlong forms, no surrogates, no control characters. */
static bool is_utf8_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, need = c < 0x80             ? 0
                                : (c & 0xE0) == 0xC0 ? 1
                                : (c & 0xF0) == 0xE0 ? 2
                                : (c & 0xF8) == 0xF0 ? 3
                                                     : 4;
        unsigned cp = need == 0 ? c : need == 1 ? c & 0x1F : need == 2 ? c & 0x0F : c & 0x07;
        if (need == 4 || (need == 0 && c < 0x20))
            return false;
        for (unsigned i = 1; i <= need; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static const unsigned min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += need + 1;
    }
    return true;
}

static int check_config(const ls_discovery_config_t *cfg)
{
    if (!cfg || !cfg->instance_name || !cfg->instance_name[0] ||
        !is_utf8_text(cfg->instance_name) || cfg->port == 0 || !is_hex64(cfg->peer_id) ||
        !is_hex64(cfg->digest) || cfg->interface_count > LS_DISCOVERY_INTERFACES_MAX ||
        (cfg->interface_count && !cfg->interfaces))
        return LS_EINVAL;
    for (size_t i = 0; i < cfg->interface_count; i++) {
        size_t n = cfg->interfaces[i] ? strlen(cfg->interfaces[i]) : 0;
        if (n == 0 || n >= LS_DISCOVERY_IFNAME_MAX)
            return LS_EINVAL;
    }
    return 0;
}

/* Keeps at most `max` bytes of a UTF-8 string without splitting a character. */
static size_t utf8_prefix_len(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int make_names(ls_discovery_t *d, const char *instance_name)
{
    int n = (int)utf8_prefix_len(instance_name, LS_DISCOVERY_NAME_MAX);
    snprintf(d->service_name, sizeof(d->service_name), "%.*s [%.8s]", n, instance_name,
             d->txt.peer_id);
    ls_discovery_peer_key(&d->own_key, d->service_name);
    snprintf(d->host_name, sizeof(d->host_name), "ls-%.16s", d->txt.peer_id);
    return avahi_is_valid_service_name(d->service_name) ? 0 : LS_EINVAL;
}

static int copy_config(ls_discovery_t *d, const ls_discovery_config_t *cfg)
{
    d->port = cfg->port;
    d->txt.protocol_version = cfg->protocol_version ? cfg->protocol_version : LS_PROTOCOL_VERSION;
    d->txt.library_rev = cfg->library_rev;
    lowercase_copy(d->txt.peer_id, cfg->peer_id, LS_SHA256_HEX_LEN);
    lowercase_copy(d->txt.digest, cfg->digest, LS_SHA256_HEX_LEN);
    for (size_t i = 0; i < cfg->interface_count; i++)
        snprintf(d->interfaces[i], sizeof(d->interfaces[i]), "%s", cfg->interfaces[i]);
    d->interface_count = cfg->interface_count;
    d->found_cb = cfg->found_cb;
    d->lost_cb = cfg->lost_cb;
    d->userdata = cfg->userdata;
    return make_names(d, cfg->instance_name);
}

static bool is_interface_allowed(const ls_discovery_t *d, const char *name)
{
    if (d->interface_count == 0)
        return true;
    for (size_t i = 0; i < d->interface_count; i++) {
        if (strcmp(d->interfaces[i], name) == 0)
            return true;
    }
    return false;
}

/* ---- our own addresses (A records for our private host name) ---- */

static int compare_addresses(const void *a, const void *b)
{
    const host_address_t *x = a, *y = b;
    if (x->ifindex != y->ifindex)
        return x->ifindex < y->ifindex ? -1 : 1;
    if (x->address != y->address)
        return x->address < y->address ? -1 : 1;
    return x->netmask < y->netmask ? -1 : x->netmask > y->netmask;
}

/* Reads the IPv4 addresses of the allowed non-loopback interfaces. */
static size_t collect_addresses(const ls_discovery_t *d, host_address_t *out)
{
    uv_interface_address_t *ifs = NULL;
    int count = 0;
    size_t n = 0;

    if (uv_interface_addresses(&ifs, &count) < 0)
        return 0;
    for (int i = 0; i < count && n < HOST_ADDRESSES_MAX; i++) {
        if (ifs[i].is_internal || ifs[i].address.address4.sin_family != AF_INET ||
            !is_interface_allowed(d, ifs[i].name))
            continue;
        unsigned idx = if_nametoindex(ifs[i].name);
        if (idx == 0)
            continue;
        out[n].ifindex = idx;
        out[n].address = ifs[i].address.address4.sin_addr.s_addr;
        out[n].netmask = ifs[i].netmask.netmask4.sin_addr.s_addr;
        n++;
    }
    uv_free_interface_addresses(ifs, count);
    qsort(out, n, sizeof(*out), compare_addresses);
    return n;
}

static void refresh_addresses(ls_discovery_t *d)
{
    host_address_t now[HOST_ADDRESSES_MAX];
    size_t n = collect_addresses(d, now);

    if (n == d->address_count && memcmp(now, d->addresses, n * sizeof(*now)) == 0)
        return;
    memcpy(d->addresses, now, n * sizeof(*now));
    d->address_count = n;
    ls_info(MOD, "local IPv4 addresses changed (%zu now); re-publishing", n);
    publish(d);
}

bool ls_discovery_is_on_any_link(uint32_t address, const ls_discovery_prefix_t *prefixes,
                                 size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (ls_discovery_is_on_link(address, prefixes[i].ifindex, prefixes, count))
            return true;
    return false;
}

bool ls_discovery_is_local_network(const ls_discovery_t *d, uint32_t address)
{
    return ls_discovery_is_on_any_link(address, d->addresses, d->address_count);
}

bool ls_discovery_is_on_link(uint32_t address, unsigned ifindex,
                             const ls_discovery_prefix_t *prefixes, size_t count)
{
    uint32_t host = ntohl(address);
    /* 0/8 (this network), 127/8 (loopback), 224/4 and above (multicast,
     * reserved, broadcast) are never a peer's unicast address */
    if ((host >> 24) == 0 || (host >> 24) == 127 || (host >> 28) >= 0xE)
        return false;
    for (size_t i = 0; i < count; i++) {
        const ls_discovery_prefix_t *p = &prefixes[i];
        uint32_t mask = p->netmask;
        if (p->ifindex != ifindex || mask == 0xFFFFFFFFu || mask == 0)
            continue; /* a /32 has no neighbours; /0 would be the world */
        bool is_broadcast = (address & ~mask) == ~mask;
        /* our own address counts: a second peer on this host is on-link */
        if ((address & mask) == (p->address & mask) && !is_broadcast)
            return true;
    }
    return false;
}

/* ---- publishing ---- */

static AvahiStringList *make_txt_list(const ls_discovery_t *d)
{
    uint8_t wire[LS_DISCOVERY_TXT_MAX];
    size_t len = 0;
    AvahiStringList *list = NULL;

    if (ls_discovery_txt_encode(&d->txt, wire, sizeof(wire), &len) < 0)
        return NULL;
    if (avahi_string_list_parse(wire, len, &list) < 0)
        return NULL;
    return list;
}

/* Our records are published without avahi's probes (three queries 250 ms
 * apart before the first announcement, after up to 250 ms of jitter): the
 * host name (`ls-<16 hex of peer_id>`) and the service name (`... [<8 hex>]`)
 * carry our peer id, so no other responder owns them. That saves about a
 * second of every start and three queries per peer that every other peer
 * hears and compares with its known answers. avahi_server_add_service_strlst
 * takes no NO_PROBE flag, so the service's four records are added one by one
 * as it would add them (and without its local-service cookie in the TXT
 * record: nobody reads it). A conflicting answer heard while we listen
 * (is_listening) still makes avahi report a collision (group_cb renames);
 * after that, a newcomer that claims our names finds us with its own first
 * browse instead. */
#define PUBLISH_UNIQUE (AVAHI_PUBLISH_UNIQUE | AVAHI_PUBLISH_NO_PROBE)

/* Only the PTR record is announced. avahi announces each record on its
 * own timer (at once, +1 s, +3 s, each with its own jitter) and sends
 * every announcement with its related records (in the answer section):
 * the PTR's carries the SRV and the TXT, the SRV's the address. So four
 * announced records made up to twelve packets per start, most of them the
 * whole set again, which every peer on the link parsed and compared with
 * everything it heard in the last 0.5 s. The SRV, TXT and address records
 * are published AVAHI_PUBLISH_NO_ANNOUNCE: they answer queries and travel
 * with every PTR announcement (three identical packets, of which a
 * listener's repeat filter passes one), but get no announcer and no
 * goodbye: the PTR's removes the service, the others' copies in other
 * caches age out with their TTL (120 s; the TXT's 4500 s), and a later
 * announcement carries the cache-flush bit. An updated TXT
 * (ls_discovery_update) is published without the flag, which avahi takes
 * as the entry's new flags: a new library revision is announced. */

static int add_address_records(ls_discovery_t *d, const char *fqdn)
{
    for (size_t i = 0; i < d->address_count; i++) {
        AvahiAddress a = {.proto = AVAHI_PROTO_INET};
        a.data.ipv4.address = d->addresses[i].address;
        int rc = avahi_server_add_address(
            d->server, d->group, (AvahiIfIndex)d->addresses[i].ifindex, AVAHI_PROTO_INET,
            AVAHI_PUBLISH_NO_REVERSE | AVAHI_PUBLISH_NO_PROBE | AVAHI_PUBLISH_NO_ANNOUNCE, fqdn,
            &a);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Adds one record to our group; takes the record's reference. */
static int add_record(ls_discovery_t *d, AvahiRecord *r, AvahiPublishFlags flags)
{
    int rc;

    if (!r)
        return AVAHI_ERR_NO_MEMORY;
    rc = avahi_server_add(d->server, d->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET, flags, r);
    avahi_record_unref(r);
    return rc;
}

static AvahiRecord *new_ptr(const char *name, const char *target)
{
    AvahiRecord *r =
        avahi_record_new_full(name, AVAHI_DNS_CLASS_IN, AVAHI_DNS_TYPE_PTR, AVAHI_DEFAULT_TTL);
    if (r && !(r->data.ptr.name = avahi_normalize_name_strdup(target))) {
        avahi_record_unref(r);
        r = NULL;
    }
    return r;
}

static AvahiRecord *new_txt(const ls_discovery_t *d, const char *svc_name)
{
    AvahiStringList *txt = make_txt_list(d);
    AvahiRecord *r = txt ? avahi_record_new_full(svc_name, AVAHI_DNS_CLASS_IN, AVAHI_DNS_TYPE_TXT,
                                                 AVAHI_DEFAULT_TTL)
                         : NULL;
    if (r)
        r->data.txt.string_list = txt;
    else
        avahi_string_list_free(txt);
    return r;
}

static int service_names(const ls_discovery_t *d, char *svc, char *type, size_t cap)
{
    int rc = avahi_service_name_join(svc, cap, d->service_name, LS_DISCOVERY_SERVICE_TYPE, "local");
    if (rc == 0)
        rc = avahi_service_name_join(type, cap, NULL, LS_DISCOVERY_SERVICE_TYPE, "local");
    return rc;
}

/* The service's PTR, SRV and TXT records; not the DNS-SD service-type
 * enumeration PTR (_services._dns-sd._udp) that avahi would add: nothing
 * of ours browses it, and every record a peer announces (3 times, each
 * with its own jitter) is one every peer on the link caches and compares
 * with all the records it heard in the last 0.5 s (avahi's duplicate-answer
 * history): at party scale that work grows with the square of the records
 * heard. `avahi-browse _lanspread._udp` still lists us; `avahi-browse -a`
 * no longer enumerates the type. */
static int add_service_records(ls_discovery_t *d, const char *fqdn)
{
    char svc[AVAHI_DOMAIN_NAME_MAX], type[AVAHI_DOMAIN_NAME_MAX];
    AvahiRecord *srv;
    int rc = service_names(d, svc, type, sizeof(svc));

    if (rc == 0)
        rc = add_record(d, new_ptr(type, svc), 0);
    if (rc == 0) {
        srv = avahi_record_new_full(svc, AVAHI_DNS_CLASS_IN, AVAHI_DNS_TYPE_SRV,
                                    AVAHI_DEFAULT_TTL_HOST_NAME);
        if (srv && !(srv->data.srv.name = avahi_normalize_name_strdup(fqdn))) {
            avahi_record_unref(srv);
            srv = NULL;
        }
        if (srv)
            srv->data.srv.port = d->port;
        rc = add_record(d, srv, PUBLISH_UNIQUE | AVAHI_PUBLISH_NO_ANNOUNCE);
    }
    if (rc == 0)
        rc = add_record(d, new_txt(d, svc), PUBLISH_UNIQUE | AVAHI_PUBLISH_NO_ANNOUNCE);
    return rc;
}

static int fill_group(ls_discovery_t *d)
{
    char fqdn[AVAHI_LABEL_MAX + 8];
    int rc;

    snprintf(fqdn, sizeof(fqdn), "%s.local", d->host_name);
    rc = add_address_records(d, fqdn);
    if (rc == 0)
        rc = add_service_records(d, fqdn);
    if (rc == 0)
        rc = avahi_s_entry_group_commit(d->group);
    return rc;
}

/* Replaces the TXT record in place (announced again, not probed). */
static int update_txt(ls_discovery_t *d)
{
    char svc[AVAHI_DOMAIN_NAME_MAX];
    int rc = avahi_service_name_join(svc, sizeof(svc), d->service_name, LS_DISCOVERY_SERVICE_TYPE,
                                     "local");
    if (rc == 0)
        rc = add_record(d, new_txt(d, svc), PUBLISH_UNIQUE | AVAHI_PUBLISH_UPDATE);
    return rc;
}

static void group_cb(AvahiServer *server, AvahiSEntryGroup *g, AvahiEntryGroupState state,
                     void *userdata);

/* (Re)registers our address records and service from scratch. */
static void publish(ls_discovery_t *d)
{
    int rc;

    if (!d->server || avahi_server_get_state(d->server) != AVAHI_SERVER_RUNNING)
        return; /* the server callback publishes once it is running */
    if (!d->group)
        d->group = avahi_s_entry_group_new(d->server, group_cb, d);
    else
        avahi_s_entry_group_reset(d->group);
    if (!d->group) {
        ls_error(MOD, "cannot create entry group: %s",
                 avahi_strerror(avahi_server_errno(d->server)));
        return;
    }
    rc = fill_group(d);
    if (rc < 0) {
        ls_error(MOD, "cannot publish '%s': %s", d->service_name, avahi_strerror(rc));
        avahi_s_entry_group_reset(d->group);
    }
}

static void rename_after_collision(ls_discovery_t *d)
{
    char *service = avahi_alternative_service_name(d->service_name);
    char *host = avahi_alternative_host_name(d->host_name);

    if (service && host) {
        ls_warn(MOD, "name collision: now '%s' on host %s", service, host);
        snprintf(d->service_name, sizeof(d->service_name), "%s", service);
        ls_discovery_peer_key(&d->own_key, d->service_name);
        snprintf(d->host_name, sizeof(d->host_name), "%s", host);
    }
    avahi_free(service);
    avahi_free(host);
}

static void group_cb(AvahiServer *server, AvahiSEntryGroup *g, AvahiEntryGroupState state,
                     void *userdata)
{
    ls_discovery_t *d = userdata;

    if (state == AVAHI_ENTRY_GROUP_ESTABLISHED) {
        ls_info(MOD, "announcing '%s' on port %u", d->service_name, (unsigned)d->port);
    } else if (state == AVAHI_ENTRY_GROUP_COLLISION) {
        rename_after_collision(d);
        publish(d);
    } else if (state == AVAHI_ENTRY_GROUP_FAILURE) {
        ls_error(MOD, "publishing failed: %s", avahi_strerror(avahi_server_errno(server)));
    }
}

static void server_cb(AvahiServer *server, AvahiServerState state, void *userdata)
{
    ls_discovery_t *d = userdata;

    /* The first call comes from inside avahi_server_new(), before it returns. */
    d->server = server;
    if (state == AVAHI_SERVER_RUNNING) {
        publish(d);
    } else if (state == AVAHI_SERVER_COLLISION) {
        char *host = avahi_alternative_host_name(avahi_server_get_host_name(server));
        if (host) {
            ls_warn(MOD, "host name collision, now %s", host);
            avahi_server_set_host_name(server, host);
        }
        avahi_free(host);
    } else if (state == AVAHI_SERVER_REGISTERING && d->group) {
        avahi_s_entry_group_reset(d->group);
    } else if (state == AVAHI_SERVER_FAILURE) {
        ls_error(MOD, "mDNS responder failed: %s", avahi_strerror(avahi_server_errno(server)));
    }
}

/* ---- peers: found / lost reports ---- */

static void report_found(ls_discovery_t *d, const ls_discovered_peer_t *p)
{
    if (d->is_stopping || !d->found_cb)
        return;
    d->callback_depth++;
    d->found_cb(p, d->userdata);
    d->callback_depth--;
}

static void report_lost(ls_discovery_t *d, const char *peer_id)
{
    if (d->is_stopping || !d->lost_cb)
        return;
    d->callback_depth++;
    d->lost_cb(peer_id, d->userdata);
    d->callback_depth--;
}

static known_peer_t **find_peer(ls_discovery_t *d, const char *peer_id)
{
    known_peer_t **pp = &d->peers;
    while (*pp && strcmp((*pp)->info.peer_id, peer_id) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Detaches a service from the peer it resolved to; the peer is lost when
 * no service of it is left. */
static void unbind_service(service_t *s)
{
    ls_discovery_t *d = s->d;
    known_peer_t **pp, *p;
    char peer_id[LS_SHA256_HEX_LEN + 1];

    if (!s->peer_id[0])
        return;
    memcpy(peer_id, s->peer_id, sizeof(peer_id));
    s->peer_id[0] = '\0';
    pp = find_peer(d, peer_id);
    p = *pp;
    if (!p || --p->service_count > 0)
        return;
    *pp = p->next;
    free(p);
    ls_info(MOD, "peer %.16s lost", peer_id);
    report_lost(d, peer_id);
}

static bool is_same_report(const ls_discovered_peer_t *a, const ls_discovered_peer_t *b)
{
    return a->library_rev == b->library_rev && strcmp(a->digest, b->digest) == 0 &&
           strcmp(a->address, b->address) == 0 && a->protocol_version == b->protocol_version;
}

static void bind_service(service_t *s, const ls_discovered_peer_t *info)
{
    ls_discovery_t *d = s->d;
    known_peer_t *p;
    bool is_changed;

    if (s->peer_id[0] && strcmp(s->peer_id, info->peer_id) != 0)
        unbind_service(s);
    p = *find_peer(d, info->peer_id);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return;
        p->next = d->peers;
        d->peers = p;
    }
    /* A new peer compares unequal: its info is all zero. */
    is_changed = !is_same_report(&p->info, info);
    p->info = *info;
    if (!s->peer_id[0]) {
        memcpy(s->peer_id, info->peer_id, sizeof(s->peer_id));
        p->service_count++;
    }
    if (!is_changed)
        return;
    ls_info(MOD, "peer %.16s at %s rev %llu", info->peer_id, info->address,
            (unsigned long long)info->library_rev);
    report_found(d, &p->info);
}

/* ---- browsing and resolving ---- */

static void warn_version_once(ls_discovery_t *d, const service_t *s, const ls_discovery_txt_t *txt)
{
    const char *key = txt->peer_id[0] ? txt->peer_id : s->name;

    for (size_t i = 0; i < d->warned_count; i++) {
        if (strncmp(d->warned[i], key, LS_SHA256_HEX_LEN) == 0)
            return;
    }
    if (d->warned_count == WARNED_MAX)
        return; /* bounded: beyond this, mismatching peers are ignored silently */
    snprintf(d->warned[d->warned_count++], sizeof(d->warned[0]), "%s", key);
    ls_warn(MOD, "ignoring peer %s ('%s'): protocol version %u, we speak %d", key, s->name,
            (unsigned)txt->protocol_version, (unsigned)d->txt.protocol_version);
}

/* Flattens avahi's string list back into TXT wire format for the parser. */
static int serialize_txt(AvahiStringList *txt, uint8_t *buf, size_t cap, size_t *len)
{
    size_t need = 0;
    for (AvahiStringList *l = txt; l; l = avahi_string_list_get_next(l)) {
        need += 1 + avahi_string_list_get_size(l);
        if (need > cap)
            return LS_ETXT;
    }
    *len = avahi_string_list_serialize(txt, buf, cap);
    return 0;
}

static int decode_txt(service_t *s, AvahiStringList *list, ls_discovery_txt_t *txt)
{
    uint8_t wire[LS_DISCOVERY_TXT_MAX];
    size_t len = 0;
    int rc = serialize_txt(list, wire, sizeof(wire), &len);

    if (rc == 0)
        rc = ls_discovery_txt_parse(wire, len, txt);
    /* A peer started with another version for tests speaks only to its own. */
    if (rc == 0 && txt->protocol_version != s->d->txt.protocol_version)
        rc = LS_EVERSION;
    if (rc == LS_EVERSION) {
        if (strcmp(txt->peer_id, s->d->txt.peer_id) != 0)
            warn_version_once(s->d, s, txt);
    } else if (rc < 0 && !s->is_malformed_logged) {
        s->is_malformed_logged = true;
        ls_warn(MOD, "ignoring service '%s': %s", s->name, ls_strerror(rc));
    }
    return rc;
}

static void on_resolved(service_t *s, AvahiIfIndex ifindex, const AvahiAddress *a, uint16_t port,
                        AvahiStringList *list)
{
    ls_discovery_t *d = s->d;
    ls_discovery_txt_t txt = {0};
    ls_discovered_peer_t info = {0};
    char ip[AVAHI_ADDRESS_STR_MAX];

    if (decode_txt(s, list, &txt) < 0 || !a || a->proto != AVAHI_PROTO_INET || port == 0) {
        unbind_service(s);
        return;
    }
    if (strcmp(txt.peer_id, d->txt.peer_id) == 0)
        return; /* our own announcement */
    if (!ls_discovery_is_on_link(a->data.ipv4.address, (unsigned)ifindex, d->addresses,
                                 d->address_count)) {
        avahi_address_snprint(ip, sizeof(ip), a);
        if (!s->is_malformed_logged)
            ls_warn(MOD, "ignoring service '%s': %s is not on the link it was heard on", s->name,
                    ip);
        s->is_malformed_logged = true;
        unbind_service(s);
        return;
    }
    s->is_malformed_logged = false;
    memcpy(info.peer_id, txt.peer_id, sizeof(info.peer_id));
    memcpy(info.digest, txt.digest, sizeof(info.digest));
    info.protocol_version = txt.protocol_version;
    info.library_rev = txt.library_rev;
    avahi_address_snprint(ip, sizeof(ip), a);
    snprintf(info.address, sizeof(info.address), "%s:%u", ip, (unsigned)port);
    if (!if_indextoname((unsigned)ifindex, info.interface))
        info.interface[0] = '\0';
    bind_service(s, &info);
}

static uint64_t now_ms(const ls_discovery_t *d)
{
    return uv_now(d->loop);
}

static void resolve_cb(AvahiSServiceResolver *r, AvahiIfIndex ifindex, AvahiProtocol protocol,
                       AvahiResolverEvent event, const char *name, const char *type,
                       const char *domain, const char *host_name, const AvahiAddress *a,
                       uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
                       void *userdata)
{
    service_t *s = userdata;

    if (event == AVAHI_RESOLVER_FOUND) {
        s->retry_ms = 0;
        s->is_deferred = false; /* the cache had it: nothing left to ask */
        s->is_cache_look = false;
        on_resolved(s, ifindex, a, port, txt);
        if (s->d->is_resolve_once && s->resolver) {
            /* Allowed from its own callback (as below); never retried. Also
             * when it bound no peer (malformed, another version, off-link):
             * a resolver left running re-asks at 1, 3, 7 ... s, each query
             * listing its answers, which every peer on the link compares
             * with all the known answers it heard in the last 0.7 s. */
            free_resolver(s);
            s->retry_at_ms = UINT64_MAX;
        }
        return;
    }
    /* Its records expired or never came: the peer is gone from this link
     * unless a later resolution finds it again. Freeing the resolver here is
     * allowed by avahi; a new one is tried with backoff, since the browser
     * keeps the service (PTR records live 75 minutes) and would not tell us
     * if it came back. */
    free_resolver(s);
    s->retry_ms = s->retry_ms ? s->retry_ms * 2 : RESOLVE_RETRY_MIN_MS;
    if (s->retry_ms > RESOLVE_RETRY_MAX_MS)
        s->retry_ms = RESOLVE_RETRY_MAX_MS;
    s->retry_at_ms = s->is_deferred ? UINT64_MAX : now_ms(s->d) + s->retry_ms;
    s->is_cache_look = false;
    unbind_service(s);
}

static void start_resolver(service_t *s)
{
    s->resolver = avahi_s_service_resolver_new(s->d->server, s->ifindex, s->protocol, s->name,
                                               LS_DISCOVERY_SERVICE_TYPE, s->domain,
                                               AVAHI_PROTO_INET, 0, resolve_cb, s);
    if (s->resolver) {
        s->d->resolvers_running++;
    } else {
        s->retry_ms = RESOLVE_RETRY_MIN_MS;
        s->retry_at_ms = now_ms(s->d) + s->retry_ms;
    }
}

/* Allowed from the resolver's own callback (avahi's rule). */
static void free_resolver(service_t *s)
{
    if (!s->resolver)
        return;
    avahi_s_service_resolver_free(s->resolver);
    s->resolver = NULL;
    s->d->resolvers_running--;
}

static service_t **find_service(ls_discovery_t *d, AvahiIfIndex ifindex, AvahiProtocol protocol,
                                const char *name, const char *domain)
{
    service_t **sp = &d->services;
    while (*sp && ((*sp)->ifindex != ifindex || (*sp)->protocol != protocol ||
                   strcmp((*sp)->name, name) != 0 || strcmp((*sp)->domain, domain) != 0))
        sp = &(*sp)->next;
    return sp;
}

static void free_service(service_t *s)
{
    free_resolver(s);
    free(s->domain);
    free(s);
}

void ls_discovery_peer_key(ls_discovery_peer_key_t *key, const char *name)
{
    if (!ls_discovery_id_prefix(name, key->id))
        key->id[0] = '\0';
    key->name = name;
}

bool ls_discovery_same_key(const ls_discovery_peer_key_t *a, const ls_discovery_peer_key_t *b)
{
    if (a->id[0] || b->id[0])
        return memcmp(a->id, b->id, sizeof(a->id)) == 0;
    return strcmp(a->name, b->name) == 0;
}

bool ls_discovery_same_peer(const char *a, const char *b)
{
    ls_discovery_peer_key_t ka, kb;
    ls_discovery_peer_key(&ka, a);
    ls_discovery_peer_key(&kb, b);
    return ls_discovery_same_key(&ka, &kb);
}

bool ls_discovery_is_party_peer(const ls_discovery_peer_key_t *key,
                                const ls_discovery_peer_key_t *own,
                                const ls_discovery_peer_key_t *const *others, size_t count)
{
    if (ls_discovery_same_key(key, own))
        return false;
    for (size_t i = 0; i < count; i++)
        if (others[i] != key && ls_discovery_same_key(others[i], key))
            return false;
    return true;
}

/* ls_discovery_is_party_peer for s (tracked, or leaving d->services)
 * against the other tracked services: one pass over at most
 * LS_DISCOVERY_SERVICES_MAX stored keys, per service found or gone. */
static bool is_party_peer(const ls_discovery_t *d, const service_t *s)
{
    const ls_discovery_peer_key_t *others[LS_DISCOVERY_SERVICES_MAX];
    size_t count = 0;
    for (const service_t *o = d->services; o && count < LS_DISCOVERY_SERVICES_MAX; o = o->next)
        if (o != s)
            others[count++] = &o->key;
    return ls_discovery_is_party_peer(&s->key, &d->own_key, others, count);
}

/* Makes room in a full table: drops the oldest service (the list is
 * newest first) not bound to a peer. One pass over at most
 * LS_DISCOVERY_SERVICES_MAX services, only when full. */
static bool evict_unbound(ls_discovery_t *d)
{
    service_t **victim = NULL;
    for (service_t **sp = &d->services; *sp; sp = &(*sp)->next)
        if (!(*sp)->peer_id[0])
            victim = sp;
    if (!victim)
        return false;
    service_t *s = *victim;
    *victim = s->next;
    d->service_count--;
    d->party_count -= is_party_peer(d, s);
    free_service(s);
    return true;
}

/* A deferred service is resolved from avahi's cache when it can be, at no
 * cost on the wire: a peer's announcements (at its start, +1 s and +3 s)
 * carry its SRV, TXT and A records, and avahi caches them whether or not
 * anybody asked. A resolver answers from the cache at once, and its record
 * browsers post their first queries only AVAHI_QUERY_DEFER (100 ms) after
 * they start; freed before that, they withdraw them. So a look starts a
 * resolver and, if it has not answered by the next tick (CACHE_TICK_MS,
 * under 100 ms), frees it: a look that finds nothing costs nothing. The
 * first look comes CACHE_SETTLE_MS after the service was found (each record
 * of an announcement has its own 0-250 ms jitter: the PTR that made the
 * browser report the service may come first), the others
 * CACHE_RETRY_MS apart, to catch the repeats. What the cache never held is
 * left to ls_discovery_resolve_unknown. */
#define CACHE_TICK_MS 50
#define CACHE_SETTLE_MS 300
#define CACHE_RETRY_MS 1000
#define CACHE_TRIES_MAX 3

static void cache_look_cb(uv_timer_t *t)
{
    ls_discovery_t *d = t->data;
    uint64_t now = now_ms(d);
    bool is_pending = false;

    for (service_t *s = d->services; s; s = s->next) {
        if (s->is_cache_look && s->resolver) {
            /* not in the cache: withdraw its queries before they go */
            free_resolver(s);
            s->is_cache_look = false;
            s->cache_at_ms = s->cache_tries < CACHE_TRIES_MAX ? now + CACHE_RETRY_MS : 0;
        }
        if (!s->is_deferred || s->resolver || !s->cache_at_ms)
            continue;
        is_pending = true;
        if (now < s->cache_at_ms)
            continue;
        s->cache_tries++;
        s->is_cache_look = true;
        start_resolver(s);
        if (!s->resolver) { /* still deferred: not for retry_resolvers */
            s->is_cache_look = false;
            s->retry_at_ms = UINT64_MAX;
        }
    }
    if (!is_pending)
        uv_timer_stop(t);
}

static void add_service(ls_discovery_t *d, AvahiIfIndex ifindex, AvahiProtocol protocol,
                        const char *name, const char *domain)
{
    service_t *s;

    if (*find_service(d, ifindex, protocol, name, domain) || strlen(name) >= sizeof(s->name))
        return;
    if (d->service_count >= LS_DISCOVERY_SERVICES_MAX && !evict_unbound(d))
        return; /* every tracked service is a found peer */
    s = calloc(1, sizeof(*s));
    if (!s || !(s->domain = strdup(domain))) {
        free(s);
        return;
    }
    s->d = d;
    s->ifindex = ifindex;
    s->protocol = protocol;
    memcpy(s->name, name, strlen(name) + 1);
    ls_discovery_peer_key(&s->key, s->name);
    s->next = d->services;
    d->services = s;
    d->service_count++;
    s->found_ms = now_ms(d);
    if (is_party_peer(d, s)) {
        d->party_count++;
        if (d->services_cb)
            d->services_cb(d->party_count, d->userdata);
    }
    /* Our own announcement resolves to ourselves: never worth a resolver
     * (never one of the resolve_first, nor retried by the maintenance tick:
     * resolved, it binds no peer, so it never ended and kept querying for
     * our own records with them as known answers). */
    if (strcmp(name, d->service_name) == 0) {
        s->retry_at_ms = UINT64_MAX;
        return;
    }
    if (d->resolve_first && d->resolves_started >= d->resolve_first) {
        s->is_deferred = true;
        s->retry_at_ms = UINT64_MAX; /* not by retry_resolvers */
        s->cache_at_ms = s->found_ms + CACHE_SETTLE_MS;
        if (!uv_is_active((uv_handle_t *)&d->cache_look))
            uv_timer_start(&d->cache_look, cache_look_cb, CACHE_TICK_MS, CACHE_TICK_MS);
        return;
    }
    d->resolves_started++;
    start_resolver(s);
}

/* avahi's alternative names only append to make_names' "[8 hex]". Each
 * '[' looks at most LS_DISCOVERY_ID_PREFIX_LEN + 1 characters ahead (a
 * NUL stops it: never a hex digit nor ']'), so a name of n characters
 * costs O(n) however many '[' it holds. */
const char *ls_discovery_id_prefix(const char *name, char out[LS_DISCOVERY_ID_PREFIX_LEN + 1])
{
    const char *found = NULL;
    for (const char *p = strchr(name, '['); p; p = strchr(p + 1, '[')) {
        size_t i = 1;
        while (i <= LS_DISCOVERY_ID_PREFIX_LEN && isxdigit((unsigned char)p[i]))
            i++;
        if (i == LS_DISCOVERY_ID_PREFIX_LEN + 1 && p[i] == ']')
            found = p + 1; /* the last one: a peer's own name may hold brackets */
    }
    if (!found)
        return NULL;
    for (size_t i = 0; i < LS_DISCOVERY_ID_PREFIX_LEN; i++)
        out[i] = (char)tolower((unsigned char)found[i]);
    out[LS_DISCOVERY_ID_PREFIX_LEN] = '\0';
    return out;
}

size_t ls_discovery_resolve_unknown(ls_discovery_t *d, uint64_t age_ms,
                                    bool (*is_known)(const char *id_prefix, void *userdata),
                                    void *userdata, size_t max)
{
    size_t started = 0;
    uint64_t now = now_ms(d);
    for (service_t *s = d->services; s && started < max; s = s->next) {
        if (!s->is_deferred || s->resolver || now - s->found_ms < age_ms)
            continue;
        if (s->key.id[0] && is_known(s->key.id, userdata))
            continue; /* linked, or a target already: checked again next time */
        s->is_deferred = false;
        s->cache_at_ms = 0;
        s->retry_at_ms = 0;
        start_resolver(s);
        started++;
    }
    return started;
}

static void remove_service(ls_discovery_t *d, AvahiIfIndex ifindex, AvahiProtocol protocol,
                           const char *name, const char *domain)
{
    service_t **sp = find_service(d, ifindex, protocol, name, domain);
    service_t *s = *sp;

    if (!s)
        return;
    *sp = s->next;
    d->service_count--;
    d->party_count -= is_party_peer(d, s);
    unbind_service(s);
    free_service(s);
}

static void browse_cb(AvahiSServiceBrowser *b, AvahiIfIndex ifindex, AvahiProtocol protocol,
                      AvahiBrowserEvent event, const char *name, const char *type,
                      const char *domain, AvahiLookupResultFlags flags, void *userdata)
{
    ls_discovery_t *d = userdata;

    if (event == AVAHI_BROWSER_NEW)
        add_service(d, ifindex, protocol, name, domain);
    else if (event == AVAHI_BROWSER_REMOVE && !d->is_repair_done)
        remove_service(d, ifindex, protocol, name, domain);
    /* The repair browse only adds: while we did not listen (is_listening),
     * avahi heard other peers' queries for records it holds but not their
     * answers, and after four such (RFC 6762 10.5) it expires the records
     * of live peers; one due while this browser lives would read as a
     * loss. Goodbyes are not watched outside the first browse anyway. */
    else if (event == AVAHI_BROWSER_FAILURE)
        ls_error(MOD, "browsing failed: %s", avahi_strerror(avahi_server_errno(d->server)));
}

static void retry_resolvers(ls_discovery_t *d)
{
    uint64_t now = now_ms(d);
    for (service_t *s = d->services; s; s = s->next) {
        if (!s->resolver && s->retry_at_ms <= now)
            start_resolver(s);
    }
}

static void maintenance_cb(uv_timer_t *t)
{
    ls_discovery_t *d = t->data;
    refresh_addresses(d);
    retry_resolvers(d);
}

/* ---- lifecycle ---- */

static void avahi_log_cb(AvahiLogLevel level, const char *txt)
{
    /* Sharing port 5353 with other stacks is by design here (see top). */
    if (level == AVAHI_LOG_WARN && strstr(txt, "another IPv4 mDNS stack"))
        level = AVAHI_LOG_INFO;
    if (level == AVAHI_LOG_ERROR)
        ls_error(MOD, "avahi: %s", txt);
    else if (level == AVAHI_LOG_WARN)
        ls_warn(MOD, "avahi: %s", txt);
    else
        ls_debug(MOD, "avahi: %s", txt);
}

static void handle_closed_cb(uv_handle_t *h)
{
    ls_discovery_t *d = h->data;
    if (--d->open_handles == 0)
        free(d);
}

static void teardown(ls_discovery_t *d)
{
    while (d->services) {
        service_t *s = d->services;
        d->services = s->next;
        free_service(s);
    }
    while (d->peers) {
        known_peer_t *p = d->peers;
        d->peers = p->next;
        free(p);
    }
    if (d->browser)
        avahi_s_service_browser_free(d->browser);
    if (d->group)
        avahi_s_entry_group_free(d->group); /* sends the goodbye */
    if (d->server)
        avahi_server_free(d->server);
    d->browser = NULL;
    d->group = NULL;
    d->server = NULL;
    uv_close((uv_handle_t *)&d->maintenance, handle_closed_cb);
    uv_close((uv_handle_t *)&d->deferred_stop, handle_closed_cb);
    uv_close((uv_handle_t *)&d->browse_end, handle_closed_cb);
    uv_close((uv_handle_t *)&d->cache_look, handle_closed_cb);
}

/* With browse_ms set: a multicast packet lost in the start-up burst (two
 * peers that then miss each other) is repaired by one late browse, only
 * long enough for its first query. That query lists every peer we know as
 * a known answer, so only the missed ones answer; each other peer compares
 * those answers with the ones it heard in the last 0.7 s, so the late
 * browses of N peers are spread over about N seconds (O(N^3) in all, not
 * O(N^4)). */
#define REPAIR_AFTER_MS 5000
#define REPAIR_SPREAD_PER_PEER_MS 1000
#define REPAIR_BROWSE_MS 900

static uint64_t repair_delay_ms(const ls_discovery_t *d)
{
    uint32_t r = 0;
    uint64_t spread = (uint64_t)(d->service_count + 1) * REPAIR_SPREAD_PER_PEER_MS;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)uv_hrtime(); /* a spread, not a secret */
    return REPAIR_AFTER_MS + r % spread;
}

/* The services the browser reported, our own aside. */
static size_t services_seen(const ls_discovery_t *d)
{
    size_t n = 0;
    for (const service_t *s = d->services; s; s = s->next)
        n += strcmp(s->name, d->service_name) != 0;
    return n;
}

/* Resolvers already started keep going; the announcement stays. */
static void browse_end_cb(uv_timer_t *t)
{
    ls_discovery_t *d = t->data;
    if (d->is_stopping)
        return;
    if (d->browser) {
        avahi_s_service_browser_free(d->browser);
        d->browser = NULL;
        ls_debug(MOD, "browsing stopped");
        if (!d->is_repair_done)
            uv_timer_start(&d->browse_end, browse_end_cb, repair_delay_ms(d), 0);
        return;
    }
    d->is_repair_done = true;
    if (d->is_repair_needed && !d->is_repair_needed(services_seen(d), d->userdata)) {
        ls_debug(MOD, "repair browse skipped: enough peers known");
        return;
    }
    if (start_browser(d) == 0)
        uv_timer_start(&d->browse_end, browse_end_cb, REPAIR_BROWSE_MS, 0);
}

static void deferred_stop_cb(uv_timer_t *t)
{
    teardown(t->data);
}

static AvahiStringList *interface_list(const ls_discovery_t *d)
{
    AvahiStringList *l = NULL;
    for (size_t i = 0; i < d->interface_count; i++)
        l = avahi_string_list_add(l, d->interfaces[i]);
    return l;
}

/* The largest mDNS packet looked at: avahi's own limit (AVAHI_DNS_PACKET_SIZE_MAX) is 9000. */
#define PEEK_MAX 9216
#define DNS_HEADER_LEN 12
#define DNS_FLAG_QR 0x80 /* in the header's third byte: a response */
#define MDNS_PORT 5353

/* The interface a datagram came in on (avahi's socket has IP_PKTINFO on);
 * 0 when the kernel did not say. */
static unsigned arrival_ifindex(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            return (unsigned)info.ipi_ifindex;
        }
    }
    return 0;
}

/* Whether an answer heard now can serve us: while the browser, a resolver
 * or a cache look (which reads what the announcements left in the cache)
 * is live. Between them nothing of ours reads avahi's cache, yet avahi
 * would still file every response heard there, comparing each record with
 * the ~N cached ones of our service type and the ~N others heard in the
 * last 0.5 s (avahi_cache_update, avahi_response_scheduler_incoming): at a
 * party's start, when each of N peers announces three times while most
 * others have long finished browsing, that was the bulk of avahi's part of
 * a start's CPU. What a later resolver or the repair browse needs it asks
 * for itself. Queries still reach avahi: answering them is our
 * announcement. */
static bool is_listening(ls_discovery_t *d)
{
    return d->browser || d->resolvers_running > 0 ||
           uv_is_active((const uv_handle_t *)&d->cache_look);
}

/* Takes the datagram avahi would have read; false if it is still there. */
static bool consume(int fd)
{
    uint8_t none;
    return recv(fd, &none, 0, MSG_DONTWAIT | MSG_TRUNC) >= 0;
}

/* ls_avahi_poll_t.is_for_avahi: a response heard while nothing of ours
 * listens (is_listening), or repeated within the window of repeat.h, is
 * dropped here; queries (noted, see repeat.h), anything not an IPv4
 * datagram from the mDNS port (avahi's netlink socket among them) and
 * anything we cannot judge go to avahi as before. */
static bool is_news(int fd, void *userdata)
{
    ls_discovery_t *d = userdata;
    uint8_t packet[PEEK_MAX];
    struct sockaddr_in from;
    union {
        struct cmsghdr align;
        uint8_t bytes[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int)) + 64];
    } control;
    struct iovec iov = {.iov_base = packet, .iov_len = sizeof packet};
    struct msghdr msg = {.msg_name = &from,
                         .msg_namelen = sizeof from,
                         .msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    memset(&from, 0, sizeof from);
    ssize_t n = recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
    if (n < DNS_HEADER_LEN || (size_t)n > sizeof packet || msg.msg_namelen != sizeof from ||
        from.sin_family != AF_INET || from.sin_port != htons(MDNS_PORT))
        return true;
    if (!(packet[2] & DNS_FLAG_QR)) {
        ls__repeat_query_heard(&d->repeats, now_ms(d));
        return true;
    }
    /* Unheard, it is not noted in the repeat table: avahi never saw it. */
    bool is_unheard = !is_listening(d);
    if (!is_unheard && !ls__repeat_seen(&d->repeats, (const struct sockaddr *)&from, sizeof from,
                                        arrival_ifindex(&msg), packet, (size_t)n, now_ms(d)))
        return true;
    if (!consume(fd))
        return true; /* not consumed after all: avahi reads it */
    if (is_unheard)
        d->unheard_dropped++;
    else
        d->repeats_dropped++;
    return false;
}

static int start_server(ls_discovery_t *d)
{
    AvahiServer *server;
    AvahiServerConfig sc;
    int err = 0;

    avahi_server_config_init(&sc);
    sc.host_name = avahi_strdup(d->host_name);
    sc.use_ipv4 = 1;
    sc.use_ipv6 = 0;
    sc.publish_hinfo = 0;
    sc.publish_addresses = 0; /* we publish our own, without reverse records */
    sc.publish_workstation = 0;
    sc.publish_domain = 0;
    sc.disallow_other_stacks = 0; /* share port 5353 with other responders */
    sc.enable_wide_area = 0;
    sc.allow_interfaces = interface_list(d);
    server = avahi_server_new(&d->poll.api, &sc, server_cb, d, &err);
    avahi_server_config_free(&sc);
    /* server_cb may have stored a server that avahi then freed on failure. */
    d->server = server;
    if (!server) {
        ls_error(MOD, "cannot start the mDNS responder: %s", avahi_strerror(err));
        return LS_EMDNS;
    }
    return start_browser(d);
}

static int start_browser(ls_discovery_t *d)
{
    d->browser = avahi_s_service_browser_new(d->server, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET,
                                             LS_DISCOVERY_SERVICE_TYPE, NULL, 0, browse_cb, d);
    if (!d->browser) {
        ls_error(MOD, "cannot browse: %s", avahi_strerror(avahi_server_errno(d->server)));
        return LS_EMDNS;
    }
    return 0;
}

int ls_discovery_start(uv_loop_t *loop, const ls_discovery_config_t *cfg, ls_discovery_t **out)
{
    ls_discovery_t *d;
    int rc = check_config(cfg);

    *out = NULL;
    if (rc < 0 || !loop)
        return LS_EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return LS_ENOMEM;
    rc = copy_config(d, cfg);
    if (rc < 0) {
        free(d);
        return rc;
    }
    d->loop = loop;
    ls_avahi_poll_init(&d->poll, loop);
    ls__repeat_init(&d->repeats);
    d->poll.is_for_avahi = is_news;
    d->poll.filter_userdata = d;
    uv_timer_init(loop, &d->maintenance);
    uv_timer_init(loop, &d->deferred_stop);
    uv_timer_init(loop, &d->browse_end);
    uv_timer_init(loop, &d->cache_look);
    d->maintenance.data = d;
    d->deferred_stop.data = d;
    d->browse_end.data = d;
    d->cache_look.data = d;
    d->open_handles = 4;
    d->browse_ms = cfg->browse_ms;
    d->is_repair_needed = cfg->is_repair_needed;
    d->services_cb = cfg->services_cb;
    d->resolve_first = cfg->resolve_first;
    d->is_resolve_once = cfg->is_resolve_once;
    avahi_set_log_function(avahi_log_cb);
    d->address_count = collect_addresses(d, d->addresses);
    rc = start_server(d);
    if (rc < 0) {
        teardown(d); /* handles close on the next loop iteration */
        return rc;
    }
    uv_timer_start(&d->maintenance, maintenance_cb, MAINTENANCE_MS, MAINTENANCE_MS);
    if (d->browse_ms)
        uv_timer_start(&d->browse_end, browse_end_cb, d->browse_ms, 0);
    *out = d;
    return 0;
}

int ls_discovery_update(ls_discovery_t *d, uint64_t library_rev, const char *digest)
{
    int rc;

    if (!d || !is_hex64(digest))
        return LS_EINVAL;
    if (d->is_stopping)
        return LS_ESTATE;
    d->txt.library_rev = library_rev;
    lowercase_copy(d->txt.digest, digest, LS_SHA256_HEX_LEN);
    if (!d->group || avahi_s_entry_group_is_empty(d->group))
        return 0; /* published with the new values once the server runs */
    rc = update_txt(d);
    if (rc < 0) {
        ls_warn(MOD, "TXT update failed (%s); re-publishing", avahi_strerror(rc));
        publish(d);
    }
    return 0;
}

uint64_t ls_discovery_repeats_dropped(const ls_discovery_t *d)
{
    return d->repeats_dropped;
}

uint64_t ls_discovery_unheard_dropped(const ls_discovery_t *d)
{
    return d->unheard_dropped;
}

void ls_discovery_stop(ls_discovery_t *d)
{
    if (!d || d->is_stopping)
        return;
    d->is_stopping = true;
    ls_debug(MOD, "responses not handed to avahi: %llu repeated, %llu while not listening",
             (unsigned long long)d->repeats_dropped, (unsigned long long)d->unheard_dropped);
    if (d->callback_depth > 0) {
        /* We are inside avahi's call stack: free it from the loop instead. */
        uv_timer_start(&d->deferred_stop, deferred_stop_cb, 0, 0);
        return;
    }
    teardown(d);
}
