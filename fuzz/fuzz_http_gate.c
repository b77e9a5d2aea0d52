/* libFuzzer target for the control API's request checks
 * (src/app/http_gate.c): Host, Origin, the body collected in pieces and its
 * JSON, and the game URLs. The input is split at NUL bytes into method,
 * Host, Origin, URL and body. Checked: a Host that passes is "localhost"
 * or an IP literal with our port; an Origin that passes is http:// + that
 * Host; the body never holds more than LS_HTTP_BODY_MAX and a parsed one is
 * an object; a split game URL gives an id within LS_HTTP_URL_ID_MAX and an
 * action without '/'. */
#include "app/http_gate.h"
#include "app/http_server.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PORT 7797
#define PARTS 5

/* An independent statement of the Host rule, for the differential check. */
static bool host_is_ours(const char *host)
{
    char name[80];
    unsigned char addr[16];
    const char *colon = strrchr(host, ':');
    if (!colon || strcmp(colon + 1, "7797") != 0 || (size_t)(colon - host) >= sizeof name)
        return false;
    memcpy(name, host, (size_t)(colon - host));
    name[colon - host] = '\0';
    if (strcmp(name, "localhost") == 0 || inet_pton(AF_INET, name, addr) == 1)
        return true;
    size_t len = strlen(name);
    if (len < 2 || name[0] != '[' || name[len - 1] != ']')
        return false;
    name[len - 1] = '\0';
    return inet_pton(AF_INET6, name + 1, addr) == 1;
}

static void check_body(const char *data, size_t size)
{
    ls_http_request_t req = {0};
    char why[256];
    /* in pieces of up to 7 bytes, then the whole again: both bounded */
    for (size_t pos = 0; pos < size;) {
        size_t n = size - pos < 7 ? size - pos : 7;
        if (ls__http_body_append(&req, data + pos, n) != 0)
            abort();
        pos += n;
    }
    if (req.len > LS_HTTP_BODY_MAX || (!req.is_too_big && req.len != size) ||
        (req.is_too_big && size <= LS_HTTP_BODY_MAX))
        abort();
    json_t *doc = ls__http_parse_body(&req, why, sizeof why);
    if (doc && !json_is_object(doc))
        abort();
    json_decref(doc);
    free(req.body);
}

static void check_game_url(const char *url)
{
    char id[LS_HTTP_URL_ID_MAX + 1], action[32];
    if (!ls__http_split_game_url(url, id, action, sizeof action))
        return;
    size_t id_len = strlen(id);
    if (id_len == 0 || id_len > LS_HTTP_URL_ID_MAX || strchr(id, '/') || strchr(action, '/') ||
        strncmp(url, id, id_len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    const char *part[PARTS] = {"GET", NULL, NULL, "", ""};
    size_t body_len = 0;
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    /* method \0 host \0 origin \0 url \0 body (the body keeps its NULs) */
    char *p = copy, *end = copy + size;
    for (int i = 0; i < PARTS && p <= end; i++) {
        part[i] = p;
        if (i == PARTS - 1) {
            body_len = (size_t)(end - p);
            break;
        }
        p += strlen(p) + 1;
    }
    const char *why = NULL;
    /* an empty Host or Origin part stands for a missing header */
    const char *host = part[1] && part[1][0] ? part[1] : NULL;
    const char *origin = part[2] && part[2][0] ? part[2] : NULL;
    unsigned status = ls__http_gate(part[0], host, origin, PORT, &why);
    if (status != 0 && (status != 403 || !why))
        abort();
    if (status == 0) {
        char want[512];
        if (!host || !host_is_ours(host))
            abort(); /* a Host we would not accept got through */
        snprintf(want, sizeof want, "http://%s", host);
        if (origin && strcmp(origin, want) != 0)
            abort();
    } else if (host && host_is_ours(host) && (!origin || strncmp(origin, "http://", 7) == 0) &&
               (!origin || strcmp(origin + 7, host) == 0)) {
        abort(); /* refused a request the rules allow */
    }
    check_game_url(part[3]);
    check_body(part[4], body_len);
    free(copy);
    return 0;
}
