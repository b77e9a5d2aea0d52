/* Connections to other peers and the handshake that carries the library:
 * the connecting side sends hello with its full snapshot, the accepting side
 * checks version, identity and party key, applies it and answers hello_ack
 * with its own. Each side applies the other's snapshot once per handshake. */
#include "runtime_internal.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const local_features[] = {"chunk-sha256", "library-delta", LS_FEATURE_GAME_META};

static bool has_feature(const ls_hello_t *hello, const char *feature)
{
    for (size_t i = 0; i < hello->feature_count; i++)
        if (strcmp(hello->features[i], feature) == 0)
            return true;
    return false;
}

int ls_link_make_hello(ls_link_t *link, ls_msg_kind_t kind, ls_msg_t *out)
{
    ls_peer_runtime_t *rt = link->rt;
    ls_hello_t *h = &out->u.hello;
    char proof[LS_SHA256_HEX_LEN + 1];
    size_t nfeatures = sizeof local_features / sizeof local_features[0];
    memset(out, 0, sizeof *out);
    out->kind = kind;
    h->protocol_version = rt->protocol_version;
    h->peer_id = strdup(rt->peer_id);
    h->name = strdup(rt->name);
    h->listen_port = (uint16_t)rt->listen_port;
    h->features = calloc(nfeatures, sizeof *h->features);
    if (!h->peer_id || !h->name || !h->features)
        goto fail;
    for (size_t i = 0; i < nfeatures; i++, h->feature_count++)
        if (!(h->features[i] = strdup(local_features[i])))
            goto fail;
    if (rt->party_key) {
        ls_party_proof(rt->party_key, rt->peer_id, link->peer_id, proof);
        if (!(h->party_proof = strdup(proof)))
            goto fail;
    }
    if (ls_snapshot_copy(&h->library, &rt->announced) != 0)
        goto fail;
    return 0;
fail:
    ls_msg_free(out);
    return LS_ENOMEM;
}

/* Version first (no shim), then identity, then the party key. */
int ls_link_check_hello(ls_link_t *link, const ls_hello_t *hello)
{
    ls_peer_runtime_t *rt = link->rt;
    char expected[LS_SHA256_HEX_LEN + 1];
    if (hello->protocol_version != rt->protocol_version)
        return LS_EVERSION;
    if (strcmp(hello->peer_id, link->peer_id) != 0)
        return LS_EAUTH;
    if (!rt->party_key)
        return 0;
    ls_party_proof(rt->party_key, link->peer_id, rt->peer_id, expected);
    if (!hello->party_proof || strcmp(hello->party_proof, expected) != 0)
        return LS_EAUTH;
    return 0;
}

static ls_link_t *ready_link_for(ls_peer_runtime_t *rt, const char *peer_id, ls_link_t *except)
{
    for (ls_link_t *l = rt->links; l; l = l->next)
        if (l != except && l->is_ready && !l->is_closing && strcmp(l->peer_id, peer_id) == 0)
            return l;
    return NULL;
}

/* Two peers that dial each other end up with two connections; both sides
 * keep the one dialled by the smaller peer_id, so they agree without talking. */
static bool is_preferred(const ls_link_t *link)
{
    const char *dialer = link->is_outbound ? link->rt->peer_id : link->peer_id;
    const char *other = link->is_outbound ? link->peer_id : link->rt->peer_id;
    return strcmp(dialer, other) < 0;
}

/* Which of two ready connections to one peer goes. When the new one was
 * opened well after the old one was ready, the peer no longer believes in
 * the old one (it restarted, or lost it): the new one stays on both sides,
 * instead of a dead connection holding out until its pings go unanswered.
 * Otherwise the peers dialled each other at about the same time: both keep
 * the one dialled by the smaller peer_id (or, same dialer, the newer). The
 * grace keeps the two sides, whose clocks see these moments a round trip
 * apart, on the same rule. */
#define DUPLICATE_GRACE_MS 1000

