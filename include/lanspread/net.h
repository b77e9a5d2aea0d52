/* The transport: QUIC (ngtcp2 + GnuTLS) on one libuv loop.
 *
 * One endpoint owns one UDP socket and is at once a QUIC server (peers
 * connect to it) and a client (ls_net_connect). Both sides present their
 * certificate; any self-signed certificate is accepted by TLS, and the
 * application decides who gets in: on handshake completion it receives the
 * peer's fingerprint (its peer_id, see identity.h) and may refuse.
 *
 * Every request runs on its own bidirectional stream. Small frames are
 * copied in with ls_net_stream_write; big bodies come from a pull source that
 * is asked for bytes only while the peer's flow-control window is open, and
 * every byte is kept only until the peer acknowledges it. On the receiving
 * side the application returns flow-control credit with ls_net_stream_consume
 * as it uses the bytes, so a slow reader backs the sender up.
 *
 * Threads: everything, callbacks included, runs on the loop thread; no
 * function here may be called from another thread. Callbacks may call any
 * function of this API, including the close functions.
 *
 * Lifetime: a connection handle is valid from ls_net_connect (or from
 * established_cb for incoming connections) until closed_cb returns. A stream
 * handle is valid until its close_cb returns; when a connection closes, every
 * stream still open gets close_cb first, then the connection's closed_cb. */
#ifndef LANSPREAD_NET_H
#define LANSPREAD_NET_H

#include "lanspread/identity.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct ls_net_endpoint ls_net_endpoint_t;
typedef struct ls_net_conn ls_net_conn_t;
typedef struct ls_net_stream ls_net_stream_t;

/* Application error codes carried by CONNECTION_CLOSE and RESET_STREAM. */
#define LS_NET_APP_NO_ERROR 0x0
#define LS_NET_APP_REFUSED 0x1  /* the peer was not let in */
#define LS_NET_APP_CANCELED 0x2 /* the request was abandoned */
#define LS_NET_APP_INTERNAL 0x3 /* a local failure (e.g. a source read error) */

/* Longest reason phrase passed to closed_cb; longer ones are truncated. */
#define LS_NET_REASON_MAX 255

typedef struct {
    /* The handshake finished; peer_id is the fingerprint of the certificate
     * the peer presented (64 hex digits, valid during the call, and later via
     * ls_net_conn_peer_id). Return 0 to accept; anything else closes the
     * connection with LS_NET_APP_REFUSED. closed_cb follows when the
     * connection ends (right away when refused). A client learns that the
     * server refused it only after its own established_cb, through closed_cb
     * with LS_EREFUSED. The application checks here, or when a Hello
     * arrives, that the peer_id a peer claims equals this one. */
    int (*established_cb)(ls_net_conn_t *c, const char *peer_id);
    /* The connection is gone. status: 0 closed by this side on purpose,
     * LS_EPEER_GONE closed by the peer without error, LS_EREFUSED the peer
     * refused us, LS_EAUTH we refused the peer, LS_ETIMEDOUT idle timeout,
     * LS_EUNREACHABLE nothing answered a connect, LS_ETLS handshake failure,
     * LS_EREMOTE the peer closed with app_error, LS_ELIMIT the peer's
     * connection limit, LS_EQUIC protocol errors. `reason` is the peer's
     * reason phrase or "", valid only during the call. */
    void (*closed_cb)(ls_net_conn_t *c, int status, uint64_t app_error, const char *reason);
    /* The peer opened a stream; set its callbacks with
     * ls_net_stream_set_callbacks before returning, or its data is dropped. */
    void (*stream_cb)(ls_net_conn_t *c, ls_net_stream_t *s);
    /* The peer allows more concurrent streams: an ls_net_stream_open that
     * failed with LS_ELIMIT may now succeed. Optional. */
    void (*streams_available_cb)(ls_net_conn_t *c);
} ls_net_callbacks_t;

/* Connection budgets and the hello gate (defaults of ls_net_limits_t; see
 * docs/PROTOCOL.md, "Limits").
 *
 * A connection is unverified until the application calls ls_net_conn_verify
 * (its hello checked out) — or, on an endpoint without a hello window, until
 * established_cb accepts it. Inbound connections are budgeted apart from the
 * ones we open, and unverified inbound ones may not hold the last
 * reserved_verified inbound slots: when they would, the oldest unverified
 * one older than evict_after_ms makes room (a real peer's hello completes
 * in milliseconds), and without such a one the newcomer is refused. */
