/* One-time login links of the web UI (src/app/http_login.c): a link works
 * once, only until it expires, and making many forgets the oldest first. */
#include "testutil.h"

#include "app/http_login.h"

#include <string.h>

#define T0 1000000u /* any monotonic start */

static void a_link_works_once(void **state)
{
    ls__http_logins_t l;
    char secret[LS_HTTP_LOGIN_SECRET_SIZE];
    ls__http_logins_init(&l);
    assert_int_equal(ls__http_logins_issue(&l, T0, secret), 0);
    assert_int_equal(strlen(secret), LS_HTTP_LOGIN_SECRET_SIZE - 1);
    assert_true(ls__http_logins_redeem(&l, secret, T0 + 1));
    assert_false(ls__http_logins_redeem(&l, secret, T0 + 2));
    ls__http_logins_destroy(&l);
}

static void an_expired_link_is_refused_and_spent(void **state)
{
    ls__http_logins_t l;
    char fresh[LS_HTTP_LOGIN_SECRET_SIZE], old[LS_HTTP_LOGIN_SECRET_SIZE];
    ls__http_logins_init(&l);
    assert_int_equal(ls__http_logins_issue(&l, T0, old), 0);
    assert_int_equal(ls__http_logins_issue(&l, T0, fresh), 0);
    /* the last millisecond still works; the deadline itself does not */
    assert_true(ls__http_logins_redeem(&l, fresh, T0 + LS_HTTP_LOGIN_TTL_MS - 1));
    assert_false(ls__http_logins_redeem(&l, old, T0 + LS_HTTP_LOGIN_TTL_MS));
    assert_false(ls__http_logins_redeem(&l, old, T0)); /* gone, even if the clock lied */
    ls__http_logins_destroy(&l);
}

static void wrong_or_partial_secrets_are_refused(void **state)
{
    ls__http_logins_t l;
    char secret[LS_HTTP_LOGIN_SECRET_SIZE], wrong[LS_HTTP_LOGIN_SECRET_SIZE];
    ls__http_logins_init(&l);
    assert_int_equal(ls__http_logins_issue(&l, T0, secret), 0);
    memcpy(wrong, secret, sizeof wrong);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_false(ls__http_logins_redeem(&l, wrong, T0));
    assert_false(ls__http_logins_redeem(&l, "", T0));
    assert_false(ls__http_logins_redeem(&l, NULL, T0));
    wrong[0] = secret[0];
    wrong[LS_HTTP_LOGIN_SECRET_SIZE - 2] = '\0'; /* a prefix */
    assert_false(ls__http_logins_redeem(&l, wrong, T0));
    assert_true(ls__http_logins_redeem(&l, secret, T0)); /* none of those spent it */
    ls__http_logins_destroy(&l);
}

static void many_links_forget_the_oldest(void **state)
{
    ls__http_logins_t l;
    char first[LS_HTTP_LOGIN_SECRET_SIZE], s[LS_HTTP_LOGIN_SECRET_SIZE];
    ls__http_logins_init(&l);
    assert_int_equal(ls__http_logins_issue(&l, T0, first), 0);
    for (unsigned i = 1; i <= LS_HTTP_LOGINS_MAX; i++)
        assert_int_equal(ls__http_logins_issue(&l, T0 + i, s), 0);
    assert_false(ls__http_logins_redeem(&l, first, T0 + LS_HTTP_LOGINS_MAX));
    assert_true(ls__http_logins_redeem(&l, s, T0 + LS_HTTP_LOGINS_MAX));
    ls__http_logins_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_link_works_once),
        cmocka_unit_test(an_expired_link_is_refused_and_spent),
        cmocka_unit_test(wrong_or_partial_secrets_are_refused),
        cmocka_unit_test(many_links_forget_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
