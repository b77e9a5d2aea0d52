/* Connections to other peers and the handshake that carries the library:
 * the connecting side sends hello, the accepting side validates it
 * (version, identity, party key) and answers hello_ack with its own
 * snapshot, which the connecting side validates the same way. Without a
 * party key the hello carries the dialler's snapshot. With one it does not:
 * no library goes to a peer before it proved the key, so the dialler sends
 * its snapshot in hello_library once the hello_ack's proof checked out, and
 * both sides count the handshake complete when that is acknowledged. Each
 * side applies the other's snapshot once per handshake; the snapshot's
 * digest is checked once, where it is applied (ls_peerdb_apply_hello). */
#include "link.h"
#include "exchange.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ls__links {
    ls__links_config_t config; /* strings below are our copies */
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    char *name;
    ls_party_key_t party_key;
    bool has_party_key;
    ls_net_endpoint_t *endpoint;
    int listen_port;
    const ls_library_snapshot_t *announced; /* borrowed; NULL before the first scan */
    ls_link_t *list;
    uv_timer_t ping_timer;
    bool is_pinging;
    uv_timer_t peers_timer; /* runs while a link may be told more peers */
    uint64_t ready_seq;     /* the last news seq: a link's ready_seq or a relayed peer's */
    ls__ranks_t preferred;  /* links target: the ranks (link_rank) of our preference */
    uv_timer_t dial_timer;  /* a handshake ended while dials were held */
    uint32_t target; /* the links target in force (0: a full mesh), see ls__links_note_party */
    ls__party_size_t party; /* other peers known (ls__links_note_party), present (tick) */
    bool is_party_sized;    /* false while mDNS has not had time to hear the party */
    bool is_dial_held;
};

static void dial_slot_freed(ls__links_t *links);
static uint64_t link_rank(const ls__links_t *links, const char *peer_id);

static const char *const local_features[] = {
    "chunk-sha256",   "library-delta",         LS_FEATURE_GAME_META, LS_FEATURE_BATCH,
    LS_FEATURE_COVER, LS_FEATURE_PEERS,        LS_FEATURE_SWARM,     LS_FEATURE_RELAY,
    LS_FEATURE_GIVEN, LS_FEATURE_HAVE_COMPLETE};

/* The optional features a test switch can turn off. */
static bool lists_feature(const ls__links_t *links, const char *feature)
{
    if (strcmp(feature, LS_FEATURE_SWARM) == 0 || strcmp(feature, LS_FEATURE_GIVEN) == 0 ||
        strcmp(feature, LS_FEATURE_HAVE_COMPLETE) == 0)
        return links->config.is_swarm;
    if (strcmp(feature, LS_FEATURE_PEERS) == 0)
        return links->config.is_peer_exchange;
    if (strcmp(feature, LS_FEATURE_RELAY) == 0)
        return links->config.is_relay && links->config.is_peer_exchange;
    return true;
}

static bool has_feature(const ls_hello_t *hello, const char *feature)
{
    for (size_t i = 0; i < hello->feature_count; i++)
        if (strcmp(hello->features[i], feature) == 0)
            return true;
    return false;
}

void *ls__links_hook_data(const ls__links_t *links)
{
    return links->config.hooks.userdata;
}

uint64_t ls__links_now(const ls__links_t *links)
{
    return uv_now(links->config.loop);
}

static void peers_changed(ls__links_t *links)
{
    if (links->config.hooks.peers_changed)
        links->config.hooks.peers_changed(links->config.hooks.userdata);
}

/* --- hello ----------------------------------------------------------------- */

static bool has_covers(const ls_library_snapshot_t *snap)
{
    for (size_t i = 0; snap && i < snap->game_count; i++)
        if (snap->games[i].cover)
            return true;
    return false;
}

/* with_covers: the peer listed LS_FEATURE_COVER (a dialler's first hello
 * cannot know: it goes without, and a re-hello brings them, see
 * handshake_done). */
static int make_hello(ls_link_t *link, ls_msg_kind_t kind, bool with_covers, ls_msg_t *out)
{
    ls__links_t *links = link->links;
    ls_hello_t *h = &out->u.hello;
    char proof[LS_SHA256_HEX_LEN + 1];
    size_t nfeatures = sizeof local_features / sizeof local_features[0];
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (!links->announced)
        return LS_ESTATE; /* no library yet: the caller holds the hello */
    h->protocol_version = links->config.protocol_version;
    h->peer_id = strdup(links->peer_id);
    h->name = strdup(links->name);
    h->listen_port = (uint16_t)links->listen_port;
    h->features = calloc(nfeatures, sizeof *h->features);
    if (!h->peer_id || !h->name || !h->features)
        goto fail;
    for (size_t i = 0; i < nfeatures; i++)
        if (lists_feature(links, local_features[i]) &&
            !(h->features[h->feature_count++] = strdup(local_features[i])))
            goto fail;
    if (links->has_party_key) {
        if (!link->has_exporter) {
            ls_msg_free(out);
            return LS_ETLS;
        }
        ls_party_proof(&links->party_key, link->exporter, links->peer_id, link->peer_id, proof);
        if (!(h->party_proof = strdup(proof)))
            goto fail;
    }
    /* A first hello under a party key keeps the library back: the other
     * side has not proven the key yet (it does in its hello_ack). */
    h->is_library_deferred = kind == LS_MSG_HELLO && links->has_party_key && !link->is_ready;
    if (!h->is_library_deferred && ls_snapshot_copy(&h->library, links->announced) != 0)
        goto fail;
    if (!with_covers)
        ls_snapshot_strip_covers(h->library.games, h->library.game_count);
    return 0;
fail:
    ls_msg_free(out);
    return LS_ENOMEM;
}

/* One check for both sides: version first (no shim), then identity, then
 * the party key. The library's digest is checked where it is applied. */
static int validate_hello(const ls_link_t *link, const ls_hello_t *hello)
{
    const ls__links_t *links = link->links;
    char expected[LS_SHA256_HEX_LEN + 1];
    if (hello->protocol_version != links->config.protocol_version)
        return LS_EVERSION;
    if (strcmp(hello->peer_id, link->peer_id) != 0)
        return LS_EAUTH;
    if (!links->has_party_key)
        return 0;
    if (!link->has_exporter)
        return LS_EAUTH;
    ls_party_proof(&links->party_key, link->exporter, link->peer_id, links->peer_id, expected);
    if (!ls_party_proof_equal(hello->party_proof, expected))
        return LS_EAUTH;
    return 0;
}

/* A link whose connection is tearing down is not ready: its streams' close
 * callbacks (a download requeueing its requests) run before closed_cb
 * takes the link away, and must not send on it. */
static ls_link_t *ready_link_for(ls__links_t *links, const char *peer_id, ls_link_t *except)
{
    for (ls_link_t *l = links->list; l; l = l->next)
        if (l != except && l->is_ready && !l->is_closing && ls_net_conn_is_open(l->conn) &&
            strcmp(l->peer_id, peer_id) == 0)
            return l;
    return NULL;
}

/* Two peers that dial each other end up with two connections; both sides
 * keep the one dialled by the smaller peer_id, so they agree without talking. */
