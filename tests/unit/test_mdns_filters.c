/* What mDNS answers may make a peer do, as pure decisions: dial only
 * on-link unicast addresses of the interface an answer came on, keep a
 * bounded number of dial targets, and act on TXT or address changes at
 * most once per interval. */
#include "testutil.h"

#include "lanspread/discovery.h"
#include "lanspread/peer.h"
#include "peer/link.h"
#include "peer/mdns.h"
#include "peer/relay.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static uint32_t ip(const char *text)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, text, &a), 1);
    return a.s_addr;
}

static void only_on_link_unicast_addresses_of_that_interface_are_dialled(void **state)
{
    (void)state;
    const ls_discovery_prefix_t ours[] = {
        {.ifindex = 2, .address = ip("198.18.0.1"), .netmask = ip("255.255.255.0")},
        {.ifindex = 3, .address = ip("198.19.4.9"), .netmask = ip("255.255.0.0")},
        {.ifindex = 4, .address = ip("198.18.9.9"), .netmask = ip("255.255.255.255")},
        {.ifindex = 1, .address = ip("127.0.0.1"), .netmask = ip("255.0.0.0")},
    };
    size_t n = sizeof ours / sizeof ours[0];
    assert_true(ls_discovery_is_on_link(ip("198.18.0.7"), 2, ours, n));
    assert_true(ls_discovery_is_on_link(ip("198.18.0.1"), 2, ours, n)); /* a peer on this host */
    assert_true(ls_discovery_is_on_link(ip("198.19.200.1"), 3, ours, n));
    /* another subnet, or the right subnet heard on another interface */
    assert_false(ls_discovery_is_on_link(ip("198.18.1.7"), 2, ours, n));
    assert_false(ls_discovery_is_on_link(ip("198.18.0.7"), 3, ours, n));
    assert_false(ls_discovery_is_on_link(ip("198.18.0.7"), 9, ours, n));
    /* loopback, unspecified, multicast, broadcast: never */
    assert_false(ls_discovery_is_on_link(ip("127.0.0.1"), 2, ours, n));
    assert_false(ls_discovery_is_on_link(ip("127.0.0.2"), 1, ours, n)); /* even "on" lo */
    assert_false(ls_discovery_is_on_link(ip("0.0.0.0"), 2, ours, n));
    assert_false(ls_discovery_is_on_link(ip("224.0.0.251"), 2, ours, n));
    assert_false(ls_discovery_is_on_link(ip("255.255.255.255"), 2, ours, n));
    assert_false(ls_discovery_is_on_link(ip("198.18.0.255"), 2, ours, n));
    /* a /32 interface has no neighbours */
    assert_false(ls_discovery_is_on_link(ip("198.18.9.10"), 4, ours, n));
    assert_false(ls_discovery_is_on_link(ip("198.18.0.7"), 2, NULL, 0));
}

/* A peer's `peers` list may name any address: only one on a network of one
 * of our interfaces is dialled, whichever interface. */
static void peers_from_links_are_dialled_only_on_our_networks(void **state)
{
    (void)state;
    const ls_discovery_prefix_t ours[] = {
        {.ifindex = 2, .address = ip("198.18.0.1"), .netmask = ip("255.255.255.0")},
        {.ifindex = 3, .address = ip("10.1.0.5"), .netmask = ip("255.255.0.0")},
        {.ifindex = 4, .address = ip("192.0.2.9"), .netmask = ip("255.255.255.255")},
    };
    size_t n = sizeof ours / sizeof ours[0];
    assert_true(ls_discovery_is_on_any_link(ip("198.18.0.44"), ours, n));
    assert_true(ls_discovery_is_on_any_link(ip("10.1.200.3"), ours, n));
    assert_false(ls_discovery_is_on_any_link(ip("198.18.1.44"), ours, n)); /* off the link */
    assert_false(ls_discovery_is_on_any_link(ip("8.8.8.8"), ours, n));
    assert_false(ls_discovery_is_on_any_link(ip("192.0.2.10"), ours, n)); /* a /32 has none */
    assert_false(ls_discovery_is_on_any_link(ip("127.0.0.1"), ours, n));
    assert_false(ls_discovery_is_on_any_link(ip("198.18.0.255"), ours, n)); /* broadcast */
    assert_false(ls_discovery_is_on_any_link(ip("224.0.0.251"), ours, n));
    assert_false(ls_discovery_is_on_any_link(ip("198.18.0.44"), ours, 0));
}