#define LS_NET_MAX_CONNS_IN 256      /* connections peers open to us */
#define LS_NET_MAX_CONNS_OUT 128     /* connections we open */
#define LS_NET_RESERVED_VERIFIED 64  /* inbound slots unverified connections cannot take */
#define LS_NET_UNVERIFIED_PER_ADDR 4 /* unverified inbound connections per remote IP */
/* With this many unverified inbound connections, a new one must first prove
 * its address with a QUIC Retry (a spoofed source never answers it). */
#define LS_NET_RETRY_ABOVE 16
#define LS_NET_EVICT_AFTER_MS 2000  /* an unverified connection this young is never evicted */
#define LS_NET_RETRY_TOKEN_MS 10000 /* a Retry token is accepted this long */

/* Zero fields take the default shown. */
typedef struct {
    uint32_t idle_timeout_ms;         /* 30000: a silent connection closes after this */
    uint32_t keep_alive_ms;           /* 0 = off: send a PING after this much quiet */
    uint32_t handshake_timeout_ms;    /* 10000: a connect nobody answers fails after this */
    uint32_t max_streams;             /* 128 concurrent streams the peer may open per connection */
    uint32_t max_conns_per_addr;      /* 8 connections per remote IP address */
    uint32_t max_conns_in;            /* LS_NET_MAX_CONNS_IN */
    uint32_t max_conns_out;           /* LS_NET_MAX_CONNS_OUT */
    uint32_t reserved_verified;       /* LS_NET_RESERVED_VERIFIED */
    uint32_t max_unverified_per_addr; /* LS_NET_UNVERIFIED_PER_ADDR */
    uint32_t retry_above;             /* LS_NET_RETRY_ABOVE */
    uint32_t evict_after_ms;          /* LS_NET_EVICT_AFTER_MS */
    uint64_t stream_window;           /* 16 MiB receive window per stream */
    uint64_t conn_window;             /* 48 MiB receive window per connection */
    /* 0 (default): no gate. Otherwise, until ls_net_conn_verify, the peer may
     * open one bidirectional stream and send this many bytes on the whole
     * connection (the hello's largest frame): credit for what it sends is
     * held back, not returned, and the full limits apply once verified. */
    uint64_t hello_window;
    /* 0 (default): packets as large as the route to the peer carries (its
     * MTU; loopback and jumbo frames give up to 16000-byte packets), else at
     * most this (not below 1452). It is also what we announce we accept. */
    uint32_t max_payload;
} ls_net_limits_t;

typedef struct {
    const struct sockaddr *bind_addr; /* IPv4 or IPv6; port 0 picks a free port */
    const ls_identity_t *identity;    /* borrowed; must outlive the endpoint */
    ls_net_callbacks_t cb;
    ls_net_limits_t limits;
    void *user_data;
} ls_net_config_t;

/* Binds the UDP socket and starts serving on `loop`. *out is freed by
 * ls_net_endpoint_close. */
int ls_net_endpoint_create(uv_loop_t *loop, const ls_net_config_t *cfg, ls_net_endpoint_t **out);

/* Closes every connection (CONNECTION_CLOSE, then closed_cb for each), then
 * the socket. The endpoint is freed, and on_closed (may be NULL) called with
 * the endpoint's user_data, on a later loop iteration: keep running the loop. */
void ls_net_endpoint_close(ls_net_endpoint_t *ep, void (*on_closed)(void *user_data));

int ls_net_endpoint_local_addr(const ls_net_endpoint_t *ep, struct sockaddr_storage *addr);

/* Whether a and b are the same IP address and port (same family). */
bool ls_net_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b);

/* Whether a connection accepted from exactly this address (IP and port) is
 * still in its handshake, not yet reported by established_cb. A peer dials
 * from its one socket, so that is its listening address: the caller can
 * wait for this connection instead of dialling the peer a second time. */
bool ls_net_endpoint_is_accepting_from(const ls_net_endpoint_t *ep, const struct sockaddr *addr);

/* What the budgets see now, and what they turned away so far. */
typedef struct {
    uint32_t conns_in;      /* open inbound connections */
    uint32_t conns_out;     /* open connections we dialled */
    uint32_t unverified_in; /* inbound ones not yet verified (handshaking included) */
    uint64_t retries_sent;  /* Initials answered with a Retry */
    uint64_t refused;       /* Initials refused (budgets, bad tokens) */
    uint64_t evicted;       /* unverified connections closed to make room */
} ls_net_stats_t;
void ls_net_endpoint_stats(const ls_net_endpoint_t *ep, ls_net_stats_t *out);
void *ls_net_endpoint_user_data(const ls_net_endpoint_t *ep);