static ls_link_t *duplicate_loser(ls_link_t *link, ls_link_t *other)
{
    if (other->ready_ms + DUPLICATE_GRACE_MS < link->started_ms)
        return other;
    ls_link_t *loser = is_preferred(link) ? other : link;
    if (loser == link && other->is_outbound == link->is_outbound)
        loser = other; /* same dialer: the newer connection replaces the old */
    return loser;
}

ls_link_t *ls_link_find_ready(ls_peer_runtime_t *rt, const char *peer_id)
{
    return ready_link_for(rt, peer_id, NULL);
}

bool ls_link_exists(ls_peer_runtime_t *rt, const char *peer_id)
{
    for (ls_link_t *l = rt->links; l; l = l->next)
        if (!l->is_closing && strcmp(l->peer_id, peer_id) == 0)
            return true;
    return false;
}

static void peer_address(ls_link_t *link, const ls_hello_t *hello)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (link->is_outbound && link->static_peer)
        return; /* the dialled address is already there */
    ls_net_conn_remote_addr(link->conn, &ss);
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
    snprintf(link->address, sizeof link->address, "%s:%u", ip, hello->listen_port);
}

void ls_link_handshake_done(ls_link_t *link, const ls_hello_t *hello)
{
    ls_peer_runtime_t *rt = link->rt;
    bool is_new = false;
    peer_address(link, hello);
    link->wants_game_meta = has_feature(hello, LS_FEATURE_GAME_META);
    ls_link_t *other = ready_link_for(rt, link->peer_id, link);
    if (other) {
        ls_link_t *loser = duplicate_loser(link, other);
        loser->is_ready = false;
        ls_link_close(loser, LS_NET_APP_NO_ERROR, "duplicate connection");
        if (loser == link)
            return;
    }
    int rc = ls_peerdb_apply_hello(rt->peerdb, hello, link->address, ls_rt_now_ms(rt), &is_new);
    if (rc != 0) {
        ls_warn("peer", "%s: library snapshot refused: %s", link->address, ls_strerror(rc));
        ls_link_close(link, LS_NET_APP_REFUSED, "bad library snapshot");
        return;
    }
    if (!link->is_ready)
        link->ready_ms = ls_rt_now_ms(rt);
    link->is_ready = true;
    link->ping_misses = 0;
    link->hello_sent_ms = 0;
    if (link->static_peer) {
        /* Reachable and accepted: a later loss starts its backoff afresh. */
        snprintf(link->static_peer->peer_id, sizeof link->static_peer->peer_id, "%s",
                 link->peer_id);
        link->static_peer->backoff_ms = rt->reconnect_ms;
    }
    if (is_new) {
        ls_info("peer", "%s (%.12s) at %s: %zu games", hello->name, link->peer_id, link->address,
                hello->library.game_count);
        ls_rt_emit(rt, LS_EVENT_PEER_DISCOVERED,
                   json_pack("{s:s,s:s,s:s,s:I}", "peer_id", link->peer_id, "name", hello->name,
                             "address", link->address, "game_count",
                             (json_int_t)hello->library.game_count));
        ls_rt_emit_peer_count(rt);
    }
    ls_rt_emit_games(rt);
}

/* A connection whose first handshake failed is closed, so that its target
 * is dialled again with backoff; left open it would block redialling for
 * good. A re-handshake on a ready link that fails leaves the link as it is:
 * the next library_delta or TXT change asks again. */
static void handshake_failed(ls_link_t *link, const char *reason)
{
    if (!link->is_ready)
        ls_link_close(link, LS_NET_APP_REFUSED, reason);
}