/* Unresolved services are matched to links by the id prefix of their name. */
static void an_instance_name_gives_its_peer_id_prefix(void **state)
{
    (void)state;
    char out[LS_DISCOVERY_ID_PREFIX_LEN + 1];
    assert_string_equal(ls_discovery_id_prefix("p1 [a344e499]", out), "a344e499");
    assert_string_equal(ls_discovery_id_prefix("p1 [A344E499] #2", out), "a344e499");
    assert_string_equal(ls_discovery_id_prefix("[deadbeef] me [0123abcd]", out), "0123abcd");
    assert_null(ls_discovery_id_prefix("p1", out));
    assert_null(ls_discovery_id_prefix("p1 [a344e49]", out));
    assert_null(ls_discovery_id_prefix("p1 [a344e49x]", out));
    assert_null(ls_discovery_id_prefix("p1 [a344e4990]", out));
    assert_null(ls_discovery_id_prefix("p1 [a344e499", out));
}

static void dial_targets_are_capped_in_all_and_per_host(void **state)
{
    (void)state;
    assert_true(ls__mdns_admits_target(0, 0));
    assert_true(ls__mdns_admits_target(LS_MDNS_TARGETS_MAX - 1, LS_MDNS_TARGETS_PER_HOST_MAX - 1));
    assert_false(ls__mdns_admits_target(LS_MDNS_TARGETS_MAX, 0));
    assert_false(ls__mdns_admits_target(1, LS_MDNS_TARGETS_PER_HOST_MAX));
    assert_true(LS_MDNS_TARGETS_MAX <= 256 && LS_MDNS_TARGETS_PER_HOST_MAX >= 2);
}

static void txt_driven_resyncs_are_rate_limited(void **state)
{
    (void)state;
    const uint64_t t = 1000000;
    assert_true(ls__mdns_may_resync(false, 0, t));
    assert_false(ls__mdns_may_resync(true, t, t));
    assert_false(ls__mdns_may_resync(true, t, t + LS_MDNS_RESYNC_MIN_MS - 1));
    assert_true(ls__mdns_may_resync(true, t, t + LS_MDNS_RESYNC_MIN_MS));
    assert_true(LS_MDNS_RESYNC_MIN_MS >= 1000);
}

/* A full mesh up to LS_PEER_FULL_MESH_MAX other peers, a bound beyond, for
 * the rest of the run; a configured target (or a full mesh asked for)
 * is kept at any size. */
static void links_are_bounded_by_default_only_at_party_size(void **state)
{
    (void)state;
    assert_int_equal(ls__links_auto_target(0, true, 0), 0);
    assert_int_equal(ls__links_auto_target(0, true, LS_PEER_FULL_MESH_MAX), 0);
    assert_int_equal(ls__links_auto_target(0, true, LS_PEER_FULL_MESH_MAX + 1),
                     LS_PEER_LINKS_TARGET_AUTO);
    /* mDNS has not heard the party yet: bounded until it has */
    assert_int_equal(ls__links_auto_target(0, false, 3), LS_PEER_LINKS_TARGET_AUTO);
    assert_int_equal(ls__links_auto_target(LS_PEER_LINKS_FULL_MESH, false, 250), 0);
    assert_int_equal(ls__links_auto_target(5, true, 250), 5);
    assert_int_equal(ls__links_auto_target(5, false, 2), 5);
}

