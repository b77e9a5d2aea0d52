/* The download planner: a shared chunk queue pulled by one worker per peer,
 * windows that follow each peer's measured throughput, endgame duplicates,
 * retries and peer penalties. Pure state machine: no I/O and no clock. */
#include "lanspread/array.h"
#include "lanspread/planner.h"

#include "lanspread/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define EWMA_ALPHA 0.3
#define MIN_HEALTHY_WINDOW 3 /* chunks in flight to a peer whose rate is known */
#define PROGRESS_INTERVAL_MS 250
#define MAX_CONSECUTIVE_FAILURES 8
/* Rarest first looks at up to this many never-sent chunks per pick, from a
 * random place: bounded work per pick on huge games. */
#define PICK_SCAN_MAX 4096

enum chunk_state { CHUNK_PENDING = 0, CHUNK_IN_FLIGHT, CHUNK_DONE };

typedef struct {
    size_t file_index;
    size_t chunk_index;
    size_t chunk_id;
    uint64_t offset;
    uint64_t length;
    uint64_t avoid_mask; /* peers that failed this chunk once */
    uint64_t busy_mask;  /* peers that answered busy for it, until busy_until */
    uint64_t busy_until;
    uint32_t rr_owner;
    uint8_t state;
    uint8_t holders;
    uint8_t tries;
    uint8_t bad_tries;
    bool is_requeued;
    int last_error;
} chunk_t;

typedef struct {
    uint64_t ticket;
    size_t chunk;
    uint32_t peer;
    uint64_t sent_ms;
    uint32_t ahead; /* requests of the same peer outstanding when it was sent */
} request_t;

typedef struct {
    char *id;
    bool is_active;
    bool is_dropped;
    uint32_t in_flight;
    uint64_t in_flight_bytes;
    uint32_t requests_max; /* 0: the window counts requests; else see ls_planner_set_requests_max */
    uint32_t cap;          /* AIMD ceiling: halves on failure, +1 per good chunk */
    uint32_t bad_chunks;
    uint32_t requests;     /* handed out (diagnostics) */
    uint32_t busy_answers; /* answered `busy` (diagnostics) */
    /* After a `busy` the peer is asked nothing until then: its upload is
     * full (or sends what we asked to another), and a requester that asked
     * at once for its next chunk got `busy` again one round trip later —
     * 19 of 20 requests in a 12-downloader swarm, each a stream, a frame
     * and a re-plan on both sides. */
    uint64_t busy_until;
    /* `given` answers in a row with no chunk delivered between: the first
     * leaves the peer askable at once (its upload takes other chunks), a
     * second in a row backs it off like `busy` (ls_planner_given) */
    uint32_t given_run;
    uint32_t consecutive_failures;
    /* now_ms of the last failure counted in consecutive_failures; a request
     * sent before it was in flight then and fails with it (a reset
     * connection fails a whole window at once): one failure, not many */
    uint64_t counted_failure_ms;
    bool has_counted_failure;
    double rate; /* bytes per ms; 0 until the first completion */
    bool has_pipelined;
    double latency; /* ms, measured; valid when has_latency */
    bool has_latency;
    double pending_rt;
    bool has_done;
    uint64_t last_done_ms;
    uint64_t bytes_done;
    uint64_t arriving;        /* ls_planner_add_arriving, until the next progress */
    uint64_t sample_bytes;    /* bytes_done + arriving at the progress sample's start */
    uint64_t sample_rate_bps; /* over the last sample window, as the overall rate */
    size_t rr_cursor;
    uint8_t *have; /* chunks it holds (bitmap over chunk ids); NULL: all of them */
    size_t have_bits;
    bool has_every_bit; /* have holds every chunk of the manifest */
} peer_t;

struct ls_planner {
    const ls_game_manifest_t *manifest;
    ls_planner_config_t cfg;
    chunk_t *chunks;
    size_t chunk_count;
    size_t chunks_done;
    uint64_t bytes_done;
    uint64_t bytes_total;
    size_t fresh_cursor; /* chunks at or after it were never handed out */
    /* Rarest first: the never-handed-out chunks as a set (O(1) removal). */
    size_t *fresh;
    size_t *fresh_pos; /* chunk index -> position in fresh, SIZE_MAX when out */
    size_t fresh_len;
    uint64_t rng;
    size_t *requeue; /* chunks handed back, oldest first */
    size_t requeue_len;
    request_t *requests;
    size_t request_len;
    size_t request_cap;
    peer_t peers[LS_PLANNER_PEERS_MAX];
    uint32_t peer_count;
    uint64_t next_ticket;
    uint64_t now_ms; /* the caller's clock at the last ls_planner_next */
    int fail_code;
    char fail_reason[LS_PLANNER_REASON_MAX];
    uint64_t last_progress_ms;
    bool has_progress;
    uint64_t sample_ms;
    uint64_t sample_bytes;
    uint64_t sample_rate_bps;
    /* The highest overall sample rate so far: what our own downlink has
     * shown it carries (pick_duplicate) */
    uint64_t peak_rate_bps;
    bool has_sample;
};

size_t ls_manifest_chunk_base(const ls_game_manifest_t *manifest, size_t file_index)
{
    size_t base = 0;
    for (size_t i = 0; i < file_index && i < manifest->file_count; i++)
        base += manifest->files[i].is_dir ? 0 : manifest->files[i].chunk_count;
    return base;
}

size_t ls_manifest_chunk_total(const ls_game_manifest_t *manifest)
{
    return ls_manifest_chunk_base(manifest, manifest->file_count);
}

static void apply_defaults(ls_planner_config_t *cfg, const ls_planner_config_t *given)
{
    if (given)
        *cfg = *given;
    else
        memset(cfg, 0, sizeof *cfg);
    if (cfg->initial_window == 0)
        cfg->initial_window = 2;
    if (cfg->max_window == 0)
        cfg->max_window = 16;
    if (cfg->initial_window > cfg->max_window)
        cfg->initial_window = cfg->max_window;
    if (cfg->latency_ms == 0)
        cfg->latency_ms = 50;
    if (cfg->max_retry == 0 || cfg->max_retry > 200)
        cfg->max_retry = LS_MAX_RETRY_COUNT;
    if (cfg->max_bad_chunks == 0)
        cfg->max_bad_chunks = 2;
}

