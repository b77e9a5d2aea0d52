/* One QUIC connection: its GnuTLS session and the peer's fingerprint, the
 * ngtcp2 callbacks, the write loop that drains ngtcp2 into GSO batches, the
 * expiry timer, and closing (CONNECTION_CLOSE, closed_cb, freeing).
 *
 * ngtcp2 must not be asked to write from inside its own callbacks, and the
 * application may call this API from its callbacks. So nothing writes on the
 * spot: API calls change state and "kick" the connection (a uv_idle handle);
 * the kick runs the write loop on the next loop iteration. */
#include "net_internal.h"

#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/proto.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODULE "net"
/* Packets built per write pass before yielding to the loop so ACKs are read. */
#define MAX_PKTS_PER_PASS 1024
#define MAX_VECS 16
/* Stream frames coalesced into one packet at most (a packet holds far fewer). */
#define MAX_COALESCE 256

static void conn_write(ls_net_conn_t *c);
static void conn_teardown(ls_net_conn_t *c, int status, uint64_t app_error, const char *reason);

/* ---- ngtcp2 callbacks ---- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    ls_net_conn_t *c = ref->user_data;
    return c->q;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

int ls_net_random_cid(ngtcp2_cid *cid)
{
    cid->datalen = LS_NET_CIDLEN;
    return gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cid->datalen) < 0 ? -1 : 0;
}

static int new_cid_cb(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
                      void *user_data)
{
    ls_net_conn_t *c = user_data;
    (void)q;

    if (c->nscids == LS_NET_MAX_SCIDS || cidlen != LS_NET_CIDLEN)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (ls_net_random_cid(cid) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) < 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    c->scids[c->nscids++] = *cid;
    return 0;
}

static int remove_cid_cb(ngtcp2_conn *q, const ngtcp2_cid *cid, void *user_data)
{
    ls_net_conn_t *c = user_data;
    (void)q;

    for (size_t i = 0; i < c->nscids; i++) {
        if (ngtcp2_cid_eq(&c->scids[i], cid)) {
            c->scids[i] = c->scids[--c->nscids];
            break;
        }
    }
    return 0;
}

static bool alpn_is_ours(gnutls_session_t tls)
{
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(tls, &p) != 0)
        return false;
    return p.size == strlen(LS_ALPN) && memcmp(p.data, LS_ALPN, p.size) == 0;
}

static int handshake_completed_cb(ngtcp2_conn *q, void *user_data)
{
    ls_net_conn_t *c = user_data;
    ls_net_endpoint_t *ep = c->ep;
    (void)q;

    if (!alpn_is_ours(c->tls) || !c->peer_id[0]) {
        ls_net_conn_request_close(c, LS_NET_APP_REFUSED, "handshake incomplete", LS_ETLS);
        return 0;
    }
    c->is_known = true;
    if (ep->cb.established_cb && ep->cb.established_cb(c, c->peer_id) != 0)
        ls_net_conn_request_close(c, LS_NET_APP_REFUSED, "refused", LS_EAUTH);
    else if (!ls_net_conn_is_gated(c))
        c->is_verified = true; /* no hello gate: accepted is verified */
    ls_net_conn_kick(c);
    return 0;
}

bool ls_net_conn_is_gated(const ls_net_conn_t *c)
{
    return c->ep->lim.hello_window > 0;
}

/* The window a peer's stream gets before the hello: never above the
 * connection's, which bounds them all. */
static uint64_t gate_stream_window(const ls_net_limits_t *lim)
{
    return lim->hello_window < lim->stream_window ? lim->hello_window : lim->stream_window;
}

void ls_net_conn_credit(ls_net_conn_t *c, uint64_t n)
{
    if (!c->q || c->is_closed || n == 0)
        return;
    if (!c->is_verified && ls_net_conn_is_gated(c)) {
        c->credit_held += n; /* not earned yet: a stranger gets no more room */
        return;
    }
    ngtcp2_conn_extend_max_offset(c->q, n);
    ls_net_conn_kick(c);
}

static ls_net_stream_t *remote_stream(ls_net_conn_t *c, int64_t id)
{
    ls_net_stream_t *s = ls_net_stream_new(c, id);
    if (!s)
        return NULL;
    ngtcp2_conn_set_stream_user_data(c->q, id, s);
    /* streams opened after the hello get the full window; the transport
     * parameters announced only the gate's */
    if (c->is_verified && ls_net_conn_is_gated(c) &&
        c->ep->lim.stream_window > gate_stream_window(&c->ep->lim))
        ngtcp2_conn_extend_max_stream_offset(
            c->q, id, c->ep->lim.stream_window - gate_stream_window(&c->ep->lim));
    /* a refused connection takes no requests: its streams drop their bytes */
    if (c->ep->cb.stream_cb && c->is_known && !c->is_close_requested)
        c->ep->cb.stream_cb(c, s);
    return s;
}

