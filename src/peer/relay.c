/* Library relay (issue #17): our signed library for whoever asks, the
 * signed libraries of others we verified, and the requests that learn the
 * libraries of peers we have no link to. See relay.h. */
#include "relay.h"

#include "exchange.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/libsig.h"
#include "lanspread/log.h"
#include "lanspread/strmap.h"

#include <stdlib.h>
#include <string.h>

/* A request that failed (the relay holds no signed library of that peer
 * yet: it fetches it from its link on our ask, a round trip) is tried
 * again after RELAY_RETRY_MS, doubling each time, at most RELAY_TRIES_MAX
 * times in all (0.25 + 0.5 + 1 + 2 s). The timer ticks every
 * RELAY_TICK_MS while a request waits, and stops when none does. */
#define RELAY_RETRY_MS 250
#define RELAY_TRIES_MAX 5
#define RELAY_TICK_MS 125
/* A link counts the get_library deadlines it let pass in a row
 * (relay_missed): the listers that missed fewer are asked first, and a
 * silent one is still asked when it is all there is (a busy host answers
 * late, and may be the only one that listed an owner); an answer clears
 * its count. An owner remembers up to RELAY_LISTERS_MAX links that listed it
 * (the first is the one that brought it, see RELAY_PER_LINK_MAX). */
#define RELAY_LISTERS_MAX 4
/* Leases of owners relayed together run out spread over this much. */
#define RELAY_LEASE_SPREAD_MS (RELAY_LEASE_MS / 4)
/* An owner whose every try got no library (its listers were still
 * fetching it, or their fetch failed) is asked again after this long,
 * while a link lists it: forgotten, it was never asked again, since a
 * lister tells of a link in its first `peers` only (one 100-peer start
 * never converged: 99 of 100 had one peer's library in 40 s). */
#define RELAY_AGAIN_MS RELAY_LEASE_MS

/* One owner whose library we asked for or hold by relay. */
typedef struct {
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    char via[LS_PEER_ID_HEX_LEN + 1]; /* the link asked last (its library came through it) */
    char listers[RELAY_LISTERS_MAX][LS_PEER_ID_HEX_LEN + 1]; /* [0]: brought it */
    uint8_t lister_count;
    uint8_t turn;             /* listers[turn] is asked next */
    uint64_t serial;          /* the request in flight (relay->serial when sent) */
    uint64_t asked_ms;        /* when it was sent */
    uint64_t lease_ms;        /* a relayed owner is confirmed again then */
    bool is_confirming;       /* a lease ran out: a lister must answer */
    ls__exchange_t *exchange; /* in flight; NULL: none */
    char address[LS_PEER_ADDRESS_MAX];
    uint64_t want_rev;                      /* the rev a relayed `peers` entry named (0: any) */
    char want_from[LS_PEER_ID_HEX_LEN + 1]; /* the link that named it */
    uint64_t applied_rev;                   /* the rev in the PeerGameDB by relay (0: none) */
    uint64_t seq; /* news seq when applied_rev last moved (ls__links_news) */
    uint8_t tries;
    /* Error answers in a row from listers[turn]: a relay linked to the
     * owner fetches its library on the first ask and holds it a round
     * trip later, so it is asked once more before the next lister (each
     * of which would only start its own fetch). */
    uint8_t refusals;
    uint64_t next_ms;
    bool is_in_flight;
    bool is_relayed;           /* in the PeerGameDB by relay */
    ls__dial_target_t *target; /* a download needs it (ls__relay_dial); NULL: none */
} relay_entry_t;

struct ls__relay {
    ls__relay_config_t config;
    ls_libsig_signer_t *signer;
    ls_libsig_store_t *store;
    ls_signed_library_t own; /* our library as signed last (own_rev) */
    bool has_own;
    relay_entry_t *entries[LS_LIBSIG_STORE_MAX];
    size_t count;
    ls_strmap_t index; /* peer_id -> entries[] */
    uv_timer_t timer;
    bool is_timer_on;
    bool is_settle_due; /* a linked peer's fetch ended: library_settled on the next tick */
    uint64_t news_ms;   /* a relayed owner was last shown or moved then (0: never) */
    uint64_t serial;    /* requests sent */
};

/* What an exchange's callback needs: the entry may be gone by then. */
typedef struct {
    ls__relay_t *relay;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    uint64_t serial; /* a reply to an older request than the entry's is stale */
} relay_request_t;