static uint64_t peer_bit(uint32_t peer)
{
    return (uint64_t)1 << peer;
}

static uint64_t active_mask(const ls_planner_t *p)
{
    uint64_t mask = 0;
    for (uint32_t i = 0; i < p->peer_count; i++)
        if (p->peers[i].is_active)
            mask |= peer_bit(i);
    return mask;
}

/* A chunk avoids the peers that failed it, unless no other peer is left. */
static bool chunk_allows(const ls_planner_t *p, const chunk_t *c, uint32_t peer)
{
    if (!(c->avoid_mask & peer_bit(peer)))
        return true;
    return (active_mask(p) & ~c->avoid_mask) == 0;
}

static bool is_bitmap_set(const uint8_t *bitmap, size_t id)
{
    return bitmap && (bitmap[id / 8] >> (id % 8)) & 1u;
}

static bool holds(const peer_t *peer, const chunk_t *c)
{
    if (!peer->have)
        return true;
    return c->chunk_id < peer->have_bits && is_bitmap_set(peer->have, c->chunk_id);
}

/* How many active peers hold the chunk. */
static uint32_t availability(const ls_planner_t *p, const chunk_t *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->peer_count; i++)
        n += p->peers[i].is_active && holds(&p->peers[i], c);
    return n;
}

static bool is_busy_for(const ls_planner_t *p, const chunk_t *c, uint32_t peer)
{
    return (c->busy_mask & peer_bit(peer)) && p->now_ms < c->busy_until;
}

/* Whether an active downloader (a partial copy) holds the chunk and may be
 * asked for it now (it did not just answer `busy` for it, nor fail it). */
static bool partial_can_serve(const ls_planner_t *p, const chunk_t *c)
{
    for (uint32_t i = 0; i < p->peer_count; i++)
        if (p->peers[i].is_active && p->peers[i].have && holds(&p->peers[i], c) &&
            !is_busy_for(p, c, i) && chunk_allows(p, c, i))
            return true;
    return false;
}

/* A complete seeder's upload is the scarce one in a swarm: it is asked only
 * for chunks no downloader can give, so that it feeds new chunks into the
 * swarm instead of copies the downloaders already trade. */
static bool is_for_seeder(const ls_planner_t *p, const chunk_t *c, uint32_t peer)
{
    return !p->cfg.is_rarest_first || p->peers[peer].have || !partial_can_serve(p, c);
}

static uint64_t next_random(ls_planner_t *p)
{
    /* xorshift64: cheap, and good enough to spread picks */
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static void fresh_remove(ls_planner_t *p, size_t idx)
{
    size_t pos = p->fresh ? p->fresh_pos[idx] : SIZE_MAX;
    if (pos == SIZE_MAX)
        return;
    size_t last = p->fresh[--p->fresh_len];
    p->fresh[pos] = last;
    p->fresh_pos[last] = pos;
    p->fresh_pos[idx] = SIZE_MAX;
}

static int check_file(const ls_game_manifest_t *m, const ls_file_desc_t *f)
{
    if (f->is_dir)
        return 0;
    uint64_t want = (f->size + m->chunk_size - 1) / m->chunk_size;
    return want == f->chunk_count ? 0 : LS_EINVAL;
}

static int mark_selected(const ls_game_manifest_t *m, const size_t *selected, size_t n,
                         bool *is_selected)
{
    if (!selected) {
        for (size_t i = 0; i < m->file_count; i++)
            is_selected[i] = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (selected[i] >= m->file_count || is_selected[selected[i]])
            return LS_EINVAL;
        is_selected[selected[i]] = true;
    }
    return 0;
}

static int build_chunks(ls_planner_t *p, const bool *is_selected, const uint8_t *resume)
{
    const ls_game_manifest_t *m = p->manifest;
    size_t total = 0;
    for (size_t f = 0; f < m->file_count; f++) {
        if (check_file(m, &m->files[f]) != 0)
            return LS_EINVAL;
        if (is_selected[f] && !m->files[f].is_dir)
            total += m->files[f].chunk_count;
    }
    p->chunks = calloc(total ? total : 1, sizeof *p->chunks);
    p->requeue = calloc(total ? total : 1, sizeof *p->requeue);
    if (!p->chunks || !p->requeue)
        return LS_ENOMEM;
    size_t id = 0, n = 0;
    for (size_t f = 0; f < m->file_count; f++) {
        const ls_file_desc_t *fd = &m->files[f];
        if (fd->is_dir)
            continue;
        for (size_t c = 0; c < fd->chunk_count; c++, id++) {
            if (!is_selected[f])
                continue;
            chunk_t *ch = &p->chunks[n];
            ch->file_index = f;
            ch->chunk_index = c;
            ch->chunk_id = id;
            ch->offset = (uint64_t)c * m->chunk_size;
            ch->length =
                fd->size - ch->offset < m->chunk_size ? fd->size - ch->offset : m->chunk_size;
            ch->rr_owner = p->peer_count ? (uint32_t)(n % p->peer_count) : 0;
            p->bytes_total += ch->length;
            if (is_bitmap_set(resume, id)) {
                ch->state = CHUNK_DONE;
                p->chunks_done++;
                p->bytes_done += ch->length;
            }
            n++;
        }
    }
    p->chunk_count = n;
    if (!p->cfg.is_rarest_first)
        return 0;
    p->fresh = calloc(n ? n : 1, sizeof *p->fresh);
    p->fresh_pos = calloc(n ? n : 1, sizeof *p->fresh_pos);
    if (!p->fresh || !p->fresh_pos)
        return LS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        p->fresh_pos[i] = SIZE_MAX;
        if (p->chunks[i].state == CHUNK_PENDING) {
            p->fresh_pos[i] = p->fresh_len;
            p->fresh[p->fresh_len++] = i;
        }
    }
    return 0;
}