static int stream_open_cb(ngtcp2_conn *q, int64_t id, void *user_data)
{
    ls_net_conn_t *c = user_data;
    (void)q;

    if (!ngtcp2_is_bidi_stream(id))
        return 0; /* uni streams are not part of the protocol; their limit is 0 */
    return remote_stream(c, id) ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int recv_stream_data_cb(ngtcp2_conn *q, uint32_t flags, int64_t id, uint64_t offset,
                               const uint8_t *data, size_t len, void *user_data, void *sdata)
{
    ls_net_conn_t *c = user_data;
    ls_net_stream_t *s = sdata;
    (void)offset;

    if (!s)
        s = remote_stream(c, id);
    if (!s)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    (void)q;
    c->n_stream_bytes += len;
    ls_net_stream_on_data(s, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    return 0;
}

static int acked_cb(ngtcp2_conn *q, int64_t id, uint64_t offset, uint64_t len, void *user_data,
                    void *sdata)
{
    (void)q;
    (void)id;
    (void)user_data;
    if (sdata)
        ls_net_stream_on_acked(sdata, offset + len);
    return 0;
}

static int stream_close_cb(ngtcp2_conn *q, uint32_t flags, int64_t id, uint64_t app_error,
                           void *user_data, void *sdata)
{
    ls_net_conn_t *c = user_data;
    ls_net_stream_t *s = sdata;
    int status = 0;

    /* a stranger's closed stream frees no slot until it is verified: it may
     * not cycle streams before its hello */
    if (!ngtcp2_conn_is_local_stream(q, id) && ngtcp2_is_bidi_stream(id)) {
        if (c->is_verified || !ls_net_conn_is_gated(c))
            ngtcp2_conn_extend_max_streams_bidi(q, 1);
        else
            c->streams_held++;
    }
    if (!s || c->is_closed)
        return 0;
    if (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)
        status = s->is_reset_locally ? LS_ECANCELED : LS_EREMOTE;
    else
        app_error = 0;
    ls_net_stream_finish(s, status, app_error);
    return 0;
}

static int extend_stream_data_cb(ngtcp2_conn *q, int64_t id, uint64_t max_data, void *user_data,
                                 void *sdata)
{
    (void)q;
    (void)id;
    (void)max_data;
    (void)sdata;
    ls_net_conn_kick(user_data);
    return 0;
}

static int extend_local_streams_cb(ngtcp2_conn *q, uint64_t max_streams, void *user_data)
{
    ls_net_conn_t *c = user_data;
    (void)max_streams;

    /* the first grant arrives with the handshake, before established_cb */
    if (c->is_known && !c->is_close_requested && ngtcp2_conn_get_handshake_completed(q) &&
        c->ep->cb.streams_available_cb)
        c->ep->cb.streams_available_cb(c);
    return 0;
}

static void fill_callbacks(ngtcp2_callbacks *cb, bool is_server)
{
    memset(cb, 0, sizeof(*cb));
    if (is_server) {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    } else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->handshake_completed = handshake_completed_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->recv_stream_data = recv_stream_data_cb;
    cb->acked_stream_data_offset = acked_cb;
    cb->stream_open = stream_open_cb;
    cb->stream_close = stream_close_cb;
    cb->rand = rand_cb;
    cb->get_new_connection_id = new_cid_cb;
    cb->remove_connection_id = remove_cid_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->extend_max_stream_data = extend_stream_data_cb;
    cb->extend_max_local_streams_bidi = extend_local_streams_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}

static void fill_settings(const ls_net_conn_t *c, ngtcp2_settings *st, ngtcp2_transport_params *tp)
{
    const ls_net_limits_t *lim = &c->ep->lim;

    ngtcp2_settings_default(st);
    st->initial_ts = ls_net_now();
    st->cc_algo = NGTCP2_CC_ALGO_CUBIC;
    st->max_tx_udp_payload_size = c->max_payload;
    /* A route with a larger MTU (loopback, jumbo frames) gets packets of its
     * size at once rather than after PMTUD, whose probes in ngtcp2 0.12 stop
     * at Ethernet sizes. The peer's max_udp_payload_size caps them: it is
     * its own route's payload (below), so a peer on a 1500-byte link is never
     * sent more than 1452. */
    if (c->max_payload > LS_NET_MAX_PAYLOAD)
        st->no_tx_udp_payload_size_shaping = 1;
    st->handshake_timeout = (uint64_t)lim->handshake_timeout_ms * NGTCP2_MILLISECONDS;
    /* a LAN round trip is well under a millisecond; the default 333 ms
     * would make the first loss recovery crawl */
    st->initial_rtt = 10 * NGTCP2_MILLISECONDS;
    /* A LAN path is short and clean: an ACK every 16 packets instead of every
     * 2 spares both sides most ACK packets (each one encrypted, sent,
     * received and processed). Loopback A/B, 512 MiB, 4 alternating pairs:
     * 5.07-5.82 vs 5.77-5.90 CPU-s/GiB, transfer 1.65-2.37 s vs 2.47-2.91 s. */
    st->ack_thresh = LS_NET_ACK_THRESH;

    ngtcp2_transport_params_default(tp);
    tp->max_udp_payload_size = c->max_payload;
    tp->initial_max_stream_data_bidi_local = lim->stream_window;
    tp->initial_max_stream_data_bidi_remote = lim->stream_window;
    tp->initial_max_stream_data_uni = 0;
    tp->initial_max_data = lim->conn_window;
    tp->initial_max_streams_bidi = lim->max_streams;
    if (lim->hello_window) {
        /* the hello gate: one stream and room for the hello, nothing more
         * until ls_net_conn_verify (our own requests' replies share the
         * connection window, so they are bounded too) */
        tp->initial_max_data = lim->hello_window;
        tp->initial_max_stream_data_bidi_remote = gate_stream_window(lim);
        tp->initial_max_streams_bidi = 1;
    }
    tp->initial_max_streams_uni = 0;
    tp->max_idle_timeout = (uint64_t)lim->idle_timeout_ms * NGTCP2_MILLISECONDS;
    tp->active_connection_id_limit = 4;
    /* peers on a LAN keep their address; packets are sent to the one we know */
    tp->disable_active_migration = 1;
}

/* ---- TLS ---- */

static int tls_setup(ls_net_conn_t *c)
{
    static const gnutls_datum_t alpn = {(unsigned char *)LS_ALPN, sizeof(LS_ALPN) - 1};
    unsigned flags = c->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT;

    if (gnutls_init(&c->tls, flags | GNUTLS_NO_END_OF_EARLY_DATA) < 0) {
        c->tls = NULL;
        return LS_ENOMEM;
    }
    int rv = c->is_server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                          : ngtcp2_crypto_gnutls_configure_client_session(c->tls);
    if (rv != 0 || gnutls_priority_set(c->tls, c->ep->priority) < 0 ||
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->ep->cred) < 0)
        return LS_ETLS;
    gnutls_session_set_ptr(c->tls, &c->conn_ref);
    if (gnutls_alpn_set_protocols(c->tls, &alpn, 1,
                                  GNUTLS_ALPN_MANDATORY |
                                      (c->is_server ? GNUTLS_ALPN_SERVER_PRECEDENCE : 0)) < 0)
        return LS_ETLS;
    /* mutual TLS: the client's certificate is its identity */
    if (c->is_server)
        gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUIRE);
    ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
    return 0;
}

