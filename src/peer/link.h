/* Links: one per QUIC connection to another peer, and the object that owns
 * them all (ls__links_t) — the handshake on both sides, duplicate
 * connections, dialling with backoff, the ping service and peer loss.
 * Loop thread only. Other objects reach a peer through a ready link
 * (ls__links_find_ready) and learn of changes through the hooks. */
#ifndef LS_PEER_LINK_H
#define LS_PEER_LINK_H

#include "events.h"

#include "lanspread/net.h"
#include "lanspread/party.h"
#include "lanspread/peerdb.h"
#include "lanspread/proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct ls__links ls__links_t;
typedef struct ls_link ls_link_t;

/* A dial target: a --peer address, a peer mDNS resolved or a remembered
 * peer (known.h). Failed attempts (unreachable, refused, no hello_ack in
 * time) are retried with a backoff that doubles from reconnect_ms to
 * backoff_max_ms (0: LS_REDIAL_MAX_MS) and starts afresh once a handshake
 * completes. Owned by whoever dials it (runtime, mDNS, known peers), who
 * calls ls__links_detach_target before it goes. */
typedef struct {
    char address[LS_ADDRESS_MAX];
    struct sockaddr_storage sockaddr;
    ls_link_t *link; /* the outbound link to it, if any */
    bool is_ignored; /* answered version_mismatch, or not the advertised peer: not retried */
    char peer_id[LS_PEER_ID_HEX_LEN + 1]; /* known, or learnt from the first handshake */
    /* peer_id was advertised (mDNS): a certificate with another id at that
     * address is an impostor's, and the target is ignored (is_ignored). */
    bool is_id_advertised;
    /* A download needs this peer (a relayed seeder, relay.h): dialled
     * whatever the links target says. */
    bool is_on_demand;
    uint64_t next_dial_ms;
    uint32_t backoff_ms;     /* 0: not dialled yet (reconnect_ms) */
    uint32_t backoff_max_ms; /* 0: LS_REDIAL_MAX_MS */
} ls__dial_target_t;

#define LS_REDIAL_MAX_MS 10000
/* How long a dialler waits for hello_ack. The acceptor holds a hello that
 * arrives before its first scan has ended and answers it then, so this
 * covers a slow first scan, not just a round trip. */
#define LS_HELLO_ACK_TIMEOUT_MS 30000
/* An inbound connection must send its hello within this long. */
#define LS_HELLO_DEADLINE_MS 10000
/* Re-handshakes on a ready link (a delta that does not apply, a TXT record
 * that moved) go out at most once per this interval; asks in between are
 * coalesced into one, sent when it ends. A peer's own re-hellos closer than
 * half of it to its previous hello are refused with `busy` (the half leaves
 * room for an honest peer's timer jitter): a snapshot of up to
 * LS_PEERDB_GAMES_MAX games is applied at most that often per link. */
#define LS_RESYNC_INTERVAL_MS 2000
/* Peer exchange (`peers`, issue #17): a link is told our peers when it
 * becomes ready (all of them), then only the news since the last one:
 * peers linked since (in a full mesh in the first LS_PEERS_SENDS_MAX sends
 * only, at most once per LS_PEERS_RESEND_MS: a full list each time made
 * 100 peers encode and decode about 3 N^2 entries each, and a full mesh
 * learns the rest from mDNS; with a links target in every send, since a
 * peer whose links all link a newcomer directly hears of it from nobody
 * else), and relayed peers verified (or at a newer rev) since (uncapped,
 * at most once per LS_PEERS_GOSSIP_MS once the first sends are used: each
 * hop of a library's way across a bounded mesh waits for it).
 * A receiver acts on the first LS_PEERS_SENDS_MAX `peers` of a link at
 * once, then on at most one per LS_PEERS_GOSSIP_MS / 2 (timer jitter);
 * more are answered busy and ignored, and their sender tells them again
 * (ls__peers_rewind). */