static void timer_at(ls__relay_t *relay, uint64_t delay_ms);

static relay_entry_t *entry_find(const ls__relay_t *relay, const char *peer_id)
{
    size_t at = 0;
    return ls_strmap_get(&relay->index, peer_id, &at) ? relay->entries[at] : NULL;
}

/* Whether a request for e is still wanted: no signed library of its owner
 * held, or an older one than a relayed `peers` entry named. */
static bool is_wanted(const ls__relay_t *relay, const relay_entry_t *e)
{
    const ls_signed_library_t *held = ls_libsig_store_find(relay->store, e->peer_id);
    return !held || held->library.library_rev < e->want_rev;
}

static void entry_remove(ls__relay_t *relay, relay_entry_t *e)
{
    ls__exchange_t *exchange = e->exchange;
    e->exchange = NULL;
    e->serial = 0; /* its reply_cb, run by the cancel, finds it stale */
    if (exchange) {
        ls__exchange_cancel(exchange);
        relay->is_settle_due = true; /* askers waiting for it are answered */
        timer_at(relay, 0);
    }
    /* O(1): a link that leaves may take every owner it listed with it */
    size_t at = 0;
    if (ls_strmap_get(&relay->index, e->peer_id, &at)) {
        ls_strmap_remove(&relay->index, e->peer_id);
        relay->entries[at] = relay->entries[--relay->count];
        if (at < relay->count) /* the moved entry's key is there: no allocation */
            ls_strmap_put(&relay->index, relay->entries[at]->peer_id, at, true, NULL);
    }
    if (e->target)
        ls__links_detach_target(relay->config.links, e->target); /* its link lives on */
    free(e->target);
    free(e);
}

static relay_entry_t *entry_add(ls__relay_t *relay, const char *peer_id)
{
    if (relay->count >= LS_LIBSIG_STORE_MAX)
        return NULL;
    relay_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->peer_id, sizeof e->peer_id, "%s", peer_id);
    if (ls_strmap_put(&relay->index, e->peer_id, relay->count, true, NULL) != 0) {
        free(e);
        return NULL;
    }
    relay->entries[relay->count++] = e;
    return e;
}

static bool is_lister(const relay_entry_t *e, const char *link_id)
{
    for (size_t i = 0; i < e->lister_count; i++)
        if (strcmp(e->listers[i], link_id) == 0)
            return true;
    return false;
}

/* Remembers that link_id listed e's owner (up to RELAY_LISTERS_MAX). */
static void lister_add(relay_entry_t *e, const char *link_id)
{
    if (e->lister_count >= RELAY_LISTERS_MAX || is_lister(e, link_id))
        return;
    memcpy(e->listers[e->lister_count++], link_id, LS_PEER_ID_HEX_LEN + 1);
}

static void lister_remove(relay_entry_t *e, const char *link_id)
{
    for (size_t i = 0; i < e->lister_count; i++) {
        if (strcmp(e->listers[i], link_id) != 0)
            continue;
        /* shifted, not swapped: listers[0] stays the oldest (it brought it) */
        memmove(e->listers[i], e->listers[i + 1], (e->lister_count - i - 1) * sizeof e->listers[0]);
        e->lister_count--;
        e->turn = e->lister_count ? (uint8_t)(e->turn % e->lister_count) : 0;
        return;
    }
}

/* The lister to ask next: of the ready links that take relay, the one that
 * missed fewest deadlines in a row, from listers[turn] on (so a silent
 * one only when it is all there is). NULL: none. */
static ls_link_t *lister_pick(const ls__relay_t *relay, relay_entry_t *e)
{
    ls_link_t *best = NULL;
    size_t best_at = 0;
    for (size_t k = 0; k < e->lister_count; k++) {
        size_t at = (e->turn + k) % e->lister_count;
        ls_link_t *link = ls__links_find_ready(relay->config.links, e->listers[at]);
        if (!link || !link->takes_relay || (best && best->relay_missed <= link->relay_missed))
            continue;
        best = link;
        best_at = at;
    }
    if (best && best_at != e->turn) {
        e->turn = (uint8_t)best_at;
        e->refusals = 0;
    }
    return best;
}