/* GnuTLS calls this (both roles) once the peer's Certificate has arrived.
 * Any self-signed certificate passes: TLS 1.3 CertificateVerify already
 * proved the peer holds its key, and the key's fingerprint is the identity
 * the application judges in established_cb. */
static int tls_verify_cb(gnutls_session_t tls)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(tls);
    ls_net_conn_t *c = ref ? ref->user_data : NULL;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(tls, &n);

    if (!c || !certs || n == 0)
        return GNUTLS_E_NO_CERTIFICATE_FOUND;
    if (ls_identity_fingerprint_der(certs[0].data, certs[0].size, c->peer_id) != 0) {
        c->peer_id[0] = '\0';
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

void ls_net_tls_set_verify(gnutls_certificate_credentials_t cred)
{
    gnutls_certificate_set_verify_function(cred, tls_verify_cb);
}

/* ---- lifetime ---- */

static void timer_cb(uv_timer_t *t);
static void kick_cb(uv_idle_t *idle);

static ls_net_conn_t *conn_alloc(ls_net_endpoint_t *ep, const struct sockaddr *remote,
                                 socklen_t remote_len, bool is_server)
{
    ls_net_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ep = ep;
    c->is_server = is_server;
    memcpy(&c->remote, remote, remote_len);
    c->remote_len = remote_len;
    c->max_payload = ls_net_path_payload(remote, remote_len);
    if (ep->lim.max_payload && c->max_payload > ep->lim.max_payload)
        c->max_payload =
            ep->lim.max_payload < LS_NET_MAX_PAYLOAD ? LS_NET_MAX_PAYLOAD : ep->lim.max_payload;
    c->conn_ref.get_conn = get_conn;
    c->conn_ref.user_data = c;
    c->born_ns = ls_net_now();
    uv_timer_init(ep->loop, &c->timer);
    uv_idle_init(ep->loop, &c->kick);
    c->timer.data = c;
    c->kick.data = c;
    c->open_handles = 2;
    ep->nhandles++;
    c->next = ep->conns;
    if (ep->conns)
        ep->conns->prev = c;
    ep->conns = c;
    ep->nconns++;
    return c;
}

static void conn_free_cb(uv_handle_t *h)
{
    ls_net_conn_t *c = h->data;
    ls_net_endpoint_t *ep = c->ep;

    if (--c->open_handles > 0)
        return;
    free(c);
    ls_net_ep_conn_gone(ep);
}

static void path_of(ls_net_conn_t *c, ngtcp2_path *path)
{
    path->local.addr = (struct sockaddr *)&c->ep->local;
    path->local.addrlen = c->ep->local_len;
    path->remote.addr = (struct sockaddr *)&c->remote;
    path->remote.addrlen = c->remote_len;
    path->user_data = NULL;
}

/* Frees what conn_alloc and the ngtcp2/TLS setup acquired; the struct itself
 * goes when its uv handles have closed. */
static void conn_release(ls_net_conn_t *c)
{
    ls_net_endpoint_t *ep = c->ep;

    c->is_closed = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        ep->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ep->nconns--;
    if (c->q)
        ngtcp2_conn_del(c->q);
    c->q = NULL;
    if (c->tls)
        gnutls_deinit(c->tls);
    c->tls = NULL;
    uv_close((uv_handle_t *)&c->timer, conn_free_cb);
    uv_close((uv_handle_t *)&c->kick, conn_free_cb);
}

/* TLS on the new ngtcp2 connection, then keep-alive: both sides alike. */
static int session_setup(ls_net_conn_t *c)
{
    int rc = tls_setup(c);
    if (rc == 0 && c->ep->lim.keep_alive_ms)
        ngtcp2_conn_set_keep_alive_timeout(c->q, (uint64_t)c->ep->lim.keep_alive_ms *
                                                     NGTCP2_MILLISECONDS);
    return rc;
}

int ls_net_conn_new_server(ls_net_endpoint_t *ep, const struct sockaddr *remote,
                           socklen_t remote_len, const ngtcp2_pkt_hd *hd, const ngtcp2_cid *odcid,
                           ls_net_conn_t **out)
{
    ngtcp2_callbacks cb;
    ngtcp2_settings st;
    ngtcp2_transport_params tp;
    ngtcp2_path path;
    ls_net_conn_t *c = conn_alloc(ep, remote, remote_len, true);
    int rc = LS_ENOMEM;

    *out = NULL;
    if (!c)
        return LS_ENOMEM;
    fill_callbacks(&cb, true);
    fill_settings(c, &st, &tp);
    st.token = hd->token;
    tp.original_dcid = hd->dcid;
    if (odcid) {
        /* after our Retry: the client proved its address; the transport
         * parameters tell it which Retry we sent (RFC 9000 7.3) */
        tp.original_dcid = *odcid;
        tp.retry_scid = hd->dcid;
        tp.retry_scid_present = 1;
    }
    tp.stateless_reset_token_present = 1;
    c->client_dcid = hd->dcid;
    if (ls_net_random_cid(&c->scids[0]) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, tp.stateless_reset_token, NGTCP2_STATELESS_RESET_TOKENLEN) <
            0)
        goto fail;
    c->nscids = 1;
    path_of(c, &path);
    if (ngtcp2_conn_server_new(&c->q, &hd->scid, &c->scids[0], &path, hd->version, &cb, &st, &tp,
                               NULL, c) != 0) {
        c->q = NULL;
        goto fail;
    }
    rc = session_setup(c);
    if (rc != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    conn_release(c);
    return rc;
}

int ls_net_connect(ls_net_endpoint_t *ep, const struct sockaddr *addr, void *user_data,
                   ls_net_conn_t **out)
{
    ngtcp2_callbacks cb;
    ngtcp2_settings st;
    ngtcp2_transport_params tp;
    ngtcp2_path path;
    ngtcp2_cid dcid;
    socklen_t len;
    ls_net_conn_t *c;
    int rc = LS_ENOMEM;

    *out = NULL;
    if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
        addr->sa_family != ep->local.ss_family)
        return LS_EINVAL;
    if (ep->is_closing)
        return LS_ESTATE;
    if (ls_net_ep_conns_out(ep) >= ep->lim.max_conns_out ||
        ls_net_ep_conns_to(ep, addr) >= ep->lim.max_conns_per_addr)
        return LS_ELIMIT;
    len = addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    c = conn_alloc(ep, addr, len, false);
    if (!c)
        return LS_ENOMEM;
    c->user_data = user_data;
    c->is_known = true;
    fill_callbacks(&cb, false);
    fill_settings(c, &st, &tp);
    if (ls_net_random_cid(&dcid) != 0 || ls_net_random_cid(&c->scids[0]) != 0)
        goto fail;
    c->nscids = 1;
    path_of(c, &path);
    if (ngtcp2_conn_client_new(&c->q, &dcid, &c->scids[0], &path, NGTCP2_PROTO_VER_V1, &cb, &st,
                               &tp, NULL, c) != 0) {
        c->q = NULL;
        goto fail;
    }
    rc = session_setup(c);
    if (rc != 0)
        goto fail;
    ls_net_conn_kick(c);
    *out = c;
    return 0;
fail:
    c->is_known = false;
    conn_release(c);
    return rc;
}

