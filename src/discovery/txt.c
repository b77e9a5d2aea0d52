/* The `_lanspread._udp` TXT record: encoding ours and decoding what arrives
 * from the network. Decoding treats every byte as hostile: lengths, digits
 * and hex are checked before anything is copied. */
#include "lanspread/discovery.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PV_DIGITS_MAX 9   /* fits uint32_t without overflow checks */
#define REV_DIGITS_MAX 20 /* UINT64_MAX has 20 digits; overflow is checked */

enum { KEY_PV, KEY_ID, KEY_REV, KEY_DG, KEY_COUNT };

static const char *const key_names[KEY_COUNT] = {"pv", "id", "rev", "dg"};

/* One key=value string of the record, not NUL-terminated. */
typedef struct {
    const uint8_t *value;
    size_t len;
    bool is_present;
} txt_value_t;

static int key_index(const uint8_t *key, size_t len)
{
    for (int i = 0; i < KEY_COUNT; i++) {
        if (strlen(key_names[i]) == len && strncasecmp((const char *)key, key_names[i], len) == 0)
            return i;
    }
    return -1;
}

/* Splits the record into the values of the keys we know. */
static int split_record(const uint8_t *data, size_t len, txt_value_t values[KEY_COUNT])
{
    size_t off = 0;
    while (off < len) {
        size_t item_len = data[off++];
        if (item_len > len - off)
            return LS_ETXT;
        const uint8_t *item = data + off;
        off += item_len;
        const uint8_t *eq = memchr(item, '=', item_len);
        if (!eq)
            continue; /* empty string or boolean attribute: not ours */
        int k = key_index(item, (size_t)(eq - item));
        if (k < 0 || values[k].is_present)
            continue; /* unknown key, or a repeat: the first one wins */
        values[k].value = eq + 1;
        values[k].len = item_len - (size_t)(eq - item) - 1;
        values[k].is_present = true;
    }
    return 0;
}

static int parse_decimal(const txt_value_t *v, size_t max_digits, uint64_t max, uint64_t *out)
{
    if (!v->is_present || v->len == 0 || v->len > max_digits)
        return LS_ETXT;
    uint64_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->value[i] < '0' || v->value[i] > '9')
            return LS_ETXT;
        uint64_t digit = (uint64_t)(v->value[i] - '0');
        if (n > (max - digit) / 10)
            return LS_ETXT;
        n = n * 10 + digit;
    }
    *out = n;
    return 0;
}

/* Copies exactly 64 hex digits, lowercased, into out (65 bytes). */
static int parse_hex64(const txt_value_t *v, char out[LS_SHA256_HEX_LEN + 1])
{
    if (!v->is_present || v->len != LS_SHA256_HEX_LEN)
        return LS_ETXT;
    for (size_t i = 0; i < v->len; i++) {
        char c = (char)v->value[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return LS_ETXT;
        out[i] = c;
    }
    out[LS_SHA256_HEX_LEN] = '\0';
    return 0;
}

int ls_discovery_txt_parse(const uint8_t *data, size_t len, ls_discovery_txt_t *out)
{
    txt_value_t values[KEY_COUNT] = {0};
    uint64_t pv = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((!data && len) || len > LS_DISCOVERY_TXT_MAX)
        return LS_ETXT;
    rc = split_record(data, len, values);
    if (rc < 0)
        return rc;
    rc = parse_decimal(&values[KEY_PV], PV_DIGITS_MAX, UINT32_MAX, &pv);
    if (rc < 0)
        return rc;
    out->protocol_version = (uint32_t)pv;
    if (pv != LS_PROTOCOL_VERSION) {
        /* Another version may lay out its record differently: keep the id
         * only if it happens to be valid, for the once-per-peer log line. */
        if (parse_hex64(&values[KEY_ID], out->peer_id) < 0)
            out->peer_id[0] = '\0';
        return LS_EVERSION;
    }
    if (parse_hex64(&values[KEY_ID], out->peer_id) < 0 ||
        parse_decimal(&values[KEY_REV], REV_DIGITS_MAX, UINT64_MAX, &out->library_rev) < 0 ||
        parse_hex64(&values[KEY_DG], out->digest) < 0) {
        memset(out, 0, sizeof(*out));
        out->protocol_version = (uint32_t)pv;
        return LS_ETXT;
    }
    return 0;
}

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != LS_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < LS_SHA256_HEX_LEN; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* Appends one length-prefixed string. */
static int put_item(uint8_t *buf, size_t cap, size_t *off, const char *item)
{
    size_t n = strlen(item);
    if (n > 255 || cap - *off < n + 1)
        return LS_ETOOBIG;
    buf[(*off)++] = (uint8_t)n;
    memcpy(buf + *off, item, n);
    *off += n;
    return 0;
}

int ls_discovery_txt_encode(const ls_discovery_txt_t *txt, uint8_t *buf, size_t cap,
                            size_t *out_len)
{
    char item[4][80];
    size_t off = 0;
    int rc = 0;

    if (!is_hex64(txt->peer_id) || !is_hex64(txt->digest))
        return LS_EINVAL;
    snprintf(item[0], sizeof(item[0]), "pv=%u", (unsigned)txt->protocol_version);
    snprintf(item[1], sizeof(item[1]), "id=%s", txt->peer_id);
    snprintf(item[2], sizeof(item[2]), "rev=%llu", (unsigned long long)txt->library_rev);
    snprintf(item[3], sizeof(item[3]), "dg=%s", txt->digest);
    for (size_t i = 0; i < 4 && rc == 0; i++)
        rc = put_item(buf, cap, &off, item[i]);
    if (rc == 0)
        *out_len = off;
    return rc;
}