int ls__relay_new(const ls__relay_config_t *config, ls__relay_t **out)
{
    ls__relay_t *relay = calloc(1, sizeof *relay);
    int rc = relay ? 0 : LS_ENOMEM;
    *out = NULL;
    if (rc == 0) {
        relay->config = *config;
        relay->index = LS_STRMAP_INIT;
        rc = ls_libsig_signer_new(config->identity, &relay->signer);
    }
    if (rc == 0)
        rc = ls_libsig_store_new(&relay->store);
    if (rc == 0 && uv_timer_init(config->loop, &relay->timer) != 0)
        rc = LS_EIO;
    if (rc != 0) {
        ls__relay_free(relay);
        return rc;
    }
    relay->timer.data = relay;
    relay->is_timer_on = true;
    *out = relay;
    return 0;
}

void ls__relay_stop(ls__relay_t *relay)
{
    if (relay && relay->is_timer_on) {
        uv_timer_stop(&relay->timer);
        uv_close((uv_handle_t *)&relay->timer, NULL);
        relay->is_timer_on = false;
    }
}

void ls__relay_free(ls__relay_t *relay)
{
    if (!relay)
        return;
    for (size_t i = 0; i < relay->count; i++) {
        free(relay->entries[i]->target); /* the links are gone by now */
        free(relay->entries[i]);
    }
    ls_strmap_free(&relay->index);
    ls_signed_library_free(&relay->own);
    ls_libsig_store_free(relay->store);
    ls_libsig_signer_free(relay->signer);
    free(relay);
}

static void answer_error(ls_msg_t *answer, const char *message)
{
    *answer = (ls_msg_t){.kind = LS_MSG_ERROR,
                         .u.error = {.code = LS_WIRE_INVALID_REQUEST, .message = strdup(message)}};
}

/* Ours is signed again only when our rev moved (a scan or a download). */
static int own_signed(ls__relay_t *relay, ls_msg_t *answer)
{
    const ls_library_snapshot_t *announced = relay->config.announced;
    if (!relay->has_own || relay->own.library.library_rev != announced->library_rev) {
        ls_signed_library_t fresh;
        int rc = ls_libsig_sign(relay->signer, relay->config.name, announced, &fresh);
        if (rc != 0)
            return rc;
        ls_signed_library_free(&relay->own);
        relay->own = fresh;
        relay->has_own = true;
    }
    answer->kind = LS_MSG_SIGNED_LIBRARY;
    return ls_signed_library_copy(&answer->u.signed_library, &relay->own);
}

/* A verified library of a peer we have no ready link to goes into the
 * PeerGameDB, at the address the relay listed. */
static void apply_relayed(ls__relay_t *relay, relay_entry_t *e, const ls_signed_library_t *sl)
{
    bool is_new = false;
    ls_hello_t hello = {.protocol_version = LS_PROTOCOL_VERSION,
                        .peer_id = (char *)sl->peer_id,
                        .name = sl->name,
                        .library = sl->library};
    if (ls__links_find_ready(relay->config.links, sl->peer_id) ||
        (!e->is_relayed && ls_peerdb_find(relay->config.peerdb, sl->peer_id)))
        return; /* linked: the link tells first-hand */
    int rc = ls_peerdb_apply_hello(relay->config.peerdb, &hello, e->address,
                                   ls__links_now(relay->config.links), &is_new);
    if (rc != 0) {
        ls_warn("peer", "relayed library of %.12s not applied: %s", sl->peer_id, ls_strerror(rc));
        return;
    }
    e->is_relayed = true;
    if (e->applied_rev != sl->library.library_rev) {
        relay->news_ms = ls__links_now(relay->config.links); /* leases wait (lease_at) */
        e->applied_rev = sl->library.library_rev;
        e->seq = ls__links_news(relay->config.links); /* told on, beyond two hops */
    }
    if (is_new) {
        ls_info("peer", "%s (%.12s) relayed by %.12s: %zu games", sl->name, sl->peer_id, e->via,
                sl->library.game_count);
        ls_peer_event_t event = {.kind = LS_EVENT_PEER_DISCOVERED,
                                 .u.peer = {.peer_id = sl->peer_id,
                                            .name = sl->name,
                                            .address = e->address,
                                            .game_count = sl->library.game_count,
                                            .is_relayed = true}};
        ls__emit(relay->config.events, &event);
    }
    if (relay->config.peers_changed)
        relay->config.peers_changed(relay->config.userdata);
}

