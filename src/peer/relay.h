/* Library relay (issue #17): libraries learnt from peers we have no link
 * to. Each peer signs its own library (lanspread/libsig.h) and answers
 * get_library with it and with the signed libraries of others it verified;
 * a `peers` entry for a peer we have no ready link to makes us ask the link
 * that told us for that peer's signed library, and a verified one goes into
 * the PeerGameDB as a *relayed* peer (its games listed like a linked
 * peer's). Only links whose hello listed LS_FEATURE_RELAY are asked.
 * Bounded: one request in flight per owner, RELAY_TRIES_MAX tries each,
 * at most LS_LIBSIG_STORE_MAX owners, RELAY_LISTERS_MAX links remembered
 * per owner. Loop thread only. */
#ifndef LS_PEER_RELAY_H
#define LS_PEER_RELAY_H

#include "link.h"

#include "lanspread/identity.h"
#include "lanspread/libsig.h"
#include "lanspread/peerdb.h"
#include "lanspread/proto.h"

#include <stdbool.h>
#include <uv.h>

/* Owners one link may bring (entries it listed first): a member making up
 * identities and signing a library for each fills at most this share of
 * the LS_LIBSIG_STORE_MAX entries, and they go when it leaves; more new
 * owners in its `peers` are not asked for, with a warning. */
#define RELAY_PER_LINK_MAX (LS_LIBSIG_STORE_MAX / 2)
/* A get_library not answered within RELAY_REPLY_DEADLINE_MS is canceled
 * and counts against the link (relay.c: relay_missed); the next try
 * goes to another link that listed the owner (RELAY_LISTERS_MAX kept). */
#define RELAY_REPLY_DEADLINE_MS 5000
/* `peers` tells news only, never that an owner left: a relayed owner is
 * confirmed by one of its listers every RELAY_LEASE_MS (a get_library,
 * answered by a relay only while it still holds the owner's library,
 * which it drops when its own link to the owner, or its relay, goes);
 * when RELAY_TRIES_MAX tries across the listers get no library, the owner
 * goes as a lost peer (its games with it). */
#define RELAY_LEASE_MS 10000
/* A lease that ran out is confirmed once no relayed owner was shown or
 * moved for this long (ls__relay_lease_at), at most RELAY_LEASE_MS late: a
 * party's start is confirmed after its libraries spread, not among them. */
#define RELAY_LEASE_QUIET_MS 2000

/* A `peers` entry for a peer we have no ready link to is asked for after
 * this long in a full mesh (a link of our own is coming and tells
 * first-hand: a relayed copy would cost a request and a signature check
 * for nothing), and so is one whose connection is in its handshake. With
 * a links target in force it is asked for at once: the peers beyond the
 * target get no link (a bounded start's last libraries waited 1.5 s here,
 * and the last of 30 peers converged after 3 s, when the party was sized
 * and a link came). */
#define RELAY_DEFER_MS 1500

typedef struct ls__relay ls__relay_t;

/* The wait before asking for a listed peer's library (above). Pure. */
uint64_t ls__relay_defer_ms(bool is_bounded, bool is_connecting);
/* A lister did not give the library: whether the next try asks the next
 * lister. A silent one (its deadline passed: !is_answered) is passed over
 * at once; one that answered an error is asked once more first (a relay
 * linked to the owner fetches it on our first ask: the next lister would
 * only start a fetch of its own), then passed over. *refusals counts the
 * errors in a row of the lister asked. Pure. */
bool ls__relay_next_lister(bool is_answered, uint8_t *refusals);
/* When a relayed owner whose lease runs out at lease_ms is confirmed:
 * once no relayed owner was shown or moved (news_ms, the last time one
 * was) for RELAY_LEASE_QUIET_MS, and at the latest RELAY_LEASE_MS after
 * lease_ms. A party's start showed each peer ~85 owners by relay over a
 * few seconds; their leases ran out together ~10 s later, when a start
 * slowed by load still spread its last libraries, and each was a whole
 * get_library (as many requests as the start's own). Pure. */
uint64_t ls__relay_lease_at(uint64_t lease_ms, uint64_t news_ms);
/* An owner's tries all failed: whether it is asked again after
 * RELAY_AGAIN_MS (true) rather than forgotten. Only one never relayed to
 * us (nothing shown of it: a lease that failed means it left) and still
 * listed by a link (a link that leaves takes its listings). Pure. */
bool ls__relay_ask_again_later(bool is_held, bool is_relayed, bool is_confirming,
                               size_t lister_count);

typedef struct {
    uv_loop_t *loop;
    ls__links_t *links;
    ls_peerdb_t *peerdb;
    const ls__events_t *events;
    const ls_identity_t *identity;
    const char *name;                       /* ours; borrowed */
    const ls_library_snapshot_t *announced; /* ours; borrowed, read when asked */
    void (*peers_changed)(void *userdata);  /* a relayed peer came, changed or went */
    /* A fetch of a linked peer's library ended (held, or given up): the
     * get_library that wait for it (ls__relay_answer) are to be asked
     * again. Run from the relay's timer, on a later loop turn. */
    void (*library_settled)(void *userdata);
    void *userdata;
} ls__relay_config_t;

int ls__relay_new(const ls__relay_config_t *config, ls__relay_t **out);
void ls__relay_stop(ls__relay_t *relay); /* closes its timer */
void ls__relay_free(ls__relay_t *relay);

/* Answers get_library for peer_id from the link to asker_id: *answer
 * becomes signed_library (ours, signed again when our rev moved, or one
 * held) or an error frame (also for a relayed owner whose library came
 * to us through the asker: we do not vouch back for what it told us).
 * The caller frees *answer. A linked peer's library not held yet is
 * fetched from it; with may_wait, while that fetch is in flight, nothing
 * is answered and true returned: ask again when library_settled runs
 * (an error answer cost the asker a retry, a backoff and a round trip
 * per hop of a bounded party's start). */
bool ls__relay_answer(ls__relay_t *relay, const char *asker_id, const char *peer_id, bool may_wait,
                      ls_msg_t *answer);
/* A ready link told us of its peers: ask it for the signed libraries of
 * the listed peers we have no ready link to (ls__relay_defer_ms), and,
 * with a links target, the link's own from it, so that we hold it before
 * the peers we tell of it ask us. */
void ls__relay_heard(ls__relay_t *relay, ls_link_t *link, const ls_peer_list_t *list);
/* The relayed peers whose news seq is above after_seq, for a `peers` to
 * `to` (not those it relayed to us, nor itself): at most room entries into
 * out, each with the library_rev we hold. O(held owners). */
size_t ls__relay_collect(const ls__relay_t *relay, const ls_link_t *to, uint64_t after_seq,
                         ls_peer_addr_t *out, size_t room);
/* A link to peer_id is about to become ready: a relayed entry of that
 * peer gives way to what the link tells (and the peer counts as new). */
void ls__relay_linking(ls__relay_t *relay, const char *peer_id);
/* A peer's last ready link closed: the peers relayed only through it go. */
void ls__relay_peer_lost(ls__relay_t *relay, const char *peer_id);
/* A download needs relayed peer peer_id (a seeder): dial it at the
 * address its `peers` entry gave, whatever the links target says (the
 * target lives as long as the relayed entry; its link outlives it). True
 * while a dial is possible. */
bool ls__relay_dial(ls__relay_t *relay, const char *peer_id);

#endif
