/* Logging in to the web UI.
 * One-time login links (the way Jupyter hands out its page): the daemon
 * prints http://ADDR:PORT/login?once=SECRET, `lanspread open` asks the API
 * for a fresh one, and GET /login?once=SECRET sets the session cookie once.
 * A secret works a single time and only until it expires, so a link left in
 * a terminal or a log is worth nothing later, and no local process gets the
 * cookie by merely asking for the page.
 * Sessions: the cookie a link sets is "ISSUED.MAC", ISSUED the Unix second
 * of the login and MAC = HMAC-SHA256(session key, cookie name "|" ISSUED).
 * The key lives in STATE/LS_HTTP_SESSION_KEY_FILE (0600, made once), so a
 * restarted daemon still accepts the cookie (the API token changes every
 * run); it is void LS_HTTP_SESSION_TTL_S after the login, however often it
 * is used, and deleting the key file voids every session at once.
 * Thread-safe: libmicrohttpd runs one thread per connection; the session
 * key is read-only once loaded. */
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

/* The session key: HMAC-SHA256 key of the session cookies. */
#define LS_HTTP_SESSION_KEY_SIZE 32
/* Its file in the state directory: 64 hex digits, mode 0600. */
#define LS_HTTP_SESSION_KEY_FILE "session.key"
/* How long a session lasts from its login, used or not: long enough for a
 * LAN party's weekend with restarts, short enough that a stolen cookie
 * dies with it. */
#define LS_HTTP_SESSION_TTL_S (7u * 24u * 3600u)
/* A cookie issued at most this far in the future is still taken (the wall
 * clock may step back a little between two runs). */
#define LS_HTTP_SESSION_SKEW_S 300u
/* "ISSUED.MAC": 20 digits, '.', 64 hex digits and the NUL. */
#define LS_HTTP_SESSION_COOKIE_SIZE 86

typedef struct {
    uint8_t key[LS_HTTP_SESSION_KEY_SIZE];
} ls__http_session_key_t;

/* Reads STATE/LS_HTTP_SESSION_KEY_FILE, making it (0600, random) when it
 * is missing; with state_dir NULL, a random key for this run only. A file
 * that is not 64 hex digits is replaced. Blocks (disk); call at start.
 * Returns 0, LS_EIO (no random bytes) or a file error. */
int ls__http_session_key_load(const char *state_dir, ls__http_session_key_t *key);

/* The cookie value of a session starting at now_s (Unix seconds), written
 * to out; cookie_name is bound into the MAC (one per port). */
void ls__http_session_make(const ls__http_session_key_t *key, const char *cookie_name,
                           uint64_t now_s, char out[LS_HTTP_SESSION_COOKIE_SIZE]);

/* True when `value` is a session this key made for cookie_name and it has
 * not expired at now_s. *expires_s (may be NULL) gets its end. */
bool ls__http_session_check(const ls__http_session_key_t *key, const char *cookie_name,
                            const char *value, uint64_t now_s, uint64_t *expires_s);

/* Equal strings, in time that depends only on their lengths. */
bool ls__http_secret_equal(const char *a, const char *b);

#endif