static void forget_relayed(ls__relay_t *relay, relay_entry_t *e, const char *reason)
{
    const ls_peer_t *peer = ls_peerdb_find(relay->config.peerdb, e->peer_id);
    if (e->is_relayed && peer) {
        ls_peer_event_t event = {
            .kind = LS_EVENT_PEER_LOST,
            .u.peer = {.peer_id = e->peer_id, .name = peer->name, .reason = reason}};
        ls__emit(relay->config.events, &event);
        ls_peerdb_remove(relay->config.peerdb, e->peer_id);
        if (relay->config.peers_changed)
            relay->config.peers_changed(relay->config.userdata);
    }
    /* What it signed goes too unless we link it (then its own link's
     * loss removes it): a held library would make `want` skip the owner
     * when another relay names it later, and fill the store for good. */
    if (!ls__links_find_ready(relay->config.links, e->peer_id))
        ls_libsig_store_remove(relay->store, e->peer_id);
    entry_remove(relay, e);
}

static void timer_cb(uv_timer_t *timer);

/* The tick runs within delay_ms (sooner if it was due sooner already). */
static void timer_at(ls__relay_t *relay, uint64_t delay_ms)
{
    uv_timer_t *timer = &relay->timer;
    if (!relay->is_timer_on ||
        (uv_is_active((uv_handle_t *)timer) && uv_timer_get_due_in(timer) <= delay_ms))
        return;
    uv_timer_start(timer, timer_cb, delay_ms, RELAY_TICK_MS);
}

static void retry_later(ls__relay_t *relay, relay_entry_t *e)
{
    unsigned shift = e->tries > 0 ? e->tries - 1u : 0u;
    e->next_ms = ls__links_now(relay->config.links) + ((uint64_t)RELAY_RETRY_MS << shift);
    timer_at(relay, RELAY_TICK_MS);
}

/* RELAY_LEASE_MS less up to RELAY_LEASE_SPREAD_MS, by the owner's id:
 * owners relayed together are not all confirmed in the same tick (a
 * burst of requests on one link, beyond its streams). */
static uint64_t lease_spread(const relay_entry_t *e)
{
    uint8_t b[4] = {0};
    (void)ls_hex_decode(e->peer_id, 2 * sizeof b, b, sizeof b); /* a checked id: hex */
    uint32_t h = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return RELAY_LEASE_MS - h % RELAY_LEASE_SPREAD_MS;
}

/* The link named a library_rev in `peers`, was asked first for it, and
 * answered an older one: its later claims are not believed (want), so one
 * link cannot keep every owner asked for a rev nobody has. */
static void note_liar(ls_link_t *link, relay_entry_t *e, const ls_signed_library_t *held)
{
    if (!link->is_relay_liar)
        ls_warn("peer",
                "%.12s: named rev %llu of %.12s's library but gave %llu; its revs are "
                "not believed any more",
                link->peer_id, (unsigned long long)e->want_rev, e->peer_id,
                (unsigned long long)(held ? held->library.library_rev : 0));
    link->is_relay_liar = true;
    e->want_rev = held ? held->library.library_rev : 0;
}

