/* The HTTP server of the control API: binds libmicrohttpd, enforces the
 * security rules (Host, Origin, per-run token or session cookie, bounded bodies) before any
 * route runs, serves the embedded web UI and the Server-Sent Events stream.
 * The JSON routes live in http_api.c. */
#include "app/http_internal.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"

#include <errno.h>
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const unsigned char ls_web_index_html[];
extern const size_t ls_web_index_html_len;
extern const unsigned char ls_web_app_js[];
extern const size_t ls_web_app_js_len;
extern const unsigned char ls_web_style_css[];
extern const size_t ls_web_style_css_len;

#define LS_SSE_KEEPALIVE_MS 15000

/* --- responses ------------------------------------------------------------ */

static void add_common_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

enum MHD_Result ls_http_send_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    return ls_http_send_json_text(conn, status, text);
}

enum MHD_Result ls_http_send_json_text(struct MHD_Connection *conn, unsigned status, char *text)
{
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    text[len] = '\n'; /* replace NUL: the buffer is handed over with its length */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len + 1, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    add_common_headers(resp, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result ls_http_send_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ls_http_send_json(conn, status,
                             json_pack("{s:s,s:I}", "error", msg, "status", (json_int_t)status));
}

static enum MHD_Result send_page(struct MHD_Connection *conn, unsigned status,
                                 const unsigned char *data, size_t len, const char *type,
                                 const char *cookie)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp, type);
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    if (cookie)
        MHD_add_response_header(resp, "Set-Cookie", cookie);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, const unsigned char *data,
                                   size_t len, const char *type, const char *cookie)
{
    return send_page(conn, MHD_HTTP_OK, data, len, type, cookie);
}

/* --- security ------------------------------------------------------------- */

static bool has_token(const ls_http_server_t *server, struct MHD_Connection *conn)
{
    const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, server->cookie_name);
    const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Lanspread-Token");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (cookie && ls__http_session_check(&server->session_key, server->cookie_name, cookie,
                                         (uint64_t)time(NULL), NULL))
        return true;
    if (header && ls__http_secret_equal(header, server->token))
        return true;
    return auth && strncmp(auth, "Bearer ", 7) == 0 &&
           ls__http_secret_equal(auth + 7, server->token);
}

/* --- web UI ---------------------------------------------------------------- */

#define LS_HTML_TYPE "text/html; charset=utf-8"

/* What a browser without the cookie sees: how to log in, never the token. */
static const char login_needed_page[] =
    "<!doctype html><meta charset=utf-8><title>Lanspread: log in</title>"
    "<h1>Lanspread</h1><p>Open the web UI through a login link: run "
    "<code>lanspread open</code> on this computer (it opens a new one-time link), "
    "or use the link the daemon printed when it started.</p>";
static const char login_refused_page[] =
    "<!doctype html><meta charset=utf-8><title>Lanspread: link spent</title>"
    "<h1>Lanspread</h1><p>This login link was already used or has expired. Run "
    "<code>lanspread open</code> on this computer for a new one.</p>";

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A new session from now on: the browser forgets the cookie when the
 * daemon would refuse it anyway. */
static void format_cookie(const ls_http_server_t *server, char *out, size_t out_len)
{
    char session[LS_HTTP_SESSION_COOKIE_SIZE];
    ls__http_session_make(&server->session_key, server->cookie_name, (uint64_t)time(NULL), session);
    snprintf(out, out_len, "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict",
             server->cookie_name, session, LS_HTTP_SESSION_TTL_S);
    memset(session, 0, sizeof session);
}

/* GET /login?once=SECRET: a pending link sets the cookie and sends the
 * browser to the page; the secret never works again. */
