/* Discovery in one process: the TXT codec (network input), the
 * AvahiPoll-on-libuv bridge and, when root, two responders talking inside a
 * private network namespace. Discovery between hosts is tested in
 * tests/netns/test_discovery.sh. */
#include "testutil.h"

#include "discovery/repeat.h"
#include "discovery/uv_avahi_poll.h"
#include "lanspread/discovery.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID63 "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG64 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* Builds TXT wire format from NUL-terminated strings. */
static size_t wire(uint8_t *buf, size_t cap, const char *const *items, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(items[i]);
        assert_true(off + 1 + len <= cap);
        buf[off++] = (uint8_t)len;
        memcpy(buf + off, items[i], len);
        off += len;
    }
    return off;
}

static int parse_items(const char *const *items, size_t n, ls_discovery_txt_t *out)
{
    uint8_t buf[LS_DISCOVERY_TXT_MAX];
    return ls_discovery_txt_parse(buf, wire(buf, sizeof(buf), items, n), out);
}

static void txt_encoded_record_decodes_to_the_same_fields(void **state)
{
    (void)state;
    ls_discovery_txt_t in = {.protocol_version = LS_PROTOCOL_VERSION,
                             .library_rev = UINT64_MAX,
                             .peer_id = ID64,
                             .digest = DG64};
    ls_discovery_txt_t out;
    uint8_t buf[512];
    size_t len = 0;

    assert_int_equal(ls_discovery_txt_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(ls_discovery_txt_parse(buf, len, &out), 0);
    assert_int_equal(out.protocol_version, LS_PROTOCOL_VERSION);
    assert_true(out.library_rev == UINT64_MAX);
    assert_string_equal(out.peer_id, ID64);
    assert_string_equal(out.digest, DG64);
    assert_int_equal(ls_discovery_txt_encode(&in, buf, 20, &len), LS_ETOOBIG);
    in.peer_id[3] = 'x';
    assert_int_equal(ls_discovery_txt_encode(&in, buf, sizeof(buf), &len), LS_EINVAL);
}

static void txt_keys_ignore_case_and_the_first_occurrence_wins(void **state)
{
    (void)state;
    const char *items[] = {"PV=5", ("Id=" ID64), "rev=7", "rev=9", ("DG=" DG64), "flag", "", "x=y"};
    ls_discovery_txt_t out;

    assert_int_equal(parse_items(items, 8, &out), 0);
    assert_true(out.library_rev == 7);
    assert_string_equal(out.peer_id, ID64);
}

static void txt_uppercase_hex_is_lowercased(void **state)
{
    (void)state;
    const char *items[] = {"pv=5",
                           "id=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
                           "rev=0", ("dg=" DG64)};
    ls_discovery_txt_t out;

    assert_int_equal(parse_items(items, 4, &out), 0);
    assert_string_equal(out.peer_id, ID64);
}

static void txt_malformed_records_are_refused(void **state)
{
    (void)state;
    ls_discovery_txt_t out;
    const char *missing_rev[] = {"pv=5", ("id=" ID64), ("dg=" DG64)};
    const char *short_id[] = {"pv=5", ("id=" ID63), "rev=1", ("dg=" DG64)};
    const char *bad_hex[] = {"pv=5", ("id=" ID64), "rev=1", ("dg=g" ID63)};
    const char *overflow[] = {"pv=5", ("id=" ID64), "rev=18446744073709551616", ("dg=" DG64)};
    const char *signed_rev[] = {"pv=5", ("id=" ID64), "rev=+1", ("dg=" DG64)};
    const char *empty_rev[] = {"pv=5", ("id=" ID64), "rev=", ("dg=" DG64)};
    const char *no_pv[] = {("id=" ID64), "rev=1", ("dg=" DG64)};
    const char *huge_pv[] = {"pv=4294967296", ("id=" ID64), "rev=1", ("dg=" DG64)};
    uint8_t truncated[] = {5, 'p', 'v', '=', '4'};
    uint8_t big[LS_DISCOVERY_TXT_MAX + 1] = {0};

    assert_int_equal(parse_items(missing_rev, 3, &out), LS_ETXT);
    assert_int_equal(parse_items(short_id, 4, &out), LS_ETXT);
    assert_int_equal(parse_items(bad_hex, 4, &out), LS_ETXT);
    assert_int_equal(parse_items(overflow, 4, &out), LS_ETXT);
    assert_int_equal(parse_items(signed_rev, 4, &out), LS_ETXT);
    assert_int_equal(parse_items(empty_rev, 4, &out), LS_ETXT);
    assert_int_equal(parse_items(no_pv, 3, &out), LS_ETXT);
    assert_int_equal(parse_items(huge_pv, 4, &out), LS_ETXT);
    assert_int_equal(ls_discovery_txt_parse(truncated, sizeof(truncated), &out), LS_ETXT);
    assert_int_equal(ls_discovery_txt_parse(big, sizeof(big), &out), LS_ETXT);
    assert_int_equal(ls_discovery_txt_parse(NULL, 0, &out), LS_ETXT);
}

static void txt_of_another_version_reports_the_version_and_id(void **state)
{
    (void)state;
    const char *v3[] = {"pv=3", ("id=" ID64)};
    const char *v6_no_id[] = {"pv=6", "whatever=1"};
    ls_discovery_txt_t out;

    assert_int_equal(parse_items(v3, 2, &out), LS_EVERSION);
    assert_int_equal(out.protocol_version, 3);
    assert_string_equal(out.peer_id, ID64);
    assert_int_equal(parse_items(v6_no_id, 2, &out), LS_EVERSION);
    assert_int_equal(out.protocol_version, 6);
    assert_string_equal(out.peer_id, "");
}

static void start_refuses_an_invalid_config(void **state)
{
    (void)state;
    uv_loop_t loop;
    ls_discovery_t *d = (ls_discovery_t *)&loop;
    const char *ifs[] = {"an-interface-name-too-long"};
    ls_discovery_config_t good = {.instance_name = "x", .port = 1, .peer_id = ID64, .digest = DG64};
    ls_discovery_config_t cfg;

    assert_int_equal(uv_loop_init(&loop), 0);
    cfg = good;
    cfg.port = 0;
    assert_int_equal(ls_discovery_start(&loop, &cfg, &d), LS_EINVAL);
    assert_null(d);
    cfg = good;
    cfg.peer_id = "abc";
    assert_int_equal(ls_discovery_start(&loop, &cfg, &d), LS_EINVAL);
    cfg = good;
    cfg.instance_name = "";
    assert_int_equal(ls_discovery_start(&loop, &cfg, &d), LS_EINVAL);
    cfg = good;
    cfg.instance_name = "\xff\xfe not UTF-8";
    assert_int_equal(ls_discovery_start(&loop, &cfg, &d), LS_EINVAL);
    cfg = good;
    cfg.interfaces = ifs;
    cfg.interface_count = 1;
    assert_int_equal(ls_discovery_start(&loop, &cfg, &d), LS_EINVAL);
    ls_discovery_stop(NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the AvahiPoll bridge ---- */

typedef struct {
    const AvahiPoll *api;
    int fired;
    uint64_t fired_ms;
    AvahiWatchEvent seen;
    int filtered; /* reads the poll's filter made */
    bool free_in_callback;
} probe_t;

static void timeout_cb(AvahiTimeout *t, void *userdata)
{
    probe_t *p = userdata;
    struct timeval now;
    gettimeofday(&now, NULL);
    p->fired++;
    p->fired_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
    if (p->free_in_callback)
        p->api->timeout_free(t);
}

static void poll_timeout_fires_once_at_its_absolute_deadline(void **state)
{
    (void)state;
    uv_loop_t loop;
    ls_avahi_poll_t poll;
    probe_t p = {.free_in_callback = true};
    struct timeval deadline;

    assert_int_equal(uv_loop_init(&loop), 0);
    ls_avahi_poll_init(&poll, &loop);
    p.api = &poll.api;
    gettimeofday(&deadline, NULL);
    deadline.tv_usec += 50000;
    if (deadline.tv_usec >= 1000000) {
        deadline.tv_sec++;
        deadline.tv_usec -= 1000000;
    }
    uint64_t want_ms = (uint64_t)deadline.tv_sec * 1000 + (uint64_t)deadline.tv_usec / 1000;
    assert_non_null(poll.api.timeout_new(&poll.api, &deadline, timeout_cb, &p));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* returns once it is freed */
    assert_int_equal(p.fired, 1);
    assert_true(p.fired_ms >= want_ms);
    assert_true(p.fired_ms < want_ms + 1000);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void poll_disabled_timeout_never_fires(void **state)
{
    (void)state;
    uv_loop_t loop;
    ls_avahi_poll_t poll;
    probe_t p = {0};
    struct timeval past = {0, 0};

    assert_int_equal(uv_loop_init(&loop), 0);
    ls_avahi_poll_init(&poll, &loop);
    p.api = &poll.api;
    AvahiTimeout *t = poll.api.timeout_new(&poll.api, &past, timeout_cb, &p);
    assert_non_null(t);
    poll.api.timeout_update(t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(p.fired, 0);
    poll.api.timeout_free(t);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void watch_cb(AvahiWatch *w, int fd, AvahiWatchEvent event, void *userdata)
{
    probe_t *p = userdata;
    char c;
    p->fired++;
    p->seen = p->api->watch_get_events(w);
    assert_int_equal(read(fd, &c, 1), 1);
    p->api->watch_free(w);
}

static void poll_watch_reports_input_and_may_be_freed_in_its_callback(void **state)
{
    (void)state;
    uv_loop_t loop;
    ls_avahi_poll_t poll;
    probe_t p = {0};
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    ls_avahi_poll_init(&poll, &loop);
    p.api = &poll.api;
    AvahiWatch *w = poll.api.watch_new(&poll.api, fds[0], AVAHI_WATCH_IN, watch_cb, &p);
    assert_non_null(w);
    assert_int_equal(poll.api.watch_get_events(w), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(p.fired, 1);
    assert_int_equal(p.seen, AVAHI_WATCH_IN);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(fds[0]);
    close(fds[1]);
}

/* Keeps a 'k' from avahi (reads it); leaves anything else to avahi. */
static bool keep_from_avahi(int fd, void *userdata)
{
    probe_t *p = userdata;
    char c;
    p->filtered++;
    assert_int_equal(recv(fd, &c, 1, MSG_PEEK), 1);
    if (c != 'k')
        return true;
    assert_int_equal(read(fd, &c, 1), 1);
    return false;
}

static void plain_watch_cb(AvahiWatch *w, int fd, AvahiWatchEvent event, void *userdata)
{
    probe_t *p = userdata;
    char c;
    (void)w;
    (void)event;
    p->fired++;
    assert_int_equal(read(fd, &c, 1), 1);
}

/* The filter sees readable input first; what it keeps never reaches avahi. */
static void poll_filter_keeps_what_it_reads_from_avahi(void **state)
{
    (void)state;
    uv_loop_t loop;
    ls_avahi_poll_t poll;
    probe_t p = {0};
    int fds[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    ls_avahi_poll_init(&poll, &loop);
    poll.is_for_avahi = keep_from_avahi;
    poll.filter_userdata = &p;
    AvahiWatch *w = poll.api.watch_new(&poll.api, fds[0], AVAHI_WATCH_IN, plain_watch_cb, &p);
    assert_non_null(w);
    assert_int_equal(write(fds[1], "k", 1), 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(p.filtered, 1);
    assert_int_equal(p.fired, 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(p.filtered, 2);
    assert_int_equal(p.fired, 1);
    poll.api.watch_free(w);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(fds[0]);
    close(fds[1]);
}

static struct sockaddr_in sender(const char *address, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, address, &sa.sin_addr);
    return sa;
}

/* A sender's identical bytes on one interface are a repeat for
 * LS_REPEAT_WINDOW_MS: another sender, port, interface or bytes, a later
 * window, or, after a query, a copy LS_REPEAT_AFTER_QUERY_MS old pass. A flood of distinct
 * packets only pushes out old ones, never makes a new one look seen. */
static void repeat_table_knows_a_sender_s_bytes_for_its_window(void **state)
{
    (void)state;
    static ls__repeat_t r;
    const uint8_t one[] = "announcement", two[] = "announcemenT";
    struct sockaddr_in a = sender("198.18.1.2", 5353), b = sender("198.18.1.3", 5353),
                       a_other_port = sender("198.18.1.2", 5354);
    const struct sockaddr *sa = (const struct sockaddr *)&a;
    uint64_t t = 1000;

    ls__repeat_init(&r);
    assert_false(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t));
    assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + 1));
    assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + LS_REPEAT_WINDOW_MS - 1));
    assert_false(ls__repeat_seen(&r, sa, sizeof a, 2, two, sizeof two, t + 2));
    assert_false(ls__repeat_seen(&r, sa, sizeof a, 3, one, sizeof one, t + 2));
    assert_false(
        ls__repeat_seen(&r, (const struct sockaddr *)&b, sizeof b, 2, one, sizeof one, t + 3));
    assert_false(ls__repeat_seen(&r, (const struct sockaddr *)&a_other_port, sizeof a_other_port, 2,
                                 one, sizeof one, t + 4));
    /* the window counts from the copy let through, not from the repeats */
    t += LS_REPEAT_WINDOW_MS;
    assert_false(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t));
    assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + 1));
    /* after a query, a copy LS_REPEAT_AFTER_QUERY_MS old passes once, and
     * starts its window again */
    ls__repeat_query_heard(&r, t + 5);
    assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + 6));
    t += LS_REPEAT_AFTER_QUERY_MS;
    assert_false(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t));
    assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + 1));
    assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + LS_REPEAT_WINDOW_MS - 1));

    /* ten tables' worth of distinct packets within one window */
    for (uint32_t i = 0; i < 10 * LS_REPEAT_SLOTS; i++) {
        uint8_t pkt[8];
        memcpy(pkt, &i, sizeof i);
        memcpy(pkt + 4, "pkt", 4);
        assert_false(ls__repeat_seen(&r, sa, sizeof a, 2, pkt, sizeof pkt, t + 8));
        assert_true(ls__repeat_seen(&r, sa, sizeof a, 2, pkt, sizeof pkt, t + 9));
    }
    /* ... pushed the first packet out: it is news again */
    assert_false(ls__repeat_seen(&r, sa, sizeof a, 2, one, sizeof one, t + 10));
}