static bool is_preferred(const ls_link_t *link)
{
    const char *ours = link->links->peer_id;
    const char *dialer = link->is_outbound ? ours : link->peer_id;
    const char *other = link->is_outbound ? link->peer_id : ours;
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

ls_link_t *ls__links_find_ready(ls__links_t *links, const char *peer_id)
{
    return ready_link_for(links, peer_id, NULL);
}

bool ls__links_exists_prefix(ls__links_t *links, const char *prefix)
{
    size_t len = strlen(prefix);
    for (ls_link_t *l = links->list; l; l = l->next)
        if (!l->is_closing && l->peer_id[0] && strncmp(l->peer_id, prefix, len) == 0)
            return true;
    return false;
}

bool ls__links_exists(ls__links_t *links, const char *peer_id)
{
    for (ls_link_t *l = links->list; l; l = l->next)
        if (!l->is_closing && strcmp(l->peer_id, peer_id) == 0)
            return true;
    return false;
}

static void peer_address(ls_link_t *link, const ls_hello_t *hello)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (link->is_outbound && link->target)
        return; /* the dialled address is already there */
    ls_net_conn_remote_addr(link->conn, &ss);
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
    snprintf(link->address, sizeof link->address, "%s:%u", ip, hello->listen_port);
}

static void send_peers(ls_link_t *link);

/* A validated hello or hello_ack: applied to the PeerGameDB. Returns 0, or
 * LS_ECANCELED when this link lost to a duplicate (and is closing), or the
 * apply's error (LS_ECORRUPT: the digest does not match the games). */
static int handshake_done(ls_link_t *link, const ls_hello_t *hello)
{
    ls__links_t *links = link->links;
    bool is_new = false;
    peer_address(link, hello);
    link->wants_game_meta = has_feature(hello, LS_FEATURE_GAME_META);
    link->wants_swarm = links->config.is_swarm && has_feature(hello, LS_FEATURE_SWARM);
    link->takes_given = link->wants_swarm && has_feature(hello, LS_FEATURE_GIVEN);
    link->takes_have_complete = link->wants_swarm && has_feature(hello, LS_FEATURE_HAVE_COMPLETE);
    link->takes_batch = has_feature(hello, LS_FEATURE_BATCH);
    bool covers_withheld = link->is_outbound && !link->wants_cover;
    link->wants_cover = has_feature(hello, LS_FEATURE_COVER);
    covers_withheld = covers_withheld && link->wants_cover && has_covers(links->announced);
    link->takes_peers = links->config.is_peer_exchange && has_feature(hello, LS_FEATURE_PEERS);
    link->takes_relay =
        link->takes_peers && links->config.is_relay && has_feature(hello, LS_FEATURE_RELAY);
    bool was_ready = link->is_ready;
    ls_link_t *other = ready_link_for(links, link->peer_id, link);
    if (other) {
        ls_link_t *loser = duplicate_loser(link, other);
        loser->is_ready = false;
        ls__link_close(loser, LS_NET_APP_NO_ERROR, "duplicate connection");
        if (loser == link)
            return LS_ECANCELED;
    }
    if (!was_ready && links->config.hooks.linking)
        links->config.hooks.linking(link->peer_id, links->config.hooks.userdata);
    int rc = ls_peerdb_apply_hello(links->config.peerdb, hello, link->address, ls__links_now(links),
                                   &is_new);
    if (rc != 0) {
        ls_warn("peer", "%s: library snapshot refused: %s", link->address, ls_strerror(rc));
        return rc;
    }
    if (!link->is_ready) {
        ls_debug("peer", "%.12s at %s: linked (%s)", link->peer_id, link->address,
                 link->is_outbound ? "dialled" : "accepted");
        link->ready_ms = ls__links_now(links);
        link->ready_seq = ++links->ready_seq;
        if (link->is_outbound)
            dial_slot_freed(links);
    }
    link->is_ready = true;
    /* the transport lifts the hello gate: all streams, full windows */
    ls_net_conn_verify(link->conn);
    link->ping_misses = 0;
    link->hello_sent_ms = 0;
    /* Our hello went without covers (we did not know the peer took them):
     * a re-hello brings them, once LS_RESYNC_INTERVAL_MS allows. */
    if (covers_withheld)
        ls__link_send_hello(link);
    if (link->target) {
        /* Reachable and accepted: a later loss starts its backoff afresh. */
        snprintf(link->target->peer_id, sizeof link->target->peer_id, "%s", link->peer_id);
        link->target->backoff_ms = 0;
        /* a target admitted after failures is noted once it links, so the
         * set holds the ranks of peers we reach, not of those gone */
        if (links->target && link->target->is_id_advertised)
            ls__ranks_note(&links->preferred, links->target, link_rank(links, link->peer_id));
    }
    if (is_new) {
        ls_info("peer", "%s (%.12s) at %s: %zu games", hello->name, link->peer_id, link->address,
                hello->library.game_count);
        ls_peer_event_t event = {.kind = LS_EVENT_PEER_DISCOVERED,
                                 .u.peer = {.peer_id = link->peer_id,
                                            .name = hello->name,
                                            .address = link->address,
                                            .game_count = hello->library.game_count}};
        ls__emit(links->config.events, &event);
        if (links->config.hooks.peer_ready)
            links->config.hooks.peer_ready(link->peer_id, link->address, hello->name,
                                           links->config.hooks.userdata);
    }
    peers_changed(links);
    /* The dialler tells first: its hello_ack came, so the acceptor's side of
     * the link is ready too (a `peers` before that would be refused). */
    if (link->is_outbound && !was_ready)
        send_peers(link);
    return 0;
}

static void error_answer(ls_msg_t *answer, ls_wire_error_t code, const char *message)
{
    memset(answer, 0, sizeof *answer);
    answer->kind = LS_MSG_ERROR;
    answer->u.error.code = code;
    answer->u.error.message = strdup(message);
}

static void free_held(ls_msg_t *msg)
{
    ls_msg_free(msg);
    memset(msg, 0, sizeof *msg);
}

/* The answer once a hello's library is there: the snapshot applied, or the
 * error that says why not. *answer is freed and replaced on failure. */
static void complete_handshake(ls_link_t *link, const ls_hello_t *hello, ls_msg_t *answer)
{
    int rc = handshake_done(link, hello);
    if (rc == 0)
        link->peer_hello_ms = ls__links_now(link->links);
    if (rc == 0 || rc == LS_ECANCELED)
        return;
    ls_msg_free(answer);
    link->is_refused = !link->is_ready;
    if (rc == LS_ECORRUPT)
        error_answer(answer, LS_WIRE_INVALID_REQUEST, "library digest does not match its games");
    else
        error_answer(answer, ls_wire_error_from_code(rc), ls_strerror(rc));
}

/* A ready link's peer sending hellos faster than its own re-handshake
 * interval allows: each one would replace a snapshot of up to
 * LS_PEERDB_GAMES_MAX games. */