#define LS_PEERS_SENDS_MAX 3
/* Outbound handshakes in flight at once. A party's peers find each other
 * within a second or so and would dial them all together: on a loaded CPU
 * each handshake then waits behind all the others, many outlast the
 * transport's handshake timeout (10 s) and are dialled again, and the
 * mesh converges later than with fewer at a time. A held dial is tried
 * again as soon as a handshake ends (the dial_slot_free hook). */
#define LS_DIALS_IN_FLIGHT_MAX 8
/* A `peers` answered busy (its receiver acted on none of it: too soon
 * after the last one) is told again: the link's news seq goes back to
 * from_seq, where that `peers` began. Other failures change nothing.
 * Pure. */
uint64_t ls__peers_rewind(uint64_t sent_seq, uint64_t from_seq, bool is_busy);
#define LS_PEERS_RESEND_MS 1000
#define LS_PEERS_GOSSIP_MS 500
/* The largest links target (ls_peer_config_t.links_target) taken. */
#define LS_LINKS_TARGET_MAX 64

struct ls_link {
    ls_link_t *next;
    ls__links_t *links;
    ls_net_conn_t *conn;
    bool is_outbound;
    bool is_ready; /* a handshake completed on this connection */
    bool is_closing;
    /* Outbound to a target whose last dial failed: until its handshake
     * completes it holds no place of the links target (a dead peer's
     * redials must not keep a live newcomer out). */
    bool is_retry;
    bool wants_game_meta;     /* its hello listed LS_FEATURE_GAME_META */
    bool wants_swarm;         /* its hello listed LS_FEATURE_SWARM */
    bool takes_given;         /* and LS_FEATURE_GIVEN: refused a chunk with `given` */
    bool takes_have_complete; /* and LS_FEATURE_HAVE_COMPLETE */
    bool takes_batch;         /* its hello listed LS_FEATURE_BATCH */
    bool wants_cover;         /* its hello listed LS_FEATURE_COVER */
    bool takes_peers;         /* its hello listed LS_FEATURE_PEERS */
    bool takes_relay;         /* its hello listed LS_FEATURE_RELAY (and we relay) */
    uint8_t relay_missed;     /* get_library deadlines it let pass (relay.c) */
    bool is_relay_liar;       /* named a library_rev it did not give (relay.c) */
    uint32_t peers_sent;      /* `peers` we sent */
    uint32_t peers_heard;     /* `peers` it sent that we acted on */
    uint64_t peers_heard_ms;  /* when we last acted on one */
    uint64_t peers_sent_seq;  /* the newest news seq our last `peers` covered */
    uint64_t peers_sent_ms;
    uint64_t ready_seq; /* order in which links became ready (1, 2, ...; 0: not yet) */
    char peer_id[LS_PEER_ID_HEX_LEN + 1]; /* from the certificate */
    char address[LS_ADDRESS_MAX];         /* where the peer listens */
    ls__dial_target_t *target;            /* outbound to a static or mDNS peer */
    unsigned ping_misses;
    bool is_ping_outstanding;
    uint64_t last_stream_ms; /* inbound: when the peer last opened a stream (its pings) */
    uint64_t last_data_ms;   /* when a reply byte last arrived on any of our requests */
    uint64_t started_ms;     /* connect or accept */
    uint64_t ready_ms;       /* first handshake completed */
    uint64_t hello_sent_ms;  /* outbound: our hello awaits its hello_ack (0: none) */
    bool has_hello;          /* inbound: a hello arrived (held, answered or refused) */
    bool is_refused;         /* inbound: its hello was refused; closed at the next tick */
    /* The TLS session's exporter bytes: party proofs are bound to them. */
    uint8_t exporter[LS_PARTY_EXPORTER_LEN];
    bool has_exporter;
    /* Acceptor: a validated hello whose library follows in hello_library
     * (kind 0: none), and since when it is awaited. */
    ls_msg_t deferred_hello;
    uint64_t library_wait_ms;
    /* Dialler: the validated hello_ack, applied once our hello_library is
     * acknowledged (kind 0: none). */
    ls_msg_t pending_ack;
    uint64_t resync_sent_ms; /* our last hello on this link */
    bool is_resync_due;      /* a re-handshake waits for LS_RESYNC_INTERVAL_MS */
    uint64_t peer_hello_ms;  /* the peer's last hello applied on this link (0: none) */
};