/* A lost peer that reconnects serves again with a fresh pipe; a dropped
 * one (bad data, failing streams) stays out of this download. */
static int rejoin_peer(ls_planner_t *p, uint32_t slot, uint32_t *out)
{
    peer_t *peer = &p->peers[slot];
    if (peer->is_active)
        return LS_EEXIST;
    if (peer->is_dropped)
        return LS_EPEER_GONE;
    peer->is_active = true;
    peer->cap = p->cfg.max_window;
    peer->consecutive_failures = 0;
    peer->given_run = 0;
    peer->has_done = false; /* keep the rate and latency as a first guess */
    if (out)
        *out = slot;
    return 0;
}

static int add_peer(ls_planner_t *p, const char *peer_id, uint32_t *slot)
{
    uint32_t existing;
    if (!peer_id || strlen(peer_id) == 0 || strlen(peer_id) > LS_PLANNER_PEER_ID_MAX)
        return LS_EINVAL;
    if (ls_planner_peer_slot(p, peer_id, &existing) == 0)
        return rejoin_peer(p, existing, slot);
    if (p->peer_count >= LS_PLANNER_PEERS_MAX)
        return LS_ETOOBIG;
    peer_t *peer = &p->peers[p->peer_count];
    memset(peer, 0, sizeof *peer);
    peer->id = strdup(peer_id);
    if (!peer->id)
        return LS_ENOMEM;
    peer->is_active = true;
    peer->cap = p->cfg.max_window;
    if (slot)
        *slot = p->peer_count;
    p->peer_count++;
    return 0;
}

int ls_planner_new(const ls_game_manifest_t *manifest, const size_t *selected,
                   size_t selected_count, const char *const *peer_ids, size_t peer_count,
                   const uint8_t *resume_bitmap, const ls_planner_config_t *config,
                   ls_planner_t **out)
{
    int rc = 0;
    bool *is_selected = NULL;
    ls_planner_t *p = NULL;

    *out = NULL;
    if (!manifest || manifest->chunk_size == 0 || peer_count > LS_PLANNER_PEERS_MAX ||
        (peer_count && !peer_ids))
        return LS_EINVAL;
    p = calloc(1, sizeof *p);
    is_selected = calloc(manifest->file_count ? manifest->file_count : 1, sizeof *is_selected);
    if (!p || !is_selected) {
        rc = LS_ENOMEM;
        goto out;
    }
    p->manifest = manifest;
    p->next_ticket = 1;
    apply_defaults(&p->cfg, config);
    p->rng = p->cfg.seed ? p->cfg.seed : 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < peer_count && rc == 0; i++)
        rc = add_peer(p, peer_ids[i], NULL);
    if (rc == 0)
        rc = mark_selected(manifest, selected, selected_count, is_selected);
    if (rc == 0)
        rc = build_chunks(p, is_selected, resume_bitmap);
    if (rc != 0)
        goto out;
    *out = p;
    p = NULL;
out:
    ls_planner_free(p);
    free(is_selected);
    return rc;
}

void ls_planner_free(ls_planner_t *planner)
{
    if (!planner)
        return;
    for (uint32_t i = 0; i < planner->peer_count; i++) {
        free(planner->peers[i].id);
        free(planner->peers[i].have);
    }
    free(planner->fresh);
    free(planner->fresh_pos);
    free(planner->chunks);
    free(planner->requeue);
    free(planner->requests);
    free(planner);
}

int ls_planner_add_peer(ls_planner_t *planner, const char *peer_id, uint32_t *slot)
{
    uint32_t s;
    int rc = add_peer(planner, peer_id, &s);
    /* a complete seeder: a downloader that was in this download with a
     * partial copy and finished since comes back with every chunk, not
     * with its last `have` (which may lack the only chunk still missing) */
    if (rc == 0)
        rc = ls_planner_set_have(planner, s, NULL, 0);
    if (rc == 0 && slot)
        *slot = s;
    return rc;
}

/* Whether bits 0..bits-1 are all set (what lies past them is not looked
 * at). A byte at a time: a `have` of LS_HAVE_CHUNKS_MAX chunks is 128 KiB,
 * and a peer sends one at most every ls_have_interval_ms (2 s at that size). */
static bool all_bits_set(const uint8_t *bitmap, size_t bits)
{
    for (size_t i = 0; i < bits / 8; i++)
        if (bitmap[i] != 0xff)
            return false;
    unsigned rest = (unsigned)(bits % 8), mask = (1u << rest) - 1u;
    return rest == 0 || (bitmap[bits / 8] & mask) == mask;
}

int ls_planner_set_have(ls_planner_t *planner, uint32_t slot, const uint8_t *bitmap,
                        size_t chunk_total)
{
    if (slot >= planner->peer_count ||
        (bitmap && chunk_total != ls_manifest_chunk_total(planner->manifest)))
        return LS_EINVAL;
    peer_t *peer = &planner->peers[slot];
    uint8_t *copy = NULL;
    size_t bytes = (chunk_total + 7) / 8;
    if (bitmap && !(copy = malloc(bytes ? bytes : 1)))
        return LS_ENOMEM;
    if (copy)
        memcpy(copy, bitmap, bytes);
    free(peer->have);
    peer->have = copy;
    peer->have_bits = bitmap ? chunk_total : 0;
    peer->has_every_bit = bitmap && all_bits_set(bitmap, chunk_total);
    return 0;
}

int ls_planner_peer_has(ls_planner_t *planner, const char *peer_id, const uint8_t *bitmap,
                        size_t chunk_total, uint32_t *slot)
{
    uint32_t s;
    if (planner->fail_code != 0)
        return LS_ECANCELED;
    int rc = add_peer(planner, peer_id, &s); /* new, or a lost one back */
    if (rc == LS_EEXIST)
        rc = ls_planner_peer_slot(planner, peer_id, &s);
    if (rc == 0)
        rc = ls_planner_set_have(planner, s, bitmap, chunk_total);
    if (rc == 0 && slot)
        *slot = s;
    return rc;
}

