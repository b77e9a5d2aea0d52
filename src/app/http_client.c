/* The CLI's HTTP client: plain sockets to the loopback API, HTTP/1.0 so every
 * answer ends with the connection (no chunked decoding), every read bounded
 * in size and in time. */
#include "app/http_client.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The port in [p, end): 1 to 5 decimal digits, 1..65535; 0 when it is not. */
static int parse_port(const char *p, const char *end)
{
    long port = 0;
    if (p == end || end - p > 5)
        return 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        port = port * 10 + (*p - '0');
    }
    return port <= 65535 ? (int)port : 0;
}

int ls_httpc_target(const char *url, const char *token, ls_httpc_target_t *out)
{
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    const char *end = p + strcspn(p, "/");
    const char *colon = NULL;
    unsigned char addr[16];
    memset(out, 0, sizeof *out);
    for (const char *c = p; c < end; c++)
        if (*c == ':')
            colon = c;
    if (!colon || (size_t)(end - p) >= sizeof out->host || (size_t)(colon - p) >= sizeof out->addr)
        return LS_EINVAL;
    memcpy(out->host, p, (size_t)(end - p));
    out->port = parse_port(colon + 1, end);
    if (p[0] == '[' && colon[-1] == ']')
        memcpy(out->addr, p + 1, (size_t)(colon - p - 2));
    else
        memcpy(out->addr, p, (size_t)(colon - p));
    if (strcmp(out->addr, "localhost") == 0)
        snprintf(out->addr, sizeof out->addr, "%s", "127.0.0.1");
    out->token = token;
    if (out->port <= 0 || out->port > 65535)
        return LS_EINVAL;
    if (inet_pton(AF_INET, out->addr, addr) == 1)
        return addr[0] == 127 ? 0 : LS_EINVAL;
    if (inet_pton(AF_INET6, out->addr, addr) == 1)
        return strcmp(out->addr, "::1") == 0 ? 0 : LS_EINVAL;
    return LS_EINVAL;
}