static void the_repair_browse_runs_only_when_mdns_saw_more_than_we_know(void **state)
{
    (void)state;
    assert_true(ls__mdns_is_repair_needed(0, 0)); /* heard nobody: ask once more */
    assert_true(ls__mdns_is_repair_needed(0, 5));
    assert_true(ls__mdns_is_repair_needed(98, 99));
    assert_false(ls__mdns_is_repair_needed(99, 99));
    assert_false(ls__mdns_is_repair_needed(120, 99)); /* peer exchange told of more */
}

static void services_of_one_peer_count_once_in_the_party(void **state)
{
    (void)state;
    /* one peer on two interfaces, or renamed by avahi after a conflict */
    assert_true(ls_discovery_same_peer("p1 [a344e499]", "p1 [a344e499]"));
    assert_true(ls_discovery_same_peer("p1 [a344e499]", "p1 [A344E499] #2"));
    assert_true(ls_discovery_same_peer("renamed [a344e499]", "p1 [a344e499]"));
    assert_false(ls_discovery_same_peer("p1 [a344e499]", "p1 [a344e49a]"));
    /* a name without an id is a peer only as itself */
    assert_false(ls_discovery_same_peer("p1 [a344e499]", "p1"));
    assert_true(ls_discovery_same_peer("stranger", "stranger"));
    assert_false(ls_discovery_same_peer("stranger 1", "stranger 2"));
}

/* Names any peer on the link may announce: each '[' looks a bounded way
 * ahead, and nothing but "[" + 8 hex + "]" is a prefix. */
static void hostile_names_give_no_prefix_or_the_last_real_one(void **state)
{
    (void)state;
    char out[LS_DISCOVERY_ID_PREFIX_LEN + 1];
    char brackets[64];
    memset(brackets, '[', sizeof brackets - 1);
    brackets[sizeof brackets - 1] = '\0';
    assert_null(ls_discovery_id_prefix(brackets, out));
    assert_null(ls_discovery_id_prefix("[", out));
    assert_null(ls_discovery_id_prefix("[]", out));
    assert_null(ls_discovery_id_prefix("[[[[[[[[[[", out));
    assert_null(ls_discovery_id_prefix("x [a344e499", out));  /* unclosed */
    assert_null(ls_discovery_id_prefix("x [a344e49", out));   /* too short, then the end */
    assert_null(ls_discovery_id_prefix("x [a344e49]", out));  /* too short */
    assert_null(ls_discovery_id_prefix("x [g344e499]", out)); /* not hex */
    assert_null(ls_discovery_id_prefix("x [a344 e499]", out));
    assert_null(ls_discovery_id_prefix("x [-344e499]", out));
    assert_null(ls_discovery_id_prefix("x [a344e499[", out));
    /* a '[' inside the digits starts over: the inner one is the prefix */
    assert_string_equal(ls_discovery_id_prefix("x [a3[0123abcd]", out), "0123abcd");
    assert_string_equal(ls_discovery_id_prefix("[[[[[[[[[[a344e499]", out), "a344e499");
    /* brackets after a real prefix do not hide it */
    char tail[64];
    snprintf(tail, sizeof tail, "x [a344e499]%.40s", brackets);
    assert_string_equal(ls_discovery_id_prefix(tail, out), "a344e499");
    /* what make_names gives our own name */
    assert_string_equal(ls_discovery_id_prefix("lanspread [0f0e0d0c]", out), "0f0e0d0c");

    ls_discovery_peer_key_t key;
    ls_discovery_peer_key(&key, brackets);
    assert_string_equal(key.id, "");
    assert_ptr_equal(key.name, brackets);
    ls_discovery_peer_key(&key, "p1 [A344E499] #2");
    assert_string_equal(key.id, "a344e499");
}

/* The services table as discovery keeps it: a service found counts against
 * the others tracked, one gone (or evicted) is taken back against the ones
 * that stay. */
#define TABLE_MAX 8
typedef struct {
    ls_discovery_peer_key_t own;
    ls_discovery_peer_key_t keys[TABLE_MAX];
    bool is_used[TABLE_MAX];
    size_t party;
} table_t;

