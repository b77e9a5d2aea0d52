/* One-time login links: a small table of random secrets with deadlines. */
#include "app/http_login.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
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