/* Every stream still open and then the application hear about the end, once;
 * the connection is then released. */
static void conn_teardown(ls_net_conn_t *c, int status, uint64_t app_error, const char *reason)
{
    ls_net_endpoint_t *ep = c->ep;

    if (c->is_closed)
        return;
    if (c->q) {
        ngtcp2_conn_stat st;
        ngtcp2_conn_get_conn_stat(c->q, &st);
        ls_debug(MODULE,
                 "connection to %.16s closed (%s): cwnd %llu, srtt %llu us, min rtt %llu us; "
                 "sent %llu packets (largest %zu), %llu bytes in %llu passes; %llu timer runs, "
                 "%llu blocked; received %llu bytes, %llu of them new stream data; "
                 "endpoint: %llu EAGAIN, received %llu datagrams / %llu packets",
                 c->peer_id, ls_strerror(status), (unsigned long long)st.cwnd,
                 (unsigned long long)(st.smoothed_rtt / 1000),
                 (unsigned long long)(st.min_rtt / 1000), (unsigned long long)c->n_pkts,
                 c->max_pkt_sent, (unsigned long long)c->n_bytes, (unsigned long long)c->n_passes,
                 (unsigned long long)c->n_timer, (unsigned long long)c->n_blocked,
                 (unsigned long long)c->n_rx_bytes, (unsigned long long)c->n_stream_bytes,
                 (unsigned long long)c->ep->n_eagain, (unsigned long long)c->ep->n_recv_dgrams,
                 (unsigned long long)c->ep->n_recv_pkts);
    }
    c->is_closed = true;
    while (c->streams)
        ls_net_stream_finish(c->streams, status, app_error);
    if (c->is_known && ep->cb.closed_cb)
        ep->cb.closed_cb(c, status, app_error, reason ? reason : "");
    conn_release(c);
}