static void reply_cb(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata)
{
    relay_request_t *req = userdata;
    ls__relay_t *relay = req->relay;
    relay_entry_t *e = entry_find(relay, req->peer_id);
    int rc = status;
    if (!e || e->serial != req->serial) {
        free(req); /* its entry went (or asked again): nothing waits for it */
        return;
    }
    e->exchange = NULL;
    if (rc == 0 && (reply->kind != LS_MSG_SIGNED_LIBRARY ||
                    strcmp(reply->u.signed_library.peer_id, req->peer_id) != 0))
        rc = LS_EREMOTE; /* an error frame, or another owner's library */
    if (rc == 0) {
        rc = ls_libsig_store_offer(relay->store, &reply->u.signed_library);
        if (rc < 0)
            ls_warn("peer", "%.12s: signed library of %.12s refused: %s", link->peer_id,
                    req->peer_id, ls_strerror(rc));
    }
    const ls_signed_library_t *held = ls_libsig_store_find(relay->store, req->peer_id);
    if (rc >= 0 && e->want_rev && strcmp(link->peer_id, e->want_from) == 0 &&
        (!held || held->library.library_rev < e->want_rev))
        note_liar(link, e, held);
    e->is_in_flight = false;
    e->tries++;
    if (rc < 0)
        ls_debug("peer", "%.12s gave no library of %.12s (try %u): %s", link->peer_id, req->peer_id,
                 e->tries, ls_strerror(rc));
    if (status == 0)
        link->relay_missed = 0; /* it answers: late before was load, not silence */
    if (rc >= 0) {              /* the lister holds it (1: news; 0: the rev we hold or older) */
        e->lease_ms = ls__links_now(relay->config.links) + lease_spread(e);
        e->is_confirming = false;
        e->refusals = 0;
        timer_at(relay, RELAY_LEASE_MS);
    } else if (ls__relay_next_lister(status == 0, &e->refusals)) {
        e->turn++; /* the next try asks the next lister (lister_pick wraps) */
    }
    /* a confirmation of the rev shown changes nothing (no event per lease) */
    bool is_news = held && (!e->is_relayed || held->library.library_rev != e->applied_rev);
    if (is_news && strcmp(e->peer_id, link->peer_id) != 0)
        apply_relayed(relay, e, held);
    if (strcmp(e->peer_id, link->peer_id) == 0) {
        relay->is_settle_due = true; /* its waiting askers, on a later turn */
        timer_at(relay, 0);
    }
    if ((is_wanted(relay, e) || e->is_confirming) && e->tries < RELAY_TRIES_MAX)
        retry_later(relay, e);
    else if (ls__relay_ask_again_later(held != NULL, e->is_relayed, e->is_confirming,
                                       e->lister_count)) {
        e->tries = 0; /* its listers may hold it by then (and no `peers` names it again) */
        e->next_ms = ls__links_now(relay->config.links) + RELAY_AGAIN_MS;
        timer_at(relay, RELAY_AGAIN_MS);
    } else if (!held || e->is_confirming)
        forget_relayed(relay, e, "no link lists it any more");
    else if (e->is_relayed) {
        /* no lister gave the rev named: it is given up (a lister may name
         * any rev), and the next lease has its own tries */
        if (held && e->want_rev > held->library.library_rev)
            e->want_rev = held->library.library_rev;
        e->tries = 0;
    }
    free(req);
}

static void request(ls__relay_t *relay, relay_entry_t *e)
{
    ls_link_t *link = lister_pick(relay, e);
    relay_request_t *req = link ? calloc(1, sizeof *req) : NULL;
    if (!req) {
        forget_relayed(relay, e, "its relay left");
        return;
    }
    req->relay = relay;
    req->serial = ++relay->serial;
    memcpy(req->peer_id, e->peer_id, sizeof req->peer_id);
    ls_msg_t msg = {.kind = LS_MSG_GET_LIBRARY};
    memcpy(msg.u.library_request.peer_id, e->peer_id, sizeof msg.u.library_request.peer_id);
    int rc = ls__exchange_ask(link, &msg, reply_cb, req, &e->exchange);
    if (rc != 0) {
        ls_debug("peer", "%s: get_library not sent: %s", link->address, ls_strerror(rc));
        free(req);
        e->tries++;
        e->turn++;
        retry_later(relay, e);
        return;
    }
    ls_debug("peer", "asked %.12s for %.12s's library (try %u)", link->peer_id, e->peer_id,
             e->tries + 1u);
    memcpy(e->via, link->peer_id, sizeof e->via);
    e->serial = req->serial;
    e->asked_ms = ls__links_now(relay->config.links);
    e->is_in_flight = true;
    timer_at(relay, RELAY_TICK_MS); /* watches the deadline */
}

/* A request past RELAY_REPLY_DEADLINE_MS: canceled (its reply_cb runs now
 * and asks the next lister) and counted against the silent link. */
static void give_up_on_silence(ls__relay_t *relay, relay_entry_t *e)
{
    ls_link_t *link = ls__links_find_ready(relay->config.links, e->via);
    ls__exchange_t *exchange = e->exchange;
    if (link && link->relay_missed < UINT8_MAX)
        link->relay_missed++;
    ls_warn("peer", "%.12s: no signed library of %.12s within %d ms (%u missed)", e->via,
            e->peer_id, RELAY_REPLY_DEADLINE_MS, link ? link->relay_missed : 0u);
    if (exchange)
        ls__exchange_cancel(exchange);
}