static int connect_target(const ls_httpc_target_t *t)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, t->addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)t->port);
        len = sizeof *v4;
    } else {
        inet_pton(AF_INET6, t->addr, &v6->sin6_addr);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)t->port);
        len = sizeof *v6;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ls_error_from_errno(errno);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int rc = errno == ECONNREFUSED ? LS_ENODAEMON : ls_error_from_errno(errno);
        close(fd);
        return rc;
    }
    return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return LS_EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_request(int fd, const ls_httpc_target_t *t, const char *method, const char *path,
                        const char *body)
{
    size_t body_len = body ? strlen(body) : 0;
    char *head = ls_strdup_printf("%s %s HTTP/1.0\r\nHost: %s\r\nX-Lanspread-Token: %s\r\n"
                                  "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                                  "User-Agent: lanspread-cli\r\n\r\n",
                                  method, path, t->host, t->token ? t->token : "", body_len);
    int rc = head ? send_all(fd, head, strlen(head)) : LS_ENOMEM;
    if (rc == 0 && body_len)
        rc = send_all(fd, body, body_len);
    free(head);
    return rc;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends what arrives before the deadline; 0 at end of stream, 1 if more
 * may come, or a negative code. */
static int read_some(int fd, char **buf, size_t *len, size_t max, long long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    long long left = deadline - now_ms();
    if (left <= 0)
        return LS_ETIMEDOUT;
    int ready = poll(&pfd, 1, (int)left);
    if (ready == 0)
        return LS_ETIMEDOUT;
    if (ready < 0)
        return errno == EINTR ? 1 : LS_EIO;
    if (*len + 4096 > max)
        return LS_ETOOBIG;
    char *grown = realloc(*buf, *len + 4096 + 1);
    if (!grown)
        return LS_ENOMEM;
    *buf = grown;
    ssize_t n = recv(fd, *buf + *len, 4096, 0);
    if (n < 0)
        return errno == EINTR ? 1 : LS_EIO;
    *len += (size_t)n;
    (*buf)[*len] = '\0';
    return n == 0 ? 0 : 1;
}

static int parse_status(const char *buf, int *status)
{
    int code = 0;
    if (sscanf(buf, "HTTP/1.%*d %3d", &code) != 1 || code < 100 || code > 599)
        return LS_EHTTP;
    *status = code;
    return 0;
}

int ls_httpc_request(const ls_httpc_target_t *t, const char *method, const char *path,
                     const char *body, int timeout_ms, int *status, char **resp)
{
    char *buf = NULL;
    size_t len = 0;
    long long deadline = now_ms() + timeout_ms;
    int rc, fd = connect_target(t);
    *resp = NULL;
    if (fd < 0)
        return fd;
    rc = send_request(fd, t, method, path, body);
    while (rc == 0 && (rc = read_some(fd, &buf, &len, LS_HTTPC_BODY_MAX, deadline)) == 1)
        rc = 0;
    if (rc == 0 && (!buf || parse_status(buf, status) != 0))
        rc = LS_EHTTP;
    char *split = rc == 0 ? strstr(buf, "\r\n\r\n") : NULL;
    if (rc == 0 && !split)
        rc = LS_EHTTP;
    if (rc == 0 && !(*resp = strdup(split + 4)))
        rc = LS_ENOMEM;
    free(buf);
    close(fd);
    return rc;
}

int ls_httpc_stream_open(const ls_httpc_target_t *t, const char *path, int timeout_ms,
                         ls_httpc_stream_t *out)
{
    long long deadline = now_ms() + timeout_ms;
    int status = 0, rc, fd = connect_target(t);
    char *split = NULL;
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (fd < 0)
        return fd;
    out->fd = fd;
    rc = send_request(fd, t, "GET", path, NULL);
    while (rc == 0 && !(out->buf && (split = strstr(out->buf, "\r\n\r\n")))) {
        rc = read_some(fd, &out->buf, &out->len, 64 * 1024, deadline);
        rc = rc == 1 ? 0 : (rc == 0 ? LS_EHTTP : rc);
    }
    if (rc == 0 && (parse_status(out->buf, &status) != 0 || status != 200))
        rc = status == 401 ? LS_ETOKEN : LS_EHTTP;
    if (rc != 0) {
        ls_httpc_stream_close(out);
        return rc;
    }
    size_t head = (size_t)(split + 4 - out->buf);
    memmove(out->buf, split + 4, out->len - head + 1);
    out->len -= head;
    return 0;
}

/* One complete event ("...\n\n") from the front of the buffer, if any. */
static int take_event(ls_httpc_stream_t *s, char **event, char **data)
{
    char *end = strstr(s->buf ? s->buf : "", "\n\n");
    if (!end)
        return 0;
    *end = '\0';
    *event = NULL;
    *data = NULL;
    for (char *line = s->buf; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "event: ", 7) == 0 && !*event)
            *event = strdup(line + 7);
        else if (strncmp(line, "data: ", 6) == 0 && !*data)
            *data = strdup(line + 6);
        line = next;
    }
    size_t used = (size_t)(end + 2 - s->buf);
    memmove(s->buf, end + 2, s->len - used + 1);
    s->len -= used;
    if (!*event || !*data) { /* a comment (keepalive) or retry: line */
        free(*event);
        free(*data);
        return 2;
    }
    return 1;
}

int ls_httpc_stream_next(ls_httpc_stream_t *s, int timeout_ms, char **event, char **data)
{
    long long deadline = now_ms() + timeout_ms;
    for (int i = 0; i < 100000; i++) {
        int got = take_event(s, event, data);
        if (got == 1)
            return 1;
        if (got == 2)
            continue;
        int rc = read_some(s->fd, &s->buf, &s->len, LS_HTTPC_LINE_MAX, deadline);
        if (rc == LS_ETIMEDOUT)
            return 0;
        if (rc == 0)
            return LS_EIO;
        if (rc < 0)
            return rc;
    }
    return LS_ELIMIT;
}

void ls_httpc_stream_close(ls_httpc_stream_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
    s->len = 0;
}