bool ls_planner_peer_is_partial(const ls_planner_t *planner, uint32_t slot)
{
    return slot < planner->peer_count && planner->peers[slot].have != NULL;
}

bool ls_planner_promote_seeder(ls_planner_t *planner, const char *peer_id)
{
    uint32_t slot;
    if (ls_planner_peer_slot(planner, peer_id, &slot) != 0)
        return false;
    peer_t *peer = &planner->peers[slot];
    if (!peer->is_active || !peer->have || !peer->has_every_bit)
        return false;
    free(peer->have);
    peer->have = NULL;
    peer->have_bits = 0;
    return true;
}

int ls_planner_set_requests_max(ls_planner_t *planner, uint32_t slot, uint32_t requests_max)
{
    if (slot >= planner->peer_count)
        return LS_EINVAL;
    planner->peers[slot].requests_max = requests_max;
    return 0;
}

bool ls_planner_peer_can_join(const ls_planner_t *planner, const char *peer_id)
{
    uint32_t slot;
    if (planner->fail_code != 0)
        return false;
    if (ls_planner_peer_slot(planner, peer_id, &slot) != 0)
        return true;
    return !planner->peers[slot].is_active && !planner->peers[slot].is_dropped;
}

int ls_planner_peer_slot(const ls_planner_t *planner, const char *peer_id, uint32_t *slot)
{
    for (uint32_t i = 0; i < planner->peer_count; i++) {
        if (strcmp(planner->peers[i].id, peer_id) == 0) {
            *slot = i;
            return 0;
        }
    }
    return LS_ENOENT;
}

const char *ls_planner_peer_id(const ls_planner_t *planner, uint32_t slot)
{
    return slot < planner->peer_count ? planner->peers[slot].id : NULL;
}

bool ls_planner_is_finished(const ls_planner_t *planner)
{
    return planner->fail_code == 0 && planner->chunks_done == planner->chunk_count;
}

bool ls_planner_has_failed(const ls_planner_t *planner, int *code, const char **reason)
{
    if (planner->fail_code == 0)
        return false;
    if (code)
        *code = planner->fail_code;
    if (reason)
        *reason = planner->fail_reason;
    return true;
}

static void fail_download(ls_planner_t *p, int code, const char *reason)
{
    if (p->fail_code != 0)
        return;
    p->fail_code = code;
    snprintf(p->fail_reason, sizeof p->fail_reason, "%s", reason);
}

static void fail_chunk(ls_planner_t *p, const chunk_t *c)
{
    char reason[LS_PLANNER_REASON_MAX];
    const char *path = p->manifest->files[c->file_index].path;
    if (c->bad_tries == c->tries)
        snprintf(reason, sizeof reason,
                 "file '%s' chunk %zu: %u tries, every answer failed its SHA-256 check "
                 "(the file changed on every seeder)",
                 path, c->chunk_index, c->tries);
    else
        snprintf(reason, sizeof reason, "file '%s' chunk %zu: %u tries failed (last: %s)", path,
                 c->chunk_index, c->tries, ls_strerror(c->last_error));
    fail_download(p, LS_ERETRIES, reason);
}

static double peer_latency(const ls_planner_t *p, const peer_t *peer)
{
    return peer->has_latency ? peer->latency : p->cfg.latency_ms;
}

/* The window: enough chunks in flight to cover throughput x latency plus
 * the one being received, never above the AIMD ceiling. */
static uint32_t peer_window(const ls_planner_t *p, const peer_t *peer)
{
    uint32_t target = p->cfg.initial_window;
    if (p->cfg.mode == LS_PLAN_ROUND_ROBIN)
        return target;
    if (peer->rate > 0) {
        double in_flight_bytes = peer->rate * peer_latency(p, peer);
        double chunks = in_flight_bytes / p->manifest->chunk_size;
        target = 1 + (chunks >= p->cfg.max_window ? p->cfg.max_window : (uint32_t)(chunks + 0.999));
        /* A peer sends a connection's streams interleaved (our transport
         * round robin), so two requests in flight tend to finish together
         * and leave the link idle while we verify, store and ask again; a
         * third keeps it busy (measured: a 400 Mbit/s seeder at window 2
         * delivered under half its rate). */
        if (target < MIN_HEALTHY_WINDOW)
            target = MIN_HEALTHY_WINDOW;
    }
    if (target > peer->cap)
        target = peer->cap;
    if (target > p->cfg.max_window)
        target = p->cfg.max_window;
    return target ? target : 1;
}

/* Whether a peer takes one more request. By default the window counts
 * requests. A peer that takes many small requests in one (a batch) gets a
 * window in bytes instead, window x chunk_size, up to its request cap: a
 * folder of small files then keeps as many bytes in flight as a big file. */
static bool has_room(const ls_planner_t *p, const peer_t *peer)
{
    uint32_t window = peer_window(p, peer);
    if (peer->requests_max == 0)
        return peer->in_flight < window;
    return peer->in_flight < peer->requests_max &&
           peer->in_flight_bytes < (uint64_t)window * p->manifest->chunk_size;
}

static void rr_move_on(ls_planner_t *p, chunk_t *c)
{
    for (uint32_t step = 1; step <= p->peer_count; step++) {
        uint32_t cand = (c->rr_owner + step) % p->peer_count;
        if (p->peers[cand].is_active && chunk_allows(p, c, cand)) {
            c->rr_owner = cand;
            return;
        }
    }
}

static void requeue_chunk(ls_planner_t *p, size_t idx)
{
    chunk_t *c = &p->chunks[idx];
    if (c->state == CHUNK_DONE || c->holders > 0)
        return;
    c->state = CHUNK_PENDING;
    if (p->cfg.mode == LS_PLAN_ROUND_ROBIN)
        rr_move_on(p, c); /* the seed moves a failed chunk on to the next peer */
    if (!c->is_requeued) {
        c->is_requeued = true;
        p->requeue[p->requeue_len++] = idx;
    }
}

