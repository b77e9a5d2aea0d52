/* Logging in to the web UI: one-time login links (a small table of random
 * secrets with deadlines) and the session cookies they set. */
#include "app/http_login.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ls__http_logins_init(ls__http_logins_t *l)
{
    memset(l->links, 0, sizeof l->links);
    pthread_mutex_init(&l->lock, NULL);
}

void ls__http_logins_destroy(ls__http_logins_t *l)
{
    memset(l->links, 0, sizeof l->links); /* no secret left in freed memory */
    pthread_mutex_destroy(&l->lock);
}

bool ls__http_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int ls__http_logins_issue(ls__http_logins_t *l, uint64_t now_ms,
                          char out[LS_HTTP_LOGIN_SECRET_SIZE])
{
    uint8_t raw[(LS_HTTP_LOGIN_SECRET_SIZE - 1) / 2];
    if (gnutls_rnd(GNUTLS_RND_RANDOM, raw, sizeof raw) < 0)
        return LS_EIO;
    ls_hex_encode(raw, sizeof raw, out);
    pthread_mutex_lock(&l->lock);
    /* a free or expired slot, else the one that expires first (the oldest) */
    ls__http_login_t *slot = &l->links[0];
    for (size_t i = 0; i < LS_HTTP_LOGINS_MAX; i++) {
        ls__http_login_t *it = &l->links[i];
        if (it->secret[0] == '\0' || it->expires_ms <= now_ms) {
            slot = it;
            break;
        }
        if (it->expires_ms < slot->expires_ms)
            slot = it;
    }
    memcpy(slot->secret, out, LS_HTTP_LOGIN_SECRET_SIZE);
    slot->expires_ms = now_ms + LS_HTTP_LOGIN_TTL_MS;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

bool ls__http_logins_redeem(ls__http_logins_t *l, const char *secret, uint64_t now_ms)
{
    bool is_valid = false;
    if (!secret || strlen(secret) != LS_HTTP_LOGIN_SECRET_SIZE - 1)
        return false;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < LS_HTTP_LOGINS_MAX; i++) {
        ls__http_login_t *it = &l->links[i];
        if (it->secret[0] == '\0' || !ls__http_secret_equal(it->secret, secret))
            continue;
        is_valid = now_ms < it->expires_ms;
        memset(it, 0, sizeof *it); /* single use: spent or expired, it is gone */
        break;
    }
    pthread_mutex_unlock(&l->lock);
    return is_valid;
}

/* --- sessions ------------------------------------------------------------- */

static int make_key_file(const char *path, ls__http_session_key_t *key)
{
    char hex[LS_HTTP_SESSION_KEY_SIZE * 2 + 1];
    if (gnutls_rnd(GNUTLS_RND_RANDOM, key->key, sizeof key->key) < 0)
        return LS_EIO;
    ls_hex_encode(key->key, sizeof key->key, hex);
    int rc = ls_fs_write_atomic_mode(path, hex, sizeof hex - 1, 0600);
    memset(hex, 0, sizeof hex);
    return rc;
}

int ls__http_session_key_load(const char *state_dir, ls__http_session_key_t *key)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (!state_dir) /* sessions end with this run */
        return gnutls_rnd(GNUTLS_RND_RANDOM, key->key, sizeof key->key) < 0 ? LS_EIO : 0;
    if (!(path = ls_path_join(state_dir, LS_HTTP_SESSION_KEY_FILE)))
        return LS_ENOMEM;
    rc = ls_fs_read_file(path, LS_HTTP_SESSION_KEY_SIZE * 2 + 1, &text, &len);
    if (rc == 0 && len == LS_HTTP_SESSION_KEY_SIZE * 2 &&
        ls_hex_decode(text, len, key->key, sizeof key->key) == 0)
        goto out;
    /* missing (first start, or deleted to end every session) or damaged:
     * a new key, so no earlier cookie works */
    rc = make_key_file(path, key);
out:
    if (text)
        memset(text, 0, len);
    free(text);
    free(path);
    return rc;
}

static void session_mac(const ls__http_session_key_t *key, const char *cookie_name,
                        uint64_t issued_s, char out[LS_HTTP_SESSION_KEY_SIZE * 2 + 1])
{
    char msg[LS_HTTP_TOKEN_MAX];
    uint8_t mac[32];
    int len = snprintf(msg, sizeof msg, "%s|%llu", cookie_name, (unsigned long long)issued_s);
    gnutls_hmac_fast(GNUTLS_MAC_SHA256, key->key, sizeof key->key, msg,
                     len > 0 && (size_t)len < sizeof msg ? (size_t)len : 0, mac);
    ls_hex_encode(mac, sizeof mac, out);
}

void ls__http_session_make(const ls__http_session_key_t *key, const char *cookie_name,
                           uint64_t now_s, char out[LS_HTTP_SESSION_COOKIE_SIZE])
{
    char mac[LS_HTTP_SESSION_KEY_SIZE * 2 + 1];
    session_mac(key, cookie_name, now_s, mac);
    snprintf(out, LS_HTTP_SESSION_COOKIE_SIZE, "%llu.%s", (unsigned long long)now_s, mac);
}

bool ls__http_session_check(const ls__http_session_key_t *key, const char *cookie_name,
                            const char *value, uint64_t now_s, uint64_t *expires_s)
{
    char mac[LS_HTTP_SESSION_KEY_SIZE * 2 + 1];
    const char *dot = value ? strchr(value, '.') : NULL;
    uint64_t issued = 0;
    if (!dot || dot == value || dot - value > 20)
        return false;
    for (const char *c = value; c < dot; c++) {
        if (*c < '0' || *c > '9' || issued > (UINT64_MAX - 9) / 10)
            return false;
        issued = issued * 10 + (uint64_t)(*c - '0');
    }
    session_mac(key, cookie_name, issued, mac);
    if (!ls__http_secret_equal(dot + 1, mac))
        return false;
    if (expires_s)
        *expires_s = issued + LS_HTTP_SESSION_TTL_S;
    /* bounded both ways: no cookie from far in the future outlives the TTL */
    return issued <= now_s + LS_HTTP_SESSION_SKEW_S && now_s < issued + LS_HTTP_SESSION_TTL_S;
}
