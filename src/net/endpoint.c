/* The endpoint: one UDP socket on the loop, serving both the connections
 * peers open to us and the ones we open. Receives in batches (recvmmsg,
 * UDP_GRO), sends in batches (UDP_SEGMENT, falling back to sendmmsg), routes
 * each packet to its connection by connection ID, and admits new incoming
 * connections within the limits. */
#include "net_internal.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MODULE "net"
/* recvmmsg calls per readable event. One: the connections' kicks then send
 * their ACKs before more is read, so the sender's RTT samples (and with
 * them its congestion window) are not inflated by our own batching. */
#define MAX_READS_PER_EVENT 1

static void poll_cb(uv_poll_t *h, int status, int events);

static void apply_defaults(ls_net_limits_t *lim)
{
    if (!lim->idle_timeout_ms)
        lim->idle_timeout_ms = 30000;
    if (!lim->handshake_timeout_ms)
        lim->handshake_timeout_ms = 10000;
    if (!lim->max_streams)
        lim->max_streams = 128;
    if (!lim->max_conns_per_addr)
        lim->max_conns_per_addr = 8;
    if (!lim->max_conns_in)
        lim->max_conns_in = LS_NET_MAX_CONNS_IN;
    if (!lim->max_conns_out)
        lim->max_conns_out = LS_NET_MAX_CONNS_OUT;
    if (!lim->reserved_verified)
        lim->reserved_verified = LS_NET_RESERVED_VERIFIED;
    if (!lim->max_unverified_per_addr)
        lim->max_unverified_per_addr = LS_NET_UNVERIFIED_PER_ADDR;
    if (!lim->retry_above)
        lim->retry_above = LS_NET_RETRY_ABOVE;
    if (!lim->evict_after_ms)
        lim->evict_after_ms = LS_NET_EVICT_AFTER_MS;
    if (!lim->stream_window)
        lim->stream_window = 16u * 1024 * 1024;
    if (!lim->conn_window)
        lim->conn_window = 48u * 1024 * 1024;
}

/* Larger buffers as root (the *FORCE options ignore rmem_max); otherwise as
 * large as the sysctl allows. */
