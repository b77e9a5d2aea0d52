/* One-time login links for the web UI (the way Jupyter hands out its page):
 * the daemon prints http://ADDR:PORT/login?once=SECRET, `lanspread open`
 * asks the API for a fresh one, and GET /login?once=SECRET sets the token
 * cookie once. A secret works a single time and only until it expires, so a
 * link left in a terminal or a log is worth nothing later, and no local
 * process gets the cookie by merely asking for the page.
 * Thread-safe: libmicrohttpd runs one thread per connection. */
#ifndef LS_APP_HTTP_LOGIN_H
#define LS_APP_HTTP_LOGIN_H

#include "app/http_server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Links not yet used; making one more forgets the oldest. */
#define LS_HTTP_LOGINS_MAX 16
/* 32 random bytes as hex, and the NUL. */
#define LS_HTTP_LOGIN_SECRET_SIZE 65

typedef struct {
    char secret[LS_HTTP_LOGIN_SECRET_SIZE]; /* "" for a free slot */
    uint64_t expires_ms;
} ls__http_login_t;

typedef struct {
    pthread_mutex_t lock;
    ls__http_login_t links[LS_HTTP_LOGINS_MAX];
} ls__http_logins_t;

void ls__http_logins_init(ls__http_logins_t *l);
void ls__http_logins_destroy(ls__http_logins_t *l);

/* A new secret valid until now_ms + LS_HTTP_LOGIN_TTL_MS, written to out.
 * Returns 0 or LS_EIO when no random bytes could be had. */
int ls__http_logins_issue(ls__http_logins_t *l, uint64_t now_ms,
                          char out[LS_HTTP_LOGIN_SECRET_SIZE]);

/* True when `secret` is a pending, unexpired link; it is spent either way
 * it matched (a second use and an expired link both get false). */
bool ls__http_logins_redeem(ls__http_logins_t *l, const char *secret, uint64_t now_ms);

/* Equal strings, in time that depends only on their lengths. */
bool ls__http_secret_equal(const char *a, const char *b);

#endif