/* The largest packet to build now: Ethernet-sized until the handshake is
 * done (ngtcp2 pads a client's Initial to the whole buffer, and the
 * handshake's few packets gain nothing from size), then the path's. */
static size_t tx_payload(ls_net_conn_t *c)
{
    return c->q && ngtcp2_conn_get_handshake_completed(c->q) ? c->max_payload : LS_NET_MAX_PAYLOAD;
}

/* Sends CONNECTION_CLOSE (if the connection may still send) and tears down.
 * Not for use inside ngtcp2 callbacks. */
static void conn_close_now(ls_net_conn_t *c, const ngtcp2_connection_close_error *ce, int status,
                           uint64_t app_error, const char *reason)
{
    ngtcp2_path_storage ps;

    ngtcp2_path_storage_zero(&ps);
    /* ep->tx: a batch left unsent there is abandoned with the connection */
    if (c->q && !ngtcp2_conn_is_in_closing_period(c->q) &&
        !ngtcp2_conn_is_in_draining_period(c->q)) {
        ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->q, &ps.path, NULL, c->ep->tx,
                                                            tx_payload(c), ce, ls_net_now());
        if (n > 0)
            ls_net_ep_send(c->ep, (struct sockaddr *)&c->remote, c->remote_len, c->ep->tx,
                           (size_t)n, (size_t)n);
    }
    conn_teardown(c, status, app_error, reason);
}

void ls_net_conn_unreachable(ls_net_conn_t *c)
{
    if (c->is_closed || c->is_server || ngtcp2_conn_get_handshake_completed(c->q))
        return;
    conn_teardown(c, LS_EUNREACHABLE, 0, "port unreachable");
}

static void close_with_liberr(ls_net_conn_t *c, int liberr, int status)
{
    ngtcp2_connection_close_error ce;

    if (liberr == NGTCP2_ERR_CRYPTO)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &ce, ngtcp2_conn_get_tls_alert(c->q), NULL, 0);
    else
        ngtcp2_connection_close_error_set_transport_error_liberr(&ce, liberr, NULL, 0);
    ls_debug(MODULE, "closing connection: %s", ngtcp2_strerror(liberr));
    conn_close_now(c, &ce, status, 0, ngtcp2_strerror(liberr));
}

void ls_net_conn_request_close(ls_net_conn_t *c, uint64_t app_error, const char *reason, int status)
{
    if (c->is_closed || c->is_close_requested)
        return;
    c->is_close_requested = true;
    c->close_app_error = app_error;
    c->close_status = status;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
    ls_net_conn_kick(c);
}

/* Sends what ngtcp2 has pending apart from stream data (our TLS Finished,
 * ACKs), so that a peer we refuse right after the handshake completes its
 * own and learns why we close. */