/* ---- two responders in one process, inside a private network namespace ----
 * Only when the test may make one (root): an interface there loops
 * multicast back to both responders (a veth pair: its end has no address and
 * nobody listens there), and no packet can leave the namespace. */

static bool has_private_net;

static int enter_private_net(void **state)
{
    (void)state;
    has_private_net = unshare(CLONE_NEWNET) == 0 &&
                      system("ip link add ls0 type veth peer name ls1 && ip link set ls1 up && "
                             "ip link set ls0 multicast on up && "
                             "ip addr add 198.18.1.1/24 dev ls0") == 0;
    return 0;
}

typedef struct {
    ls_discovery_t *d;
    char peer_id[LS_SHA256_HEX_LEN + 1];
    char seen_id[LS_SHA256_HEX_LEN + 1];
    uint64_t seen_rev;
    char seen_address[LS_DISCOVERY_ADDRESS_MAX];
    int found, lost;
    bool stop_in_found;
    uint32_t browse_ms;     /* set before the start: as the runtime does */
    bool is_repair_refused; /* our is_repair_needed says no */
    int repair_asks;
} peer_t;

static bool peer_repair_cb(size_t services_seen, void *userdata)
{
    peer_t *me = userdata;
    (void)services_seen;
    me->repair_asks++;
    return !me->is_repair_refused;
}

