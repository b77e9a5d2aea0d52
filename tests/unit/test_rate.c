/* Rates: the "50M" notation, the token bucket (on a fake clock) and the
 * shaper's per-downloader share, the arithmetic of the bandwidth limits. */
#include "testutil.h"

#include "app/limits.h"
#include "peer/shaper.h"

#include "lanspread/error.h"
#include "lanspread/rate.h"

#include <stdint.h>
#include <stdlib.h>

#define MIB (1024u * 1024u)

static void sizes_take_binary_suffixes_and_refuse_the_rest(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(ls_size_parse("0", LS_RATE_MAX, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ls_size_parse("500K", LS_RATE_MAX, &v), 0);
    assert_int_equal(v, 500 * 1024);
    assert_int_equal(ls_size_parse("50M", LS_RATE_MAX, &v), 0);
    assert_int_equal(v, 50ull * MIB);
    assert_int_equal(ls_size_parse("2G", LS_RATE_MAX, &v), 0);
    assert_int_equal(v, 2ull * 1024 * MIB);
    assert_int_equal(ls_size_parse("1234", LS_RATE_MAX, &v), 0);
    assert_int_equal(v, 1234);
    const char *bad[] = {"", "M", "-1M", "+5", " 5", "5 M", "5MB", "5m", "5.5M", "5T", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ls_size_parse(bad[i], LS_RATE_MAX, &v), LS_EINVAL);
    /* over the maximum, also through the suffix */
    assert_int_equal(ls_size_parse("2K", 2047, &v), LS_EINVAL);
    assert_int_equal(ls_size_parse("99999999999999999999", LS_RATE_MAX, &v), LS_EINVAL);
    assert_int_equal(ls_size_parse("1048577M", LS_RATE_MAX, &v), LS_EINVAL);
}

static void limits_parse_rates_and_a_share_in_percent(void **state)
{
    (void)state;
    ls_peer_limits_t l = {.max_upload = 0};
    uint32_t fields = 0;
    assert_int_equal(ls_app_limit_parse(ls_app_limit_find("max-upload"), "50M", &l, &fields), 0);
    assert_int_equal(ls_app_limit_parse(ls_app_limit_find("peer_upload_share"), "40%", &l, &fields),
                     0);
    assert_int_equal(l.max_upload, 50ull * MIB);
    assert_int_equal(l.peer_upload_share, 40);
    assert_int_equal(fields, LS_LIMIT_MAX_UPLOAD | LS_LIMIT_PEER_UPLOAD_SHARE);
    const ls_app_limit_t *share = ls_app_limit_find("peer-upload-share");
    assert_int_equal(ls_app_limit_parse(share, "0", &l, &fields), LS_EINVAL);
    assert_int_equal(ls_app_limit_parse(share, "101", &l, &fields), LS_EINVAL);
    assert_int_equal(ls_app_limit_parse(share, "5K", &l, &fields), LS_EINVAL);
    assert_int_equal(ls_app_limit_parse(share, "%", &l, &fields), LS_EINVAL);
    assert_null(ls_app_limit_find("max_speed"));
}

/* Takes as much as it may every `step_us` for `span_us`; returns the bytes. */
static uint64_t drain(ls_bucket_t *b, uint64_t *now, uint64_t step_us, uint64_t span_us,
                      uint64_t want)
{
    uint64_t total = 0;
    for (uint64_t end = *now + span_us; *now < end; *now += step_us)
        total += ls_bucket_take(b, *now, want);
    return total;
}

/* Over 10 s, greedy takes get the rate and one burst: never more. */
static void bucket_holds_its_rate_over_time(void **state)
{
    (void)state;
    ls_bucket_t b;
    uint64_t now = 5 * LS_US_PER_S;
    const uint64_t rate = 4 * MIB;
    ls_bucket_init(&b, rate, now);
    uint64_t got = drain(&b, &now, 1000, 10 * LS_US_PER_S, 64 * 1024);
    uint64_t burst = rate / LS_BUCKET_BURST_DIV;
    assert_true(got <= rate * 10 + burst);
    assert_true(got >= rate * 10 - rate / 100);
    /* a take never goes past what was earned */
    assert_true(ls_bucket_take(&b, now, 64 * 1024) <= rate / 1000 + 1);
}

/* A slow rate polled far more often than it earns a byte still earns every
 * byte: the remainder is carried, not dropped. */
static void bucket_slow_rate_polled_often_loses_nothing(void **state)
{
    (void)state;
    ls_bucket_t b;
    uint64_t now = 0;
    const uint64_t rate = 3000; /* 0.3 bytes per 100 us */
    ls_bucket_init(&b, rate, now);
    ls_bucket_take(&b, now, UINT64_MAX); /* empty */
    uint64_t got = drain(&b, &now, 100, 20 * LS_US_PER_S, 1);
    assert_true(got >= rate * 20 - 1 && got <= rate * 20);
}

/* A charge is a debt: nothing is granted until it is paid, and the wait
 * says when that is. */
static void bucket_charge_is_a_debt_waited_out(void **state)
{
    (void)state;
    ls_bucket_t b;
    uint64_t now = 1000;
    ls_bucket_init(&b, MIB, now);
    ls_bucket_take(&b, now, UINT64_MAX);
    ls_bucket_charge(&b, now, MIB);
    assert_int_equal(ls_bucket_take(&b, now + LS_US_PER_S / 2, 1), 0);
    uint64_t wait = ls_bucket_wait_us(&b, now + LS_US_PER_S / 2, 1);
    assert_true(wait >= LS_US_PER_S / 2 - 10 && wait <= LS_US_PER_S / 2 + 10);
    assert_int_equal(ls_bucket_take(&b, now + LS_US_PER_S + 1000, 1), 1);
}

static void bucket_unlimited_grants_everything_and_forgives_debt(void **state)
{
    (void)state;
    ls_bucket_t b;
    ls_bucket_init(&b, MIB, 0);
    ls_bucket_charge(&b, 0, 100 * MIB);
    assert_int_equal(ls_bucket_take(&b, 1, 10), 0);
    ls_bucket_set_rate(&b, 0, 2);
    assert_int_equal(ls_bucket_take(&b, 3, 100 * MIB), 100 * MIB);
    assert_int_equal(ls_bucket_wait_us(&b, 3, 100 * MIB), 0);
    /* back to a limit: it starts from a full burst, not from a debt */
    ls_bucket_set_rate(&b, MIB, 4);
    assert_true(ls_bucket_take(&b, 4, UINT64_MAX) > 0);
}

/* Days between refills, at the largest rate: no overflow, a full bucket. */
static void bucket_long_idle_at_the_top_rate_does_not_overflow(void **state)
{
    (void)state;
    ls_bucket_t b;
    ls_bucket_init(&b, LS_RATE_MAX, 0);
    ls_bucket_charge(&b, 0, LS_RATE_MAX);
    uint64_t got = ls_bucket_take(&b, 10 * 86400 * LS_US_PER_S, UINT64_MAX);
    assert_int_equal(got, LS_RATE_MAX / LS_BUCKET_BURST_DIV);
}

/* Bytes lane A gets in one go right now (the clock barely moves). */
static uint64_t grab(ls__shaper_t *sh, const void *lane, ls_net_stream_t *s)
{
    uint64_t total = 0;
    size_t n;
    while ((n = ls__shaper_upload_grant(sh, lane, s, 4096)) > 0 && total < 64 * MIB)
        total += n;
    return total;
}

/* Alone, a downloader may take the whole limit; while another one wants
 * bytes, at most its share. The streams are never resumed here (the loop
 * does not run), so stand-in handles do. */
static void shaper_holds_one_downloader_to_its_share_while_another_waits(void **state)
{
    (void)state;
    uv_loop_t loop;
    ls__shaper_t *sh;
    int lane_a, lane_b;
    ls_net_stream_t *sa = (ls_net_stream_t *)&lane_a, *sb = (ls_net_stream_t *)&lane_b;
    uv_loop_init(&loop);
    assert_int_equal(ls__shaper_new(&loop, NULL, NULL, &sh), 0);
    ls__shaper_set_upload(sh, 64 * MIB, 25);
    uint64_t burst = 64 * MIB / LS_BUCKET_BURST_DIV;
    uint64_t alone = grab(sh, &lane_a, sa);
    assert_true(alone >= burst - 4096 && alone < burst + 64 * 1024);
    /* B arrives and waits for the (empty) bucket: A now competes. What the
     * bucket regained since A's grab (a slow build: ASan) goes to B first;
     * its last ask gets nothing, so it waits. */
    (void)grab(sh, &lane_b, sb);
    ls__shaper_set_upload(sh, 64 * MIB, 25); /* refills nothing, rates the lanes */
    uint64_t start = uv_hrtime(), end = start;
    uint64_t a = 0, b = 0;
    while (end - start < 300 * 1000 * 1000ull) { /* 0.3 s of both asking all the time */
        a += grab(sh, &lane_a, sa);
        b += grab(sh, &lane_b, sb);
        end = uv_hrtime();
    }
    /* a 25 % share of 64 MiB/s over the time it ran (about 4.8 MiB in
     * 0.3 s), plus the lane's burst (a quarter of the global one); shared
     * evenly without the share, each would get twice that */
    uint64_t bound = (uint64_t)(64.0 * MIB / 4 * (double)(end - start) / 1e9) + burst / 4 + MIB / 4;
    print_message("A got %llu, B got %llu bytes (bound %llu)\n", (unsigned long long)a,
                  (unsigned long long)b, (unsigned long long)bound);
    assert_true(a <= bound);
    assert_true(b <= bound);
    assert_true(a > 0 && b > 0);
    ls__shaper_close_handles(sh);
    uv_run(&loop, UV_RUN_DEFAULT);
    ls__shaper_free(sh);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_take_binary_suffixes_and_refuse_the_rest),
        cmocka_unit_test(limits_parse_rates_and_a_share_in_percent),
        cmocka_unit_test(bucket_holds_its_rate_over_time),
        cmocka_unit_test(bucket_slow_rate_polled_often_loses_nothing),
        cmocka_unit_test(bucket_charge_is_a_debt_waited_out),
        cmocka_unit_test(bucket_unlimited_grants_everything_and_forgives_debt),
        cmocka_unit_test(bucket_long_idle_at_the_top_rate_does_not_overflow),
        cmocka_unit_test(shaper_holds_one_downloader_to_its_share_while_another_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