/* What the other objects want to hear of; runtime.c wires them. */
typedef struct {
    void (*peers_changed)(void *userdata); /* a peer came, went or changed its library */
    void (*peer_lost)(const char *peer_id, void *userdata); /* its last ready link closed */
    void (*stream)(ls_link_t *link, ls_net_stream_t *stream, void *userdata); /* a request */
    /* A new peer's first handshake completed: its id, listen address, name. */
    void (*peer_ready)(const char *peer_id, const char *address, const char *name, void *userdata);
    /* A ready link told us of its peers (bounded, see LS_PEERS_SENDS_MAX; entries not checked
     * beyond the decoder's syntax). */
    void (*peers_heard)(ls_link_t *link, const ls_peer_list_t *list, void *userdata);
    /* A dial was held (LS_DIALS_IN_FLIGHT_MAX) and a handshake has ended
     * since: the due targets may be dialled again (from a timer, not
     * inside a connection's callback). */
    void (*dial_slot_free)(void *userdata);
    /* A link to peer_id completes its first handshake: called before its
     * library is applied (a relayed entry of the peer gives way). */
    void (*linking)(const char *peer_id, void *userdata);
    /* The relayed peers `to` may be told in a `peers` (only asked for a
     * link that takes_relay): those whose news seq is above after_seq, at
     * most room entries into out, each with its library_rev. */
    size_t (*collect_relayed)(const ls_link_t *to, uint64_t after_seq, ls_peer_addr_t *out,
                              size_t room, void *userdata);
    void *userdata;
} ls__links_hooks_t;

typedef struct {
    uv_loop_t *loop;
    ls_peerdb_t *peerdb; /* borrowed */
    const ls__events_t *events;
    const char *peer_id; /* ours; copied, like every string here */
    const char *name;
    const ls_party_key_t *party_key; /* copied; NULL: none */
    uint32_t protocol_version;
    uint32_t reconnect_ms;
    uint32_t ping_interval_ms;
    uint32_t ping_misses_max;
    uint32_t hello_deadline_ms; /* an inbound connection with no hello by then is closed */
    bool is_swarm;              /* we list LS_FEATURE_SWARM */
    bool is_peer_exchange;      /* we list LS_FEATURE_PEERS */
    bool is_relay;              /* we list LS_FEATURE_RELAY (needs is_peer_exchange) */
    uint32_t links_target; /* ls_peer_config_t.links_target (0: auto); at most LS_LINKS_TARGET_MAX
                              or LS_PEER_LINKS_FULL_MESH */
    ls__links_hooks_t hooks;
} ls__links_config_t;

int ls__links_new(const ls__links_config_t *config, ls__links_t **out);
/* After the loop ended (every connection is gone by then). */
void ls__links_free(ls__links_t *links);
/* The endpoint's callbacks; its user data must be the links object. */
extern const ls_net_callbacks_t ls__links_net_callbacks;
void ls__links_set_endpoint(ls__links_t *links, ls_net_endpoint_t *endpoint, int listen_port);
/* The snapshot our hellos carry, borrowed (the publisher keeps it). NULL
 * until the first scan ended: until then no hello can be answered. */
void ls__links_set_library(ls__links_t *links, const ls_library_snapshot_t *announced);
bool ls__links_has_library(const ls__links_t *links);
/* Starts the ping service; stopped by ls__links_stop. */
void ls__links_start(ls__links_t *links);
void ls__links_stop(ls__links_t *links);