static void peer_found_cb(const ls_discovered_peer_t *p, void *userdata)
{
    peer_t *me = userdata;
    me->found++;
    memcpy(me->seen_id, p->peer_id, sizeof(me->seen_id));
    memcpy(me->seen_address, p->address, sizeof(me->seen_address));
    me->seen_rev = p->library_rev;
    if (me->stop_in_found) {
        ls_discovery_stop(me->d);
        me->d = NULL;
    }
}

static void peer_lost_cb(const char *peer_id, void *userdata)
{
    peer_t *me = userdata;
    me->lost++;
    (void)peer_id;
}

static void start_peer_version(uv_loop_t *loop, peer_t *p, const char *name, uint16_t port,
                               uint32_t resolve_first, uint32_t protocol_version)
{
    uint8_t hash[LS_SHA256_LEN];
    ls_sha256(name, strlen(name), hash);
    ls_hex_encode(hash, sizeof(hash), p->peer_id);
    ls_discovery_config_t cfg = {.instance_name = name,
                                 .port = port,
                                 .peer_id = p->peer_id,
                                 .digest = DG64,
                                 .found_cb = peer_found_cb,
                                 .lost_cb = peer_lost_cb,
                                 .userdata = p,
                                 .is_resolve_once = resolve_first > 0,
                                 .resolve_first = resolve_first,
                                 .protocol_version = protocol_version,
                                 .browse_ms = p->browse_ms,
                                 .is_repair_needed = peer_repair_cb};
    assert_int_equal(ls_discovery_start(loop, &cfg, &p->d), 0);
}

