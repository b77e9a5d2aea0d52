/* The party key: its generated form, its derivation (Argon2id for a
 * passphrase) and the session-bound proof carried in hello and hello_ack. */
#include "lanspread/party.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <argon2.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <string.h>
#include <sys/random.h>

#define RANDOM_BYTES (LS_PARTY_KEY_RANDOM_BITS / 8)
#define LETTERS (LS_PARTY_KEY_GROUPS * LS_PARTY_KEY_GROUP_LEN)
#define BITS_PER_LETTER 5
/* The random bytes and the check bits after them, padded to whole bytes. */
#define PACKED_BYTES ((LETTERS * BITS_PER_LETTER + 7) / 8)
#define CHECK_LABEL "lanspread party key check"
#define GENERATED_LABEL "lanspread party key v1|"
#define PROOF_LABEL LS_ALPN " party-proof|"

_Static_assert(RANDOM_BYTES * 8 + LS_PARTY_KEY_CHECK_BITS == LETTERS * BITS_PER_LETTER,
               "the generated form holds the random bits and the check bits exactly");

/* RFC 4648 base32, lowercase: no 0, 1, 8 or 9 to mistake for letters. */
static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* The check bits of a key's random bytes: the first LS_PARTY_KEY_CHECK_BITS
 * of SHA-256 over a label and the bytes, in the two bytes after them. */
static void check_bits(const uint8_t random[RANDOM_BYTES], uint8_t out[2])
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, sizeof CHECK_LABEL - 1, (const uint8_t *)CHECK_LABEL);
    sha256_update(&ctx, RANDOM_BYTES, random);
    sha256_digest(&ctx, sizeof digest, digest);
    out[0] = digest[0];
    out[1] = (uint8_t)(digest[1] & (0xFFu << (16 - LS_PARTY_KEY_CHECK_BITS)));
}

static unsigned get_bits(const uint8_t *buf, size_t bit, unsigned count)
{
    unsigned v = 0;
    for (unsigned i = 0; i < count; i++, bit++)
        v = (v << 1) | ((buf[bit / 8] >> (7 - bit % 8)) & 1u);
    return v;
}

static void put_bits(uint8_t *buf, size_t bit, unsigned count, unsigned v)
{
    for (unsigned i = 0; i < count; i++, bit++)
        if ((v >> (count - 1 - i)) & 1u)
            buf[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
}

int ls_party_key_generate(char out[LS_PARTY_KEY_TEXT_LEN])
{
    uint8_t packed[PACKED_BYTES] = {0};
    size_t at = 0;
    if (getrandom(packed, RANDOM_BYTES, 0) != RANDOM_BYTES)
        return LS_EIO;
    check_bits(packed, packed + RANDOM_BYTES);
    for (size_t i = 0; i < LETTERS; i++) {
        if (i > 0 && i % LS_PARTY_KEY_GROUP_LEN == 0)
            out[at++] = '-';
        out[at++] = alphabet[get_bits(packed, i * BITS_PER_LETTER, BITS_PER_LETTER)];
    }
    out[at] = '\0';
    explicit_bzero(packed, sizeof packed);
    return 0;
}

static int letter_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        c = (char)(c - 'A' + 'a');
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

/* The generated form's letters into packed bits: false when text is not in
 * the form (then it is a passphrase). Case does not matter; between two
 * groups there may be one dash or one space (or nothing). */
static bool unpack_generated(const char *text, size_t len, uint8_t packed[PACKED_BYTES])
{
    size_t letters = 0;
    bool may_separate = false; /* a group just ended */
    memset(packed, 0, PACKED_BYTES);
    for (size_t i = 0; i < len; i++) {
        if (may_separate && (text[i] == '-' || text[i] == ' ')) {
            may_separate = false;
            continue;
        }
        int v = letter_value(text[i]);
        if (v < 0 || letters == LETTERS)
            return false;
        put_bits(packed, letters * BITS_PER_LETTER, BITS_PER_LETTER, (unsigned)v);
        letters++;
        may_separate = letters % LS_PARTY_KEY_GROUP_LEN == 0 && letters < LETTERS;
    }
    return letters == LETTERS;
}

static bool check_matches(const uint8_t packed[PACKED_BYTES])
{
    uint8_t expected[2];
    check_bits(packed, expected);
    return memcmp(expected, packed + RANDOM_BYTES, sizeof expected) == 0;
}

int ls_party_key_form(const char *text, size_t len, ls_party_key_form_t *form)
{
    uint8_t packed[PACKED_BYTES];
    int rc = 0;
    *form = LS_PARTY_KEY_PASSPHRASE;
    if (unpack_generated(text, len, packed)) {
        *form = LS_PARTY_KEY_GENERATED;
        rc = check_matches(packed) ? 0 : LS_EINVAL;
    }
    explicit_bzero(packed, sizeof packed);
    return rc;
}

static void derive_generated(const uint8_t packed[PACKED_BYTES], ls_party_key_t *out)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, sizeof GENERATED_LABEL - 1, (const uint8_t *)GENERATED_LABEL);
    sha256_update(&ctx, RANDOM_BYTES, packed);
    sha256_digest(&ctx, LS_PARTY_KEY_LEN, out->bytes);
}