ls_link_t *ls__links_find_ready(ls__links_t *links, const char *peer_id);
/* Any connection to peer_id that is not closing (ready or in its handshake). */
bool ls__links_exists(ls__links_t *links, const char *peer_id);
/* Any connection not closing to a peer whose id starts with `prefix`. */
bool ls__links_exists_prefix(ls__links_t *links, const char *prefix);
/* Dials target when it has no connection and its backoff allows, and
 * fewer than LS_DIALS_IN_FLIGHT_MAX outbound handshakes are under way
 * (else it is held: the target's backoff is untouched). */
void ls__links_dial_if_due(ls__links_t *links, ls__dial_target_t *target);
/* The target goes away: no link points at it any more (its connection,
 * if any, stays). */
void ls__links_detach_target(ls__links_t *links, ls__dial_target_t *target);
/* From the reconnect timer: closes outbound links whose hello_ack is late,
 * so their targets are dialled again, and inbound ones that sent no hello
 * within hello_deadline_ms or whose hello was refused (a stranger gets no
 * connection slot to sit on, and no endless tries at the party key); sends
 * the re-handshakes that waited for LS_RESYNC_INTERVAL_MS. */
void ls__links_tick(ls__links_t *links);
void ls__links_broadcast_delta(ls__links_t *links, const ls_library_delta_t *delta);
/* Sends msg (a `have`) to every ready peer whose hello listed
 * LS_FEATURE_SWARM. */
void ls__links_send_swarm(ls__links_t *links, const ls_msg_t *msg);
/* A finished download's last `have`: `complete` to the swarm peers that
 * listed LS_FEATURE_HAVE_COMPLETE, `gone` (NULL: nothing) to the others. */
void ls__links_send_swarm_end(ls__links_t *links, const ls_msg_t *complete, const ls_msg_t *gone);
uint64_t ls__links_now(const ls__links_t *links);
/* A links target is set and we have that many links (either direction,
 * not closing; a redial of a target that failed counts once it is
 * ready): no more are dialled but on demand. */
bool ls__links_is_at_target(const ls__links_t *links);
/* A links target is in force (a bounded start, a party above
 * LS_PEER_FULL_MESH_MAX, or --links-target N): the peers we do not link
 * learn each other's libraries by relay (relay.h). */
bool ls__links_is_bounded(const ls__links_t *links);
/* Whether l holds a place of the links target (the count above). Pure. */
bool ls__link_holds_place(const ls_link_t *l);
/* With links_target 0 (the default) the links target follows the party's
 * size (ls__party_size_t): `known` other peers are known (peers mDNS
 * heard, its live dial targets); more than LS_PEER_FULL_MESH_MAX of them
 * turn the target of LS_PEER_LINKS_TARGET_AUTO on, until the party has
 * shrunk (ls__links_tick counts the peers present). */
void ls__links_note_party(ls__links_t *links, size_t known);
/* While mDNS has not had the time to hear the party (is_sized false, from
 * its start until ls__mdns_is_party_heard, mdns.h) the target is on too: a start at a
 * big party does not link everyone it hears of first. Without mDNS the
 * party is sized from the start. */
void ls__links_party_sizing(ls__links_t *links, bool is_sized);
/* The party's size as heard (ls__party_size_t.size). */
size_t ls__links_party_size(const ls__links_t *links);
/* The links target's preference: the smallest link ranks (SHA-256 of the
 * id pair, link.c) among the targets we may dial now, ascending, at most
 * the links target of them. A target's rank is noted when a dial of it is
 * decided, unless its last dial got no handshake (then it is only
 * admitted: a peer that left does not take a place back at each redial);
 * it is forgotten when its target goes, its peer is lost or a dial of it
 * fails, so a peer whose preferred peers left dials the newcomers. All
 * O(max). Pure. */