static void hello_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    if (status != 0 || !reply) {
        if (!link->is_closing)
            ls_warn("peer", "%s: handshake failed: %s", link->address, ls_strerror(status));
        handshake_failed(link, "handshake failed");
        return;
    }
    if (reply->kind == LS_MSG_ERROR) {
        bool is_version = reply->u.error.code == LS_WIRE_VERSION_MISMATCH;
        ls_warn("peer", "%s refused our hello: %s (%s)%s", link->address,
                ls_wire_error_name(reply->u.error.code), reply->u.error.message,
                is_version && link->static_peer ? "; not retrying" : "");
        if (is_version && link->static_peer)
            link->static_peer->is_ignored = true;
        handshake_failed(link, "hello refused");
        return;
    }
    int rc = reply->kind == LS_MSG_HELLO_ACK ? ls_link_check_hello(link, &reply->u.hello)
                                            : LS_EJSON;
    if (rc != 0) {
        ls_warn("peer", "%s: hello_ack refused: %s", link->address, ls_strerror(rc));
        if (rc == LS_EVERSION && link->static_peer)
            link->static_peer->is_ignored = true;
        handshake_failed(link, ls_strerror(rc));
        return;
    }
    ls_link_handshake_done(link, &reply->u.hello);
}

int ls_link_send_hello(ls_link_t *link)
{
    ls_msg_t hello;
    int rc = ls_link_make_hello(link, LS_MSG_HELLO, &hello);
    if (rc == 0)
        rc = ls_exchange_start(link, &hello, hello_reply_cb, NULL);
    if (rc == 0 && !link->is_ready)
        link->hello_sent_ms = ls_rt_now_ms(link->rt);
    ls_msg_free(&hello);
    return rc;
}

void ls_link_tick(ls_peer_runtime_t *rt)
{
    uint64_t now = ls_rt_now_ms(rt);
    for (ls_link_t *l = rt->links; l; l = l->next) {
        if (l->is_ready || l->is_closing || !l->hello_sent_ms ||
            now - l->hello_sent_ms < LS_HELLO_ACK_TIMEOUT_MS)
            continue;
        ls_warn("peer", "%s: no hello_ack within %u ms; dialling again later", l->address,
                (unsigned)LS_HELLO_ACK_TIMEOUT_MS);
        ls_link_close(l, LS_NET_APP_NO_ERROR, "no hello_ack");
    }
}

static void delta_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    if (status != 0 && !link->is_closing)
        ls_debug("peer", "%s: library_delta not acknowledged: %s", link->address,
                 ls_strerror(status));
}

void ls_link_broadcast_delta(ls_peer_runtime_t *rt, const ls_library_delta_t *delta)
{
    ls_msg_t msg = {.kind = LS_MSG_LIBRARY_DELTA, .u.delta = *delta};
    for (ls_link_t *l = rt->links; l; l = l->next) {
        if (!l->is_ready || l->is_closing)
            continue;
        int rc = ls_exchange_start(l, &msg, delta_reply_cb, NULL);
        if (rc != 0)
            ls_warn("peer", "%s: library_delta not sent: %s", l->address, ls_strerror(rc));
    }
}

static ls_link_t *link_new(ls_peer_runtime_t *rt, bool is_outbound)
{
    ls_link_t *link = calloc(1, sizeof *link);
    if (!link)
        return NULL;
    link->rt = rt;
    link->is_outbound = is_outbound;
    link->started_ms = ls_rt_now_ms(rt);
    link->next = rt->links;
    rt->links = link;
    return link;
}

static void link_unlink(ls_link_t *link)
{
    for (ls_link_t **p = &link->rt->links; *p; p = &(*p)->next) {
        if (*p == link) {
            *p = link->next;
            break;
        }
    }
}

int ls_link_connect(ls_peer_runtime_t *rt, ls_static_peer_t *target)
{
    ls_link_t *link = link_new(rt, true);
    if (!link)
        return LS_ENOMEM;
    snprintf(link->address, sizeof link->address, "%s", target->address);
    link->static_peer = target;
    int rc = ls_net_connect(rt->endpoint, (const struct sockaddr *)&target->sockaddr, link,
                            &link->conn);
    if (rc != 0) {
        link_unlink(link);
        free(link);
        return rc;
    }
    target->link = link;
    return 0;
}