static void take_from_requeue(ls_planner_t *p, size_t pos)
{
    p->chunks[p->requeue[pos]].is_requeued = false;
    memmove(&p->requeue[pos], &p->requeue[pos + 1],
            (p->requeue_len - pos - 1) * sizeof *p->requeue);
    p->requeue_len--;
}

static bool chunk_is_for(const ls_planner_t *p, const chunk_t *c, uint32_t peer)
{
    if (!holds(&p->peers[peer], c))
        return false;
    if (is_busy_for(p, c, peer))
        return false;
    if (p->cfg.mode == LS_PLAN_ROUND_ROBIN)
        return c->rr_owner == peer;
    return chunk_allows(p, c, peer);
}

/* Rarest first: among the never-sent chunks the peer holds, one that the
 * fewest active peers hold, scanning from a random place (the tie-break).
 * A chunk only this peer holds is as rare as it gets: taken at once, which
 * is what points a complete seeder at chunks nobody else has yet. */
static size_t pick_rarest(ls_planner_t *p, uint32_t peer)
{
    size_t best = SIZE_MAX;
    uint32_t best_avail = UINT32_MAX;
    size_t n = p->fresh_len;
    size_t scan = n < PICK_SCAN_MAX ? n : PICK_SCAN_MAX;
    size_t start = n ? (size_t)(next_random(p) % n) : 0;
    for (size_t i = 0; i < scan && best_avail > 1; i++) {
        size_t idx = p->fresh[(start + i) % n];
        const chunk_t *c = &p->chunks[idx];
        /* the chunks downloaders hold come from them (or, at the end, as
         * endgame duplicates) */
        if (!chunk_is_for(p, c, peer) || !is_for_seeder(p, c, peer))
            continue;
        uint32_t avail = availability(p, c);
        if (avail < best_avail) {
            best = idx;
            best_avail = avail;
        }
    }
    if (best != SIZE_MAX)
        fresh_remove(p, best);
    return best;
}

/* The next queued chunk for `peer`, removed from the queue; SIZE_MAX if none. */
static size_t pick_queued(ls_planner_t *p, uint32_t peer)
{
    for (size_t i = 0; i < p->requeue_len; i++) {
        size_t idx = p->requeue[i];
        if (chunk_is_for(p, &p->chunks[idx], peer) && is_for_seeder(p, &p->chunks[idx], peer)) {
            take_from_requeue(p, i);
            return idx;
        }
    }
    if (p->cfg.is_rarest_first && p->cfg.mode != LS_PLAN_ROUND_ROBIN)
        return pick_rarest(p, peer);
    size_t *cursor =
        p->cfg.mode == LS_PLAN_ROUND_ROBIN ? &p->peers[peer].rr_cursor : &p->fresh_cursor;
    while (*cursor < p->chunk_count) {
        size_t idx = *cursor;
        const chunk_t *c = &p->chunks[idx];
        if (c->state == CHUNK_PENDING && c->holders == 0 && !c->is_requeued &&
            !holds(&p->peers[peer], c))
            return SIZE_MAX; /* file order: a peer that lacks the next chunk waits */
        (*cursor)++;
        if (c->state != CHUNK_PENDING || c->holders > 0 || c->is_requeued)
            continue;
        if (p->cfg.mode == LS_PLAN_ROUND_ROBIN && c->rr_owner != peer)
            continue;
        return idx;
    }
    return SIZE_MAX;
}

/* When a request should land. A peer serves its requests in order, so one
 * queued behind k - 1 others lands k chunk times after the peer's last
 * answer. A holder with no measured rate yet is assumed to be as slow as can
 * be; a late one is due one chunk time from now. */
static double expected_finish(const ls_planner_t *p, const request_t *r, uint64_t now_ms)
{
    const peer_t *holder = &p->peers[r->peer];
    double len = (double)p->chunks[r->chunk].length;
    if (holder->rate <= 0)
        return 1e300;
    size_t ahead = 0;
    for (size_t i = 0; i < p->request_len; i++) {
        const request_t *o = &p->requests[i];
        if (o->peer == r->peer && o->ticket < r->ticket)
            ahead++;
    }
    double start = (double)r->sent_ms + peer_latency(p, holder);
    if (holder->has_done && (double)holder->last_done_ms > start)
        start = (double)holder->last_done_ms;
    double finish = start + (double)(ahead + 1) * len / holder->rate;
    if (finish < (double)now_ms)
        finish = (double)now_ms + len / holder->rate;
    return finish;
}

/* Endgame: an idle peer may duplicate the in-flight chunk expected to land
 * last, when it would plausibly land sooner itself. */
static size_t pick_duplicate(ls_planner_t *p, uint32_t peer, uint64_t now_ms)
{
    const peer_t *me = &p->peers[peer];
    size_t best = SIZE_MAX;
    double best_finish = 0;

    if (p->cfg.mode == LS_PLAN_ROUND_ROBIN || me->in_flight > 0 || p->requeue_len > 0)
        return SIZE_MAX;
    /* A complete seeder duplicates nothing while chunks that were never
     * asked for remain: its upload feeds those to the other downloaders. */
    if (p->cfg.is_rarest_first && !me->have && p->fresh_len > 0)
        return SIZE_MAX;
    for (size_t i = 0; i < p->request_len; i++) {
        const request_t *r = &p->requests[i];
        const chunk_t *c = &p->chunks[r->chunk];
        if (r->peer == peer || c->holders != 1 || (c->avoid_mask & peer_bit(peer)) || !holds(me, c))
            continue;
        double finish = expected_finish(p, r, now_ms);
        if (best == SIZE_MAX || finish > best_finish) {
            best = r->chunk;
            best_finish = finish;
        }
    }
    if (best == SIZE_MAX || me->rate <= 0)
        return best;
    double len = (double)p->chunks[best].length;
    double mine = (double)now_ms + peer_latency(p, me) + len / me->rate;
    if (mine >= best_finish)
        return SIZE_MAX;
    /* Every chunk in flight comes down our own link, the duplicate too:
     * when the link is what they wait for, the duplicate only takes its
     * share from the others (a 12-downloader fan-out's last two finished
     * 2 s after the rest, having received 141 MiB of a 112 MiB game). It
     * is sent only if the chunk would land later than the link can bring
     * everything in flight and the duplicate, at the best rate it showed. */
    if (p->peak_rate_bps > 0) {
        uint64_t in_flight = 0;
        for (uint32_t i = 0; i < p->peer_count; i++)
            in_flight += p->peers[i].in_flight_bytes;
        double drained =
            (double)now_ms + ((double)in_flight + len) * 1000.0 / (double)p->peak_rate_bps;
        if (drained >= best_finish)
            return SIZE_MAX;
    }
    return best;
}