static int derive_passphrase(const char *text, size_t len, ls_party_key_t *out)
{
    int rc = argon2id_hash_raw(LS_PARTY_ARGON2_PASSES, LS_PARTY_ARGON2_MEMORY_KIB,
                               LS_PARTY_ARGON2_LANES, text, len, LS_PARTY_ARGON2_SALT,
                               sizeof LS_PARTY_ARGON2_SALT - 1, out->bytes, LS_PARTY_KEY_LEN);
    if (rc == ARGON2_OK)
        return 0;
    return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? LS_ENOMEM : LS_EINVAL;
}

int ls_party_key_derive(const char *text, size_t len, ls_party_key_t *out,
                        ls_party_key_form_t *form)
{
    uint8_t packed[PACKED_BYTES] = {0};
    ls_party_key_form_t found = LS_PARTY_KEY_PASSPHRASE;
    int rc = 0;
    memset(out, 0, sizeof *out);
    /* Used with its length: a NUL inside would be a secret cut short. */
    if (len == 0 || len > LS_PARTY_KEY_TEXT_MAX || memchr(text, '\0', len)) {
        rc = LS_EINVAL;
        goto out;
    }
    if (unpack_generated(text, len, packed)) {
        found = LS_PARTY_KEY_GENERATED;
        if (!check_matches(packed))
            rc = LS_EINVAL;
        else
            derive_generated(packed, out);
    } else {
        rc = derive_passphrase(text, len, out);
    }
out:
    explicit_bzero(packed, sizeof packed);
    if (form)
        *form = found;
    return rc;
}

static void update_text(struct hmac_sha256_ctx *ctx, const char *text)
{
    hmac_sha256_update(ctx, strlen(text), (const uint8_t *)text);
}

void ls_party_proof(const ls_party_key_t *key, const uint8_t exporter[LS_PARTY_EXPORTER_LEN],
                    const char *sender_id, const char *receiver_id, char out[LS_SHA256_HEX_LEN + 1])
{
    struct hmac_sha256_ctx ctx;
    uint8_t mac[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, LS_PARTY_KEY_LEN, key->bytes);
    update_text(&ctx, PROOF_LABEL);
    update_text(&ctx, sender_id);
    update_text(&ctx, "|");
    update_text(&ctx, receiver_id);
    update_text(&ctx, "|");
    hmac_sha256_update(&ctx, LS_PARTY_EXPORTER_LEN, exporter);
    hmac_sha256_digest(&ctx, sizeof mac, mac);
    ls_hex_encode(mac, sizeof mac, out);
}

bool ls_party_proof_equal(const char *received, const char *expected)
{
    size_t n = strlen(expected);
    if (!received || strlen(received) != n)
        return false;
    return nettle_memeql_sec(received, expected, n) != 0;
}