/* The timer's checks beside the due requests: an in-flight request past
 * its deadline is given up (true: e may be gone), a relayed owner whose
 * lease ran out is to be confirmed; *lease_ms becomes the next lease. */
static bool relay_deadline_or_lease(ls__relay_t *relay, relay_entry_t *e, uint64_t now,
                                    uint64_t *lease_ms)
{
    if (e->is_in_flight && now - e->asked_ms >= RELAY_REPLY_DEADLINE_MS) {
        give_up_on_silence(relay, e);
        return true;
    }
    uint64_t lease_at = ls__relay_lease_at(e->lease_ms, relay->news_ms);
    if (e->is_relayed && !e->is_in_flight && !e->is_confirming && now >= lease_at) {
        e->is_confirming = true;
        e->tries = 0;
        e->next_ms = now;
    }
    if (e->is_relayed && !e->is_confirming && lease_at < *lease_ms)
        *lease_ms = lease_at;
    return false;
}

static void timer_cb(uv_timer_t *timer)
{
    ls__relay_t *relay = timer->data;
    uint64_t now = ls__links_now(relay->config.links);
    bool is_pending = false;
    uint64_t lease_ms = UINT64_MAX; /* the next lease to run out */
    if (relay->is_settle_due && relay->config.library_settled) {
        relay->is_settle_due = false; /* first: what it asks again sees a whole state */
        relay->config.library_settled(relay->config.userdata);
    }
    /* backwards: request() may remove the entry it is given */
    for (size_t i = relay->count; i-- > 0;) {
        relay_entry_t *e = relay->entries[i];
        if (relay_deadline_or_lease(relay, e, now, &lease_ms)) {
            is_pending = true; /* canceled (maybe removed): the next tick sees what is left */
            continue;
        }
        bool is_due = !e->is_in_flight && e->tries < RELAY_TRIES_MAX &&
                      (is_wanted(relay, e) || e->is_confirming);
        /* before e may go; one in flight (or sent now) has a deadline to
         * watch; a request due later (RELAY_AGAIN_MS) wakes the timer then */
        bool is_soon = is_due && e->next_ms <= now + RELAY_TICK_MS;
        is_pending |= is_soon || e->is_in_flight;
        if (is_due && !is_soon && e->next_ms < lease_ms)
            lease_ms = e->next_ms;
        if (is_due && e->next_ms <= now && !e->is_relayed &&
            ls__links_find_ready(relay->config.links, e->peer_id))
            entry_remove(relay, e); /* linked meanwhile: first-hand now */
        else if (is_due && e->next_ms <= now)
            request(relay, e);
    }
    if (!is_pending)
        uv_timer_stop(timer);
    if (!is_pending && lease_ms != UINT64_MAX)
        timer_at(relay, lease_ms > now + RELAY_TICK_MS ? lease_ms - now : RELAY_TICK_MS);
}

/* Asks `link` for owner's signed library (at least rev: 0 any), after
 * `defer_ms`, unless one that new is held or asked for already. */
static void want(ls__relay_t *relay, ls_link_t *link, const ls_peer_addr_t *owner,
                 uint64_t defer_ms)
{
    relay_entry_t *e = entry_find(relay, owner->peer_id);
    const ls_signed_library_t *held = ls_libsig_store_find(relay->store, owner->peer_id);
    uint64_t claimed = link->is_relay_liar ? 0 : owner->library_rev;
    if (e)
        lister_add(e, link->peer_id); /* another link to ask when one fails */
    if ((held && held->library.library_rev >= claimed) || (e && e->is_in_flight) ||
        (e && e->tries == 0 && defer_ms > 0 && !e->is_relayed) || (e && e->is_confirming))
        return; /* held, asked for, or waiting to be */
    if (!e && !(e = entry_add(relay, owner->peer_id)))
        return; /* LS_LIBSIG_STORE_MAX owners: no more */
    lister_add(e, link->peer_id);
    if (!lister_pick(relay, e)) {
        if (!e->is_relayed)
            entry_remove(relay, e); /* only silent links list it */
        return;
    }
    if (!is_lister(e, link->peer_id))
        return; /* RELAY_LISTERS_MAX others listed it: they are asked */
    e->turn = 0;
    while (strcmp(e->listers[e->turn], link->peer_id) != 0)
        e->turn++; /* the link that names a newer rev holds it: asked first */
    if (e->address[0] == '\0')
        snprintf(e->address, sizeof e->address, "%s", owner->address);
    e->want_rev = claimed;
    memcpy(e->want_from, link->peer_id, sizeof e->want_from);
    e->tries = 0;
    if (defer_ms == 0 || e->is_relayed) {
        request(relay, e); /* a newer rev of a relayed peer: at once */
        return;
    }
    e->next_ms = ls__links_now(relay->config.links) + defer_ms;
    timer_at(relay, RELAY_TICK_MS);
}