static size_t table_others(const table_t *t, const ls_discovery_peer_key_t **others)
{
    size_t n = 0;
    for (size_t i = 0; i < TABLE_MAX; i++)
        if (t->is_used[i])
            others[n++] = &t->keys[i];
    return n;
}

static size_t table_add(table_t *t, size_t slot, const char *name)
{
    const ls_discovery_peer_key_t *others[TABLE_MAX];
    assert_false(t->is_used[slot]);
    ls_discovery_peer_key(&t->keys[slot], name);
    t->is_used[slot] = true;
    size_t n = table_others(t, others);
    t->party += ls_discovery_is_party_peer(&t->keys[slot], &t->own, others, n);
    return t->party;
}

static size_t table_remove(table_t *t, size_t slot)
{
    const ls_discovery_peer_key_t *others[TABLE_MAX];
    assert_true(t->is_used[slot]);
    t->is_used[slot] = false;
    size_t n = table_others(t, others);
    bool is_peer = ls_discovery_is_party_peer(&t->keys[slot], &t->own, others, n);
    assert_true(t->party >= is_peer);
    t->party -= is_peer;
    return t->party;
}

static void the_party_counts_peers_up_and_down_once_each(void **state)
{
    (void)state;
    table_t t = {.party = 0};
    ls_discovery_peer_key(&t.own, "me [0f0e0d0c]");

    assert_int_equal(table_add(&t, 0, "me [0f0e0d0c]"), 0);    /* ourselves */
    assert_int_equal(table_add(&t, 1, "me [0F0E0D0C] #2"), 0); /* ourselves, renamed */
    assert_int_equal(table_add(&t, 2, "a [a344e499]"), 1);
    assert_int_equal(table_add(&t, 3, "a [a344e499]"), 1);     /* a on a second interface */
    assert_int_equal(table_add(&t, 4, "a2 [A344E499] #2"), 1); /* a renamed */
    assert_int_equal(table_add(&t, 5, "b [b0b0b0b0]"), 2);
    assert_int_equal(table_add(&t, 6, "stranger"), 3);            /* no id: a peer as itself */
    assert_int_equal(table_add(&t, 7, "intruder [b0b0b0b0]"), 3); /* copies b's prefix */

    /* a stays while one of its services does */
    assert_int_equal(table_remove(&t, 2), 3);
    assert_int_equal(table_remove(&t, 4), 3);
    assert_int_equal(table_remove(&t, 3), 2);
    /* the fake name's goodbye (or its eviction) leaves b counted */
    assert_int_equal(table_remove(&t, 7), 2);
    assert_int_equal(table_remove(&t, 0), 2); /* our own: never counted */
    assert_int_equal(table_remove(&t, 6), 1);
    assert_int_equal(table_add(&t, 6, "stranger"), 2); /* back */
    assert_int_equal(table_remove(&t, 5), 1);
    assert_int_equal(table_remove(&t, 6), 0);
    assert_int_equal(table_remove(&t, 1), 0);
}

/* Finding of a review: a rank stayed preferred after its peer left, so a
 * peer whose preferred peers all left never dialled the newcomers. */