typedef struct {
    uint64_t ranks[LS_LINKS_TARGET_MAX];
    size_t count;
} ls__ranks_t;
/* Whether rank is among the max smallest, noting it (a larger one drops). */
bool ls__ranks_note(ls__ranks_t *set, size_t max, uint64_t rank);
/* Whether rank is, or would be, among the max smallest; nothing noted. */
bool ls__ranks_admits(const ls__ranks_t *set, size_t max, uint64_t rank);
void ls__ranks_forget(ls__ranks_t *set, uint64_t rank);

/* The party's size as the links target sees it: any count of other peers
 * heard (ls__links_note_party) or present raises it at once; it follows
 * the peers present now (linked and relayed, at each reconnect tick) down
 * only once they have stayed at most LS_PARTY_SHRINK_MAX for
 * LS_PARTY_SHRINK_MS while we had a link (with none, a small party and an
 * outage look alike): a
 * party that shrank goes back to a full mesh, and the gap between
 * LS_PARTY_SHRINK_MAX and LS_PEER_FULL_MESH_MAX keeps it from flapping
 * around the switch. Pure. */
#define LS_PARTY_SHRINK_MAX (LS_PEER_FULL_MESH_MAX * 3 / 4)
#define LS_PARTY_SHRINK_MS 60000
typedef struct {
    size_t size;
    uint64_t low_since_ms; /* 0: the peers present are more than LS_PARTY_SHRINK_MAX */
} ls__party_size_t;
void ls__party_size_grow(ls__party_size_t *party, size_t known);
void ls__party_size_present(ls__party_size_t *party, size_t present, bool is_linked,
                            uint64_t now_ms);

/* The links target given the configured one (ls_peer_config_t.links_target),
 * whether the party is sized and the most other peers known (0: a full
 * mesh). Pure. */
uint32_t ls__links_auto_target(uint32_t configured, bool is_sized, size_t known);
/* A relayed peer was verified (or moved to a newer rev): the next news seq
 * for it, and the links will be told of it (peer exchange, rate-limited). */
uint64_t ls__links_news(ls__links_t *links);
/* The hooks' userdata (for the endpoint's close callback, which gets the links). */
void *ls__links_hook_data(const ls__links_t *links);
/* "IPv4:PORT" or "[IPv6]:PORT" into a socket address; LS_EINVAL otherwise. */
int ls__parse_address(const char *text, bool allow_port_zero, struct sockaddr_storage *out);

/* Answers a hello the peer sent on this link: *answer becomes hello_ack
 * (the snapshot applied) or an error frame. Caller frees *answer. A hello
 * whose library is deferred is taken over (*hello is left empty) until its
 * hello_library arrives. */
void ls__link_answer_hello(ls_link_t *link, ls_hello_t *hello, ls_msg_t *answer);
/* Answers a hello_library: the deferred hello's library arrived; *answer
 * becomes hello_library_ack (the handshake completed) or an error frame. */
void ls__link_take_library(ls_link_t *link, ls_library_snapshot_t *library, ls_msg_t *answer);
/* Applies a library_delta; *ack is the library_delta_ack to send. A delta
 * that does not apply makes us re-handshake. */
void ls__link_apply_delta(ls_link_t *link, const ls_library_delta_t *delta, ls_msg_t *ack);
/* Answers a `peers` the peer sent on this ready link: hands it to the
 * peers_heard hook (within the LS_PEERS_SENDS_MAX rate), tells the peer ours in turn
 * if we have not yet, and makes *ack the peers_ack to send (an error
 * `busy` beyond the rate). Caller frees *ack. */
void ls__link_take_peers(ls_link_t *link, const ls_peer_list_t *list, ls_msg_t *ack);
/* Sends our hello: the first one at once; a re-handshake on a ready link at
 * most once per LS_RESYNC_INTERVAL_MS (0 when it waits for the tick). */
int ls__link_send_hello(ls_link_t *link);
void ls__link_close(ls_link_t *link, uint64_t app_error, const char *reason);

#endif