static int push_request(ls_planner_t *p, size_t idx, uint32_t peer, uint64_t now_ms,
                        ls_assignment_t *out)
{
    if (p->request_len == p->request_cap) {
        request_t *grown = ls_array_grow(p->requests, &p->request_cap, sizeof *grown, 64);
        if (!grown)
            return LS_ENOMEM;
        p->requests = grown;
    }
    chunk_t *c = &p->chunks[idx];
    request_t *r = &p->requests[p->request_len++];
    r->ticket = p->next_ticket++;
    r->chunk = idx;
    r->peer = peer;
    r->sent_ms = now_ms;
    r->ahead = p->peers[peer].in_flight;
    c->state = CHUNK_IN_FLIGHT;
    c->holders++;
    p->peers[peer].in_flight++;
    p->peers[peer].requests++;
    p->peers[peer].in_flight_bytes += c->length;
    out->ticket = r->ticket;
    out->file_index = c->file_index;
    out->chunk_index = c->chunk_index;
    out->chunk_id = c->chunk_id;
    out->offset = c->offset;
    out->length = c->length;
    out->peer = peer;
    return 0;
}

int ls_planner_next(ls_planner_t *planner, uint32_t peer, uint64_t now_ms, ls_assignment_t *out)
{
    if (planner->fail_code != 0 || ls_planner_is_finished(planner))
        return LS_ECANCELED;
    if (peer >= planner->peer_count || !planner->peers[peer].is_active)
        return LS_EPEER_GONE;
    planner->now_ms = now_ms;
    if (!has_room(planner, &planner->peers[peer]) || now_ms < planner->peers[peer].busy_until)
        return LS_EAGAIN;
    size_t idx = pick_queued(planner, peer);
    if (idx == SIZE_MAX)
        idx = pick_duplicate(planner, peer, now_ms);
    if (idx == SIZE_MAX)
        return LS_EAGAIN;
    return push_request(planner, idx, peer, now_ms, out);
}

static ssize_t find_request(const ls_planner_t *p, uint64_t ticket)
{
    for (size_t i = 0; i < p->request_len; i++)
        if (p->requests[i].ticket == ticket)
            return (ssize_t)i;
    return -1;
}

/* Forgets request `pos`; returns it. The chunk keeps its state. */
static request_t drop_request(ls_planner_t *p, size_t pos)
{
    request_t r = p->requests[pos];
    p->requests[pos] = p->requests[--p->request_len];
    p->chunks[r.chunk].holders--;
    p->peers[r.peer].in_flight--;
    p->peers[r.peer].in_flight_bytes -= p->chunks[r.chunk].length;
    return r;
}

static void to_assignment(const ls_planner_t *p, const request_t *r, ls_assignment_t *a)
{
    const chunk_t *c = &p->chunks[r->chunk];
    a->ticket = r->ticket;
    a->file_index = c->file_index;
    a->chunk_index = c->chunk_index;
    a->chunk_id = c->chunk_id;
    a->offset = c->offset;
    a->length = c->length;
    a->peer = r->peer;
}

static void ewma(double *avg, double sample)
{
    *avg = *avg > 0 ? EWMA_ALPHA * sample + (1 - EWMA_ALPHA) * *avg : sample;
}

/* Throughput and latency from one answer. A request queued behind others
 * is served right after the previous answer, so the time since that answer
 * is its service time (a pure throughput sample). A request sent to an idle
 * peer took latency + service time: with the throughput known, that gives
 * a latency sample. The first idle round trip waits for the first
 * throughput sample. */
static void update_rate(peer_t *peer, const request_t *r, uint64_t bytes, uint64_t now_ms)
{
    double rt = now_ms > r->sent_ms ? (double)(now_ms - r->sent_ms) : 1.0;
    if (r->ahead > 0) {
        uint64_t start = r->sent_ms;
        if (peer->has_done && peer->last_done_ms > start)
            start = peer->last_done_ms;
        double sample = (double)bytes / (double)(now_ms > start ? now_ms - start : 1);
        if (!peer->has_pipelined)
            peer->rate = 0; /* drop the guess taken from idle round trips */
        peer->has_pipelined = true;
        ewma(&peer->rate, sample);
        if (peer->pending_rt > 0) {
            double lat = peer->pending_rt - (double)bytes / peer->rate;
            peer->latency = lat > 0 ? lat : 0;
            peer->has_latency = true;
            peer->pending_rt = 0;
        }
    } else if (peer->has_pipelined) {
        double lat = rt - (double)bytes / peer->rate;
        lat = lat > 0 ? lat : 0;
        peer->latency =
            peer->has_latency ? EWMA_ALPHA * lat + (1 - EWMA_ALPHA) * peer->latency : lat;
        peer->has_latency = true;
    } else {
        ewma(&peer->rate, (double)bytes / rt); /* pessimistic until pipelined */
        peer->pending_rt = rt;
    }
    peer->has_done = true;
    peer->last_done_ms = now_ms;
}

static void check_peers_left(ls_planner_t *p)
{
    if (p->fail_code == 0 && !p->cfg.waits_for_peers && !ls_planner_is_finished(p) &&
        active_mask(p) == 0)
        fail_download(p, LS_ENOPEERS, "every serving peer was lost or dropped");
}