static void start_peer_with(uv_loop_t *loop, peer_t *p, const char *name, uint16_t port,
                            uint32_t resolve_first)
{
    start_peer_version(loop, p, name, port, resolve_first, 0);
}

static void start_peer(uv_loop_t *loop, peer_t *p, const char *name, uint16_t port)
{
    start_peer_with(loop, p, name, port, 0);
}

typedef bool (*cond_fn)(const peer_t *a, const peer_t *b);

typedef struct {
    cond_fn cond;
    const peer_t *a, *b;
    uint64_t deadline;
} wait_t;

static void wait_tick_cb(uv_timer_t *t)
{
    wait_t *w = t->data;
    if (w->cond(w->a, w->b) || uv_now(t->loop) >= w->deadline)
        uv_stop(t->loop);
}

/* Runs the loop until cond holds or ms pass; returns cond. */
static bool run_until(uv_loop_t *loop, cond_fn cond, const peer_t *a, const peer_t *b, uint64_t ms)
{
    uv_timer_t tick;
    wait_t w = {cond, a, b, uv_now(loop) + ms};
    uv_timer_init(loop, &tick);
    tick.data = &w;
    uv_timer_start(&tick, wait_tick_cb, 20, 20);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return cond(a, b);
}

static bool both_found(const peer_t *a, const peer_t *b)
{
    return strcmp(a->seen_id, b->peer_id) == 0 && strcmp(b->seen_id, a->peer_id) == 0;
}

static bool b_sees_rev_7(const peer_t *a, const peer_t *b)
{
    (void)a;
    return b->seen_rev == 7;
}

static bool b_lost_a(const peer_t *a, const peer_t *b)
{
    (void)a;
    return b->lost == 1;
}

static void drain(uv_loop_t *loop)
{
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void two_responders_find_update_and_lose_each_other(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0}, b = {0};

    if (!has_private_net)
        skip();
    assert_int_equal(uv_loop_init(&loop), 0);
    start_peer(&loop, &a, "alpha", 4101);
    start_peer(&loop, &b, "beta", 4102);
    assert_true(run_until(&loop, both_found, &a, &b, 10000));
    assert_string_equal(b.seen_address, "198.18.1.1:4101");
    assert_int_equal(b.seen_rev, 0);
    assert_int_equal(ls_discovery_update(a.d, 7, DG64), 0);
    assert_true(run_until(&loop, b_sees_rev_7, &a, &b, 10000));
    ls_discovery_stop(a.d);
    assert_true(run_until(&loop, b_lost_a, &a, &b, 10000));
    assert_int_equal(a.lost, 0);
    ls_discovery_stop(b.d);
    drain(&loop);
}

static bool a_found_once(const peer_t *a, const peer_t *b)
{
    (void)b;
    return a->found == 1;
}

static void stop_inside_found_cb_ends_every_callback(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {.stop_in_found = true}, b = {0};

    if (!has_private_net)
        skip();
    assert_int_equal(uv_loop_init(&loop), 0);
    start_peer(&loop, &a, "gamma", 4103);
    start_peer(&loop, &b, "delta", 4104);
    assert_true(run_until(&loop, a_found_once, &a, &b, 10000));
    assert_null(a.d);
    ls_discovery_stop(b.d);
    drain(&loop);
    assert_int_equal(a.found, 1);
    assert_int_equal(a.lost, 0);
}

/* ---- the wire, seen by a third socket on 5353 in the namespace ---- */

#define MDNS_PORT 5353
#define MDNS_GROUP "224.0.0.251"
#define NET_ADDRESS "198.18.1.1"
#define DNS_HEADER_LEN 12
#define DNS_FLAG_RESPONSE 0x8000u
#define DNS_TYPE_PTR 12
#define DNS_TYPE_SRV 33
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
#define BOGUS_TTL 4500
#define QUERIER_ADDRESS "198.18.1.2"
/* After a start's announcements (+3 s at the latest, plus jitter) and
 * before its browser's query at +7 s; an update is announced within the
 * announcement jitter (250 ms). */
#define TXT_QUIET_FROM_MS 4000
#define TXT_ANNOUNCED_WITHIN_MS 600
/* Queries a second apart (avahi counts those at least 1 s apart), more
 * than the four unanswered ones after which avahi expires a record. */
#define POOF_QUERIES 8
#define POOF_QUERY_GAP_MS 1050
/* Past the peers' own announcements (+3 s) and their browsers' queries
 * (+1, +3, +7, +15 s; the next at +31 s) and the repeat window after
 * them: the third host's first query is answered with news, the next ones
 * with repeats. */