static void flush_control(ls_net_conn_t *c)
{
    ngtcp2_path_storage ps;
    ngtcp2_tstamp ts = ls_net_now();

    ngtcp2_path_storage_zero(&ps);
    for (int i = 0; i < 16; i++) {
        ngtcp2_ssize n = ngtcp2_conn_write_pkt(c->q, &ps.path, NULL, c->ep->tx, tx_payload(c), ts);
        if (n <= 0)
            break;
        ls_net_ep_send(c->ep, (struct sockaddr *)&c->remote, c->remote_len, c->ep->tx, (size_t)n,
                       (size_t)n);
    }
}

static void do_requested_close(ls_net_conn_t *c)
{
    ngtcp2_connection_close_error ce;

    if (c->q && !ngtcp2_conn_is_in_closing_period(c->q) && !ngtcp2_conn_is_in_draining_period(c->q))
        flush_control(c);
    ngtcp2_connection_close_error_set_application_error(
        &ce, c->close_app_error, (const uint8_t *)c->close_reason, strlen(c->close_reason));
    conn_close_now(c, &ce, c->close_status, c->close_app_error, c->close_reason);
}

/* What the peer's CONNECTION_CLOSE means to the application. */
static int remote_close_status(const ngtcp2_connection_close_error *ce)
{
    switch (ce->type) {
    case NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION:
        if (ce->error_code == LS_NET_APP_REFUSED)
            return LS_EREFUSED;
        return ce->error_code == LS_NET_APP_NO_ERROR ? LS_EPEER_GONE : LS_EREMOTE;
    case NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT_IDLE_CLOSE:
        return LS_ETIMEDOUT;
    default:
        break;
    }
    if (ce->error_code == NGTCP2_NO_ERROR)
        return LS_EPEER_GONE;
    if (ce->error_code == NGTCP2_CONNECTION_REFUSED)
        return LS_ELIMIT;
    if (ce->error_code & NGTCP2_CRYPTO_ERROR)
        return LS_ETLS;
    return LS_EQUIC;
}

static void on_peer_closed(ls_net_conn_t *c)
{
    ngtcp2_connection_close_error ce;
    char reason[LS_NET_REASON_MAX + 1];
    size_t n;

    ngtcp2_conn_get_connection_close_error(c->q, &ce);
    n = ce.reasonlen < LS_NET_REASON_MAX ? ce.reasonlen : LS_NET_REASON_MAX;
    if (n)
        memcpy(reason, ce.reason, n);
    reason[n] = '\0';
    conn_teardown(
        c, remote_close_status(&ce),
        ce.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION ? ce.error_code : 0, reason);
}

void ls_net_conn_read(ls_net_conn_t *c, const struct sockaddr *remote, socklen_t remote_len,
                      const uint8_t *pkt, size_t len, uint64_t ts)
{
    ngtcp2_path path;
    ngtcp2_pkt_info pi = {0};
    int rv;

    if (c->is_closed)
        return;
    path_of(c, &path);
    path.remote.addr = (struct sockaddr *)remote;
    path.remote.addrlen = remote_len;
    c->n_rx_bytes += len;
    rv = ngtcp2_conn_read_pkt(c->q, &path, &pi, pkt, len, ts);
    if (rv == 0) {
        ls_net_conn_kick(c);
        return;
    }
    switch (rv) {
    case NGTCP2_ERR_DRAINING:
        on_peer_closed(c);
        break;
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
        conn_teardown(c, LS_EQUIC, 0, ngtcp2_strerror(rv));
        break;
    case NGTCP2_ERR_CRYPTO:
        close_with_liberr(c, rv, LS_ETLS);
        break;
    default:
        close_with_liberr(c, rv, LS_EQUIC);
        break;
    }
}

bool ls_net_conn_has_cid(const ls_net_conn_t *c, const uint8_t *cid, size_t len)
{
    if (c->is_closed)
        return false;
    for (size_t i = 0; i < c->nscids; i++) {
        if (c->scids[i].datalen == len && memcmp(c->scids[i].data, cid, len) == 0)
            return true;
    }
    /* the client keeps using its random first DCID until our reply arrives */
    return c->is_server && c->client_dcid.datalen == len &&
           memcmp(c->client_dcid.data, cid, len) == 0;
}

/* ---- write loop ---- */

void ls_net_conn_kick(ls_net_conn_t *c)
{
    if (c->is_closed || uv_is_active((uv_handle_t *)&c->kick))
        return;
    uv_idle_start(&c->kick, kick_cb);
}

static void kick_cb(uv_idle_t *idle)
{
    ls_net_conn_t *c = idle->data;
    uv_idle_stop(idle);
    conn_write(c);
}