static void remove_peer(ls_planner_t *p, uint32_t peer)
{
    p->peers[peer].is_active = false;
    for (size_t i = p->request_len; i-- > 0;) {
        if (p->requests[i].peer != peer)
            continue;
        request_t r = drop_request(p, i);
        requeue_chunk(p, r.chunk);
    }
    if (p->cfg.mode == LS_PLAN_ROUND_ROBIN && active_mask(p) != 0) {
        /* the lost peer's share of the plan moves on, round robin */
        for (size_t i = 0; i < p->chunk_count; i++) {
            chunk_t *c = &p->chunks[i];
            if (c->rr_owner != peer || c->state != CHUNK_PENDING)
                continue;
            rr_move_on(p, c);
            if (!c->is_requeued && i < p->peers[c->rr_owner].rr_cursor) {
                c->is_requeued = true;
                p->requeue[p->requeue_len++] = i;
            }
        }
    }
    check_peers_left(p);
}

bool ls_planner_has_active_peer(const ls_planner_t *planner)
{
    return active_mask(planner) != 0;
}

int ls_planner_peer_lost(ls_planner_t *planner, uint32_t peer)
{
    if (peer >= planner->peer_count)
        return LS_EINVAL;
    if (!planner->peers[peer].is_active)
        return 0;
    remove_peer(planner, peer);
    return 0;
}

/* Counts a failed try of a chunk that is no longer in flight on this peer. */
static void count_try(ls_planner_t *p, size_t idx, uint32_t peer, bool is_bad, int reason)
{
    chunk_t *c = &p->chunks[idx];
    peer_t *pe = &p->peers[peer];
    c->tries++;
    c->bad_tries += is_bad ? 1 : 0;
    c->last_error = is_bad ? LS_ECHUNK : reason;
    c->avoid_mask |= peer_bit(peer);
    pe->cap = peer_window(p, pe) / 2;
    if (pe->cap == 0)
        pe->cap = 1;
    if (c->tries >= p->cfg.max_retry) {
        fail_chunk(p, c);
        return;
    }
    requeue_chunk(p, idx);
}

static void complete_chunk(ls_planner_t *p, size_t idx, uint32_t peer, ls_plan_outcome_t *o)
{
    chunk_t *c = &p->chunks[idx];
    peer_t *pe = &p->peers[peer];
    c->state = CHUNK_DONE;
    p->chunks_done++;
    p->bytes_done += c->length;
    pe->bytes_done += c->length;
    pe->consecutive_failures = 0;
    pe->given_run = 0;
    if (pe->cap < p->cfg.max_window)
        pe->cap++;
    o->counted = true;
    /* holders counts the requests still out for it: only an endgame
     * duplicate needs the scan (a per-chunk walk of every request in
     * flight showed up with 40,000 small files) */
    for (size_t i = 0; c->holders > 0 && i < p->request_len; i++) {
        if (p->requests[i].chunk != idx)
            continue;
        request_t loser = drop_request(p, i);
        o->has_cancel = true;
        to_assignment(p, &loser, &o->cancel);
        break; /* at most two holders: the winner is already gone */
    }
}

int ls_planner_done(ls_planner_t *planner, const ls_assignment_t *a, uint64_t bytes,
                    uint64_t now_ms, bool verified_ok, ls_plan_outcome_t *outcome)
{
    ls_plan_outcome_t ignored = {0};
    ls_plan_outcome_t *o = outcome ? outcome : &ignored;
    memset(o, 0, sizeof *o);
    ssize_t pos = find_request(planner, a->ticket);
    if (pos < 0)
        return LS_ESTATE;
    request_t r = drop_request(planner, (size_t)pos);
    peer_t *peer = &planner->peers[r.peer];
    update_rate(peer, &r, bytes, now_ms);
    if (planner->chunks[r.chunk].state == CHUNK_DONE)
        return LS_ESTATE;
    if (verified_ok && bytes == planner->chunks[r.chunk].length) {
        complete_chunk(planner, r.chunk, r.peer, o);
        return 0;
    }
    peer->bad_chunks++;
    count_try(planner, r.chunk, r.peer, true, LS_ECHUNK);
    if (peer->bad_chunks >= planner->cfg.max_bad_chunks) {
        o->peer_dropped = true;
        peer->is_dropped = true;
        remove_peer(planner, r.peer);
    }
    return 0;
}

uint64_t ls_planner_busy_backoff_ms(const ls_planner_t *planner)
{
    uint64_t ms =
        LS_PLANNER_BUSY_BACKOFF_MS_PER_MIB * planner->manifest->chunk_size / LS_PLANNER_MIB;
    return ms ? ms : 1;
}

/* This chunk stays off this peer for `ms` (the swarm gives it); the
 * other peers in its mask keep theirs if it is longer. */
static void chunk_off_peer(ls_planner_t *p, chunk_t *c, uint32_t peer, uint64_t ms)
{
    bool is_current = p->now_ms < c->busy_until;
    c->busy_mask = (is_current ? c->busy_mask : 0) | peer_bit(peer);
    if (!is_current || c->busy_until < p->now_ms + ms)
        c->busy_until = p->now_ms + ms;
}

/* Drops the request an answer without data ended: LS_ESTATE for a ticket
 * the planner no longer knows, 1 when its chunk is done already (nothing
 * to do), 0 to go on with *r. */
static int drop_unanswered(ls_planner_t *p, const ls_assignment_t *a, request_t *r)
{
    ssize_t pos = find_request(p, a->ticket);
    if (pos < 0)
        return LS_ESTATE;
    *r = drop_request(p, (size_t)pos);
    return p->chunks[r->chunk].state == CHUNK_DONE ? 1 : 0;
}