static bool rehello_too_soon(const ls_link_t *link)
{
    uint64_t now = ls__links_now(link->links);
    return link->is_ready && link->peer_hello_ms &&
           now - link->peer_hello_ms < LS_RESYNC_INTERVAL_MS / 2;
}
void ls__link_answer_hello(ls_link_t *link, ls_hello_t *hello, ls_msg_t *answer)
{
    ls__links_t *links = link->links;
    if (rehello_too_soon(link)) {
        ls_debug("peer", "%s: re-handshake too soon; answered busy", link->address);
        error_answer(answer, LS_WIRE_BUSY, "re-handshake too soon");
        return;
    }
    int rc = validate_hello(link, hello);
    link->has_hello = true;
    /* A refused first hello ends the connection (at the next tick, so the
     * error frame goes out first); a refused re-handshake on a ready link
     * leaves it as it was. */
    link->is_refused = rc != 0 && !link->is_ready;
    if (rc == LS_EVERSION) {
        ls_warn("peer", "%s: protocol version %u, we speak %u: ignored", link->address,
                hello->protocol_version, links->config.protocol_version);
        error_answer(answer, LS_WIRE_VERSION_MISMATCH, "protocol version mismatch");
        return;
    }
    if (rc != 0) {
        ls_warn("peer", "refused %s: %s", link->address,
                strcmp(hello->peer_id, link->peer_id) != 0
                    ? "peer_id does not match its certificate"
                    : "wrong party key");
        error_answer(answer, LS_WIRE_UNAUTHORIZED, "refused");
        return;
    }
    rc = make_hello(link, LS_MSG_HELLO_ACK, has_feature(hello, LS_FEATURE_COVER), answer);
    if (rc != 0) {
        error_answer(answer, ls_wire_error_from_code(rc), ls_strerror(rc));
        return;
    }
    if (hello->is_library_deferred) {
        /* Its library follows in hello_library, once our proof checked out
         * on its side: keep the hello (a newer one replaces it). */
        free_held(&link->deferred_hello);
        link->deferred_hello.kind = LS_MSG_HELLO;
        link->deferred_hello.u.hello = *hello;
        memset(hello, 0, sizeof *hello);
        link->library_wait_ms = ls__links_now(links);
        /* It proved the key: its library comes on a stream of its own,
         * which the transport's hello gate would not open for a stranger. */
        ls_net_conn_verify(link->conn);
        return;
    }
    /* Applied before the ack is sent: once the dialer sees our library, we
     * already show theirs. */
    complete_handshake(link, hello, answer);
}

void ls__link_take_library(ls_link_t *link, ls_library_snapshot_t *library, ls_msg_t *answer)
{
    ls_hello_t *hello = &link->deferred_hello.u.hello;
    memset(answer, 0, sizeof *answer);
    if (link->deferred_hello.kind != LS_MSG_HELLO) {
        link->is_refused = !link->is_ready;
        error_answer(answer, LS_WIRE_UNAUTHORIZED, "no hello awaits a library");
        return;
    }
    ls_snapshot_free(&hello->library); /* empty: deferred */
    hello->library = *library;
    hello->is_library_deferred = false;
    memset(library, 0, sizeof *library);
    answer->kind = LS_MSG_HELLO_LIBRARY_ACK;
    complete_handshake(link, hello, answer);
    free_held(&link->deferred_hello);
}

/* A connection whose first handshake failed is closed, so that its target
 * is dialled again with backoff; left open it would block redialling for
 * good. A re-handshake on a ready link that fails leaves the link as it is:
 * the next library_delta or TXT change asks again. */
static void handshake_failed(ls_link_t *link, const char *reason)
{
    if (!link->is_ready)
        ls__link_close(link, LS_NET_APP_REFUSED, reason);
}

static void hello_library_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply,
                                   void *userdata)
{
    ls_msg_t ack = link->pending_ack;
    memset(&link->pending_ack, 0, sizeof link->pending_ack);
    if (link->is_closing || ack.kind != LS_MSG_HELLO_ACK) {
        ls_msg_free(&ack);
        return;
    }
    if (status != 0 || !reply || reply->kind != LS_MSG_HELLO_LIBRARY_ACK) {
        ls_warn("peer", "%s: our library was not accepted: %s", link->address,
                reply && reply->kind == LS_MSG_ERROR ? ls_wire_error_name(reply->u.error.code)
                                                     : ls_strerror(status ? status : LS_EJSON));
        handshake_failed(link, "library refused");
    } else {
        int rc = handshake_done(link, &ack.u.hello);
        if (rc != 0 && rc != LS_ECANCELED)
            handshake_failed(link, "bad library snapshot");
    }
    ls_msg_free(&ack);
}

/* The acceptor proved the party key in its hello_ack: now our library may
 * go to it. The handshake completes when it acknowledges. */
static void send_deferred_library(ls_link_t *link, const ls_msg_t *reply)
{
    ls_msg_t msg = {.kind = LS_MSG_HELLO_LIBRARY};
    free_held(&link->pending_ack);
    link->pending_ack.kind = LS_MSG_HELLO_ACK;
    int rc = ls_hello_copy(&link->pending_ack.u.hello, &reply->u.hello);
    if (rc == 0)
        rc = link->links->announced ? ls_snapshot_copy(&msg.u.games, link->links->announced)
                                    : LS_ESTATE;
    /* The hello_ack told us whether it takes covers: this library is the
     * first the peer gets from us, so no re-hello is needed for them. */
    link->wants_cover = has_feature(&reply->u.hello, LS_FEATURE_COVER);
    if (rc == 0 && !link->wants_cover)
        ls_snapshot_strip_covers(msg.u.games.games, msg.u.games.game_count);
    if (rc == 0)
        rc = ls__exchange_start(link, &msg, hello_library_reply_cb, NULL);
    ls_msg_free(&msg);
    if (rc != 0) {
        free_held(&link->pending_ack);
        ls_warn("peer", "%s: library not sent: %s", link->address, ls_strerror(rc));
        handshake_failed(link, "library not sent");
    }
}

static void hello_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    bool was_deferred = userdata != NULL;
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
                is_version && link->target ? "; not retrying" : "");
        if (is_version && link->target)
            link->target->is_ignored = true;
        /* busy: our re-handshake came too soon for the peer; ask again
         * after the interval */
        if (reply->u.error.code == LS_WIRE_BUSY && link->is_ready)
            link->is_resync_due = true;
        handshake_failed(link, "hello refused");
        return;
    }
    int rc = reply->kind == LS_MSG_HELLO_ACK ? validate_hello(link, &reply->u.hello) : LS_EJSON;
    if (rc != 0) {
        ls_warn("peer", "%s: hello_ack refused: %s", link->address,
                rc == LS_EAUTH ? "wrong or missing party key proof" : ls_strerror(rc));
        if (rc == LS_EVERSION && link->target)
            link->target->is_ignored = true;
        handshake_failed(link, ls_strerror(rc));
        return;
    }
    if (was_deferred) {
        send_deferred_library(link, reply);
        return;
    }
    rc = handshake_done(link, &reply->u.hello);
    if (rc != 0 && rc != LS_ECANCELED)
        handshake_failed(link, "bad library snapshot");
}