static enum MHD_Result serve_login(ls_http_server_t *server, struct MHD_Connection *conn)
{
    char cookie[LS_HTTP_TOKEN_MAX + 128];
    const char *once = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "once");
    if (!ls__http_logins_redeem(&server->logins, once, monotonic_ms()))
        return send_page(conn, MHD_HTTP_FORBIDDEN, (const unsigned char *)login_refused_page,
                         sizeof login_refused_page - 1, LS_HTML_TYPE, NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    format_cookie(server, cookie, sizeof cookie);
    add_common_headers(resp, LS_HTML_TYPE);
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    MHD_add_response_header(resp, "Location", "/");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SEE_OTHER, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result serve_ui(ls_http_server_t *server, struct MHD_Connection *conn,
                                const char *url)
{
    char cookie[LS_HTTP_TOKEN_MAX + 128];
    const char *given = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    bool is_given = given && ls__http_secret_equal(given, server->token);
    if (strcmp(url, "/app.js") == 0)
        return send_static(conn, ls_web_app_js, ls_web_app_js_len, "text/javascript", NULL);
    if (strcmp(url, "/style.css") == 0)
        return send_static(conn, ls_web_style_css, ls_web_style_css_len, "text/css", NULL);
    if (strcmp(url, "/favicon.ico") == 0) /* none: answered so browsers log no error */
        return send_static(conn, (const unsigned char *)"", 0, "image/x-icon", NULL);
    if (strcmp(url, LS_HTTP_LOGIN_PATH) == 0)
        return serve_login(server, conn);
    if (strcmp(url, "/") != 0 && strcmp(url, "/index.html") != 0)
        return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND, "no such page: %s", url);
    /* Asking for the page proves nothing (any local process can): the
     * cookie comes from a one-time link or from knowing the token. */
    if (!is_given && !has_token(server, conn))
        return send_page(conn, MHD_HTTP_UNAUTHORIZED, (const unsigned char *)login_needed_page,
                         sizeof login_needed_page - 1, LS_HTML_TYPE, NULL);
    if (is_given)
        format_cookie(server, cookie, sizeof cookie);
    return send_static(conn, ls_web_index_html, ls_web_index_html_len, LS_HTML_TYPE,
                       is_given ? cookie : NULL);
}

char *ls_http_login_url(ls_http_server_t *server)
{
    char secret[LS_HTTP_LOGIN_SECRET_SIZE];
    if (ls__http_logins_issue(&server->logins, monotonic_ms(), secret) != 0)
        return NULL;
    /* server->url ends in '/'; the login path starts with one */
    return ls_strdup_printf("%.*s%s?once=%s", (int)strlen(server->url) - 1, server->url,
                            LS_HTTP_LOGIN_PATH, secret);
}

/* --- event stream ------------------------------------------------------------ */

typedef struct {
    ls_http_server_t *server;
    uint64_t cursor;
    char *pending;
    size_t offset;
} ls_sse_client_t;

/* The games array is placed as the state encodes it (one game at a time),
 * the small documents around it; keys sorted, as json_dumps would. */
static char *sse_snapshot(ls_http_server_t *server)
{
    json_t *peers = ls_api_state_peers(server->state);
    json_t *status = ls_api_state_status(server->state);
    char *peers_text =
        peers ? json_dumps(json_object_get(peers, "peers"), JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *status_text = status ? json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *tail = peers_text && status_text
                     ? ls_strdup_printf(",\"peers\":%s,\"status\":%s}\n\n", peers_text, status_text)
                     : NULL;
    json_t *kept = ls__http_kept_records(server);
    char *out = tail ? ls_api_state_games_text_with(
                           server->state, "retry: 2000\nevent: snapshot\ndata: {\"games\":", tail,
                           ls__http_add_kept, kept)
                     : NULL;
    json_decref(kept);
    json_decref(peers);
    json_decref(status);
    free(peers_text);
    free(status_text);
    free(tail);
    return out;
}

static ssize_t sse_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    ls_sse_client_t *client = cls;
    if (!client->pending) {
        int got = ls_api_state_next_event(client->server->state, &client->cursor,
                                          LS_SSE_KEEPALIVE_MS, &client->pending);
        if (got < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (got == 0 && !(client->pending = strdup(": keepalive\n\n")))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        client->offset = 0;
    }
    size_t left = strlen(client->pending + client->offset);
    size_t n = left < max ? left : max;
    memcpy(buf, client->pending + client->offset, n);
    client->offset += n;
    if (client->offset == strlen(client->pending)) {
        free(client->pending);
        client->pending = NULL;
    }
    return (ssize_t)n;
}

static void sse_free_cb(void *cls)
{
    ls_sse_client_t *client = cls;
    free(client->pending);
    free(client);
}

static enum MHD_Result serve_events(ls_http_server_t *server, struct MHD_Connection *conn)
{
    ls_sse_client_t *client = calloc(1, sizeof *client);
    if (!client)
        return MHD_NO;
    client->server = server;
    /* cursor first: an event racing the snapshot is sent again, never lost */
    client->cursor = ls_api_state_cursor(server->state);
    client->pending = sse_snapshot(server);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read_cb, client, sse_free_cb);
    if (!resp) {
        sse_free_cb(client);
        return MHD_NO;
    }
    add_common_headers(resp, "text/event-stream");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* --- dispatch ------------------------------------------------------------------ */

static enum MHD_Result dispatch(ls_http_server_t *server, struct MHD_Connection *conn,
                                const char *url, const char *method, const ls_http_request_t *req)
{
    const char *why = NULL;
    unsigned refused = ls__http_gate(
        method, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"),
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"), server->port, &why);
    if (refused)
        return ls_http_send_error(conn, refused, "%s", why);
    if (req->is_too_big)
        return ls_http_send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                  "request body larger than %d bytes", LS_HTTP_BODY_MAX);
    if (strncmp(url, "/api/", 5) != 0) {
        if (strcmp(method, "GET") != 0)
            return ls_http_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET for pages");
        return serve_ui(server, conn, url);
    }
    if (!has_token(server, conn))
        return ls_http_send_error(conn, MHD_HTTP_UNAUTHORIZED,
                                  "missing or wrong API token (cookie, Authorization: Bearer, "
                                  "or X-Lanspread-Token)");
    if (strcmp(url, "/api/events") == 0 && strcmp(method, "GET") == 0)
        return serve_events(server, conn);
    return ls_http_api_route(server, conn, method, url, req);
}

/* Accumulates the body (bounded) across calls, then dispatches once. */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    ls_http_request_t *req = *con_cls;
    if (!req) {
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (ls__http_body_append(req, upload, *upload_size) != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(cls, conn, url, method, req);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    ls_http_request_t *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
    }
    *con_cls = NULL;
}

/* --- lifecycle ------------------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *is_loopback)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return LS_EINVAL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535 || end == colon + 1)
        return LS_EINVAL;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    size_t hl = strlen(host);
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *is_loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons((uint16_t)port);
            *is_loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
            return 0;
        }
    }
    return LS_EINVAL;
}

static char *random_token(void)
{
    unsigned char raw[32];
    char *hex = malloc(sizeof raw * 2 + 1);
    if (!hex || gnutls_rnd(GNUTLS_RND_RANDOM, raw, sizeof raw) < 0) {
        free(hex);
        return NULL;
    }
    ls_hex_encode(raw, sizeof raw, hex);
    return hex;
}

static int open_daemon(ls_http_server_t *server, const struct sockaddr_storage *ss,
                       const char *listen)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    server->mhd = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, server, MHD_OPTION_SOCK_ADDR,
                                   ss, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, server,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!server->mhd) /* MHD leaves bind's errno: "in use" gets its own message */
        return errno == EADDRINUSE ? LS_EADDRINUSE : LS_EIO;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->mhd, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : 0;
    const char *colon = strrchr(listen, ':');
    server->url = ls_strdup_printf("http://%.*s:%u/", (int)(colon - listen), listen, server->port);
    server->cookie_name = ls_strdup_printf("lanspread_session_%u", server->port);
    return server->url && server->cookie_name ? 0 : LS_ENOMEM;
}