static void preference_forgets_the_peers_that_left(void **state)
{
    (void)state;
    ls__ranks_t set = {.count = 0};
    const size_t max = 3;
    for (uint64_t r = 10; r <= 30; r += 10)
        assert_true(ls__ranks_note(&set, max, r));
    assert_int_equal(set.count, 3);
    assert_true(ls__ranks_note(&set, max, 20));  /* noted before */
    assert_false(ls__ranks_note(&set, max, 40)); /* a newcomer ranks after them */
    assert_true(ls__ranks_note(&set, max, 5));   /* a smaller one: 30 drops out */
    assert_false(ls__ranks_admits(&set, max, 30));
    assert_int_equal(set.count, 3);
    /* the preferred peers leave: the newcomer takes their place */
    ls__ranks_forget(&set, 5);
    ls__ranks_forget(&set, 10);
    ls__ranks_forget(&set, 99); /* never noted: nothing changes */
    assert_int_equal(set.count, 1);
    assert_true(ls__ranks_note(&set, max, 40));
    assert_true(ls__ranks_admits(&set, max, 50)); /* one place left */
    assert_int_equal(set.count, 2);               /* admitted, not noted */
    assert_true(ls__ranks_note(&set, max, 30));
    assert_false(ls__ranks_admits(&set, max, 50)); /* full */
    assert_true(ls__ranks_admits(&set, max, 40));
    assert_true(ls__ranks_admits(&set, max, 1));
    assert_int_equal(set.ranks[0], 20);
    assert_int_equal(set.ranks[1], 30);
    assert_int_equal(set.ranks[2], 40);
}

static void the_party_size_grows_at_once_and_shrinks_after_a_while(void **state)
{
    (void)state;
    ls__party_size_t party = {.size = 0};
    const uint64_t t0 = 1000;
    ls__party_size_grow(&party, 100);
    assert_int_equal(party.size, 100);
    ls__party_size_grow(&party, 40); /* never down by a smaller count heard */
    assert_int_equal(party.size, 100);
    assert_int_equal(ls__links_auto_target(0, true, party.size), LS_PEER_LINKS_TARGET_AUTO);
    /* most PCs left: bounded until the few stayed few for a while */
    ls__party_size_present(&party, 10, true, t0);
    ls__party_size_present(&party, 10, true, t0 + LS_PARTY_SHRINK_MS - 1);
    assert_int_equal(party.size, 100);
    ls__party_size_present(&party, 10, true, t0 + LS_PARTY_SHRINK_MS);
    assert_int_equal(party.size, 10);
    assert_int_equal(ls__links_auto_target(0, true, party.size), 0);
    /* a dip that ends before the wait does not shrink it */
    ls__party_size_grow(&party, 100);
    ls__party_size_present(&party, 10, true, t0);
    ls__party_size_present(&party, LS_PARTY_SHRINK_MAX + 1, true, t0 + LS_PARTY_SHRINK_MS / 2);
    ls__party_size_present(&party, 10, true, t0 + LS_PARTY_SHRINK_MS);
    assert_int_equal(party.size, 100);
    /* between the two bounds it does not flap: still bounded, not shrinking */
    ls__party_size_present(&party, LS_PEER_FULL_MESH_MAX, true, t0 + 10 * LS_PARTY_SHRINK_MS);
    ls__party_size_present(&party, LS_PEER_FULL_MESH_MAX, true, t0 + 20 * LS_PARTY_SHRINK_MS);
    assert_int_equal(party.size, 100);
    /* a big party heard again (mDNS) restarts the wait */
    ls__party_size_present(&party, 3, true, t0 + 30 * LS_PARTY_SHRINK_MS);
    ls__party_size_grow(&party, 50);
    ls__party_size_present(&party, 3, true, t0 + 31 * LS_PARTY_SHRINK_MS + 1);
    ls__party_size_present(&party, 3, true, t0 + 31 * LS_PARTY_SHRINK_MS + LS_PARTY_SHRINK_MS / 2);
    assert_int_equal(party.size, 100);
    /* no link at all (a switch rebooted): the wait does not run */
    ls__party_size_present(&party, 0, false, t0 + 40 * LS_PARTY_SHRINK_MS);
    ls__party_size_present(&party, 0, false, t0 + 42 * LS_PARTY_SHRINK_MS);
    assert_int_equal(party.size, 100);
    assert_int_equal(ls__links_auto_target(0, true, party.size), LS_PEER_LINKS_TARGET_AUTO);
    /* more peers present than ever heard of raise it */
    ls__party_size_t small = {.size = 5};
    ls__party_size_present(&small, LS_PEER_FULL_MESH_MAX + 1, true, t0);
    assert_int_equal(small.size, LS_PEER_FULL_MESH_MAX + 1);
}