/* Marks the exchange of a hello whose library is deferred (the callback's
 * userdata is only tested against NULL). */
static char deferred_marker;

static int send_hello_now(ls_link_t *link)
{
    ls_msg_t hello;
    uint64_t now = ls__links_now(link->links);
    int rc = make_hello(link, LS_MSG_HELLO, link->wants_cover, &hello);
    if (rc == 0)
        rc = ls__exchange_start(link, &hello, hello_reply_cb,
                                hello.u.hello.is_library_deferred ? &deferred_marker : NULL);
    if (rc == 0 && !link->is_ready)
        link->hello_sent_ms = now;
    if (rc == 0) {
        link->resync_sent_ms = now;
        link->is_resync_due = false;
    }
    ls_msg_free(&hello);
    return rc;
}

static bool resync_allowed(const ls_link_t *link)
{
    return !link->resync_sent_ms ||
           ls__links_now(link->links) - link->resync_sent_ms >= LS_RESYNC_INTERVAL_MS;
}

int ls__link_send_hello(ls_link_t *link)
{
    if (link->is_ready && !resync_allowed(link)) {
        link->is_resync_due = true; /* ls__links_tick sends it */
        return 0;
    }
    return send_hello_now(link);
}

/* --- library deltas ------------------------------------------------------ */

void ls__link_apply_delta(ls_link_t *link, const ls_library_delta_t *delta, ls_msg_t *ack)
{
    ls__links_t *links = link->links;
    memset(ack, 0, sizeof *ack);
    ack->kind = LS_MSG_LIBRARY_DELTA_ACK;
    ack->u.acked_rev = delta->to_rev;
    int rc = ls_peerdb_apply_delta(links->config.peerdb, link->peer_id, delta);
    if (rc == LS_ESTATE) {
        /* A gap or a digest mismatch: never show a stale library. */
        ls_info("peer", "%s: delta %llu->%llu does not apply; re-handshaking", link->address,
                (unsigned long long)delta->from_rev, (unsigned long long)delta->to_rev);
        const ls_peer_t *peer = ls_peerdb_find(links->config.peerdb, link->peer_id);
        ack->u.acked_rev = peer ? peer->library.library_rev : 0;
        ls__link_send_hello(link);
    } else if (rc == 0) {
        peers_changed(links);
    } else {
        /* LS_ELIMIT: past LS_PEERDB_GAMES_MAX; a re-handshake would not fit
         * either. The ack says which library we still hold. */
        ls_warn("peer", "%s: delta %llu->%llu not applied: %s", link->address,
                (unsigned long long)delta->from_rev, (unsigned long long)delta->to_rev,
                ls_strerror(rc));
        const ls_peer_t *peer = ls_peerdb_find(links->config.peerdb, link->peer_id);
        ack->u.acked_rev = peer ? peer->library.library_rev : 0;
    }
}

static void delta_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    if (status != 0 && !link->is_closing)
        ls_debug("peer", "%s: library_delta not acknowledged: %s", link->address,
                 ls_strerror(status));
}

void ls__links_broadcast_delta(ls__links_t *links, const ls_library_delta_t *delta)
{
    ls_msg_t msg = {.kind = LS_MSG_LIBRARY_DELTA, .u.delta = *delta};
    /* Peers without LS_FEATURE_COVER get the summaries without covers: a
     * shallow copy whose strings stay the caller's. */
    ls_msg_t plain = msg;
    plain.u.delta.changed = calloc(delta->changed_count + 1, sizeof *plain.u.delta.changed);
    if (!plain.u.delta.changed)
        return;
    if (delta->changed_count)
        memcpy(plain.u.delta.changed, delta->changed,
               delta->changed_count * sizeof *plain.u.delta.changed);
    for (size_t i = 0; i < delta->changed_count; i++) {
        plain.u.delta.changed[i].cover = NULL; /* borrowed: not freed */
        plain.u.delta.changed[i].cover_size = 0;
    }
    for (ls_link_t *l = links->list; l; l = l->next) {
        if (!l->is_ready || l->is_closing)
            continue;
        int rc = ls__exchange_start(l, l->wants_cover ? &msg : &plain, delta_reply_cb, NULL);
        if (rc != 0)
            ls_warn("peer", "%s: library_delta not sent: %s", l->address, ls_strerror(rc));
    }
    free(plain.u.delta.changed);
}

static void swarm_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    if (status != 0 && !link->is_closing)
        ls_debug("peer", "%s: have not acknowledged: %s", link->address, ls_strerror(status));
}

void ls__links_send_swarm(ls__links_t *links, const ls_msg_t *msg)
{
    ls__links_send_swarm_end(links, msg, msg);
}

void ls__links_send_swarm_end(ls__links_t *links, const ls_msg_t *complete, const ls_msg_t *gone)
{
    for (ls_link_t *l = links->list; l; l = l->next) {
        const ls_msg_t *msg = l->takes_have_complete ? complete : gone;
        if (msg && l->is_ready && !l->is_closing && l->wants_swarm)
            ls__exchange_start(l, msg, swarm_reply_cb, NULL);
    }
}

/* --- peer exchange (issue #17) ------------------------------------------------ */

static void peers_timer_arm(ls__links_t *links, uint64_t delay_ms);
static uint64_t peers_gap_ms(const ls_link_t *link);

uint64_t ls__peers_rewind(uint64_t sent_seq, uint64_t from_seq, bool is_busy)
{
    return is_busy && from_seq < sent_seq ? from_seq : sent_seq;
}

/* userdata: the news seq the `peers` told from. A receiver that found it
 * too soon after the last one (its loop read two at once after a stall)
 * answers busy and acted on none of it: that news is told again (what was
 * sent since comes again too; a receiver's work per entry is one lookup). */
static void peers_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    bool is_busy = status == 0 && reply->kind == LS_MSG_ERROR &&
                   reply->u.error.code == LS_WIRE_BUSY && !link->is_closing;
    if (status != 0 && !link->is_closing)
        ls_debug("peer", "%s: peers not acknowledged: %s", link->address, ls_strerror(status));
    link->peers_sent_seq =
        ls__peers_rewind(link->peers_sent_seq, (uint64_t)(uintptr_t)userdata, is_busy);
    if (is_busy)
        peers_timer_arm(link->links, peers_gap_ms(link));
}

/* Our ready peers but the link's own, one entry per peer (a duplicate
 * connection is not ready), each at the address it listens on, that became
 * ready after `after_seq` (0: all; the receiver keeps what it was told
 * before). IPv4 only: a receiver dials only addresses on its own links, of
 * the family mDNS advertises. */
static size_t collect_peers(const ls_link_t *to, uint64_t after_seq, ls_peer_addr_t *out)
{
    size_t n = 0;
    for (const ls_link_t *l = to->links->list; l && n < LS_PEERS_MAX; l = l->next) {
        uint32_t ip;
        uint16_t port;
        if (l == to || !l->is_ready || l->is_closing || l->ready_seq <= after_seq ||
            strcmp(l->peer_id, to->peer_id) == 0 || ls_peer_addr_parse(l->address, &ip, &port) != 0)
            continue;
        out[n] = (ls_peer_addr_t){.library_rev = 0}; /* linked: no rev */
        memcpy(out[n].peer_id, l->peer_id, sizeof out[n].peer_id);
        memcpy(out[n].address, l->address, strlen(l->address) + 1);
        n++;
    }
    return n;
}