/* Starts a connection to `addr`. The handle is returned at once; the outcome
 * arrives as established_cb or closed_cb. The endpoint owns the handle. */
int ls_net_connect(ls_net_endpoint_t *ep, const struct sockaddr *addr, void *user_data,
                   ls_net_conn_t **out);

/* Sends CONNECTION_CLOSE with app_error and reason (may be NULL), then
 * closed_cb with status 0 (on a later loop iteration). */
void ls_net_conn_close(ls_net_conn_t *c, uint64_t app_error, const char *reason);

/* The peer proved who it is (its hello verified): it gets the full stream
 * and window limits, the credit held back so far, and an inbound slot that
 * eviction never takes. Idempotent. */
void ls_net_conn_verify(ls_net_conn_t *c);
bool ls_net_conn_is_verified(const ls_net_conn_t *c);
/* Whether streams may be opened now: its handshake completed, and no close
 * is requested or under way. A connection tears down before closed_cb
 * runs (every stream's close_cb first), so code those callbacks run must
 * not take a connection for open because closed_cb has not come yet. */
bool ls_net_conn_is_open(const ls_net_conn_t *c);

/* The largest UDP payload (one QUIC packet) c has sent so far: at most its
 * route's MTU less headers and what the peer announced it accepts. */
size_t ls_net_conn_max_packet_sent(const ls_net_conn_t *c);

/* The peer's 64-hex-digit id; "" before the handshake. Owned by c. */
const char *ls_net_conn_peer_id(const ls_net_conn_t *c);
/* len bytes of keying material exported from the connection's TLS session
 * (RFC 8446 7.5, no context): the same on both ends of this connection and
 * unpredictable on any other, so a value bound to it cannot be replayed
 * elsewhere. LS_ESTATE before established_cb; LS_ETLS if GnuTLS fails. */
int ls_net_conn_export_keying_material(const ls_net_conn_t *c, const char *label, uint8_t *out,
                                       size_t len);
ls_net_endpoint_t *ls_net_conn_endpoint(const ls_net_conn_t *c);
void *ls_net_conn_user_data(const ls_net_conn_t *c);
void ls_net_conn_set_user_data(ls_net_conn_t *c, void *user_data);
void ls_net_conn_remote_addr(const ls_net_conn_t *c, struct sockaddr_storage *addr);

typedef struct {
    /* Bytes in order; is_fin marks the end of the peer's side (len may then
     * be 0). The bytes are valid only during the call. Call
     * ls_net_stream_consume as they are used, or the peer stalls. */
    void (*read_cb)(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin);
    /* The stream is finished. status: 0 both directions ended cleanly,
     * LS_ECANCELED reset by us, LS_EREMOTE reset by the peer (app_error), or
     * the connection's closed_cb status when the connection went first. */
    void (*close_cb)(ls_net_stream_t *s, int status, uint64_t app_error);
    /* Optional: every byte of our side, the FIN included, went out once
     * (acknowledged or not: close_cb comes when the peer acknowledged it
     * all, a round trip or more later). Called from inside a write pass:
     * it must not write, shut down or reset the stream. */
    void (*sent_cb)(ls_net_stream_t *s);
} ls_net_stream_callbacks_t;

/* Opens a bidirectional stream. LS_ELIMIT when the peer's concurrent-stream
 * limit is reached (retry after a stream closes); LS_ESTATE before the
 * connection is established or after it closes. The connection owns *out. */
int ls_net_stream_open(ls_net_conn_t *c, const ls_net_stream_callbacks_t *cb, void *user_data,
                       ls_net_stream_t **out);

void ls_net_stream_set_callbacks(ls_net_stream_t *s, const ls_net_stream_callbacks_t *cb,
                                 void *user_data);
void *ls_net_stream_user_data(const ls_net_stream_t *s);
ls_net_conn_t *ls_net_stream_conn(const ls_net_stream_t *s);

/* Queues a copy of data (meant for frames, not bodies). LS_ESTATE after
 * shutdown, reset, or once a source is set; LS_ETOOBIG above
 * LS_NET_WRITE_MAX bytes in one call. */
#define LS_NET_WRITE_MAX (16u * 1024 * 1024)
int ls_net_stream_write(ls_net_stream_t *s, const void *data, size_t len);

