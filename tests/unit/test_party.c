/* The party key: the generated form (format, entropy, typo check), the
 * derivation (Argon2id for passphrases, refusals) and the proof. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/party.h"

#include <argon2.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define KEYS 64
/* A key party-key new printed once, and the same with its first letter
 * changed so that the check fails. */
#define KNOWN_KEY "lhg6-fqym-ffki-fyqz-gt4i-ades-u7fp"
#define KNOWN_TYPO "ahg6-fqym-ffki-fyqz-gt4i-ades-u7fp"

static bool is_generated_form(const char *key)
{
    if (strlen(key) != LS_PARTY_KEY_TEXT_LEN - 1)
        return false;
    for (size_t i = 0; key[i]; i++) {
        bool is_dash = (i + 1) % (LS_PARTY_KEY_GROUP_LEN + 1) == 0;
        bool is_letter = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '2' && key[i] <= '7');
        if (is_dash ? key[i] != '-' : !is_letter)
            return false;
    }
    return true;
}

static int letter_bits(char c)
{
    return c >= 'a' ? c - 'a' : c - '2' + 26;
}

static void generated_keys_are_typeable_distinct_and_random(void **state)
{
    (void)state;
    char keys[KEYS][LS_PARTY_KEY_TEXT_LEN];
    size_t ones = 0, bits = 0;
    for (int i = 0; i < KEYS; i++) {
        ls_party_key_form_t form = 0;
        assert_int_equal(ls_party_key_generate(keys[i]), 0);
        assert_true(is_generated_form(keys[i]));
        assert_int_equal(ls_party_key_form(keys[i], strlen(keys[i]), &form), 0);
        assert_int_equal(form, LS_PARTY_KEY_GENERATED);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(keys[i], keys[j]);
        /* the first 25 letters are 125 of the random bits */
        for (size_t k = 0, letters = 0; letters < 25; k++) {
            if (keys[i][k] == '-')
                continue;
            ones += (size_t)__builtin_popcount((unsigned)letter_bits(keys[i][k]));
            bits += 5;
            letters++;
        }
    }
    /* 8000 random bits: about half set (binomial sd ~45) */
    assert_in_range(ones, bits / 2 - 300, bits / 2 + 300);
    assert_true(LS_PARTY_KEY_RANDOM_BITS >= 128);
}

static void generated_form_tolerates_case_and_spaces_and_catches_typos(void **state)
{
    (void)state;
    ls_party_key_t a, b;
    ls_party_key_form_t form = 0;
    assert_int_equal(ls_party_key_derive(KNOWN_KEY, strlen(KNOWN_KEY), &a, &form), 0);
    assert_int_equal(form, LS_PARTY_KEY_GENERATED);
    const char *spoken = "LHG6 FQYM FFKI FYQZ GT4I ADES U7FP";
    assert_int_equal(ls_party_key_derive(spoken, strlen(spoken), &b, &form), 0);
    assert_memory_equal(a.bytes, b.bytes, LS_PARTY_KEY_LEN);
    const char *joined = "lhg6fqymffkifyqzgt4iadesu7fp";
    assert_int_equal(ls_party_key_derive(joined, strlen(joined), &b, NULL), 0);
    assert_memory_equal(a.bytes, b.bytes, LS_PARTY_KEY_LEN);
    /* a typo is refused, not taken for a passphrase */
    assert_int_equal(ls_party_key_derive(KNOWN_TYPO, strlen(KNOWN_TYPO), &b, &form), LS_EINVAL);
    assert_int_equal(form, LS_PARTY_KEY_GENERATED);
}

/* A passphrase is Argon2id with the documented salt and parameters; the
 * comparison runs libargon2 directly, so a change of algorithm, cost or
 * salt fails here. The time it took is printed (a figure, not a verdict). */
static void passphrase_is_stretched_with_argon2id(void **state)
{
    (void)state;
    const char *pass = "correct horse battery staple";
    uint8_t expected[LS_PARTY_KEY_LEN];
    ls_party_key_t key;
    ls_party_key_form_t form = 0;
    uint64_t start = uv_hrtime();
    assert_int_equal(ls_party_key_derive(pass, strlen(pass), &key, &form), 0);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    assert_int_equal(form, LS_PARTY_KEY_PASSPHRASE);
    assert_int_equal(argon2id_hash_raw(3, 64 * 1024, 1, pass, strlen(pass),
                                       "lanspread party key v1", 22, expected, sizeof expected),
                     ARGON2_OK);
    assert_memory_equal(key.bytes, expected, sizeof expected);
    fprintf(stderr, "Argon2id (64 MiB, 3 passes) took %.3f s\n", seconds);
}

static void key_text_is_read_by_length(void **state)
{
    (void)state;
    ls_party_key_t a, b;
    assert_int_equal(ls_party_key_derive("lan\0party", 9, &a, NULL), LS_EINVAL);
    assert_int_equal(ls_party_key_derive("", 0, &a, NULL), LS_EINVAL);
    /* every byte counts: a longer passphrase is another key */
    assert_int_equal(ls_party_key_derive("lan-party-1", 11, &a, NULL), 0);
    assert_int_equal(ls_party_key_derive("lan-party-12", 12, &b, NULL), 0);
    assert_memory_not_equal(a.bytes, b.bytes, LS_PARTY_KEY_LEN);
}

static void proofs_differ_per_session_and_per_direction(void **state)
{
    (void)state;
    ls_party_key_t key, other;
    uint8_t session1[LS_PARTY_EXPORTER_LEN] = {1}, session2[LS_PARTY_EXPORTER_LEN] = {2};
    char p1[LS_SHA256_HEX_LEN + 1], p2[LS_SHA256_HEX_LEN + 1], back[LS_SHA256_HEX_LEN + 1];
    char wrong[LS_SHA256_HEX_LEN + 1];
    assert_int_equal(ls_party_key_derive(KNOWN_KEY, strlen(KNOWN_KEY), &key, NULL), 0);
    memset(&other, 0x5a, sizeof other);
    ls_party_proof(&key, session1, "a", "b", p1);
    ls_party_proof(&key, session2, "a", "b", p2);
    ls_party_proof(&key, session1, "b", "a", back);
    ls_party_proof(&other, session1, "a", "b", wrong);
    assert_string_not_equal(p1, p2);
    assert_string_not_equal(p1, back);
    assert_string_not_equal(p1, wrong);
    assert_true(ls_party_proof_equal(p1, p1));
    assert_false(ls_party_proof_equal(p2, p1));
    assert_false(ls_party_proof_equal(NULL, p1));
    assert_false(ls_party_proof_equal("", p1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_keys_are_typeable_distinct_and_random),
        cmocka_unit_test(generated_form_tolerates_case_and_spaces_and_catches_typos),
        cmocka_unit_test(passphrase_is_stretched_with_argon2id),
        cmocka_unit_test(key_text_is_read_by_length),
        cmocka_unit_test(proofs_differ_per_session_and_per_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
