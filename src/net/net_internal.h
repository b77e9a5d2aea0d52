/* Internal to src/net: the structures behind the handles in net.h and the
 * calls between endpoint.c (socket, packet batching), conn.c (one QUIC
 * connection: TLS, ngtcp2 callbacks, write loop, timer) and stream.c (stream
 * buffers, pull sources, flow-control credit). */
#ifndef LS_NET_INTERNAL_H
#define LS_NET_INTERNAL_H

#include "lanspread/net.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <netinet/udp.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <sys/socket.h>
#include <uv.h>

/* UDP GSO and GRO (Linux 4.18 / 5.0), for C libraries that predate them. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Every connection ID we issue has this length, so short-header packets can
 * be routed without state. */
#define LS_NET_CIDLEN 18
#define LS_NET_MAX_SCIDS 8
/* UDP payload of one QUIC packet: fits a 1500-byte Ethernet MTU over IPv6. */
#define LS_NET_MAX_PAYLOAD 1452
/* IPv6 + UDP headers: a route MTU less this is the payload that fits it. */
#define LS_NET_UDP_OVERHEAD 48
/* IPv4 + UDP headers: 20 bytes more per packet on an IPv4 route (1472 at a
 * 1500-byte MTU, 1.4 % fewer packets for the same bytes). */
#define LS_NET_UDP4_OVERHEAD 28
/* Where the route to the peer carries more (loopback, jumbo frames), packets
 * grow up to this: per-packet work (ngtcp2, AEAD calls, syscalls, ACKs)
 * shrinks with the packet count. Within one GSO send and one RX slot. */
#define LS_NET_MAX_PAYLOAD_BIG 16000
/* ack-eliciting packets received before an ACK goes out at once
 * (ngtcp2_settings.ack_thresh; ngtcp2's default is 2) */
#define LS_NET_ACK_THRESH 16
/* One GSO send: segments back to back, within one 64 KiB UDP datagram. */
#define LS_NET_GSO_BUF 65000
/* Socket buffers: a LAN's bandwidth-delay product plus a burst, so the
 * kernel does not drop what the loop has not read yet. */
#define LS_NET_SOCK_BUF (16 * 1024 * 1024)
/* A received GRO batch never exceeds one 64 KiB datagram. */
#define LS_NET_RX_SLOT 65536
#define LS_NET_RX_BATCH 16

/* A reference-counted byte buffer: a file source reads into one and lends
 * its bytes to stream chunks, which hold a reference until those bytes are
 * acknowledged, so served data is never copied on the loop. */
struct ls_net_buf {
    uint32_t refs;
    size_t cap;
    uint8_t data[];
};
/* A file source's full read; buffers of this size are recycled (stream.c). */
#define LS_NET_READ_SIZE (256 * 1024)
struct ls_net_buf *ls_net_buf_new(size_t cap); /* one reference */
void ls_net_buf_release(struct ls_net_buf *b);

struct ls_net_chunk {
    struct ls_net_chunk *next;
    uint64_t offset; /* stream offset of bytes[0] */
    size_t len;
    const uint8_t *bytes;   /* data, or inside ref */
    struct ls_net_buf *ref; /* lent bytes (NULL: copied into data) */
    uint8_t data[];
};

/* A source that lends its bytes instead of copying them (the file source):
 * *ref gets one reference the stream releases once the bytes are acked. */
typedef int (*ls_net_lend_cb)(ls_net_stream_t *s, size_t cap, const uint8_t **data,
                              struct ls_net_buf **ref, size_t *len, bool *is_eof);
int ls_net_stream_set_lender(ls_net_stream_t *s, ls_net_lend_cb lend, void *source_data);

struct ls_net_stream {
    ls_net_conn_t *conn;
    struct ls_net_stream *next, *prev;
    int64_t id;
    ls_net_stream_callbacks_t cb;
    void *user_data;
    /* bytes from acked_offset to queued_end, oldest first; send_chunk is the
     * first chunk not yet fully handed to ngtcp2 (NULL when all are) */
    struct ls_net_chunk *head, *tail, *send_chunk;
    uint64_t acked_offset, send_offset, queued_end;
    /* received bytes handed to read_cb, and how many of them were consumed:
     * the rest is connection credit to give back when the stream ends */
    uint64_t rx_delivered, rx_consumed;
    /* consumed while the connection was unverified: returned at verify */
    uint64_t credit_held;
    ls_net_pull_cb pull;
    ls_net_lend_cb lend; /* instead of pull */
    void *source_data;
    bool is_fin_wanted;
    bool is_fin_sent;
    bool is_source_eof;
    bool is_source_waiting;
    bool is_write_closed;
    bool is_reset_locally;
    bool is_blocked;   /* flow-control blocked during the current write pass */
    bool is_finishing; /* inside close_cb: no more operations */
};

