/* Discovery in one process: the TXT codec (network input), the
 * AvahiPoll-on-libuv bridge and, when root, two responders talking inside a
 * private network namespace. Discovery between hosts is tested in
 * tests/netns/test_discovery.sh. */
#include "testutil.h"

#include "discovery/uv_avahi_poll.h"
#include "lanspread/discovery.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/proto.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    const char *items[] = {"PV=4", ("Id=" ID64), "rev=7", "rev=9", ("DG=" DG64), "flag", "", "x=y"};
    ls_discovery_txt_t out;

    assert_int_equal(parse_items(items, 8, &out), 0);
    assert_true(out.library_rev == 7);
    assert_string_equal(out.peer_id, ID64);
}

static void txt_uppercase_hex_is_lowercased(void **state)
{
    (void)state;
    const char *items[] = {"pv=4",
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
    const char *missing_rev[] = {"pv=4", ("id=" ID64), ("dg=" DG64)};
    const char *short_id[] = {"pv=4", ("id=" ID63), "rev=1", ("dg=" DG64)};
    const char *bad_hex[] = {"pv=4", ("id=" ID64), "rev=1", ("dg=g" ID63)};
    const char *overflow[] = {"pv=4", ("id=" ID64), "rev=18446744073709551616", ("dg=" DG64)};
    const char *signed_rev[] = {"pv=4", ("id=" ID64), "rev=+1", ("dg=" DG64)};
    const char *empty_rev[] = {"pv=4", ("id=" ID64), "rev=", ("dg=" DG64)};
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
} peer_t;

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

static void start_peer(uv_loop_t *loop, peer_t *p, const char *name, uint16_t port)
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
                                 .userdata = p};
    assert_int_equal(ls_discovery_start(loop, &cfg, &p->d), 0);
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
        cmocka_unit_test(two_responders_find_update_and_lose_each_other),
        cmocka_unit_test(stop_inside_found_cb_ends_every_callback),
    };
    /* The namespace is entered first: the earlier tests do not care. */
    return cmocka_run_group_tests(tests, enter_private_net, NULL);
}