/* A pull source fills up to cap bytes of buf (owned by the transport) and
 * sets *len; *is_eof ends the
 * stream (FIN) after those bytes. *len == 0 without eof means "nothing ready
 * yet": the source is asked again only after ls_net_stream_resume. A negative
 * return resets the stream with LS_NET_APP_INTERNAL. It runs on the loop
 * thread and must not block: a disk-backed source should prefetch through the
 * thread pool (uv_fs_read / uv_queue_work) and answer from what is ready. */
typedef int (*ls_net_pull_cb)(ls_net_stream_t *s, uint8_t *buf, size_t cap, size_t *len,
                              bool *is_eof);

/* After the queued frames, the body comes from `pull`, called only while the
 * peer's window has room; the pulled bytes are freed once acknowledged.
 * source_data is the source's own state (ls_net_stream_source_data), apart
 * from the stream's user_data; the caller keeps ownership of it. */
int ls_net_stream_set_source(ls_net_stream_t *s, ls_net_pull_cb pull, void *source_data);
void *ls_net_stream_source_data(const ls_net_stream_t *s);
/* A source that answered "nothing ready" has bytes again. */
void ls_net_stream_resume(ls_net_stream_t *s);

/* Ends our side (FIN) after the queued bytes. Streams with a source end by
 * themselves at eof. */
int ls_net_stream_shutdown(ls_net_stream_t *s);

/* Abandons both directions (RESET_STREAM + STOP_SENDING with app_error).
 * close_cb follows with LS_ECANCELED. */
void ls_net_stream_reset(ls_net_stream_t *s, uint64_t app_error);

/* Returns `n` received bytes of credit to the peer (stream and connection
 * windows); more than was received and not yet consumed is ignored. Bytes
 * never consumed go back to the connection window when the stream ends. */
void ls_net_stream_consume(ls_net_stream_t *s, size_t n);

/* Bytes this side holds for the stream: queued or pulled, not yet
 * acknowledged by the peer. */
uint64_t ls_net_stream_unacked_bytes(const ls_net_stream_t *s);
/* Bytes of this stream the peer has acknowledged: grows while the peer
 * reads, stands still while its window stays shut. */
uint64_t ls_net_stream_acked_bytes(const ls_net_stream_t *s);

/* A ready-made source: a byte range of a file.
 *
 * Serves `len` bytes of the open file `fd` from `offset` as a stream's body,
 * reading ahead through the libuv thread pool (the latency lane of
 * workq.h: uv_fs_read into two buffers of 256 KiB), so the loop never waits
 * on the disk and the disk is read only as the peer's window opens. A read
 * error, or a file that ends before offset + len, resets the stream with
 * LS_NET_APP_INTERNAL.
 * On success the source owns fd and closes it when it goes: after the read
 * in flight, if any, so a pool thread never reads a closed (or reused) fd.
 * On failure fd stays the caller's. The source is the caller's to free, at
 * the latest in the stream's close_cb (freeing while a read is in flight is
 * fine: the memory and the fd go when the read ends). */
typedef struct ls_net_file_source ls_net_file_source_t;

int ls_net_file_source_new(uv_loop_t *loop, int fd, uint64_t offset, uint64_t len,
                           ls_net_file_source_t **out);
/* Makes src the body of s (ls_net_stream_set_source) and starts reading. */
int ls_net_stream_send_file(ls_net_stream_t *s, ls_net_file_source_t *src);
void ls_net_file_source_free(ls_net_file_source_t *src);
/* A gate paces a source: asked before bytes that are ready go out, it
 * answers how many of `want` may go now (0..want). 0 means "not now": the
 * source answers "nothing ready" and the gate must call
 * ls_net_stream_resume(s) once bytes may go again (from a timer: it must
 * not block). It runs on the loop thread, from inside the pull. */
typedef size_t (*ls_net_gate_cb)(ls_net_stream_t *s, size_t want, void *gate_data);
/* Every byte of src's body passes gate (NULL: none, the default). */
void ls_net_file_source_set_gate(ls_net_file_source_t *src, ls_net_gate_cb gate, void *gate_data);
/* *open_fds counts files held open (a budget): the source decrements it
 * when it closes its fd, which may be after ls_net_file_source_free. */
void ls_net_file_source_count_fd(ls_net_file_source_t *src, uint32_t *open_fds);
/* File sources' read buffers are kept warm between transfers (bufpool.h),
 * for every loop of the process: as many as busy serving takes while
 * `is_serving` (the caller's first transfer started), as many as one
 * transfer takes once it is false (its last one ended; buffers released
 * later are freed). Any thread. */
void ls_net_file_source_keep_buffers(bool is_serving);

#endif