struct ls_net_conn {
    ls_net_endpoint_t *ep;
    struct ls_net_conn *next, *prev;
    ngtcp2_conn *q;
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref conn_ref;
    uv_timer_t timer;
    uv_idle_t kick;
    int open_handles;
    struct sockaddr_storage remote;
    socklen_t remote_len;
    ngtcp2_cid scids[LS_NET_MAX_SCIDS];
    size_t nscids;
    ngtcp2_cid client_dcid; /* server side: the DCID of the client's first Initial */
    ls_net_stream_t *streams;
    ls_net_stream_t *rr; /* where the next write pass starts */
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    void *user_data;
    /* the largest UDP payload we send to and accept from this peer: the
     * route's MTU, LS_NET_MAX_PAYLOAD..LS_NET_MAX_PAYLOAD_BIG */
    size_t max_payload;
    size_t max_pkt_sent;
    bool is_server;
    bool is_known; /* the application holds the handle: closed_cb is owed */
    bool is_closed;
    bool is_waiting_writable;
    /* the hello gate (ls_net_conn_verify): until then the credit the
     * application returns and the stream slots closed streams free are held */
    bool is_verified;
    uint64_t credit_held;
    uint64_t streams_held;
    uint64_t born_ns; /* for eviction: the oldest unverified goes first */
    /* counters for the debug line at close */
    uint64_t n_pkts, n_bytes, n_passes, n_timer, n_blocked;
    uint64_t n_rx_bytes;     /* UDP payload read into ngtcp2 */
    uint64_t n_stream_bytes; /* new stream data it gave us (each byte once) */
    /* a close asked for from inside a callback, carried out by the kick */
    bool is_close_requested;
    uint64_t close_app_error;
    int close_status;
    char close_reason[64];
};

struct ls_net_endpoint {
    uv_loop_t *loop;
    uv_poll_t poll;
    int fd;
    struct sockaddr_storage local;
    socklen_t local_len;
    ls_net_callbacks_t cb;
    ls_net_limits_t lim;
    void *user_data;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t priority; /* shared by every session (load_credentials) */
    ls_net_conn_t *conns;
    size_t nconns;   /* in the list */
    size_t nhandles; /* connections whose handles are not yet closed */
    bool is_closing;
    bool is_gso_ok;
    void (*on_closed)(void *user_data);
    /* one batch being built by a connection's write pass */
    uint8_t *tx;
    /* a batch the kernel refused with EAGAIN, sent when writable */
    uint8_t *pend;
    size_t pend_len, pend_seg;
    struct sockaddr_storage pend_dest;
    socklen_t pend_dest_len;
    uint8_t *rx;
    uint64_t n_eagain, n_recv_dgrams, n_recv_pkts;
    /* Retry tokens are sealed with this per-endpoint random key */
    uint8_t retry_secret[32];
    uint64_t n_retries, n_refused, n_evicted;
};

static inline uint64_t ls_net_now(void)
{
    return uv_hrtime();
}

/* endpoint.c */
int ls_net_ep_send(ls_net_endpoint_t *ep, const struct sockaddr *dest, socklen_t dest_len,
                   const uint8_t *buf, size_t len, size_t seg);
bool ls_net_ep_is_blocked(const ls_net_endpoint_t *ep);
size_t ls_net_ep_conns_to(const ls_net_endpoint_t *ep, const struct sockaddr *addr);
void ls_net_ep_conn_gone(ls_net_endpoint_t *ep);

size_t ls_net_ep_conns_out(const ls_net_endpoint_t *ep);
/* The UDP payload the local route to `remote` carries (its MTU less
 * LS_NET_UDP4_OVERHEAD or LS_NET_UDP_OVERHEAD), within LS_NET_MAX_PAYLOAD..LS_NET_MAX_PAYLOAD_BIG;
 * LS_NET_MAX_PAYLOAD when the route cannot be asked. */
size_t ls_net_path_payload(const struct sockaddr *remote, socklen_t remote_len);

/* conn.c */
/* odcid: the client's first DCID, recovered from a Retry token the
 * Initial carried (NULL when it came without one). */
int ls_net_conn_new_server(ls_net_endpoint_t *ep, const struct sockaddr *remote,
                           socklen_t remote_len, const ngtcp2_pkt_hd *hd, const ngtcp2_cid *odcid,
                           ls_net_conn_t **out);
/* Hello gate: whether the endpoint has one, and connection credit that is
 * returned now (verified) or held until verify. */
bool ls_net_conn_is_gated(const ls_net_conn_t *c);
void ls_net_conn_credit(ls_net_conn_t *c, uint64_t n);
int ls_net_random_cid(ngtcp2_cid *cid);
/* ts: when the packet arrived (ls_net_now(), one reading per receive batch) */
void ls_net_conn_read(ls_net_conn_t *c, const struct sockaddr *remote, socklen_t remote_len,
                      const uint8_t *pkt, size_t len, uint64_t ts);
bool ls_net_conn_has_cid(const ls_net_conn_t *c, const uint8_t *cid, size_t len);
void ls_net_conn_kick(ls_net_conn_t *c);
/* An ICMP error says nothing listens where c connects to. */
void ls_net_conn_unreachable(ls_net_conn_t *c);
void ls_net_tls_set_verify(gnutls_certificate_credentials_t cred);
void ls_net_conn_request_close(ls_net_conn_t *c, uint64_t app_error, const char *reason,
                               int status);

/* stream.c */
ls_net_stream_t *ls_net_stream_new(ls_net_conn_t *c, int64_t id);
void ls_net_stream_finish(ls_net_stream_t *s, int status, uint64_t app_error);
void ls_net_stream_on_data(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin);
void ls_net_stream_on_acked(ls_net_stream_t *s, uint64_t end);
/* may_pull: the source may be asked for more (false while a packet is being
 * coalesced). */
bool ls_net_stream_wants_write(ls_net_stream_t *s, bool may_pull);
size_t ls_net_stream_vec(const ls_net_stream_t *s, ngtcp2_vec *v, size_t max, bool *is_fin);
void ls_net_stream_on_sent(ls_net_stream_t *s, size_t n, bool was_fin);

#endif
