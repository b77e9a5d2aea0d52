/* Logging in to the web UI (src/app/http_login.c): a one-time link works
 * once, only until it expires, and making many forgets the oldest first; a
 * session cookie outlives a restart (the key is in the state directory) but
 * not its lifetime, and deleting the key ends every session. */
#include "testutil.h"

#include "app/http_login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

#define NOW_S 1767225600u /* any wall-clock time */
#define COOKIE "lanspread_session_7797"

static void a_session_lasts_its_lifetime_and_no_longer(void **state)
{
    ls__http_session_key_t key;
    char value[LS_HTTP_SESSION_COOKIE_SIZE];
    uint64_t expires = 0;
    assert_int_equal(ls__http_session_key_load(NULL, &key), 0);
    ls__http_session_make(&key, COOKIE, NOW_S, value);
    assert_true(ls__http_session_check(&key, COOKIE, value, NOW_S, &expires));
    assert_int_equal(expires, NOW_S + LS_HTTP_SESSION_TTL_S);
    assert_true(
        ls__http_session_check(&key, COOKIE, value, NOW_S + LS_HTTP_SESSION_TTL_S - 1, NULL));
    assert_false(ls__http_session_check(&key, COOKIE, value, NOW_S + LS_HTTP_SESSION_TTL_S, NULL));
    /* a login "from the future" counts only within the clock skew */
    assert_true(ls__http_session_check(&key, COOKIE, value, NOW_S - LS_HTTP_SESSION_SKEW_S, NULL));
    assert_false(
        ls__http_session_check(&key, COOKIE, value, NOW_S - LS_HTTP_SESSION_SKEW_S - 1, NULL));
}

static void a_forged_session_is_refused(void **state)
{
    ls__http_session_key_t key, other;
    char value[LS_HTTP_SESSION_COOKIE_SIZE], forged[LS_HTTP_SESSION_COOKIE_SIZE + 8];
    assert_int_equal(ls__http_session_key_load(NULL, &key), 0);
    assert_int_equal(ls__http_session_key_load(NULL, &other), 0);
    ls__http_session_make(&key, COOKIE, NOW_S, value);
    assert_false(ls__http_session_check(&other, COOKIE, value, NOW_S, NULL));
    assert_false(ls__http_session_check(&key, "lanspread_session_7798", value, NOW_S, NULL));
    /* a later login time with the old signature: no longer life by editing */
    snprintf(forged, sizeof forged, "%u%s", NOW_S + 1, strchr(value, '.'));
    assert_false(ls__http_session_check(&key, COOKIE, forged, NOW_S + 1, NULL));
    value[strlen(value) - 1] ^= 1;
    assert_false(ls__http_session_check(&key, COOKIE, value, NOW_S, NULL));
    const char *junk[] = {"",  ".", "abc", ".00", "123", "-1.00", "99999999999999999999999.00",
                          NULL};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        assert_false(ls__http_session_check(&key, COOKIE, junk[i], NOW_S, NULL));
}

static void the_session_key_survives_a_restart_until_deleted(void **state)
{
    char *dir = ls_test_mkdtemp("session"), path[4096];
    char value[LS_HTTP_SESSION_COOKIE_SIZE];
    struct stat st;
    ls__http_session_key_t first, again, after_delete;
    snprintf(path, sizeof path, "%s/%s", dir, LS_HTTP_SESSION_KEY_FILE);
    assert_int_equal(ls__http_session_key_load(dir, &first), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ls__http_session_make(&first, COOKIE, NOW_S, value);
    /* the next run reads the same key: the cookie still works */
    assert_int_equal(ls__http_session_key_load(dir, &again), 0);
    assert_true(ls__http_session_check(&again, COOKIE, value, NOW_S + 1, NULL));
    /* deleting the file logs every browser out */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(ls__http_session_key_load(dir, &after_delete), 0);
    assert_false(ls__http_session_check(&after_delete, COOKIE, value, NOW_S + 1, NULL));
    ls_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_link_works_once),
        cmocka_unit_test(an_expired_link_is_refused_and_spent),
        cmocka_unit_test(wrong_or_partial_secrets_are_refused),
        cmocka_unit_test(many_links_forget_the_oldest),
        cmocka_unit_test(a_session_lasts_its_lifetime_and_no_longer),
        cmocka_unit_test(a_forged_session_is_refused),
        cmocka_unit_test(the_session_key_survives_a_restart_until_deleted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