#define POOF_QUIET_MS 19000
#define BOGUS_PER_PACKET 30
/* Past discovery's first maintenance tick (5 s), a resolver's first query
 * after it (AVAHI_QUERY_DEFER, 100 ms), and a lone peer's repair browse (5
 * to ~8 s after the start: REPAIR_AFTER_MS, 1 s per service seen plus 1);
 * after its first browse (LONE_BROWSE_MS, as the runtime) no browse query
 * is due before the repair. */
#define LONE_BROWSE_MS 900
#define LONE_QUIET_FROM_MS 3000
/* The repair is asked for REPAIR_AFTER_MS plus a random spread of up to
 * (services + 1) s after the first browse: up to ~8 s alone, later on a
 * slow (sanitizer) build, so the test waits for the ask, bounded. */
#define LONE_REPAIR_BOUND_MS 15000
#define LONE_AFTER_REPAIR_MS 1500
/* A resolver's queries go at about 0.1, 1 and 3 s after its start: after
 * the first second only a repeat is on the wire. */
#define REPEAT_QUIET_FROM_MS 1600
#define REPEAT_WATCH_MS 3600

/* Joins the mDNS group on the namespace's interface beside the responders
 * (avahi shares the port: SO_REUSEADDR), non-blocking; -1 on failure. */
static int open_sniffer(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), one = 1, ttl = 255;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};
    struct ip_mreq mr = {0};
    struct in_addr ifa = {0};

    inet_pton(AF_INET, MDNS_GROUP, &mr.imr_multiaddr);
    inet_pton(AF_INET, NET_ADDRESS, &mr.imr_interface);
    inet_pton(AF_INET, NET_ADDRESS, &ifa);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The sniffer's fd, with the loop initialised (in the private namespace). */
static int sniffing_loop(uv_loop_t *loop)
{
    int fd = open_sniffer();
    assert_true(fd >= 0);
    assert_int_equal(uv_loop_init(loop), 0);
    return fd;
}

typedef struct {
    int probes;         /* queries with an authority section: probes */
    int responses;      /* responses with answers: announcements */
    int record_queries; /* queries asking for anything but a PTR (resolutions) */
    int browse_queries; /* the others: browse queries */
    int enum_records;   /* packets naming the DNS-SD type enumeration */
    int srv_or_a_first; /* responses led by an SRV or address record */
    int with_address;   /* responses carrying an address record */
} wire_count_t;

/* Offset after the name at off (labels or a pointer); len when malformed. */
static size_t skip_name(const uint8_t *buf, size_t len, size_t off)
{
    while (off < len && buf[off] != 0) {
        if ((buf[off] & 0xC0) == 0xC0)
            return off + 2 <= len ? off + 2 : len;
        off += 1u + buf[off];
    }
    return off < len ? off + 1 : len;
}

static bool asks_for_records(const uint8_t *buf, size_t len)
{
    unsigned qdcount = (unsigned)buf[4] << 8 | buf[5];
    size_t off = DNS_HEADER_LEN;
    for (unsigned i = 0; i < qdcount && off < len; i++) {
        off = skip_name(buf, len, off);
        if (off + 4 > len)
            return false;
        if (((unsigned)buf[off] << 8 | buf[off + 1]) != DNS_TYPE_PTR)
            return true;
        off += 4;
    }
    return false;
}

/* The type of the answer at *off (moved past it); 0 when malformed. */
static unsigned next_answer_type(const uint8_t *buf, size_t len, size_t *off)
{
    size_t at = skip_name(buf, len, *off);
    if (at + 10 > len)
        return 0;
    unsigned type = (unsigned)buf[at] << 8 | buf[at + 1];
    *off = at + 10 + ((size_t)buf[at + 8] << 8 | buf[at + 9]);
    return type;
}

/* Responses from avahi carry no questions. */
static unsigned first_answer_type(const uint8_t *buf, size_t len)
{
    size_t off = DNS_HEADER_LEN;
    return next_answer_type(buf, len, &off);
}

static bool has_answer_of_type(const uint8_t *buf, size_t len, unsigned type)
{
    unsigned ancount = (unsigned)buf[6] << 8 | buf[7];
    size_t off = DNS_HEADER_LEN;
    for (unsigned i = 0; i < ancount && off < len; i++)
        if (next_answer_type(buf, len, &off) == type)
            return true;
    return false;
}

static void count_packets(int fd, wire_count_t *c)
{
    static const uint8_t enum_label[] = "\x09_services\x07_dns-sd";
    uint8_t buf[9000];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) >= DNS_HEADER_LEN) {
        unsigned flags = (unsigned)buf[2] << 8 | buf[3];
        unsigned ancount = (unsigned)buf[6] << 8 | buf[7];
        unsigned nscount = (unsigned)buf[8] << 8 | buf[9];
        if (!(flags & DNS_FLAG_RESPONSE) && nscount > 0)
            c->probes++;
        if (!(flags & DNS_FLAG_RESPONSE) && asks_for_records(buf, (size_t)n))
            c->record_queries++;
        else if (!(flags & DNS_FLAG_RESPONSE) && nscount == 0)
            c->browse_queries++;
        if ((flags & DNS_FLAG_RESPONSE) && ancount > 0) {
            c->responses++;
            unsigned first = first_answer_type(buf, (size_t)n);
            c->srv_or_a_first += first == DNS_TYPE_SRV || first == DNS_TYPE_A;
            c->with_address += has_answer_of_type(buf, (size_t)n, DNS_TYPE_A);
        }
        if (memmem(buf, (size_t)n, enum_label, sizeof enum_label - 1))
            c->enum_records++;
    }
}