/* Finding of test_churn: the redials of two peers that had left (first
 * hand, so their targets stay) filled a's links target at each tick, so
 * the newcomer a preferred waited for their backoff to spread them out. */
static void a_redial_of_a_failed_target_holds_no_place_until_it_links(void **state)
{
    (void)state;
    ls_link_t fresh = {.is_outbound = true}; /* a first dial: its place is held */
    ls_link_t retry = {.is_outbound = true, .is_retry = true};
    ls_link_t retried = {.is_outbound = true, .is_retry = true, .is_ready = true};
    ls_link_t inbound = {.is_ready = true};
    ls_link_t closing = {.is_ready = true, .is_closing = true};
    assert_true(ls__link_holds_place(&fresh));
    assert_false(ls__link_holds_place(&retry));
    assert_true(ls__link_holds_place(&retried));
    assert_true(ls__link_holds_place(&inbound));
    assert_false(ls__link_holds_place(&closing));
}

/* Issue #17: with a links target a listed peer's library is asked for at
 * once (its peers beyond the target get no link), unless a connection to
 * it is in its handshake; a full mesh waits for its own link. */
static void a_bounded_peer_asks_for_relayed_libraries_at_once(void **state)
{
    (void)state;
    assert_int_equal(ls__relay_defer_ms(true, false), 0);
    assert_int_equal(ls__relay_defer_ms(true, true), RELAY_DEFER_MS);
    assert_int_equal(ls__relay_defer_ms(false, false), RELAY_DEFER_MS);
    assert_int_equal(ls__relay_defer_ms(false, true), RELAY_DEFER_MS);
}

/* A lister that answered an error is asked once more before the next one
 * (a relay linked to the owner fetches its library on the first ask); a
 * second error, or a missed deadline, moves on. */
static void a_refusing_lister_is_asked_once_more_then_passed_over(void **state)
{
    (void)state;
    uint8_t refusals = 0;
    assert_false(ls__relay_next_lister(true, &refusals)); /* first error: the same again */
    assert_true(ls__relay_next_lister(true, &refusals));  /* second: the next lister */
    assert_int_equal(refusals, 0);
    assert_false(ls__relay_next_lister(true, &refusals)); /* the next one gets its second chance */
    assert_true(ls__relay_next_lister(false, &refusals)); /* silent: passed over at once */
    assert_int_equal(refusals, 0);
    assert_true(ls__relay_next_lister(false, &refusals));
}

/* Issue #17: an owner no lister gave a library of is asked again later
 * while a link lists it (forgotten, nobody named it again: a 100-peer start
 * stayed at 99 of 100); one shown by relay whose lease failed, one held,
 * or one no link lists any more is not. */
static void an_owner_no_lister_gave_is_asked_again_later(void **state)
{
    (void)state;
    assert_true(ls__relay_ask_again_later(false, false, false, 1));
    assert_false(ls__relay_ask_again_later(false, false, false, 0)); /* nobody lists it */
    assert_false(ls__relay_ask_again_later(true, false, false, 1));  /* held */
    assert_false(ls__relay_ask_again_later(false, true, false, 1));  /* shown by relay */
    assert_false(ls__relay_ask_again_later(false, false, true, 1));  /* its lease failed */
}

/* Issue #17: a relayed owner's lease that ran out waits while the relay
 * still shows new owners (a start's last libraries), until
 * RELAY_LEASE_QUIET_MS without any, at most RELAY_LEASE_MS late. */
static void a_lease_waits_while_libraries_still_spread(void **state)
{
    (void)state;
    assert_int_equal(ls__relay_lease_at(10000, 0), 10000); /* nothing new: on time */
    assert_int_equal(ls__relay_lease_at(10000, 5000), 10000);
    assert_int_equal(ls__relay_lease_at(10000, 9500), 9500 + RELAY_LEASE_QUIET_MS);
    assert_int_equal(ls__relay_lease_at(10000, 12000), 12000 + RELAY_LEASE_QUIET_MS);
    /* news without end: at most a lease late */
    assert_int_equal(ls__relay_lease_at(10000, 10000 + RELAY_LEASE_MS), 10000 + RELAY_LEASE_MS);
}