static void arm_timer(ls_net_conn_t *c)
{
    ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(c->q);
    ngtcp2_tstamp now = ls_net_now();
    uint64_t ms;

    if (expiry == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    ms = expiry > now ? (expiry - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS : 0;
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void timer_cb(uv_timer_t *t)
{
    ls_net_conn_t *c = t->data;
    int rv;

    if (c->is_closed)
        return;
    c->n_timer++;
    rv = ngtcp2_conn_handle_expiry(c->q, ls_net_now());
    if (rv == NGTCP2_ERR_IDLE_CLOSE) {
        conn_teardown(c, LS_ETIMEDOUT, 0, "idle timeout");
        return;
    }
    if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
        conn_teardown(c, LS_EUNREACHABLE, 0, "no answer to the handshake");
        return;
    }
    if (rv != 0) {
        close_with_liberr(c, rv, LS_EQUIC);
        return;
    }
    conn_write(c);
}

/* The stream whose bytes go into the next packet: round robin from c->rr. */
static ls_net_stream_t *next_stream(ls_net_conn_t *c, bool may_pull)
{
    ls_net_stream_t *start = c->rr ? c->rr : c->streams;
    ls_net_stream_t *s = start;

    if (!s)
        return NULL;
    do {
        if (ls_net_stream_wants_write(s, may_pull))
            return s;
        s = s->next ? s->next : c->streams;
    } while (s && s != start);
    return NULL;
}

struct batch {
    size_t len; /* bytes in ep->tx */
    size_t seg; /* GSO segment size: the first packet's size */
    size_t npkts;
};

static int batch_flush(ls_net_conn_t *c, struct batch *b)
{
    int rc = 0;
    if (b->len)
        rc = ls_net_ep_send(c->ep, (struct sockaddr *)&c->remote, c->remote_len, c->ep->tx, b->len,
                            b->seg);
    b->len = b->seg = b->npkts = 0;
    return rc;
}

/* A packet of n bytes was written at ep->tx + b->len. Segments of one GSO
 * send must all be b->seg long except the last, which may be shorter. */
static int batch_add(ls_net_conn_t *c, struct batch *b, size_t n)
{
    int rc = 0;

    if (b->npkts > 0 && n > b->seg) {
        uint8_t *pkt = c->ep->tx + b->len;
        rc = ls_net_ep_send(c->ep, (struct sockaddr *)&c->remote, c->remote_len, c->ep->tx, b->len,
                            b->seg);
        memmove(c->ep->tx, pkt, n);
        b->len = b->npkts = 0;
        if (rc != 0)
            return rc;
    }
    if (b->npkts == 0)
        b->seg = n;
    b->len += n;
    b->npkts++;
    if (n < b->seg || b->len + c->max_payload > LS_NET_GSO_BUF)
        rc = batch_flush(c, b);
    return rc;
}

/* Writes one packet into the batch. Returns its size, 0 when ngtcp2 has
 * nothing more to send now, or a negative ngtcp2 error. */
static ngtcp2_ssize write_one(ls_net_conn_t *c, struct batch *b, ngtcp2_tstamp ts)
{
    ngtcp2_vec vec[MAX_VECS];
    ngtcp2_path_storage ps;

    ngtcp2_path_storage_zero(&ps);
    for (int tries = 0;; tries++) {
        /* past the bound, stop coalescing: ngtcp2 then finishes the packet */
        /* sources (application code) run only between packets: while ngtcp2
         * coalesces (WRITE_MORE) no other ngtcp2 call may happen */
        ls_net_stream_t *s = tries < MAX_COALESCE ? next_stream(c, tries == 0) : NULL;
        bool is_fin = false;
        size_t nvec = s ? ls_net_stream_vec(s, vec, MAX_VECS, &is_fin) : 0;
        uint32_t flags =
            NGTCP2_WRITE_STREAM_FLAG_MORE | (is_fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
        ngtcp2_ssize ndata = -1;
        ngtcp2_ssize n =
            ngtcp2_conn_writev_stream(c->q, &ps.path, NULL, c->ep->tx + b->len, tx_payload(c),
                                      &ndata, flags, s ? s->id : -1, vec, nvec, ts);
        if (s && ndata >= 0) {
            ls_net_stream_on_sent(s, (size_t)ndata, is_fin);
            c->rr = s->next; /* the next packet starts with another stream */
        }
        if (n >= 0)
            return n;
        if (!s && n != NGTCP2_ERR_WRITE_MORE)
            return n; /* stream errors need a stream: anything else is fatal */
        switch (n) {
        case NGTCP2_ERR_WRITE_MORE:
            continue;
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
            s->is_blocked = true;
            continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
        case NGTCP2_ERR_STREAM_NOT_FOUND:
            s->is_write_closed = true;
            continue;
        default:
            return n;
        }
    }
}

/* Drains ngtcp2 until it has nothing more to send (or a pass is full), then
 * re-arms the expiry timer. */
static void conn_write(ls_net_conn_t *c)
{
    struct batch b = {0, 0, 0};
    ngtcp2_tstamp ts = ls_net_now();
    size_t npkts = 0;
    bool is_pass_full = false;

    if (c->is_closed)
        return;
    if (c->is_close_requested) {
        do_requested_close(c);
        return;
    }
    c->n_passes++;
    if (ls_net_ep_is_blocked(c->ep)) {
        c->n_blocked++;
        c->is_waiting_writable = true;
        arm_timer(c); /* timeouts still run while the socket is full */
        return;
    }
    for (ls_net_stream_t *s = c->streams; s; s = s->next)
        s->is_blocked = false;
    for (;;) {
        ngtcp2_ssize n = write_one(c, &b, ts);
        if (n < 0) {
            close_with_liberr(c, (int)n, LS_EQUIC);
            return;
        }
        if (n == 0)
            break;
        c->n_pkts++;
        c->n_bytes += (uint64_t)n;
        if ((size_t)n > c->max_pkt_sent)
            c->max_pkt_sent = (size_t)n;
        if (batch_add(c, &b, (size_t)n) == LS_EAGAIN) {
            c->is_waiting_writable = true;
            break;
        }
        if (++npkts == MAX_PKTS_PER_PASS) {
            is_pass_full = true;
            break;
        }
    }
    if (batch_flush(c, &b) == LS_EAGAIN)
        c->is_waiting_writable = true;
    /* No pacing (ngtcp2_conn_update_pkt_tx_time is never called, so ngtcp2
     * never holds a packet back for its pacing time): on a LAN the delay it
     * asks for is microseconds, which the millisecond expiry timer turns
     * into a pause of 1 ms per pass, and each daemon of a swarm has many
     * connections each woken that way. A fan-out of 12 (bench_fanout.sh,
     * 200 Mbit/s) made 125,000 timer runs and 4.5 packets a pass, 12-14
     * CPU s; unpaced 22,000, 7.4 and 10.5 CPU s, and one download at
     * 1 Gbit/s ended in 2.5 s instead of 3.2. The congestion window and the
     * receiver's acknowledgements (every LS_NET_ACK_THRESH packets) still
     * bound what goes out. */
    if (is_pass_full && !c->is_waiting_writable)
        ls_net_conn_kick(c);
    arm_timer(c);
}

/* ---- the rest of the public connection API ---- */

void ls_net_conn_verify(ls_net_conn_t *c)
{
    const ls_net_limits_t *lim = &c->ep->lim;

    if (c->is_verified || c->is_closed || !c->q)
        return;
    c->is_verified = true;
    if (!ls_net_conn_is_gated(c))
        return;
    /* the full limits, plus what was held back: the slots of closed
     * streams and the credit for bytes already used */
    if (lim->max_streams > 1 || c->streams_held)
        ngtcp2_conn_extend_max_streams_bidi(c->q, lim->max_streams - 1 + c->streams_held);
    c->streams_held = 0;
    ngtcp2_conn_extend_max_offset(
        c->q, (lim->conn_window > lim->hello_window ? lim->conn_window - lim->hello_window : 0) +
                  c->credit_held);
    c->credit_held = 0;
    for (ls_net_stream_t *s = c->streams; s; s = s->next) {
        uint64_t more = s->credit_held;
        if (!ngtcp2_conn_is_local_stream(c->q, s->id))
            more += lim->stream_window - gate_stream_window(lim);
        s->credit_held = 0;
        if (more)
            ngtcp2_conn_extend_max_stream_offset(c->q, s->id, more);
    }
    ls_net_conn_kick(c);
}

bool ls_net_conn_is_verified(const ls_net_conn_t *c)
{
    return c->is_verified;
}

bool ls_net_conn_is_open(const ls_net_conn_t *c)
{
    return !c->is_closed && !c->is_close_requested && c->q &&
           ngtcp2_conn_get_handshake_completed(c->q);
}

void ls_net_conn_close(ls_net_conn_t *c, uint64_t app_error, const char *reason)
{
    ls_net_conn_request_close(c, app_error, reason, 0);
}

size_t ls_net_conn_max_packet_sent(const ls_net_conn_t *c)
{
    return c->max_pkt_sent;
}

const char *ls_net_conn_peer_id(const ls_net_conn_t *c)
{
    return c->peer_id;
}

int ls_net_conn_export_keying_material(const ls_net_conn_t *c, const char *label, uint8_t *out,
                                       size_t len)
{
    if (!c->tls || !c->peer_id[0]) /* peer_id: set once the certificate checked out */
        return LS_ESTATE;
    if (gnutls_prf_rfc5705(c->tls, strlen(label), label, 0, NULL, len, (char *)out) < 0)
        return LS_ETLS;
    return 0;
}

ls_net_endpoint_t *ls_net_conn_endpoint(const ls_net_conn_t *c)
{
    return c->ep;
}

void *ls_net_conn_user_data(const ls_net_conn_t *c)
{
    return c->user_data;
}

void ls_net_conn_set_user_data(ls_net_conn_t *c, void *user_data)
{
    c->user_data = user_data;
}

void ls_net_conn_remote_addr(const ls_net_conn_t *c, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, &c->remote, c->remote_len);
}