static bool never(const peer_t *a, const peer_t *b)
{
    (void)a;
    (void)b;
    return false;
}

/* Our names carry the peer id, so they are published without probing: the
 * first packet on the wire is the announcement, within its 250 ms jitter
 * (a probed start sends 3 probes 250 ms apart first). Only the PTR record
 * is announced, its packets carrying the rest. */
static void start_announces_at_once_without_probes(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0};
    wire_count_t early = {0}, later = {0};
    int fd;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer(&loop, &a, "epsilon", 4105);
    run_until(&loop, never, &a, &a, 600);
    count_packets(fd, &early);
    run_until(&loop, never, &a, &a, 1400);
    count_packets(fd, &later);
    ls_discovery_stop(a.d);
    drain(&loop);
    close(fd);
    assert_int_equal(early.probes + later.probes, 0);
    assert_true(early.responses >= 1);
    /* The SRV and address records have no announcer of their own: they go
     * with the PTR's announcements (the first two of its three by now). */
    assert_int_equal(early.srv_or_a_first + later.srv_or_a_first, 0);
    assert_true(early.with_address >= 1);
    assert_true(early.with_address + later.with_address >= 2);
    /* Only the service's own records: no type-enumeration PTR. */
    assert_int_equal(early.enum_records + later.enum_records, 0);
}

/* A peer alone on the link, browsing and resolving once as the runtime
 * does, sends no resolution at all: its own service (which the browser
 * reports too) is never resolved, also not by the maintenance tick
 * (MAINTENANCE_MS, 5 s), after which a resolver of our own records used to
 * query for them with them as known answers at 1, 3, 7 ... s, forever. And
 * the repair browse (due 5 to ~8 s after the start when alone) is asked
 * for once and, refused, sends no query. */
static bool repair_asked(const peer_t *a, const peer_t *b)
{
    (void)b;
    return a->repair_asks > 0;
}

static void a_lone_peer_resolves_nothing_and_a_refused_repair_is_not_sent(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {.browse_ms = LONE_BROWSE_MS, .is_repair_refused = true};
    wire_count_t early = {0}, later = {0};
    int fd;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer_with(&loop, &a, "lambda", 4111, 4);
    run_until(&loop, never, &a, &a, LONE_QUIET_FROM_MS);
    count_packets(fd, &early);
    run_until(&loop, repair_asked, &a, &a, LONE_REPAIR_BOUND_MS - LONE_QUIET_FROM_MS);
    run_until(&loop, never, &a, &a, LONE_AFTER_REPAIR_MS);
    count_packets(fd, &later);
    ls_discovery_stop(a.d);
    drain(&loop);
    close(fd);
    assert_true(early.responses >= 1);      /* the sniffer hears this peer */
    assert_true(early.browse_queries >= 1); /* and its first browse */
    assert_int_equal(early.record_queries + later.record_queries, 0);
    assert_int_equal(a.repair_asks, 1);
    assert_int_equal(later.browse_queries, 0);
}

/* Resolving once means once even when the answer binds no peer (here:
 * another protocol version, each side for the other): a resolver left
 * running re-asks at 1, 3, 7 ... s after its start with its answers as
 * known answers, which every peer on the link has to compare. */
static void a_resolution_binding_no_peer_is_not_repeated(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0}, b = {0};
    wire_count_t early = {0}, later = {0};
    int fd;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer_version(&loop, &a, "mu", 4112, 4, LS_PROTOCOL_VERSION);
    start_peer_version(&loop, &b, "nu", 4113, 4, LS_PROTOCOL_VERSION + 1);
    run_until(&loop, never, &a, &b, REPEAT_QUIET_FROM_MS);
    count_packets(fd, &early);
    run_until(&loop, never, &a, &b, REPEAT_WATCH_MS - REPEAT_QUIET_FROM_MS);
    count_packets(fd, &later);
    ls_discovery_stop(a.d);
    ls_discovery_stop(b.d);
    drain(&loop);
    close(fd);
    assert_int_equal(a.found + b.found, 0); /* neither reports the other */
    assert_int_equal(later.record_queries, 0);
}

static bool a_found_two(const peer_t *a, const peer_t *b)
{
    (void)b;
    return a->found >= 2;
}

/* Beyond resolve_first, a service whose announcement reached us is resolved
 * from avahi's cache (no query: ls_discovery_resolve_unknown is never
 * called here): a observer resolving only the first service it finds still
 * finds both peers announced after its start. */
static void deferred_services_resolve_from_the_cache(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0}, b = {0}, c = {0};

    if (!has_private_net)
        skip();
    assert_int_equal(uv_loop_init(&loop), 0);
    start_peer_with(&loop, &a, "theta", 4108, 1);
    run_until(&loop, never, &a, &b, 300);
    start_peer(&loop, &b, "iota", 4109);
    start_peer(&loop, &c, "kappa", 4110);
    assert_true(run_until(&loop, a_found_two, &a, &b, 5000));
    assert_int_equal(a.found, 2);
    ls_discovery_stop(a.d);
    ls_discovery_stop(b.d);
    ls_discovery_stop(c.d);
    drain(&loop);
}

/* One mDNS response announcing `count` services "<prefix><i>" of the
 * service type `type` (DNS wire form with its root label, `type_len`
 * bytes) that never resolve (no SRV, TXT or A record anywhere). */