static void peers_timer_cb(uv_timer_t *timer);

/* Runs the peers timer in `delay_ms` unless it is due sooner already. */
static void peers_timer_arm(ls__links_t *links, uint64_t delay_ms)
{
    uv_timer_t *timer = &links->peers_timer;
    if (!links->endpoint ||
        (uv_is_active((uv_handle_t *)timer) && uv_timer_get_due_in(timer) <= delay_ms))
        return;
    uv_timer_start(timer, peers_timer_cb, delay_ms, 0);
}

/* The least time between two `peers` to one link: LS_PEERS_RESEND_MS in a
 * full mesh's first sends (links it hears of from mDNS anyway), else
 * LS_PEERS_GOSSIP_MS, so that each hop of news across a bounded mesh
 * waits at most that long (and not at all when the link is idle). */
static uint64_t peers_gap_ms(const ls_link_t *link)
{
    return link->peers_sent < LS_PEERS_SENDS_MAX && !link->links->target ? LS_PEERS_RESEND_MS
                                                                         : LS_PEERS_GOSSIP_MS;
}

static void send_peers(ls_link_t *link)
{
    ls__links_t *links = link->links;
    const ls__links_hooks_t *hooks = &links->config.hooks;
    if (!link->takes_peers || link->is_closing)
        return;
    ls_peer_addr_t *list = malloc(LS_PEERS_MAX * sizeof *list);
    if (!list)
        return;
    /* in a full mesh, past the first sends, only relayed news (see
     * LS_PEERS_SENDS_MAX); with a links target a link made later is news
     * too: a 100-peer start left a peer whose five links all linked a late
     * starter directly without that starter's library for 25 s */
    size_t n = link->peers_sent < LS_PEERS_SENDS_MAX || links->target
                   ? collect_peers(link, link->peers_sent_seq, list)
                   : 0;
    /* relayed news only with a links target: a full mesh links every
     * peer, and gossip there is N^2 entries the links make redundant */
    if (link->takes_relay && hooks->collect_relayed && links->target)
        n += hooks->collect_relayed(link, link->peers_sent_seq, list + n, LS_PEERS_MAX - n,
                                    hooks->userdata);
    ls_msg_t msg = {.kind = LS_MSG_PEERS, .u.peer_list = {.peers = list, .count = n}};
    /* A resend with nothing new (the new links closed again) is not sent. */
    bool is_sent = n > 0 || link->peers_sent == 0;
    int rc = is_sent ? ls__exchange_start(link, &msg, peers_reply_cb,
                                          (void *)(uintptr_t)link->peers_sent_seq)
                     : 0;
    if (rc == 0) {
        link->peers_sent += is_sent;
        link->peers_sent_seq = links->ready_seq; /* beyond LS_PEERS_MAX: not told */
        link->peers_sent_ms = ls__links_now(links);
    } else {
        ls_debug("peer", "%s: peers not sent: %s", link->address, ls_strerror(rc));
    }
    free(list);
    peers_timer_arm(links, peers_gap_ms(link));
}

/* A link hears of the news since we last told it (links that became
 * ready, relayed peers verified) as soon as its peers_gap_ms since the
 * last time allows: news runs the timer at once, and the timer runs again
 * when the next link with news waiting is due. It stays stopped while no
 * link has news waiting. */
static void peers_timer_cb(uv_timer_t *timer)
{
    ls__links_t *links = timer->data;
    uint64_t now = ls__links_now(links);
    uint64_t next_ms = UINT64_MAX;
    for (ls_link_t *l = links->list; l; l = l->next) {
        if (!l->is_ready || l->is_closing || !l->takes_peers || l->peers_sent == 0)
            continue;
        if (links->ready_seq <= l->peers_sent_seq)
            continue; /* nothing new for it yet */
        uint64_t due_ms = l->peers_sent_ms + peers_gap_ms(l);
        if (now >= due_ms)
            send_peers(l);
        else if (due_ms - now < next_ms)
            next_ms = due_ms - now;
    }
    if (next_ms != UINT64_MAX)
        peers_timer_arm(links, next_ms);
}

uint64_t ls__links_news(ls__links_t *links)
{
    /* at once, but on the timer: the caller stamps its entry with the
     * number returned, and a `peers` built before that would skip it */
    peers_timer_arm(links, 0);
    return ++links->ready_seq;
}

void ls__link_take_peers(ls_link_t *link, const ls_peer_list_t *list, ls_msg_t *ack)
{
    ls__links_t *links = link->links;
    uint64_t now = ls__links_now(links);
    memset(ack, 0, sizeof *ack);
    ack->kind = LS_MSG_PEERS_ACK;
    if (!link->takes_peers)
        return; /* acknowledged and ignored: it did not list the feature */
    if (link->peers_heard >= LS_PEERS_SENDS_MAX &&
        now - link->peers_heard_ms < LS_PEERS_GOSSIP_MS / 2) {
        ls_debug("peer", "%s: one peers sooner than allowed; ignored", link->address);
        error_answer(ack, LS_WIRE_BUSY, "peers sooner than allowed: tell it again later");
        return;
    }
    link->peers_heard++;
    link->peers_heard_ms = now;
    if (links->config.hooks.peers_heard)
        links->config.hooks.peers_heard(link, list, links->config.hooks.userdata);
    if (link->peers_sent == 0)
        send_peers(link); /* the acceptor's answer: now the dialler knows ours */
}

/* --- connections ----------------------------------------------------------- */

static ls_link_t *link_new(ls__links_t *links, bool is_outbound)
{
    ls_link_t *link = calloc(1, sizeof *link);
    if (!link)
        return NULL;
    link->links = links;
    link->is_outbound = is_outbound;
    link->started_ms = ls__links_now(links);
    link->next = links->list;
    links->list = link;
    return link;
}

static void link_unlink(ls_link_t *link)
{
    for (ls_link_t **p = &link->links->list; *p; p = &(*p)->next) {
        if (*p == link) {
            *p = link->next;
            break;
        }
    }
}

static size_t dials_in_flight(const ls__links_t *links)
{
    size_t n = 0;
    for (const ls_link_t *l = links->list; l; l = l->next)
        n += l->is_outbound && !l->is_ready && !l->is_closing;
    return n;
}

static void dial_timer_cb(uv_timer_t *timer)
{
    ls__links_t *links = timer->data;
    links->is_dial_held = false;
    if (links->endpoint && links->config.hooks.dial_slot_free)
        links->config.hooks.dial_slot_free(links->config.hooks.userdata);
}

/* An outbound handshake ended (ready, or closed before): held dials go. */
static void dial_slot_freed(ls__links_t *links)
{
    if (links->is_dial_held && links->endpoint && !uv_is_active((uv_handle_t *)&links->dial_timer))
        uv_timer_start(&links->dial_timer, dial_timer_cb, 0, 0);
}

