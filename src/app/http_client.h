/* A small HTTP/1.0 client for the CLI to talk to the local daemon's API:
 * loopback only, one request per connection, bounded reads, timeouts. */
#ifndef LS_APP_HTTP_CLIENT_H
#define LS_APP_HTTP_CLIENT_H

#include <stddef.h>

#define LS_HTTPC_BODY_MAX (8u * 1024u * 1024u)
#define LS_HTTPC_LINE_MAX (1024u * 1024u)

typedef struct {
    char host[64]; /* as sent in Host: "127.0.0.1:PORT" */
    char addr[48]; /* numeric address */
    int port;
    const char *token; /* borrowed */
} ls_httpc_target_t;

/* Parses "http://ADDR:PORT/"; refuses anything but loopback (LS_EINVAL). */
int ls_httpc_target(const char *url, const char *token, ls_httpc_target_t *out);

/* One request. `body` may be NULL. On success *status holds the HTTP status
 * and *resp the body (caller frees). Fails with LS_ENODAEMON when nothing
 * listens, LS_ETIMEDOUT, LS_EHTTP on a malformed answer. */
int ls_httpc_request(const ls_httpc_target_t *t, const char *method, const char *path,
                     const char *body, int timeout_ms, int *status, char **resp);

/* An open Server-Sent Events stream. */
typedef struct {
    int fd;
    char *buf;
    size_t len;
} ls_httpc_stream_t;

int ls_httpc_stream_open(const ls_httpc_target_t *t, const char *path, int timeout_ms,
                         ls_httpc_stream_t *out);

/* Waits up to timeout_ms for the next event. Returns 1 with *event and *data
 * (caller frees both), 0 on timeout, or a negative LS_E* code (LS_EIO when
 * the daemon closed the stream). */
int ls_httpc_stream_next(ls_httpc_stream_t *s, int timeout_ms, char **event, char **data);
void ls_httpc_stream_close(ls_httpc_stream_t *s);

#endif