static void announce_ptrs(int fd, const uint8_t *type, size_t type_len, const char *prefix,
                          int first, int count)
{
    uint8_t pkt[1500] = {0};
    size_t n = DNS_HEADER_LEN;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};

    inet_pton(AF_INET, MDNS_GROUP, &to.sin_addr);
    pkt[2] = DNS_FLAG_RESPONSE >> 8 | 0x04; /* QR, AA */
    pkt[7] = (uint8_t)count;
    for (int i = 0; i < count; i++) {
        char label[16];
        int len = snprintf(label, sizeof label, "%s%d", prefix, first + i);
        if (i == 0) {
            memcpy(pkt + n, type, type_len); /* with its root label */
            n += type_len;
        } else {
            pkt[n++] = 0xC0; /* a pointer to the first answer's name */
            pkt[n++] = DNS_HEADER_LEN;
        }
        const uint8_t rr[] = {
            0, DNS_TYPE_PTR,      0, DNS_CLASS_IN, 0, 0, BOGUS_TTL >> 8, BOGUS_TTL & 0xFF,
            0, (uint8_t)(len + 3)};
        memcpy(pkt + n, rr, sizeof rr);
        n += sizeof rr;
        pkt[n++] = (uint8_t)len;
        memcpy(pkt + n, label, (size_t)len);
        n += (size_t)len;
        pkt[n++] = 0xC0;
        pkt[n++] = DNS_HEADER_LEN;
    }
    assert_int_equal(sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
}

static void announce_bogus(int fd, int first, int count)
{
    static const uint8_t type[] = "\x0a_lanspread\x04_udp\x05local";
    announce_ptrs(fd, type, sizeof type, "bogus-", first, count);
}

static bool a_sees_b(const peer_t *a, const peer_t *b)
{
    return strcmp(a->seen_id, b->peer_id) == 0;
}

/* The browsed-service table is bounded (LS_DISCOVERY_SERVICES_MAX); when it
 * is full of services that never resolve, a real peer announced after them
 * still takes the place of the oldest one and is found. */
static void full_service_table_still_finds_a_new_peer(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0}, b = {0};
    int fd, bogus = LS_DISCOVERY_SERVICES_MAX + BOGUS_PER_PACKET;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer(&loop, &a, "zeta", 4106);
    run_until(&loop, never, &a, &b, 300);
    for (int i = 0; i < bogus; i += BOGUS_PER_PACKET) {
        announce_bogus(fd, i, BOGUS_PER_PACKET);
        run_until(&loop, never, &a, &b, 50);
    }
    run_until(&loop, never, &a, &b, 500);
    start_peer(&loop, &b, "eta", 4107);
    assert_true(run_until(&loop, a_sees_b, &a, &b, 10000));
    ls_discovery_stop(a.d);
    ls_discovery_stop(b.d);
    drain(&loop);
    close(fd);
}

/* A browse query for our service type. */
static void ask_for_services(int fd)
{
    static const uint8_t type[] = "\x0a_lanspread\x04_udp\x05local";
    uint8_t pkt[64] = {0};
    size_t n = DNS_HEADER_LEN;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};

    inet_pton(AF_INET, MDNS_GROUP, &to.sin_addr);
    pkt[5] = 1; /* one question */
    memcpy(pkt + n, type, sizeof type);
    n += sizeof type;
    pkt[n++] = 0;
    pkt[n++] = DNS_TYPE_PTR;
    pkt[n++] = 0;
    pkt[n++] = DNS_CLASS_IN;
    assert_int_equal(sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
}

/* A sender's identical response heard again within the window is dropped
 * before avahi reads it (repeat.h); a query sent twice, and a response
 * with other bytes, still reach avahi. Sent between the peer's own first
 * announcement (within 250 ms of its start) and its second (after 1 s),
 * which loop back to it too. */
static void a_repeated_response_is_dropped_before_avahi(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0};
    int fd;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer(&loop, &a, "lambda", 4111);
    run_until(&loop, never, &a, &a, 400);
    uint64_t before = ls_discovery_repeats_dropped(a.d);
    announce_bogus(fd, 0, 3);
    run_until(&loop, never, &a, &a, 50);
    announce_bogus(fd, 0, 3);
    run_until(&loop, never, &a, &a, 50);
    assert_int_equal(ls_discovery_repeats_dropped(a.d) - before, 1);
    announce_bogus(fd, 3, 3);
    ask_for_services(fd);
    ask_for_services(fd);
    run_until(&loop, never, &a, &a, 50);
    assert_int_equal(ls_discovery_repeats_dropped(a.d) - before, 1);
    ls_discovery_stop(a.d);
    drain(&loop);
    close(fd);
}

/* A response naming a service type nobody here browses: avahi caches it,
 * and no browser reports it. */
static void announce_other(int fd, int tag)
{
    static const uint8_t type[] = "\x06_other\x04_udp\x05local";
    announce_ptrs(fd, type, sizeof type, "other-", tag, 1);
}

/* Once its browse has ended and no resolver or cache look is live, a peer
 * hands avahi no response (nothing of ours would read what avahi files);
 * one heard while it browses still reaches avahi. It keeps answering
 * queries: a peer started then finds it. Sent between the peer's own
 * announcements (at its start, +1 s and +3 s), which loop back to it. */