static int link_connect(ls__links_t *links, ls__dial_target_t *target)
{
    ls_link_t *link = link_new(links, true);
    if (!link)
        return LS_ENOMEM;
    snprintf(link->address, sizeof link->address, "%s", target->address);
    link->target = target;
    int rc = ls_net_connect(links->endpoint, (const struct sockaddr *)&target->sockaddr, link,
                            &link->conn);
    if (rc != 0) {
        link_unlink(link);
        free(link);
        return rc;
    }
    target->link = link;
    return 0;
}

/* A pair's place in our preference: the first 8 bytes of SHA-256(our id
 * || theirs). Each peer preferring the targets of smallest rank makes the
 * links a random graph, connected with high probability, where the first
 * N targets found would all be the peers that started first. */
static uint64_t link_rank(const ls__links_t *links, const char *peer_id)
{
    char pair[2 * LS_PEER_ID_HEX_LEN];
    uint8_t digest[LS_SHA256_LEN];
    uint64_t rank = 0;
    memcpy(pair, links->peer_id, LS_PEER_ID_HEX_LEN);
    memcpy(pair + LS_PEER_ID_HEX_LEN, peer_id, LS_PEER_ID_HEX_LEN);
    ls_sha256(pair, sizeof pair, digest);
    for (size_t i = 0; i < sizeof rank; i++)
        rank = rank << 8 | digest[i];
    return rank;
}

static size_t rank_place(const ls__ranks_t *set, uint64_t rank)
{
    size_t at = 0;
    while (at < set->count && set->ranks[at] < rank)
        at++;
    return at;
}

bool ls__ranks_admits(const ls__ranks_t *set, size_t max, uint64_t rank)
{
    size_t at = rank_place(set, rank);
    return at < max || (at < set->count && set->ranks[at] == rank);
}

bool ls__ranks_note(ls__ranks_t *set, size_t max, uint64_t rank)
{
    size_t n = set->count, at = rank_place(set, rank);
    if (max > LS_LINKS_TARGET_MAX)
        max = LS_LINKS_TARGET_MAX;
    if (at < n && set->ranks[at] == rank)
        return true; /* noted before */
    if (at >= max)
        return false;
    n = n >= max ? max - 1 : n; /* full: the largest drops out */
    memmove(&set->ranks[at + 1], &set->ranks[at], (n - at) * sizeof set->ranks[0]);
    set->ranks[at] = rank;
    set->count = n + 1;
    return true;
}

void ls__ranks_forget(ls__ranks_t *set, uint64_t rank)
{
    size_t at = rank_place(set, rank);
    if (at >= set->count || set->ranks[at] != rank)
        return;
    set->count--;
    memmove(&set->ranks[at], &set->ranks[at + 1], (set->count - at) * sizeof set->ranks[0]);
}

/* A peer that may have left (its link ended, a dial of it failed, its
 * target went): its rank gives its place back, unless another connection
 * to it lives. Still there, it is noted again at its next dial. */
static void forget_rank(ls__links_t *links, const char *peer_id)
{
    if (peer_id[0] && !ls__links_exists(links, peer_id))
        ls__ranks_forget(&links->preferred, link_rank(links, peer_id));
}

/* The links target: a target whose id mDNS, `peers` or the known list
 * told us is dialled only while we have fewer than links_target links
 * (either direction), and only when its rank is among the links_target
 * smallest we have considered; a --peer target (id unknown) or one a
 * download needs (is_on_demand) always is. */
bool ls__link_holds_place(const ls_link_t *l)
{
    return !l->is_closing && (l->is_ready || !l->is_retry);
}

bool ls__links_is_at_target(const ls__links_t *links)
{
    size_t n = 0;
    for (const ls_link_t *l = links->list; l && links->target; l = l->next)
        n += ls__link_holds_place(l);
    return links->target && n >= links->target;
}

bool ls__links_is_bounded(const ls__links_t *links)
{
    return links->target != 0;
}

void ls__party_size_grow(ls__party_size_t *party, size_t known)
{
    if (known > party->size)
        party->size = known;
    if (known > LS_PARTY_SHRINK_MAX)
        party->low_since_ms = 0; /* heard a big party now: the wait starts over */
}

void ls__party_size_present(ls__party_size_t *party, size_t present, bool is_linked,
                            uint64_t now_ms)
{
    if (present > party->size)
        party->size = present;
    /* With no link a small party and an outage look alike: a switch that
     * rebooted must not turn a big party into a full mesh (a review). */
    if (!is_linked || present > LS_PARTY_SHRINK_MAX) {
        party->low_since_ms = 0;
        return;
    }
    if (!party->low_since_ms) {
        party->low_since_ms = now_ms ? now_ms : 1; /* 0 means "not low" */
        return;
    }
    if (now_ms - party->low_since_ms >= LS_PARTY_SHRINK_MS && present < party->size)
        party->size = present;
}

uint32_t ls__links_auto_target(uint32_t configured, bool is_sized, size_t known)
{
    if (configured != 0)
        return configured == LS_PEER_LINKS_FULL_MESH ? 0 : configured;
    return known > LS_PEER_FULL_MESH_MAX || !is_sized ? LS_PEER_LINKS_TARGET_AUTO : 0;
}

static void links_target_update(ls__links_t *links)
{
    uint32_t target =
        ls__links_auto_target(links->config.links_target, links->is_party_sized, links->party.size);
    if (target == links->target)
        return;
    bool is_wider = target == 0 || (links->target != 0 && target > links->target);
    links->target = target;
    /* The targets the bound held back are dialled now, not at the next
     * reconnect tick: a restarted peer whose remembered peers sized its
     * party linked its ninth peer only then, reconnect_ms later. */
    if (is_wider && links->endpoint && !uv_is_active((uv_handle_t *)&links->dial_timer))
        uv_timer_start(&links->dial_timer, dial_timer_cb, 0, 0);
    if (target)
        ls_info("peer", "%zu peers known: at most %u links, the others' libraries by relay",
                links->party.size, (unsigned)target);
    else
        ls_info("peer", "%zu peers known: a full mesh", links->party.size);
}

void ls__links_note_party(ls__links_t *links, size_t known)
{
    ls__party_size_grow(&links->party, known);
    links_target_update(links);
}

size_t ls__links_party_size(const ls__links_t *links)
{
    return links->party.size;
}

void ls__links_party_sizing(ls__links_t *links, bool is_sized)
{
    links->is_party_sized = is_sized;
    links_target_update(links);
}

static bool is_over_links_target(ls__links_t *links, const ls__dial_target_t *target)
{
    if (!links->target || !target->is_id_advertised || target->is_on_demand)
        return false;
    uint64_t rank = link_rank(links, target->peer_id);
    /* backoff_ms is 0 again once a handshake with it completed */
    bool has_failed = target->backoff_ms != 0;
    bool is_preferred = has_failed ? ls__ranks_admits(&links->preferred, links->target, rank)
                                   : ls__ranks_note(&links->preferred, links->target, rank);
    return !is_preferred || ls__links_is_at_target(links);
}