/* Fetches the signed library of `owner`, a ready link, from the owner
 * itself, unless held or asked for already: asked for it by another peer,
 * or, with a links target, as soon as the link tells its `peers` (the
 * peers we tell of it will ask us next). */
static void fetch_linked(ls__relay_t *relay, ls_link_t *owner)
{
    ls_peer_addr_t wanted = {.library_rev = 0};
    /* a linked peer's address (an IPv6 one does not fit: not relayed on) */
    if (!owner->takes_relay || strlen(owner->address) >= sizeof wanted.address)
        return;
    memcpy(wanted.peer_id, owner->peer_id, sizeof wanted.peer_id);
    memcpy(wanted.address, owner->address, strlen(owner->address) + 1);
    want(relay, owner, &wanted, 0);
}

uint64_t ls__relay_lease_at(uint64_t lease_ms, uint64_t news_ms)
{
    uint64_t quiet_ms = news_ms + RELAY_LEASE_QUIET_MS;
    uint64_t latest_ms = lease_ms + RELAY_LEASE_MS;
    uint64_t at = quiet_ms < latest_ms ? quiet_ms : latest_ms;
    return at > lease_ms ? at : lease_ms;
}

bool ls__relay_ask_again_later(bool is_held, bool is_relayed, bool is_confirming,
                               size_t lister_count)
{
    return !is_held && !is_relayed && !is_confirming && lister_count > 0;
}

bool ls__relay_next_lister(bool is_answered, uint8_t *refusals)
{
    if (!is_answered || *refusals >= 1) {
        *refusals = 0;
        return true; /* silent (its deadline passed) or refused twice */
    }
    (*refusals)++;
    return false;
}

uint64_t ls__relay_defer_ms(bool is_bounded, bool is_connecting)
{
    return is_bounded && !is_connecting ? 0 : RELAY_DEFER_MS;
}

void ls__relay_heard(ls__relay_t *relay, ls_link_t *link, const ls_peer_list_t *list)
{
    const char *self = ls_identity_peer_id(relay->config.identity);
    bool is_bounded = ls__links_is_bounded(relay->config.links);
    size_t brought = 0, refused = 0;
    if (!link->takes_relay)
        return;
    if (is_bounded)
        fetch_linked(relay, link);
    for (size_t i = 0; i < relay->count; i++)
        brought += relay->entries[i]->lister_count > 0 &&
                   strcmp(relay->entries[i]->listers[0], link->peer_id) == 0;
    for (size_t i = 0; i < list->count; i++) {
        const ls_peer_addr_t *p = &list->peers[i];
        bool is_new = !entry_find(relay, p->peer_id);
        if (strcmp(p->peer_id, self) == 0 || strcmp(p->peer_id, link->peer_id) == 0 ||
            ls__links_find_ready(relay->config.links, p->peer_id))
            continue;
        if (is_new && brought >= RELAY_PER_LINK_MAX) {
            refused++;
            continue;
        }
        want(relay, link, p,
             ls__relay_defer_ms(is_bounded, ls__links_exists(relay->config.links, p->peer_id)));
        brought += is_new && entry_find(relay, p->peer_id);
    }
    if (refused > 0)
        ls_warn("peer",
                "%s: %zu listed peers not asked for: it already brought %d (the most one link may)",
                link->address, refused, RELAY_PER_LINK_MAX);
}

size_t ls__relay_collect(const ls__relay_t *relay, const ls_link_t *to, uint64_t after_seq,
                         ls_peer_addr_t *out, size_t room)
{
    size_t n = 0;
    for (size_t i = 0; i < relay->count && n < room; i++) {
        const relay_entry_t *e = relay->entries[i];
        uint32_t ip;
        uint16_t port;
        /* the peer it came from holds it; the receiver knows itself */
        if (!e->is_relayed || e->seq <= after_seq || is_lister(e, to->peer_id) ||
            strcmp(e->peer_id, to->peer_id) == 0 || ls_peer_addr_parse(e->address, &ip, &port) != 0)
            continue;
        out[n] = (ls_peer_addr_t){.library_rev = e->applied_rev};
        memcpy(out[n].peer_id, e->peer_id, sizeof out[n].peer_id);
        snprintf(out[n].address, sizeof out[n].address, "%s", e->address);
        n++;
    }
    return n;
}