int ls_planner_given(ls_planner_t *planner, const ls_assignment_t *a)
{
    request_t r;
    int rc = drop_unanswered(planner, a, &r);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    peer_t *peer = &planner->peers[r.peer];
    peer->busy_answers++;
    /* Its upload has room for chunks the swarm lacks: no smaller window,
     * and asked at once for another. Twice in a row means what we would
     * ask it for is on its way elsewhere too (the end of a download):
     * then the backoff, so a requester does not ask it round trip after
     * round trip. */
    if (++peer->given_run >= LS_PLANNER_GIVEN_RUN_MAX)
        peer->busy_until = planner->now_ms + ls_planner_busy_backoff_ms(planner);
    /* Its receiver announces it once whole, a few chunk times later on a
     * shared link; asked again after one backoff, a seeder refused the
     * same chunk to the same requester 2-12 times (traced N=6 fan-out:
     * 122 of 194 refusals were repeats) */
    chunk_off_peer(planner, &planner->chunks[r.chunk], r.peer,
                   LS_PLANNER_GIVEN_HOLD_BACKOFFS * ls_planner_busy_backoff_ms(planner));
    requeue_chunk(planner, r.chunk);
    return 0;
}

int ls_planner_failed(ls_planner_t *planner, const ls_assignment_t *a, int reason)
{
    request_t r;
    int rc = drop_unanswered(planner, a, &r);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    peer_t *peer = &planner->peers[r.peer];
    if (reason == LS_EPEER_GONE) {
        /* its connection closed, not its serving: as remove_peer does */
        requeue_chunk(planner, r.chunk);
        return 0;
    }
    if (reason == LS_EBUSY) {
        /* Not the chunk's fault nor the peer's: ask less of it, and this
         * chunk elsewhere for a while. */
        chunk_t *c = &planner->chunks[r.chunk];
        peer->busy_answers++;
        peer->busy_until = planner->now_ms + ls_planner_busy_backoff_ms(planner);
        chunk_off_peer(planner, c, r.peer, ls_planner_busy_backoff_ms(planner));
        peer->cap = peer_window(planner, peer) / 2 ? peer_window(planner, peer) / 2 : 1;
        requeue_chunk(planner, r.chunk);
        return 0;
    }
    if (!peer->has_counted_failure || r.sent_ms > peer->counted_failure_ms) {
        peer->consecutive_failures++;
        peer->counted_failure_ms = planner->now_ms;
        peer->has_counted_failure = true;
    }
    count_try(planner, r.chunk, r.peer, false, reason ? reason : LS_EIO);
    /* a peer whose every stream fails is as good as gone */
    if (peer->consecutive_failures >= MAX_CONSECUTIVE_FAILURES && peer->is_active) {
        peer->is_dropped = true;
        remove_peer(planner, r.peer);
    }
    return 0;
}

size_t ls_planner_unsent(const ls_planner_t *planner)
{
    size_t fresh = planner->cfg.is_rarest_first ? planner->fresh_len
                                                : planner->chunk_count - planner->fresh_cursor;
    return fresh + planner->requeue_len;
}

bool ls_planner_progress_due(ls_planner_t *planner, uint64_t now_ms)
{
    if (planner->has_progress && now_ms - planner->last_progress_ms < PROGRESS_INTERVAL_MS)
        return false;
    planner->has_progress = true;
    planner->last_progress_ms = now_ms;
    return true;
}

/* Rates for progress events, overall and per peer: bytes over the sample
 * window. Not peer->rate, the scheduler's EWMA of per-answer service
 * rates: interleaved streams finish chunks in bursts 1 ms apart, and a
 * mean of those rates reads far above the link. */
/* Bytes per second from `before` to `seen` over span_ms; 0 when bytes
 * that had arrived were dropped (a chunk that failed its hash). */
static uint64_t rate_over(uint64_t before, uint64_t seen, uint64_t span_ms)
{
    return seen > before ? (seen - before) * 1000 / span_ms : 0;
}

static void sample_rate(ls_planner_t *p, uint64_t now_ms)
{
    bool is_first = !p->has_sample;
    if (!is_first && now_ms < p->sample_ms + PROGRESS_INTERVAL_MS)
        return;
    uint64_t span = now_ms - p->sample_ms, seen_all = 0;
    for (uint32_t i = 0; i < p->peer_count; i++) {
        peer_t *pe = &p->peers[i];
        uint64_t seen = pe->bytes_done + pe->arriving;
        if (!is_first)
            pe->sample_rate_bps = rate_over(pe->sample_bytes, seen, span);
        pe->sample_bytes = seen;
        seen_all += pe->arriving;
    }
    seen_all += p->bytes_done;
    if (!is_first) {
        p->sample_rate_bps = rate_over(p->sample_bytes, seen_all, span);
        if (p->sample_rate_bps > p->peak_rate_bps)
            p->peak_rate_bps = p->sample_rate_bps;
    }
    p->has_sample = true;
    p->sample_ms = now_ms;
    p->sample_bytes = seen_all;
}

void ls_planner_add_arriving(ls_planner_t *planner, uint32_t peer, uint64_t bytes)
{
    if (peer < planner->peer_count)
        planner->peers[peer].arriving += bytes;
}

void ls_planner_progress(ls_planner_t *planner, uint64_t now_ms, ls_plan_progress_t *progress,
                         ls_plan_peer_stat_t *peers, size_t peer_cap)
{
    sample_rate(planner, now_ms);
    for (uint32_t i = 0; i < planner->peer_count; i++)
        planner->peers[i].arriving = 0;
    memset(progress, 0, sizeof *progress);
    progress->bytes_done = planner->bytes_done;
    progress->bytes_total = planner->bytes_total;
    progress->rate_bps = planner->sample_rate_bps;
    progress->chunks_done = planner->chunks_done;
    progress->chunks_total = planner->chunk_count;
    for (uint32_t i = 0; peers && i < planner->peer_count && i < peer_cap; i++) {
        const peer_t *pe = &planner->peers[i];
        ls_plan_peer_stat_t *st = &peers[i];
        st->peer_id = pe->id;
        st->bytes_done = pe->bytes_done;
        st->rate_bps = pe->sample_rate_bps;
        st->latency_ms = (uint32_t)peer_latency(planner, pe);
        st->window = peer_window(planner, pe);
        st->in_flight = pe->in_flight;
        st->bad_chunks = pe->bad_chunks;
        st->requests = pe->requests;
        st->busy_answers = pe->busy_answers;
        st->is_active = pe->is_active;
        st->is_partial = pe->have != NULL;
        progress->peer_count++;
    }
}