/* Another target at the same address (a --peer and the remembered entry
 * of the peer behind it) already has its outbound link, in its handshake
 * or ready: that one connection serves both, so a second dial would only
 * be closed as a duplicate (or log a second "unreachable"). Other
 * addresses of one peer (its mDNS address) are still tried side by side:
 * the one that answers wins. */
static bool is_address_dialled(const ls__links_t *links, const ls__dial_target_t *target)
{
    for (const ls_link_t *l = links->list; l; l = l->next)
        if (l->is_outbound && !l->is_closing && l->target && l->target != target &&
            ls_net_sockaddr_same((const struct sockaddr *)&l->target->sockaddr,
                                 (const struct sockaddr *)&target->sockaddr))
            return true;
    return false;
}

void ls__links_dial_if_due(ls__links_t *links, ls__dial_target_t *target)
{
    uint64_t now = ls__links_now(links);
    if (!links->endpoint || target->link || target->is_ignored || now < target->next_dial_ms)
        return;
    /* Already connected to that peer some other way (it dialled us). */
    if (target->peer_id[0] && ls__links_exists(links, target->peer_id))
        return;
    /* It is dialling us at this moment (its handshake is under way; a link
     * exists only once it is done): that connection will do, so wait for
     * it rather than open a second one that one side then closes as a
     * duplicate. If it fails, a later tick dials. */
    if (ls_net_endpoint_is_accepting_from(links->endpoint,
                                          (const struct sockaddr *)&target->sockaddr) ||
        is_address_dialled(links, target))
        return;
    if (dials_in_flight(links) >= LS_DIALS_IN_FLIGHT_MAX) {
        links->is_dial_held = true;
        return;
    }
    if (is_over_links_target(links, target))
        return;
    bool is_retry = target->backoff_ms != 0; /* 0 again once a handshake completed */
    if (target->backoff_ms == 0)
        target->backoff_ms = links->config.reconnect_ms;
    target->next_dial_ms = now + target->backoff_ms;
    uint32_t max_ms = target->backoff_max_ms ? target->backoff_max_ms : LS_REDIAL_MAX_MS;
    target->backoff_ms = target->backoff_ms * 2 > max_ms ? max_ms : target->backoff_ms * 2;
    int rc = link_connect(links, target);
    if (rc != 0) {
        ls_warn("peer", "connect %s: %s", target->address, ls_strerror(rc));
        /* no link, so no close callback gives its place back */
        if (target->is_id_advertised)
            forget_rank(links, target->peer_id);
    } else {
        target->link->is_retry = is_retry;
    }
}

void ls__links_detach_target(ls__links_t *links, ls__dial_target_t *target)
{
    for (ls_link_t *l = links->list; l; l = l->next)
        if (l->target == target)
            l->target = NULL;
    target->link = NULL;
    if (target->is_id_advertised)
        forget_rank(links, target->peer_id);
}

void ls__links_tick(ls__links_t *links)
{
    uint64_t now = ls__links_now(links);
    /* linked and relayed: the party as we see it now */
    bool is_linked = false;
    for (const ls_link_t *l = links->list; l && !is_linked; l = l->next)
        is_linked = l->is_ready && !l->is_closing;
    ls__party_size_present(&links->party, ls_peerdb_count(links->config.peerdb), is_linked, now);
    links_target_update(links);
    for (ls_link_t *l = links->list; l; l = l->next) {
        bool is_library_late =
            l->deferred_hello.kind && now - l->library_wait_ms >= links->config.hello_deadline_ms;
        if (l->is_ready && !l->is_closing && l->is_resync_due && resync_allowed(l) &&
            send_hello_now(l) != 0)
            ls_warn("peer", "%s: re-handshake not sent", l->address);
        if (!l->is_outbound && !l->is_closing && !l->is_ready &&
            (l->is_refused || is_library_late ||
             (!l->has_hello && now - l->started_ms >= links->config.hello_deadline_ms))) {
            ls_info("peer", "%s: %s; connection closed", l->address,
                    l->is_refused     ? "its hello was refused"
                    : is_library_late ? "no library after its hello"
                                      : "no hello in time");
            ls__link_close(l, LS_NET_APP_REFUSED, l->is_refused ? "refused" : "no hello");
            continue;
        }
        if (l->is_ready || l->is_closing || !l->hello_sent_ms ||
            now - l->hello_sent_ms < LS_HELLO_ACK_TIMEOUT_MS)
            continue;
        ls_warn("peer", "%s: no hello_ack within %u ms; dialling again later", l->address,
                (unsigned)LS_HELLO_ACK_TIMEOUT_MS);
        ls__link_close(l, LS_NET_APP_NO_ERROR, "no hello_ack");
    }
}

void ls__link_close(ls_link_t *link, uint64_t app_error, const char *reason)
{
    if (link->is_closing)
        return;
    link->is_closing = true;
    ls_net_conn_close(link->conn, app_error, reason);
}

static int established_cb(ls_net_conn_t *conn, const char *peer_id)
{
    ls__links_t *links = ls_net_endpoint_user_data(ls_net_conn_endpoint(conn));
    ls_link_t *link = ls_net_conn_user_data(conn);
    if (strcmp(peer_id, links->peer_id) == 0)
        return LS_EAUTH; /* ourselves, through another address */
    if (!link) {
        link = link_new(links, false);
        if (!link)
            return LS_ENOMEM;
        link->conn = conn;
        ls_net_conn_set_user_data(conn, link);
        snprintf(link->address, sizeof link->address, "inbound");
    }
    if (link->is_outbound && link->target && link->target->is_id_advertised &&
        strcmp(link->target->peer_id, peer_id) != 0) {
        /* Someone else answers at the address that peer advertised: an
         * impostor (or a stale record). It gets no hello and no redial. */
        ls_warn("peer",
                "%s presents the certificate of %.12s, not the advertised %.12s: "
                "not dialled again",
                link->address, peer_id, link->target->peer_id);
        link->target->is_ignored = true;
        return LS_EAUTH;
    }
    snprintf(link->peer_id, sizeof link->peer_id, "%s", peer_id);
    link->has_exporter =
        ls_net_conn_export_keying_material(conn, LS_PARTY_EXPORTER_LABEL, link->exporter,
                                           sizeof link->exporter) == 0;
    if (!link->has_exporter && links->has_party_key)
        return LS_ETLS; /* no proof could be bound to this session */
    if (link->is_outbound && ls__link_send_hello(link) != 0)
        return LS_ENOMEM;
    return 0;
}