void ls__relay_linking(ls__relay_t *relay, const char *peer_id)
{
    relay_entry_t *e = entry_find(relay, peer_id);
    if (e && e->is_relayed) {
        ls_peerdb_remove(relay->config.peerdb, peer_id);
        e->is_relayed = false;
        e->applied_rev = 0;
    }
}

/* A link that left lists nothing any more: a relayed owner no other link
 * lists goes with it. O(owners * RELAY_LISTERS_MAX). */
static void relay_drop_lister(ls__relay_t *relay, const char *link_id)
{
    for (size_t i = relay->count; i-- > 0;) {
        relay_entry_t *e = relay->entries[i];
        lister_remove(e, link_id);
        if (e->lister_count == 0 && (e->is_relayed || !e->is_in_flight))
            forget_relayed(relay, e, "its relay left");
    }
}

void ls__relay_peer_lost(ls__relay_t *relay, const char *peer_id)
{
    /* what it signed is no longer ours to pass on: it left */
    ls_libsig_store_remove(relay->store, peer_id);
    relay_entry_t *e = entry_find(relay, peer_id);
    if (e && !e->is_relayed && !e->is_in_flight)
        entry_remove(relay, e);
    relay_drop_lister(relay, peer_id);
}

bool ls__relay_dial(ls__relay_t *relay, const char *peer_id)
{
    relay_entry_t *e = entry_find(relay, peer_id);
    if (!e || !e->is_relayed)
        return false;
    if (!e->target) {
        ls__dial_target_t *t = calloc(1, sizeof *t);
        if (!t || ls__parse_address(e->address, false, &t->sockaddr) != 0) {
            free(t);
            return false;
        }
        memcpy(t->address, e->address, strlen(e->address) + 1);
        memcpy(t->peer_id, e->peer_id, sizeof t->peer_id);
        t->is_id_advertised = true; /* another certificate there is not the seeder */
        t->is_on_demand = true;
        e->target = t;
        ls_info("peer", "dialling %.12s at %s on demand (a download needs it)", e->peer_id,
                e->address);
    }
    if (e->target->is_ignored)
        return false;
    ls__links_dial_if_due(relay->config.links, e->target);
    return true;
}

bool ls__relay_answer(ls__relay_t *relay, const char *asker_id, const char *peer_id, bool may_wait,
                      ls_msg_t *answer)
{
    *answer = (ls_msg_t){.kind = LS_MSG_SIGNED_LIBRARY};
    const ls_signed_library_t *held = ls_libsig_store_find(relay->store, peer_id);
    const relay_entry_t *e = entry_find(relay, peer_id);
    int rc = LS_ENOENT;
    /* Split horizon: two relays that got an owner from each other would
     * confirm each other's copy for good after the owner left. */
    if (e && e->is_relayed && strcmp(e->via, asker_id) == 0)
        held = NULL;
    if (strcmp(peer_id, ls_identity_peer_id(relay->config.identity)) == 0 &&
        ls__links_has_library(relay->config.links))
        rc = own_signed(relay, answer);
    else if (held)
        rc = ls_signed_library_copy(&answer->u.signed_library, held);
    /* A linked peer's signed library is fetched the first time someone
     * asks for it (most never are, in a full mesh); the asker tries again. */
    ls_link_t *owner = rc == LS_ENOENT ? ls__links_find_ready(relay->config.links, peer_id) : NULL;
    if (owner)
        fetch_linked(relay, owner);
    const relay_entry_t *fetching = owner ? entry_find(relay, peer_id) : NULL;
    if (may_wait && fetching && fetching->is_in_flight && strcmp(fetching->via, peer_id) == 0) {
        ls_msg_free(answer);
        return true; /* answered when the fetch ends (library_settled) */
    }
    if (rc != 0)
        answer_error(answer,
                     rc == LS_ENOENT ? "no signed library of that peer here" : ls_strerror(rc));
    return false;
}
