/* Request checks of the control API, apart from the server so that they can
 * be fuzzed. */
#include "app/http_gate.h"

#include "app/http_server.h"

#include "lanspread/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_FORBIDDEN 403

int ls__http_body_append(ls_http_request_t *req, const char *data, size_t len)
{
    if (req->is_too_big || len > LS_HTTP_BODY_MAX - req->len) {
        req->is_too_big = true; /* keep reading, answer 413 at the end */
        return 0;
    }
    char *grown = realloc(req->body, req->len + len + 1);
    if (!grown)
        return LS_ENOMEM;
    req->body = grown;
    memcpy(req->body + req->len, data, len);
    req->len += len;
    req->body[req->len] = '\0';
    return 0;
}

static bool is_ip_literal(const char *host, size_t len)
{
    char buf[INET6_ADDRSTRLEN + 2];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len == 0 || len >= sizeof buf)
        return false;
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
        return inet_pton(AF_INET6, buf, addr) == 1;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1;
}

/* A name an attacker controls (DNS rebinding) never reaches a route. */
bool ls__http_host_allowed(const char *host, unsigned port)
{
    const char *colon = host ? strrchr(host, ':') : NULL;
    char want[16];
    if (!colon || (host[0] == '[' && colon < strchr(host, ']')))
        return false;
    snprintf(want, sizeof want, "%u", port);
    if (strcmp(colon + 1, want) != 0)
        return false;
    size_t len = (size_t)(colon - host);
    return (len == 9 && strncmp(host, "localhost", 9) == 0) || is_ip_literal(host, len);
}

static bool is_origin_ours(const char *origin, const char *host)
{
    return strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

unsigned ls__http_gate(const char *method, const char *host, const char *origin, unsigned port,
                       const char **why)
{
    bool is_read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!ls__http_host_allowed(host, port)) {
        *why = "Host header not allowed: use localhost or an IP address";
        return HTTP_FORBIDDEN;
    }
    /* Browsers send Origin on cross-site reads too; a page elsewhere gets
     * nothing, and for changes the Origin must be ours. */
    if (origin && !is_origin_ours(origin, host)) {
        *why = is_read ? "cross-origin request refused" : "cross-origin change refused";
        return HTTP_FORBIDDEN;
    }
    return 0;
}

json_t *ls__http_parse_body(const ls_http_request_t *req, char *why, size_t why_len)
{
    json_error_t err;
    if (req->len == 0)
        return json_object();
    json_t *doc = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        snprintf(why, why_len, "malformed JSON at line %d column %d: %s", err.line, err.column,
                 err.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        snprintf(why, why_len, "the body must be a JSON object");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

bool ls__http_split_game_url(const char *url, char *id, char *action, size_t action_len)
{
    const char *slash = strchr(url, '/');
    size_t id_len = slash ? (size_t)(slash - url) : strlen(url);
    if (id_len == 0 || id_len > LS_HTTP_URL_ID_MAX)
        return false;
    memcpy(id, url, id_len);
    id[id_len] = '\0';
    snprintf(action, action_len, "%s", slash ? slash + 1 : "");
    return strchr(action, '/') == NULL;
}