int ls_http_start(const ls_http_config_t *config, ls_api_state_t *state, ls_peer_runtime_t *peer,
                  ls_http_server_t **out)
{
    struct sockaddr_storage ss;
    ls_http_server_t *server = calloc(1, sizeof *server);
    int rc = server ? 0 : LS_ENOMEM;
    if (rc != 0)
        goto out;
    server->state = state;
    server->peer = peer;
    ls__http_logins_init(&server->logins);
    if ((rc = parse_listen(config->listen, &ss, &server->is_loopback)) != 0)
        goto out;
    if (!server->is_loopback && (!config->token || strlen(config->token) < 16)) {
        rc = LS_ETOKEN; /* anyone on the network could drive the peer */
        goto out;
    }
    if (config->token && strlen(config->token) > LS_HTTP_TOKEN_MAX) {
        rc = LS_ETOOBIG;
        goto out;
    }
    server->token = config->token ? strdup(config->token) : random_token();
    server->config_path = config->config_path ? strdup(config->config_path) : NULL;
    server->state_dir = config->state_dir ? strdup(config->state_dir) : NULL;
    if (!server->token || (config->config_path && !server->config_path) ||
        (config->state_dir && !server->state_dir)) {
        rc = LS_ENOMEM;
        goto out;
    }
    if ((rc = ls__http_session_key_load(config->state_dir, &server->session_key)) != 0)
        goto out;
    if ((rc = open_daemon(server, &ss, config->listen)) != 0)
        goto out;
    ls_api_state_set_http(state, server->url);
    ls_info("http", "web UI and API on %s", server->url);
out:
    if (rc != 0) {
        ls_http_stop(server);
        server = NULL;
    }
    *out = server;
    return rc;
}

void ls_http_stop(ls_http_server_t *server)
{
    if (!server)
        return;
    if (server->mhd) {
        ls_api_state_close(server->state); /* ends every event stream */
        MHD_stop_daemon(server->mhd);
    }
    free(server->config_path);
    free(server->state_dir);
    free(server->url);
    free(server->token);
    free(server->cookie_name);
    ls__http_logins_destroy(&server->logins);
    memset(&server->session_key, 0, sizeof server->session_key);
    free(server);
}

const char *ls_http_url(const ls_http_server_t *server)
{
    return server->url;
}

const char *ls_http_token(const ls_http_server_t *server)
{
    return server->token;
}