static void set_buffers(int fd)
{
    int size = LS_NET_SOCK_BUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

size_t ls_net_path_payload(const struct sockaddr *remote, socklen_t remote_len)
{
    size_t payload = LS_NET_MAX_PAYLOAD;
    int overhead = remote->sa_family == AF_INET ? LS_NET_UDP4_OVERHEAD : LS_NET_UDP_OVERHEAD;
    int mtu = 0;
    socklen_t mtu_len = sizeof(mtu);
    /* a connected UDP socket knows its route's MTU; nothing is sent */
    int fd = socket(remote->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return payload;
    if (connect(fd, remote, remote_len) == 0 &&
        getsockopt(fd, remote->sa_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
                   remote->sa_family == AF_INET ? IP_MTU : IPV6_MTU, &mtu, &mtu_len) == 0 &&
        mtu > overhead + LS_NET_MAX_PAYLOAD) {
        payload = (size_t)(mtu - overhead);
        if (payload > LS_NET_MAX_PAYLOAD_BIG)
            payload = LS_NET_MAX_PAYLOAD_BIG;
    }
    close(fd);
    return payload;
}

static int open_socket(ls_net_endpoint_t *ep, const struct sockaddr *addr)
{
    socklen_t len =
        addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int one = 1;
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return ls_error_from_errno(errno);
    if (bind(fd, addr, len) != 0) {
        int rc = ls_error_from_errno(errno);
        /* "in use" is the caller's to explain (it may try another port) */
        if (errno != EADDRINUSE)
            ls_error(MODULE, "cannot bind the QUIC socket: %s", strerror(errno));
        close(fd);
        return rc;
    }
    set_buffers(fd);
    /* keep our packets whole: ngtcp2 sizes them to the path */
    if (addr->sa_family == AF_INET) {
        int pmtu = IP_PMTUDISC_DO;
        (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    } else {
        int pmtu = IPV6_PMTUDISC_DO;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    }
    (void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
    /* ICMP errors (port unreachable) reach us, so a connect to a peer that
     * is gone fails at once instead of at the handshake timeout */
    if (addr->sa_family == AF_INET)
        (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
    else
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
    ep->local_len = sizeof(ep->local);
    if (getsockname(fd, (struct sockaddr *)&ep->local, &ep->local_len) != 0) {
        int rc = ls_error_from_errno(errno);
        close(fd);
        return rc;
    }
    ep->fd = fd;
    return 0;
}

/* QUIC needs TLS 1.3 and no middlebox compatibility mode; AES-GCM first for
 * AES-NI. */
#define TLS_PRIORITY                                                                               \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"      \
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE"

/* The certificate and the priority cache every session of the endpoint
 * shares. The cache is parsed once here, not per session
 * (gnutls_priority_set_direct): each parse cost about 7.5 KiB that stayed
 * with the session for the life of its connection (heaptrack, a daemon
 * linked to 39 others), and the string's parse on every handshake. */
static int load_credentials(ls_net_endpoint_t *ep, const ls_identity_t *id)
{
    gnutls_datum_t cert, key;
    const char *pem;
    size_t len;

    if (gnutls_certificate_allocate_credentials(&ep->cred) < 0) {
        ep->cred = NULL;
        return LS_ENOMEM;
    }
    ls_identity_cert_pem(id, &pem, &len);
    cert.data = (unsigned char *)pem;
    cert.size = (unsigned)len;
    ls_identity_key_pem(id, &pem, &len);
    key.data = (unsigned char *)pem;
    key.size = (unsigned)len;
    if (gnutls_certificate_set_x509_key_mem2(ep->cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0) <
        0)
        return LS_ETLS;
    ls_net_tls_set_verify(ep->cred);
    if (gnutls_priority_init(&ep->priority, TLS_PRIORITY, NULL) < 0) {
        ep->priority = NULL;
        return LS_ETLS;
    }
    return 0;
}

static void ep_free(ls_net_endpoint_t *ep)
{
    if (!ep)
        return;
    if (ep->cred)
        gnutls_certificate_free_credentials(ep->cred);
    if (ep->priority)
        gnutls_priority_deinit(ep->priority);
    free(ep->tx);
    free(ep->pend);
    free(ep->rx);
    free(ep);
}

int ls_net_endpoint_create(uv_loop_t *loop, const ls_net_config_t *cfg, ls_net_endpoint_t **out)
{
    ls_net_endpoint_t *ep = NULL;
    int rc;

    *out = NULL;
    if (!loop || !cfg || !cfg->identity || !cfg->bind_addr ||
        (cfg->bind_addr->sa_family != AF_INET && cfg->bind_addr->sa_family != AF_INET6))
        return LS_EINVAL;
    ep = calloc(1, sizeof(*ep));
    if (!ep)
        return LS_ENOMEM;
    ep->fd = -1;
    ep->loop = loop;
    ep->cb = cfg->cb;
    ep->lim = cfg->limits;
    ep->user_data = cfg->user_data;
    ep->is_gso_ok = true;
    apply_defaults(&ep->lim);
    ep->tx = malloc(LS_NET_RX_SLOT);
    ep->pend = malloc(LS_NET_RX_SLOT);
    ep->rx = malloc((size_t)LS_NET_RX_SLOT * LS_NET_RX_BATCH);
    if (!ep->tx || !ep->pend || !ep->rx) {
        rc = LS_ENOMEM;
        goto fail;
    }
    if (gnutls_rnd(GNUTLS_RND_KEY, ep->retry_secret, sizeof(ep->retry_secret)) < 0) {
        rc = LS_ETLS;
        goto fail;
    }
    rc = load_credentials(ep, cfg->identity);
    if (rc != 0)
        goto fail;
    rc = open_socket(ep, cfg->bind_addr);
    if (rc != 0)
        goto fail;
    if (uv_poll_init_socket(loop, &ep->poll, ep->fd) != 0) {
        close(ep->fd);
        rc = LS_EIO;
        goto fail;
    }
    ep->poll.data = ep;
    uv_poll_start(&ep->poll, UV_READABLE, poll_cb);
    *out = ep;
    return 0;
fail:
    ep_free(ep);
    return rc;
}

static void poll_closed_cb(uv_handle_t *h)
{
    ls_net_endpoint_t *ep = h->data;
    void (*on_closed)(void *) = ep->on_closed;
    void *user_data = ep->user_data;

    close(ep->fd);
    ep_free(ep);
    if (on_closed)
        on_closed(user_data);
}

void ls_net_ep_conn_gone(ls_net_endpoint_t *ep)
{
    ep->nhandles--;
    if (ep->is_closing && ep->nhandles == 0)
        uv_close((uv_handle_t *)&ep->poll, poll_closed_cb);
}

void ls_net_endpoint_close(ls_net_endpoint_t *ep, void (*on_closed)(void *user_data))
{
    if (ep->is_closing)
        return;
    ep->is_closing = true;
    ep->on_closed = on_closed;
    for (ls_net_conn_t *c = ep->conns; c; c = c->next)
        ls_net_conn_request_close(c, LS_NET_APP_NO_ERROR, "shutting down", 0);
    if (ep->nhandles == 0)
        uv_close((uv_handle_t *)&ep->poll, poll_closed_cb);
}

int ls_net_endpoint_local_addr(const ls_net_endpoint_t *ep, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, &ep->local, ep->local_len);
    return 0;
}

void *ls_net_endpoint_user_data(const ls_net_endpoint_t *ep)
{
    return ep->user_data;
}

/* ---- sending ---- */

static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static bool same_port(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_port ==
               ((const struct sockaddr_in *)b)->sin_port;
    return ((const struct sockaddr_in6 *)a)->sin6_port ==
           ((const struct sockaddr_in6 *)b)->sin6_port;
}

bool ls_net_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b)
{
    return same_ip(a, b) && same_port(a, b);
}

size_t ls_net_ep_conns_to(const ls_net_endpoint_t *ep, const struct sockaddr *addr)
{
    size_t n = 0;
    for (const ls_net_conn_t *c = ep->conns; c; c = c->next)
        n += same_ip((const struct sockaddr *)&c->remote, addr);
    return n;
}

/* Connections that hold a slot: a closing one (evicted, refused) gives its
 * slot up at once, though it goes on the next loop iteration. */
static bool holds_slot(const ls_net_conn_t *c)
{
    return !c->is_closed && !c->is_close_requested;
}

bool ls_net_endpoint_is_accepting_from(const ls_net_endpoint_t *ep, const struct sockaddr *addr)
{
    /* is_known: established_cb handed the connection to the application */
    for (const ls_net_conn_t *c = ep->conns; c; c = c->next)
        if (c->is_server && !c->is_known && holds_slot(c) &&
            ls_net_sockaddr_same((const struct sockaddr *)&c->remote, addr))
            return true;
    return false;
}

static bool is_unverified_in(const ls_net_conn_t *c)
{
    return c->is_server && !c->is_verified && holds_slot(c);
}

size_t ls_net_ep_conns_out(const ls_net_endpoint_t *ep)
{
    size_t n = 0;
    for (const ls_net_conn_t *c = ep->conns; c; c = c->next)
        n += !c->is_server && holds_slot(c);
    return n;
}

void ls_net_endpoint_stats(const ls_net_endpoint_t *ep, ls_net_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (const ls_net_conn_t *c = ep->conns; c; c = c->next) {
        if (!holds_slot(c))
            continue;
        out->conns_in += c->is_server;
        out->conns_out += !c->is_server;
        out->unverified_in += is_unverified_in(c);
    }
    out->retries_sent = ep->n_retries;
    out->refused = ep->n_refused;
    out->evicted = ep->n_evicted;
}

bool ls_net_ep_is_blocked(const ls_net_endpoint_t *ep)
{
    return ep->pend_len > 0;
}

static ssize_t send_gso(ls_net_endpoint_t *ep, const struct sockaddr *dest, socklen_t dest_len,
                        const uint8_t *buf, size_t len, size_t seg)
{
    struct iovec iov = {(void *)buf, len};
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctrl;
    struct msghdr msg = {0};
    struct cmsghdr *cm;
    uint16_t seg16 = (uint16_t)seg;

    msg.msg_name = (void *)dest;
    msg.msg_namelen = dest_len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (len > seg) {
        memset(&ctrl, 0, sizeof(ctrl));
        msg.msg_control = ctrl.buf;
        msg.msg_controllen = sizeof(ctrl.buf);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        memcpy(CMSG_DATA(cm), &seg16, sizeof(seg16));
    }
    return sendmsg(ep->fd, &msg, 0);
}

/* Without GSO: one sendmmsg of the segments. Returns bytes sent, or -1. */
static ssize_t send_each(ls_net_endpoint_t *ep, const struct sockaddr *dest, socklen_t dest_len,
                         const uint8_t *buf, size_t len, size_t seg)
{
    struct mmsghdr msgs[64];
    struct iovec iov[64];
    size_t n = 0, off = 0;
    int sent;

    for (; off < len && n < 64; n++, off += seg) {
        iov[n].iov_base = (void *)(buf + off);
        iov[n].iov_len = len - off < seg ? len - off : seg;
        memset(&msgs[n], 0, sizeof(msgs[n]));
        msgs[n].msg_hdr.msg_name = (void *)dest;
        msgs[n].msg_hdr.msg_namelen = dest_len;
        msgs[n].msg_hdr.msg_iov = &iov[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
    }
    sent = sendmmsg(ep->fd, msgs, (unsigned)n, 0);
    if (sent <= 0)
        return -1;
    return (ssize_t)((size_t)sent * seg < len ? (size_t)sent * seg : len);
}

static void keep_pending(ls_net_endpoint_t *ep, const struct sockaddr *dest, socklen_t dest_len,
                         const uint8_t *buf, size_t len, size_t seg)
{
    memmove(ep->pend, buf, len); /* buf may already point into ep->pend */
    ep->pend_len = len;
    ep->pend_seg = seg;
    memcpy(&ep->pend_dest, dest, dest_len);
    ep->pend_dest_len = dest_len;
    if (!ep->is_closing)
        uv_poll_start(&ep->poll, UV_READABLE | UV_WRITABLE, poll_cb);
}

/* Sends `len` bytes of packets, each `seg` long but the last. LS_EAGAIN when
 * the socket is full: the rest is kept and sent once it drains (only one
 * batch is kept; while it waits, connections do not write). */
int ls_net_ep_send(ls_net_endpoint_t *ep, const struct sockaddr *dest, socklen_t dest_len,
                   const uint8_t *buf, size_t len, size_t seg)
{
    size_t off = 0;
    bool is_retried = false;

    if (ep->pend_len > 0)
        return LS_EAGAIN; /* dropped: ngtcp2 will see it as lost */
    while (off < len) {
        ssize_t n = ep->is_gso_ok ? send_gso(ep, dest, dest_len, buf + off, len - off, seg)
                                  : send_each(ep, dest, dest_len, buf + off, len - off, seg);
        if (n >= 0) {
            off += ep->is_gso_ok ? len - off : (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            ep->n_eagain++;
            keep_pending(ep, dest, dest_len, buf + off, len - off, seg);
            return LS_EAGAIN;
        }
        if (ep->is_gso_ok && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
            ls_info(MODULE, "UDP GSO unavailable (%s); sending packet by packet", strerror(errno));
            ep->is_gso_ok = false;
            continue;
        }
        /* with IP_RECVERR the kernel reports an ICMP error about some earlier
         * packet, maybe to another peer, by failing this send once */
        if (!is_retried && (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
                            errno == ENETUNREACH || errno == EHOSTDOWN)) {
            is_retried = true;
            continue;
        }
        /* unreachable networks and the like: the packets are lost, and QUIC
         * recovers or times out */
        ls_debug(MODULE, "sendmsg: %s", strerror(errno));
        return 0;
    }
    return 0;
}

static void on_writable(ls_net_endpoint_t *ep)
{
    size_t len = ep->pend_len;

    ep->pend_len = 0;
    if (len && ls_net_ep_send(ep, (struct sockaddr *)&ep->pend_dest, ep->pend_dest_len, ep->pend,
                              len, ep->pend_seg) == LS_EAGAIN)
        return; /* still full; keep_pending re-armed UV_WRITABLE */
    if (!ep->is_closing)
        uv_poll_start(&ep->poll, UV_READABLE, poll_cb);
    for (ls_net_conn_t *c = ep->conns; c; c = c->next) {
        if (c->is_waiting_writable) {
            c->is_waiting_writable = false;
            ls_net_conn_kick(c);
        }
    }
}

/* ---- receiving ---- */

static ls_net_conn_t *find_conn(ls_net_endpoint_t *ep, const uint8_t *dcid, size_t len)
{
    for (ls_net_conn_t *c = ep->conns; c; c = c->next) {
        if (ls_net_conn_has_cid(c, dcid, len))
            return c;
    }
    return NULL;
}

/* Turns away an Initial (over the limits: CONNECTION_REFUSED; a bad Retry
 * token: INVALID_TOKEN), so the client fails at once instead of timing out. */
static void refuse_initial(ls_net_endpoint_t *ep, const ngtcp2_pkt_hd *hd,
                           const struct sockaddr *from, socklen_t from_len, uint64_t error_code)
{
    uint8_t buf[LS_NET_MAX_PAYLOAD];
    ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buf, sizeof(buf), hd->version, &hd->scid,
                                                          &hd->dcid, error_code, NULL, 0);
    ep->n_refused++;
    if (n > 0)
        ls_net_ep_send(ep, from, from_len, buf, (size_t)n, (size_t)n);
}

/* Answers an Initial with a Retry: no state is kept, and only a client that
 * receives it at its source address can come back with the token. */
static void send_retry(ls_net_endpoint_t *ep, const ngtcp2_pkt_hd *hd, const struct sockaddr *from,
                       socklen_t from_len)
{
    uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
    uint8_t buf[LS_NET_MAX_PAYLOAD];
    ngtcp2_cid scid;
    ngtcp2_ssize tokenlen, n;

    if (ls_net_random_cid(&scid) != 0)
        return;
    tokenlen = ngtcp2_crypto_generate_retry_token(token, ep->retry_secret, sizeof(ep->retry_secret),
                                                  hd->version, from, from_len, &scid, &hd->dcid,
                                                  ls_net_now());
    if (tokenlen < 0)
        return;
    n = ngtcp2_crypto_write_retry(buf, sizeof(buf), hd->version, &hd->scid, &scid, &hd->dcid, token,
                                  (size_t)tokenlen);
    if (n <= 0)
        return;
    ep->n_retries++;
    ls_net_ep_send(ep, from, from_len, buf, (size_t)n, (size_t)n);
}

/* Counts the unverified inbound connections, in all and from `from`'s IP,
 * and finds the oldest one. */
static size_t count_unverified(const ls_net_endpoint_t *ep, const struct sockaddr *from,
                               size_t *from_addr, ls_net_conn_t **oldest)
{
    size_t n = 0;

    *from_addr = 0;
    *oldest = NULL;
    for (ls_net_conn_t *c = ep->conns; c; c = c->next) {
        if (!is_unverified_in(c))
            continue;
        n++;
        *from_addr += same_ip((const struct sockaddr *)&c->remote, from);
        if (!*oldest || c->born_ns < (*oldest)->born_ns)
            *oldest = c;
    }
    return n;
}

/* Whether a new inbound connection fits: within the inbound budget, and an
 * unverified one (every new one is) outside the slots reserved for verified
 * peers. Over either, the oldest unverified connection makes room if it had
 * evict_after_ms to say its hello; a younger one is left its chance. */
static bool make_room(ls_net_endpoint_t *ep, size_t unverified, ls_net_conn_t *oldest)
{
    const ls_net_limits_t *lim = &ep->lim;
    size_t max_unverified =
        lim->max_conns_in > lim->reserved_verified ? lim->max_conns_in - lim->reserved_verified : 1;
    ls_net_stats_t st;

    ls_net_endpoint_stats(ep, &st);
    if (st.conns_in < lim->max_conns_in && unverified < max_unverified)
        return true;
    if (!oldest ||
        ls_net_now() - oldest->born_ns < (uint64_t)lim->evict_after_ms * NGTCP2_MILLISECONDS)
        return false;
    ep->n_evicted++;
    ls_debug(MODULE, "evicting the oldest unverified connection to make room");
    ls_net_conn_request_close(oldest, LS_NET_APP_REFUSED, "evicted: too many strangers", LS_ELIMIT);
    return true;
}

static void accept_initial(ls_net_endpoint_t *ep, const struct sockaddr *from, socklen_t from_len,
                           const uint8_t *pkt, size_t len, uint64_t ts)
{
    ngtcp2_pkt_hd hd;
    ngtcp2_cid odcid;
    bool is_validated = false;
    size_t unverified, from_addr;
    ls_net_conn_t *oldest, *c;

    if (ep->is_closing || ngtcp2_accept(&hd, pkt, len) != 0)
        return; /* not a client's first Initial: nothing to answer */
    if (hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        if (ngtcp2_crypto_verify_retry_token(
                &odcid, hd.token.base, hd.token.len, ep->retry_secret, sizeof(ep->retry_secret),
                hd.version, from, from_len, &hd.dcid,
                (ngtcp2_duration)LS_NET_RETRY_TOKEN_MS * NGTCP2_MILLISECONDS, ls_net_now()) != 0) {
            refuse_initial(ep, &hd, from, from_len, NGTCP2_INVALID_TOKEN);
            return;
        }
        is_validated = true;
    }
    unverified = count_unverified(ep, from, &from_addr, &oldest);
    if (ls_net_ep_conns_to(ep, from) >= ep->lim.max_conns_per_addr ||
        from_addr >= ep->lim.max_unverified_per_addr) {
        ls_debug(MODULE, "refusing a connection: per-address limit reached");
        refuse_initial(ep, &hd, from, from_len, NGTCP2_CONNECTION_REFUSED);
        return;
    }
    if (!is_validated && unverified >= ep->lim.retry_above) {
        send_retry(ep, &hd, from, from_len);
        return;
    }
    if (!make_room(ep, unverified, oldest)) {
        ls_debug(MODULE, "refusing a connection: limit reached");
        refuse_initial(ep, &hd, from, from_len, NGTCP2_CONNECTION_REFUSED);
        return;
    }
    if (ls_net_conn_new_server(ep, from, from_len, &hd, is_validated ? &odcid : NULL, &c) != 0)
        return;
    ls_net_conn_read(c, from, from_len, pkt, len, ts);
}

static void on_packet(ls_net_endpoint_t *ep, const struct sockaddr *from, socklen_t from_len,
                      const uint8_t *pkt, size_t len, uint64_t ts)
{
    ngtcp2_version_cid vc;
    ls_net_conn_t *c;

    /* other QUIC versions and garbage are dropped: peers all speak v1 */
    if (ngtcp2_pkt_decode_version_cid(&vc, pkt, len, LS_NET_CIDLEN) != 0)
        return;
    c = find_conn(ep, vc.dcid, vc.dcidlen);
    if (c)
        ls_net_conn_read(c, from, from_len, pkt, len, ts);
    else
        accept_initial(ep, from, from_len, pkt, len, ts);
}

static size_t gro_segment(struct msghdr *msg, size_t len)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int seg;
            memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
            return seg > 0 ? (size_t)seg : len;
        }
    }
    return len;
}

static void on_readable(ls_net_endpoint_t *ep)
{
    struct mmsghdr msgs[LS_NET_RX_BATCH];
    struct iovec iov[LS_NET_RX_BATCH];
    struct sockaddr_storage from[LS_NET_RX_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl[LS_NET_RX_BATCH];

    memset(ctrl, 0, sizeof(ctrl));
    for (int round = 0; round < MAX_READS_PER_EVENT && !ep->is_closing; round++) {
        for (int i = 0; i < LS_NET_RX_BATCH; i++) {
            iov[i].iov_base = ep->rx + (size_t)i * LS_NET_RX_SLOT;
            iov[i].iov_len = LS_NET_RX_SLOT;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctrl[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i].buf);
        }
        int n = recvmmsg(ep->fd, msgs, LS_NET_RX_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ls_debug(MODULE, "recvmmsg: %s", strerror(errno));
            return;
        }
        /* one arrival time for the batch: the clock read per packet cost
         * a receiver ~1.5 % of its CPU at MTU 1500, and the batch was
         * received within microseconds */
        uint64_t ts = ls_net_now();
        for (int i = 0; i < n && !ep->is_closing; i++) {
            size_t len = msgs[i].msg_len;
            size_t seg = gro_segment(&msgs[i].msg_hdr, len);
            const uint8_t *p = iov[i].iov_base;
            ep->n_recv_dgrams++;
            ep->n_recv_pkts += (len + seg - 1) / (seg ? seg : 1);
            for (size_t off = 0; off < len; off += seg)
                on_packet(ep, (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen, p + off,
                          len - off < seg ? len - off : seg, ts);
        }
        if (n < LS_NET_RX_BATCH)
            return;
    }
}

static bool is_refusal(const struct cmsghdr *cm)
{
    struct sock_extended_err ee;

    if (!((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
          (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
        return false;
    memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
    if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
        return false;
    return ee.ee_errno == ECONNREFUSED || ee.ee_errno == EHOSTUNREACH || ee.ee_errno == ENETUNREACH;
}

/* Reads the ICMP errors IP_RECVERR queued; msg_name is the destination of
 * the packet that bounced. Connects still in their handshake to that address
 * fail; established connections ride out transient errors. */
static void drain_errors(ls_net_endpoint_t *ep)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage dest;
        uint8_t data[64];
        union {
            char buf[512];
            struct cmsghdr align;
        } ctrl;
        struct iovec iov = {data, sizeof(data)};
        struct msghdr msg = {0};

        msg.msg_name = &dest;
        msg.msg_namelen = sizeof(dest);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.buf;
        msg.msg_controllen = sizeof(ctrl.buf);
        if (recvmsg(ep->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (!is_refusal(cm))
                continue;
            for (ls_net_conn_t *c = ep->conns, *next; c; c = next) {
                next = c->next;
                if (c->remote_len == msg.msg_namelen &&
                    memcmp(&c->remote, &dest, msg.msg_namelen) == 0)
                    ls_net_conn_unreachable(c);
            }
        }
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    ls_net_endpoint_t *ep = h->data;

    if (status < 0) {
        /* libuv stops the handle on POLLERR, which queued ICMP errors raise */
        drain_errors(ep);
        if (!ep->is_closing)
            uv_poll_start(&ep->poll, ep->pend_len ? UV_READABLE | UV_WRITABLE : UV_READABLE,
                          poll_cb);
        return;
    }
    if (events & UV_WRITABLE)
        on_writable(ep);
    if (events & UV_READABLE)
        on_readable(ep);
}