static void forget_peer(ls_link_t *link, const char *reason)
{
    ls__links_t *links = link->links;
    const ls_peer_t *peer = ls_peerdb_find(links->config.peerdb, link->peer_id);
    if (!peer || ready_link_for(links, link->peer_id, link))
        return;
    ls_info("peer", "%s (%.12s) lost: %s", peer->name, link->peer_id, reason);
    ls_peer_event_t event = {
        .kind = LS_EVENT_PEER_LOST,
        .u.peer = {.peer_id = link->peer_id, .name = peer->name, .reason = reason}};
    ls__emit(links->config.events, &event);
    ls_peerdb_remove(links->config.peerdb, link->peer_id);
    if (links->config.hooks.peer_lost)
        links->config.hooks.peer_lost(link->peer_id, links->config.hooks.userdata);
    peers_changed(links);
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
    if (link->target && link->target->link == link)
        link->target->link = NULL;
    link_unlink(link);
    if (link->is_ready || (link->is_outbound && link->target && link->target->is_id_advertised))
        forget_rank(link->links, link->is_ready ? link->peer_id : link->target->peer_id);
    if (link->is_outbound && !link->is_ready)
        dial_slot_freed(link->links);
    ls_msg_free(&link->deferred_hello);
    ls_msg_free(&link->pending_ack);
    free(link);
}

static void stream_cb(ls_net_conn_t *conn, ls_net_stream_t *stream)
{
    ls_link_t *link = ls_net_conn_user_data(conn);
    ls__links_t *links = link ? link->links : NULL;
    if (link)
        link->last_stream_ms = ls__links_now(links);
    if (links && links->config.hooks.stream)
        links->config.hooks.stream(link, stream, links->config.hooks.userdata);
    else
        ls_net_stream_reset(stream, LS_NET_APP_INTERNAL);
}

const ls_net_callbacks_t ls__links_net_callbacks = {
    .established_cb = established_cb,
    .closed_cb = closed_cb,
    .stream_cb = stream_cb,
};

/* --- liveness -------------------------------------------------------------- */

static void ping_reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    link->is_ping_outstanding = false;
    if (status == 0 && reply && reply->kind == LS_MSG_PONG) {
        link->ping_misses = 0;
        ls_peerdb_touch(link->links->config.peerdb, link->peer_id, ls__links_now(link->links));
    }
}

/* Only the dialler of a pair pings: each idle link costs one exchange per
 * interval, not two. The acceptor counts the dialler's streams (its pings
 * are streams) as proof of life and pings only when none came for
 * PING_HEARD_SLACK intervals (a dialler that does not ping, or a dead one);
 * then it counts missed pings as the dialler does. So a dead dialler is
 * pruned within (1.5 + 1 + ping_misses_max) intervals, a dead acceptor
 * within 1 + ping_misses_max. A peer of an older version pings on accepted
 * links too: that only counts as heard. */
#define PING_HEARD_SLACK_NUM 3 /* 1.5 intervals: a late ping is not a missed one */
#define PING_HEARD_SLACK_DEN 2

static bool is_heard(const ls_link_t *l, uint64_t now, uint32_t interval_ms)
{
    uint64_t heard = l->last_stream_ms > l->ready_ms ? l->last_stream_ms : l->ready_ms;
    return !l->is_outbound &&
           now - heard < (uint64_t)interval_ms * PING_HEARD_SLACK_NUM / PING_HEARD_SLACK_DEN;
}

static void ping_timer_cb(uv_timer_t *timer)
{
    ls__links_t *links = timer->data;
    uint64_t now = ls__links_now(links);
    for (ls_link_t *l = links->list; l; l = l->next) {
        if (!l->is_ready || l->is_closing)
            continue;
        if (is_heard(l, now, links->config.ping_interval_ms)) {
            l->ping_misses = 0;
            continue;
        }
        if (l->is_ping_outstanding && ++l->ping_misses >= links->config.ping_misses_max) {
            ls__link_close(l, LS_NET_APP_NO_ERROR, "missed pings");
            continue;
        }
        if (l->is_ping_outstanding)
            continue;
        ls_msg_t ping = {.kind = LS_MSG_PING, .u.nonce = now};
        if (ls__exchange_start(l, &ping, ping_reply_cb, NULL) == 0)
            l->is_ping_outstanding = true;
    }
}

/* --- addresses ------------------------------------------------------------ */

int ls__parse_address(const char *text, bool allow_port_zero, struct sockaddr_storage *out)
{
    char host[LS_ADDRESS_MAX];
    const char *colon = strrchr(text, ':');
    memset(out, 0, sizeof *out);
    if (!colon || (size_t)(colon - text) >= sizeof host)
        return LS_EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < (allow_port_zero ? 0 : 1) || port > 65535)
        return LS_EINVAL;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    if (host[0] == '[') { /* [::1]:port */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return LS_EINVAL;
}

/* --- the object ------------------------------------------------------------ */

int ls__links_new(const ls__links_config_t *config, ls__links_t **out)
{
    ls__links_t *links = calloc(1, sizeof *links);
    *out = NULL;
    if (!links)
        return LS_ENOMEM;
    links->config = *config;
    if (links->config.hello_deadline_ms == 0)
        links->config.hello_deadline_ms = LS_HELLO_DEADLINE_MS;
    if (links->config.links_target > LS_LINKS_TARGET_MAX &&
        links->config.links_target != LS_PEER_LINKS_FULL_MESH)
        links->config.links_target = LS_LINKS_TARGET_MAX;
    links->is_party_sized = true; /* until mDNS starts: no party but the targets we are given */
    links->target = ls__links_auto_target(links->config.links_target, true, 0);
    snprintf(links->peer_id, sizeof links->peer_id, "%s", config->peer_id);
    links->name = strdup(config->name);
    links->has_party_key = config->party_key != NULL;
    if (config->party_key)
        links->party_key = *config->party_key;
    links->config.peer_id = links->peer_id;
    links->config.name = links->name;
    links->config.party_key = NULL; /* our copy is links->party_key */
    if (!links->name) {
        ls__links_free(links);
        return LS_ENOMEM;
    }
    uv_timer_init(config->loop, &links->ping_timer);
    links->ping_timer.data = links;
    uv_timer_init(config->loop, &links->peers_timer);
    links->peers_timer.data = links;
    uv_timer_init(config->loop, &links->dial_timer);
    links->dial_timer.data = links;
    *out = links;
    return 0;
}

void ls__links_set_endpoint(ls__links_t *links, ls_net_endpoint_t *endpoint, int listen_port)
{
    links->endpoint = endpoint;
    links->listen_port = listen_port;
}

void ls__links_set_library(ls__links_t *links, const ls_library_snapshot_t *announced)
{
    links->announced = announced;
}

bool ls__links_has_library(const ls__links_t *links)
{
    return links->announced != NULL;
}

void ls__links_start(ls__links_t *links)
{
    links->is_pinging = true;
    uv_timer_start(&links->ping_timer, ping_timer_cb, links->config.ping_interval_ms,
                   links->config.ping_interval_ms);
}

void ls__links_stop(ls__links_t *links)
{
    uv_timer_stop(&links->ping_timer);
    uv_close((uv_handle_t *)&links->ping_timer, NULL);
    uv_timer_stop(&links->peers_timer);
    uv_close((uv_handle_t *)&links->peers_timer, NULL);
    uv_timer_stop(&links->dial_timer);
    uv_close((uv_handle_t *)&links->dial_timer, NULL);
    links->endpoint = NULL; /* closing: no more dials */
}

void ls__links_free(ls__links_t *links)
{
    if (!links)
        return;
    free(links->name);
    explicit_bzero(&links->party_key, sizeof links->party_key);
    free(links);
}