void ls_link_dial_if_due(ls_peer_runtime_t *rt, ls_static_peer_t *target)
{
    uint64_t now = ls_rt_now_ms(rt);
    if (target->link || target->is_ignored || now < target->next_dial_ms)
        return;
    /* Already connected to that peer some other way (it dialled us). */
    if (target->peer_id[0] && ls_link_exists(rt, target->peer_id))
        return;
    if (target->backoff_ms == 0)
        target->backoff_ms = rt->reconnect_ms;
    target->next_dial_ms = now + target->backoff_ms;
    target->backoff_ms =
        target->backoff_ms * 2 > LS_REDIAL_MAX_MS ? LS_REDIAL_MAX_MS : target->backoff_ms * 2;
    int rc = ls_link_connect(rt, target);
    if (rc != 0)
        ls_warn("peer", "connect %s: %s", target->address, ls_strerror(rc));
}

void ls_link_close(ls_link_t *link, uint64_t app_error, const char *reason)
{
    if (link->is_closing)
        return;
    link->is_closing = true;
    ls_net_conn_close(link->conn, app_error, reason);
}

static int established_cb(ls_net_conn_t *conn, const char *peer_id)
{
    ls_peer_runtime_t *rt = ls_net_endpoint_user_data(ls_net_conn_endpoint(conn));
    ls_link_t *link = ls_net_conn_user_data(conn);
    if (strcmp(peer_id, rt->peer_id) == 0)
        return LS_EAUTH; /* ourselves, through another address */
    if (!link) {
        link = link_new(rt, false);
        if (!link)
            return LS_ENOMEM;
        link->conn = conn;
        ls_net_conn_set_user_data(conn, link);
        snprintf(link->address, sizeof link->address, "inbound");
    }
    snprintf(link->peer_id, sizeof link->peer_id, "%s", peer_id);
    if (link->is_outbound && ls_link_send_hello(link) != 0)
        return LS_ENOMEM;
    return 0;
}

static void forget_peer(ls_link_t *link, const char *reason)
{
    ls_peer_runtime_t *rt = link->rt;
    const ls_peer_t *peer = ls_peerdb_find(rt->peerdb, link->peer_id);
    if (!peer || ready_link_for(rt, link->peer_id, link))
        return;
    ls_info("peer", "%s (%.12s) lost: %s", peer->name, link->peer_id, reason);
    ls_rt_emit(rt, LS_EVENT_PEER_LOST,
               json_pack("{s:s,s:s,s:s}", "peer_id", link->peer_id, "name", peer->name,
                         "reason", reason));
    ls_peerdb_remove(rt->peerdb, link->peer_id);
    ls_download_peer_lost(rt, link->peer_id);
    ls_rt_emit_peer_count(rt);
    ls_rt_emit_games(rt);
}

static void closed_cb(ls_net_conn_t *conn, int status, uint64_t app_error, const char *reason)
{
    ls_link_t *link = ls_net_conn_user_data(conn);
    if (!link)
        return;
    if (status != 0 && status != LS_EPEER_GONE && !link->is_closing)
        ls_info("peer", "%s: connection closed: %s%s%s", link->address, ls_strerror(status),
                reason && *reason ? ": " : "", reason ? reason : "");
    if (link->is_ready)
        forget_peer(link, status == 0 ? "closed" : ls_strerror(status));
    if (link->static_peer && link->static_peer->link == link)
        link->static_peer->link = NULL;
    link_unlink(link);
    free(link);
}

static void stream_cb(ls_net_conn_t *conn, ls_net_stream_t *stream)
{
    ls_link_t *link = ls_net_conn_user_data(conn);
    if (link)
        ls_server_accept_stream(link, stream);
}

const ls_net_callbacks_t ls_link_net_callbacks = {
    .established_cb = established_cb,
    .closed_cb = closed_cb,
    .stream_cb = stream_cb,
};