static void responses_are_dropped_while_nothing_listens(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {.browse_ms = LONE_BROWSE_MS, .is_repair_refused = true}, b = {0};
    int fd;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer_with(&loop, &a, "xi", 4114, 4);
    run_until(&loop, never, &a, &a, 400);
    announce_other(fd, 0);
    run_until(&loop, never, &a, &a, 50);
    assert_int_equal(ls_discovery_unheard_dropped(a.d), 0); /* browsing */
    run_until(&loop, never, &a, &a, 1100);                  /* +1.55 s: browse ended */
    uint64_t before = ls_discovery_unheard_dropped(a.d);
    announce_other(fd, 1);
    run_until(&loop, never, &a, &a, 50);
    /* at least ours: other responders on the host (tests run side by
     * side, the peer's own announcements) may be dropped too */
    assert_true(ls_discovery_unheard_dropped(a.d) - before >= 1);
    start_peer(&loop, &b, "omicron", 4115);
    assert_true(run_until(&loop, a_sees_b, &b, &a, 10000));
    ls_discovery_stop(a.d);
    ls_discovery_stop(b.d);
    drain(&loop);
    close(fd);
}

/* The TXT record is published unannounced (only the PTR announces, and
 * carries it), but a new library revision is announced at once. */
static void an_updated_txt_record_is_announced(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0};
    wire_count_t before = {0}, after = {0};
    int fd;

    if (!has_private_net)
        skip();
    fd = sniffing_loop(&loop);
    start_peer(&loop, &a, "rho", 4116);
    run_until(&loop, never, &a, &a, TXT_QUIET_FROM_MS);
    count_packets(fd, &before);
    assert_int_equal(ls_discovery_update(a.d, 7, DG64), 0);
    run_until(&loop, never, &a, &a, TXT_ANNOUNCED_WITHIN_MS);
    count_packets(fd, &after);
    ls_discovery_stop(a.d);
    drain(&loop);
    close(fd);
    assert_true(before.responses >= 1);
    assert_true(after.responses >= 1);
}

/* A third mDNS host on the namespace's network, beside the responders. */
static int open_querier(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), one = 1, ttl = 255;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};
    struct in_addr ifa = {0};

    assert_true(fd >= 0);
    assert_int_equal(system("ip addr add " QUERIER_ADDRESS "/24 dev ls0 2>/dev/null || true"), 0);
    inet_pton(AF_INET, QUERIER_ADDRESS, &sa.sin_addr);
    inet_pton(AF_INET, QUERIER_ADDRESS, &ifa);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa), 0);
    assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl), 0);
    return fd;
}

static bool anyone_lost(const peer_t *a, const peer_t *b)
{
    return a->lost > 0 || b->lost > 0;
}

/* avahi drops a cached record once it heard several queries for it go
 * unanswered (RFC 6762 10.5, passive observation of failures). The
 * answers to repeated queries are byte-identical repeats; if the repeat
 * filter kept them all from avahi, two live peers would lose each other
 * after the fourth or fifth query: a repeat that follows a query passes. */
static void peers_answering_repeated_queries_stay_found(void **state)
{
    (void)state;
    uv_loop_t loop;
    peer_t a = {0}, b = {0};

    if (!has_private_net)
        skip();
    int q = open_querier();
    assert_int_equal(uv_loop_init(&loop), 0);
    start_peer(&loop, &a, "omicron", 4114);
    start_peer(&loop, &b, "pi", 4115);
    assert_true(run_until(&loop, both_found, &a, &b, 10000));
    run_until(&loop, anyone_lost, &a, &b, POOF_QUIET_MS);
    for (int k = 0; k < POOF_QUERIES && !anyone_lost(&a, &b); k++) {
        ask_for_services(q);
        run_until(&loop, anyone_lost, &a, &b, POOF_QUERY_GAP_MS);
    }
    run_until(&loop, anyone_lost, &a, &b, 2000);
    assert_int_equal(a.lost, 0);
    assert_int_equal(b.lost, 0);
    ls_discovery_stop(a.d);
    ls_discovery_stop(b.d);
    drain(&loop);
    close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(txt_encoded_record_decodes_to_the_same_fields),
        cmocka_unit_test(txt_keys_ignore_case_and_the_first_occurrence_wins),
        cmocka_unit_test(txt_uppercase_hex_is_lowercased),
        cmocka_unit_test(txt_malformed_records_are_refused),
        cmocka_unit_test(txt_of_another_version_reports_the_version_and_id),
        cmocka_unit_test(start_refuses_an_invalid_config),
        cmocka_unit_test(poll_timeout_fires_once_at_its_absolute_deadline),
        cmocka_unit_test(poll_disabled_timeout_never_fires),
        cmocka_unit_test(poll_watch_reports_input_and_may_be_freed_in_its_callback),
        cmocka_unit_test(poll_filter_keeps_what_it_reads_from_avahi),
        cmocka_unit_test(repeat_table_knows_a_sender_s_bytes_for_its_window),
        cmocka_unit_test(two_responders_find_update_and_lose_each_other),
        cmocka_unit_test(stop_inside_found_cb_ends_every_callback),
        cmocka_unit_test(start_announces_at_once_without_probes),
        cmocka_unit_test(a_lone_peer_resolves_nothing_and_a_refused_repair_is_not_sent),
        cmocka_unit_test(a_resolution_binding_no_peer_is_not_repeated),
        cmocka_unit_test(full_service_table_still_finds_a_new_peer),
        cmocka_unit_test(deferred_services_resolve_from_the_cache),
        cmocka_unit_test(a_repeated_response_is_dropped_before_avahi),
        cmocka_unit_test(responses_are_dropped_while_nothing_listens),
        cmocka_unit_test(peers_answering_repeated_queries_stay_found),
        cmocka_unit_test(an_updated_txt_record_is_announced),
    };
    /* The namespace is entered first: the earlier tests do not care. */
    return cmocka_run_group_tests(tests, enter_private_net, NULL);
}