/* Issue #17: a party is sized (a small one turns to a full mesh) no sooner
 * than MDNS_PARTY_SIZED_MS, and only once every peer heard of is present:
 * on a loaded machine up to 75 of 100 peers sized at 3 s took their party
 * for a small one (their hosts had read a few answers) and dialled up to
 * 32 peers each; or once none came for MDNS_PARTY_STILL_MS (a peer of
 * another version is heard of, never present: sized at 10 s, a restarted
 * peer of test_peers.sh linked its ninth peer too late). At
 * MDNS_PARTY_SIZED_MAX_MS it is sized whatever the counts. */
static void the_party_is_sized_once_all_it_heard_of_is_present(void **state)
{
    (void)state;
    const uint64_t growing = MDNS_PARTY_STILL_MS - 1, still = MDNS_PARTY_STILL_MS;
    assert_false(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MS - 1, 5, 5, still)); /* too soon */
    assert_true(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MS, 5, 5, growing));
    assert_true(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MS, 0, 0, growing)); /* alone */
    /* still learning: 17 heard of, 10 present and more coming */
    assert_false(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MS, 17, 10, growing));
    assert_false(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MAX_MS - 1, 17, 16, growing));
    assert_true(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MAX_MS, 17, 10, growing));
    /* one heard of never comes (another version): none came for a while */
    assert_true(ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MS, 10, 9, still));
    /* a big party stays bounded either way */
    assert_true(
        ls__mdns_is_party_heard(MDNS_PARTY_SIZED_MS, LS_PEER_FULL_MESH_MAX + 1, 3, growing));
}

/* Issue #17: a `peers` answered busy is told again from where it began;
 * an ack, or a failure that is not busy (a reset stream, a closed link),
 * moves nothing back. */
static void a_peers_answered_busy_is_told_again(void **state)
{
    (void)state;
    assert_int_equal(ls__peers_rewind(9, 4, true), 4);
    assert_int_equal(ls__peers_rewind(9, 4, false), 9);
    assert_int_equal(ls__peers_rewind(3, 4, true), 3); /* rewound already by an older one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_on_link_unicast_addresses_of_that_interface_are_dialled),
        cmocka_unit_test(peers_from_links_are_dialled_only_on_our_networks),
        cmocka_unit_test(an_instance_name_gives_its_peer_id_prefix),
        cmocka_unit_test(dial_targets_are_capped_in_all_and_per_host),
        cmocka_unit_test(txt_driven_resyncs_are_rate_limited),
        cmocka_unit_test(the_repair_browse_runs_only_when_mdns_saw_more_than_we_know),
        cmocka_unit_test(links_are_bounded_by_default_only_at_party_size),
        cmocka_unit_test(services_of_one_peer_count_once_in_the_party),
        cmocka_unit_test(hostile_names_give_no_prefix_or_the_last_real_one),
        cmocka_unit_test(the_party_counts_peers_up_and_down_once_each),
        cmocka_unit_test(a_redial_of_a_failed_target_holds_no_place_until_it_links),
        cmocka_unit_test(preference_forgets_the_peers_that_left),
        cmocka_unit_test(the_party_size_grows_at_once_and_shrinks_after_a_while),
        cmocka_unit_test(a_bounded_peer_asks_for_relayed_libraries_at_once),
        cmocka_unit_test(a_refusing_lister_is_asked_once_more_then_passed_over),
        cmocka_unit_test(an_owner_no_lister_gave_is_asked_again_later),
        cmocka_unit_test(a_lease_waits_while_libraries_still_spread),
        cmocka_unit_test(the_party_is_sized_once_all_it_heard_of_is_present),
        cmocka_unit_test(a_peers_answered_busy_is_told_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
