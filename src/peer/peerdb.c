/* PeerGameDB: remote peers, their announced libraries, file lists and
 * partial copies, and the latest version of each title across them. */
#include "lanspread/array.h"
#include "lanspread/peerdb.h"

#include "lanspread/error.h"
#include "lanspread/strmap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_summary_id(const void *a, const void *b)
{
    return strcmp(((const ls_game_summary_t *)a)->id, ((const ls_game_summary_t *)b)->id);
}

/* A peer's games are kept sorted by id (ids are unique: the decoder checks):
 * a lookup in one peer's library is a binary search, and the title index
 * below is built in id order. Nothing here costs more than O(N log N) in the
 * N games peers announce — a peer announcing LS_PEERDB_GAMES_MAX games must
 * not stall the loop on every list, hello or delta. */
static void sort_games(ls_library_snapshot_t *snap)
{
    if (snap->game_count > 1)
        qsort(snap->games, snap->game_count, sizeof *snap->games, compare_summary_id);
}

static ssize_t find_game(const ls_library_snapshot_t *snap, const char *id)
{
    ls_game_summary_t key = {.id = (char *)id};
    const ls_game_summary_t *hit =
        snap->game_count
            ? bsearch(&key, snap->games, snap->game_count, sizeof *snap->games, compare_summary_id)
            : NULL;
    return hit ? hit - snap->games : -1;
}

/* One title across peers: the summary of its latest version (borrowed from
 * the first peer, in peerdb order, announcing that version) and the peers
 * announcing that version. */
typedef struct {
    const ls_game_summary_t *latest;
    size_t seeder_at; /* its seeders are seeders[seeder_at .. seeder_at + seeder_count) */
    size_t seeder_count;
} ls__title_t;

struct ls_peerdb {
    ls_peer_t *peers;
    size_t count;
    size_t cap;
    ls_strmap_t by_peer_id; /* peer_id -> index in peers */
    /* The title index: a cache of what every list and seeder lookup needs,
     * rebuilt in one O(N log N) pass on the first read after a library
     * changed, so a burst of hellos and deltas costs one rebuild. */
    bool is_index_stale;
    ls__title_t *titles; /* sorted by id */
    size_t title_count;
    ls_strmap_t by_game_id; /* game id -> index in titles */
    const char **seeders;   /* borrowed peer ids, grouped per title, in peerdb order */
};

int ls_peerdb_new(ls_peerdb_t **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return LS_ENOMEM;
    (*out)->by_peer_id = LS_STRMAP_INIT;
    (*out)->by_game_id = LS_STRMAP_INIT;
    (*out)->is_index_stale = true;
    return 0;
}

static void free_features(char **features, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(features[i]);
    free(features);
}

static void partial_free(ls_peer_partial_t *partial)
{
    free(partial->game_id);
    free(partial->version);
    free(partial->bitmap);
    memset(partial, 0, sizeof *partial);
}

static void peer_free(ls_peer_t *peer)
{
    free(peer->peer_id);
    free(peer->name);
    free_features(peer->features, peer->feature_count);
    ls_snapshot_free(&peer->library);
    for (size_t i = 0; i < peer->manifest_count; i++)
        ls_manifest_free(&peer->manifests[i]);
    free(peer->manifests);
    for (size_t i = 0; i < peer->partial_count; i++)
        partial_free(&peer->partials[i]);
    free(peer->partials);
    memset(peer, 0, sizeof *peer);
}

void ls_peerdb_free(ls_peerdb_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->count; i++)
        peer_free(&db->peers[i]);
    free(db->peers);
    ls_strmap_free(&db->by_peer_id);
    ls_strmap_free(&db->by_game_id);
    free(db->titles);
    free(db->seeders);
    free(db);
}

static ls_peer_t *find_mutable(const ls_peerdb_t *db, const char *peer_id)
{
    size_t at;
    return ls_strmap_get(&db->by_peer_id, peer_id, &at) ? &db->peers[at] : NULL;
}

const ls_peer_t *ls_peerdb_find(const ls_peerdb_t *db, const char *peer_id)
{
    return find_mutable(db, peer_id);
}

size_t ls_peerdb_count(const ls_peerdb_t *db)
{
    return db->count;
}

static int copy_features(char ***dst, const ls_hello_t *hello)
{
    *dst = calloc(hello->feature_count + 1, sizeof **dst);
    if (!*dst)
        return LS_ENOMEM;
    for (size_t i = 0; i < hello->feature_count; i++) {
        (*dst)[i] = strdup(hello->features[i]);
        if (!(*dst)[i]) {
            free_features(*dst, i);
            *dst = NULL;
            return LS_ENOMEM;
        }
    }
    return 0;
}

static int verify_digest(const ls_library_snapshot_t *snap)
{
    char digest[LS_SHA256_HEX_LEN + 1];
    int rc = ls_snapshot_digest(snap->games, snap->game_count, digest);
    if (rc != 0)
        return rc;
    return strcmp(digest, snap->digest) == 0 ? 0 : LS_ECORRUPT;
}

static ssize_t find_partial(const ls_peer_t *peer, const char *game_id)
{
    for (size_t i = 0; i < peer->partial_count; i++)
        if (strcmp(peer->partials[i].game_id, game_id) == 0)
            return (ssize_t)i;
    return -1;
}

static void drop_partial(ls_peer_t *peer, size_t index)
{
    partial_free(&peer->partials[index]);
    memmove(&peer->partials[index], &peer->partials[index + 1],
            (peer->partial_count - index - 1) * sizeof *peer->partials);
    peer->partial_count--;
}

/* A game listed at the version of a partial copy is complete there: the
 * peer seeds it, so the partial record says nothing more. */
static bool lists_complete(const ls_library_snapshot_t *library, const char *game_id,
                           const char *version)
{
    ssize_t at = find_game(library, game_id);
    return at >= 0 && ls_version_compare(library->games[at].version, version) == 0;
}

/* Bounded: at most LS_PEERDB_PARTIALS_MAX records, each looked up once. */
static void drop_completed_partials(ls_peer_t *peer)
{
    size_t i = 0;
    while (i < peer->partial_count) {
        const ls_peer_partial_t *p = &peer->partials[i];
        if (lists_complete(&peer->library, p->game_id, p->version))
            drop_partial(peer, i);
        else
            i++;
    }
}

/* Everything the new record needs is built first, so a failure changes
 * nothing and a success writes each field of the peer exactly once. */
int ls_peerdb_apply_hello(ls_peerdb_t *db, const ls_hello_t *hello, const char *address,
                          uint64_t now_ms, bool *is_new)
{
    ls_peer_t fresh = {0};
    if (hello->library.game_count > LS_PEERDB_GAMES_MAX)
        return LS_ELIMIT;
    int rc = verify_digest(&hello->library);
    if (rc != 0)
        return rc;
    fresh.peer_id = strdup(hello->peer_id);
    fresh.name = strdup(hello->name);
    if (!fresh.peer_id || !fresh.name)
        rc = LS_ENOMEM;
    if (rc == 0)
        rc = copy_features(&fresh.features, hello);
    fresh.feature_count = rc == 0 ? hello->feature_count : 0;
    if (rc == 0)
        rc = ls_snapshot_copy(&fresh.library, &hello->library);
    if (rc != 0) {
        peer_free(&fresh);
        return rc;
    }
    sort_games(&fresh.library);
    snprintf(fresh.address, sizeof fresh.address, "%s", address ? address : "");
    fresh.advertised_rev = fresh.library.library_rev;
    memcpy(fresh.advertised_digest, fresh.library.digest, sizeof fresh.advertised_digest);
    fresh.last_seen_ms = now_ms;

    ls_peer_t *existing = find_mutable(db, hello->peer_id);
    if (is_new)
        *is_new = existing == NULL;
    db->is_index_stale = true;
    if (existing) {
        /* Manifests describe files of versions that may be gone; drop them.
         * Partial copies stand until the peer withdraws or completes them:
         * it sends a `have` only when its bitmap changes. The map takes the
         * new copy of the id before the old one is freed. */
        ls_strmap_put(&db->by_peer_id, fresh.peer_id, (size_t)(existing - db->peers), true, NULL);
        fresh.partials = existing->partials;
        fresh.partial_count = existing->partial_count;
        existing->partials = NULL;
        existing->partial_count = 0;
        peer_free(existing);
        *existing = fresh;
        drop_completed_partials(existing);
        return 0;
    }
    if (db->count == db->cap) {
        ls_peer_t *grown = ls_array_grow(db->peers, &db->cap, sizeof *grown, 8);
        if (!grown) {
            peer_free(&fresh);
            return LS_ENOMEM;
        }
        db->peers = grown;
    }
    rc = ls_strmap_put(&db->by_peer_id, fresh.peer_id, db->count, true, NULL);
    if (rc != 0) {
        peer_free(&fresh);
        return rc;
    }
    db->peers[db->count++] = fresh;
    return 0;
}

/* Builds the library that results from applying delta to base: one map of
 * the ids the delta names, so the cost is O(base + changed + removed). */
static int build_delta_result(const ls_library_snapshot_t *base, const ls_library_delta_t *delta,
                              ls_library_snapshot_t *out)
{
    size_t cap = base->game_count + delta->changed_count;
    ls_strmap_t named = LS_STRMAP_INIT; /* id -> its index in changed (SIZE_MAX: removed) */
    int rc = ls_strmap_reserve(&named, delta->changed_count + delta->removed_count);
    memset(out, 0, sizeof *out);
    out->games = rc == 0 ? calloc(cap ? cap : 1, sizeof *out->games) : NULL;
    if (!out->games)
        rc = LS_ENOMEM;
    /* listed twice in one delta: the first wins */
    for (size_t c = 0; c < delta->changed_count && rc == 0; c++)
        rc = ls_strmap_put(&named, delta->changed[c].id, c, false, NULL);
    for (size_t r = 0; r < delta->removed_count && rc == 0; r++)
        rc = ls_strmap_put(&named, delta->removed[r], SIZE_MAX, false, NULL);
    for (size_t i = 0; i < base->game_count && rc == 0; i++) {
        if (ls_strmap_get(&named, base->games[i].id, NULL))
            continue; /* replaced or removed */
        rc = ls_game_summary_copy(&out->games[out->game_count], &base->games[i]);
        out->game_count += rc == 0;
    }
    for (size_t c = 0; c < delta->changed_count && rc == 0; c++) {
        size_t first = c;
        ls_strmap_get(&named, delta->changed[c].id, &first);
        if (first != c)
            continue;
        rc = ls_game_summary_copy(&out->games[out->game_count], &delta->changed[c]);
        out->game_count += rc == 0;
    }
    if (rc == 0 && out->game_count > LS_PEERDB_GAMES_MAX)
        rc = LS_ELIMIT;
    out->library_rev = delta->to_rev;
    if (rc == 0)
        rc = ls_snapshot_digest(out->games, out->game_count, out->digest);
    if (rc != 0)
        ls_snapshot_free(out);
    ls_strmap_free(&named);
    return rc;
}

int ls_peerdb_apply_delta(ls_peerdb_t *db, const char *peer_id, const ls_library_delta_t *delta)
{
    ls_peer_t *peer = find_mutable(db, peer_id);
    ls_library_snapshot_t next;
    if (!peer)
        return LS_ENOENT;
    if (peer->library.library_rev != delta->from_rev || delta->to_rev <= delta->from_rev)
        return LS_ESTATE;
    int rc = build_delta_result(&peer->library, delta, &next);
    if (rc != 0)
        return rc;
    if (strcmp(next.digest, delta->digest) != 0) {
        ls_snapshot_free(&next);
        return LS_ESTATE;
    }
    ls_snapshot_free(&peer->library);
    sort_games(&next);
    peer->library = next;
    peer->advertised_rev = next.library_rev;
    memcpy(peer->advertised_digest, next.digest, sizeof peer->advertised_digest);
    drop_completed_partials(peer);
    db->is_index_stale = true;
    return 0;
}

int ls_peerdb_update_peer_library(ls_peerdb_t *db, const char *peer_id, uint64_t rev,
                                  const char *digest)
{
    ls_peer_t *peer = find_mutable(db, peer_id);
    if (!peer)
        return LS_ENOENT;
    peer->advertised_rev = rev;
    snprintf(peer->advertised_digest, sizeof peer->advertised_digest, "%s", digest);
    return (rev != peer->library.library_rev || strcmp(digest, peer->library.digest) != 0) ? 1 : 0;
}

int ls_peerdb_set_manifest(ls_peerdb_t *db, const char *peer_id, const ls_game_manifest_t *manifest)
{
    ls_peer_t *peer = find_mutable(db, peer_id);
    ls_game_manifest_t copy;
    if (!peer)
        return LS_ENOENT;
    int rc = ls_manifest_copy(&copy, manifest);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < peer->manifest_count; i++) {
        if (strcmp(peer->manifests[i].game_id, manifest->game_id) == 0) {
            ls_manifest_free(&peer->manifests[i]);
            peer->manifests[i] = copy;
            return 0;
        }
    }
    ls_game_manifest_t *grown =
        realloc(peer->manifests, (peer->manifest_count + 1) * sizeof *grown);
    if (!grown) {
        ls_manifest_free(&copy);
        return LS_ENOMEM;
    }
    peer->manifests = grown;
    peer->manifests[peer->manifest_count++] = copy;
    return 0;
}

const ls_game_manifest_t *ls_peerdb_manifest(const ls_peerdb_t *db, const char *peer_id,
                                             const char *game_id)
{
    const ls_peer_t *peer = ls_peerdb_find(db, peer_id);
    for (size_t i = 0; peer && i < peer->manifest_count; i++)
        if (strcmp(peer->manifests[i].game_id, game_id) == 0)
            return &peer->manifests[i];
    return NULL;
}

static bool have_is_valid(const ls_have_t *have)
{
    return have->game_id && have->version &&
           strnlen(have->manifest_id, sizeof have->manifest_id) == LS_SHA256_HEX_LEN &&
           have->chunk_count <= LS_HAVE_CHUNKS_MAX && (have->chunk_count == 0 || have->bitmap);
}

static int partial_copy(ls_peer_partial_t *dst, const ls_have_t *have)
{
    size_t bytes = LS_HAVE_BITMAP_LEN(have->chunk_count);
    memset(dst, 0, sizeof *dst);
    dst->game_id = strdup(have->game_id);
    dst->version = strdup(have->version);
    dst->bitmap = malloc(bytes);
    if (!dst->game_id || !dst->version || !dst->bitmap) {
        partial_free(dst);
        return LS_ENOMEM;
    }
    memcpy(dst->manifest_id, have->manifest_id, sizeof dst->manifest_id);
    dst->chunk_count = have->chunk_count;
    memcpy(dst->bitmap, have->bitmap, bytes);
    return 0;
}

int ls_peerdb_set_partial(ls_peerdb_t *db, const char *peer_id, const ls_have_t *have)
{
    ls_peer_t *peer = find_mutable(db, peer_id);
    ls_peer_partial_t fresh;
    if (!peer)
        return LS_ENOENT;
    if (!have_is_valid(have))
        return LS_EINVAL;
    ssize_t at = find_partial(peer, have->game_id);
    bool seeds = lists_complete(&peer->library, have->game_id, have->version);
    /* A withdrawn copy, or a late `have` of what the peer now seeds. */
    if (have->chunk_count == 0 || seeds) {
        if (at >= 0)
            drop_partial(peer, (size_t)at);
        return seeds ? 1 : 0;
    }
    if (at < 0 && peer->partial_count >= LS_PEERDB_PARTIALS_MAX)
        return LS_ELIMIT;
    int rc = partial_copy(&fresh, have);
    if (rc != 0)
        return rc;
    if (at >= 0) {
        partial_free(&peer->partials[at]);
        peer->partials[at] = fresh;
        return 0;
    }
    ls_peer_partial_t *grown = realloc(peer->partials, (peer->partial_count + 1) * sizeof *grown);
    if (!grown) {
        partial_free(&fresh);
        return LS_ENOMEM;
    }
    peer->partials = grown;
    peer->partials[peer->partial_count++] = fresh;
    return 0;
}

const ls_peer_partial_t *ls_peerdb_partial(const ls_peerdb_t *db, const char *peer_id,
                                           const char *game_id)
{
    const ls_peer_t *peer = ls_peerdb_find(db, peer_id);
    ssize_t at = peer ? find_partial(peer, game_id) : -1;
    return at >= 0 ? &peer->partials[at] : NULL;
}

int ls_peerdb_partials(const ls_peerdb_t *db, const char *game_id, const char *manifest_id_hex,
                       const char ***peer_ids, size_t *count)
{
    *peer_ids = calloc(db->count + 1, sizeof **peer_ids);
    *count = 0;
    if (!*peer_ids)
        return LS_ENOMEM;
    for (size_t p = 0; p < db->count; p++) {
        ssize_t at = find_partial(&db->peers[p], game_id);
        if (at >= 0 && strcmp(db->peers[p].partials[at].manifest_id, manifest_id_hex) == 0)
            (*peer_ids)[(*count)++] = db->peers[p].peer_id;
    }
    return 0;
}

int ls_peerdb_touch(ls_peerdb_t *db, const char *peer_id, uint64_t now_ms)
{
    ls_peer_t *peer = find_mutable(db, peer_id);
    if (!peer)
        return LS_ENOENT;
    peer->last_seen_ms = now_ms;
    return 0;
}

int ls_peerdb_remove(ls_peerdb_t *db, const char *peer_id)
{
    ls_peer_t *peer = find_mutable(db, peer_id);
    if (!peer)
        return LS_ENOENT;
    peer_free(peer);
    size_t index = (size_t)(peer - db->peers);
    memmove(peer, peer + 1, (db->count - index - 1) * sizeof *peer);
    db->count--;
    db->is_index_stale = true;
    /* The peers after it moved down one: O(peers), once per lost peer. */
    ls_strmap_clear(&db->by_peer_id);
    for (size_t i = 0; i < db->count; i++)
        ls_strmap_put(&db->by_peer_id, db->peers[i].peer_id, i, true, NULL);
    return 0;
}

int ls_version_compare(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c != 0)
                return c < 0 ? -1 : 1;
            a += la;
            b += lb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int compare_title(const void *a, const void *b)
{
    return strcmp(((const ls__title_t *)a)->latest->id, ((const ls__title_t *)b)->latest->id);
}

/* Pass 1: every title and its latest version, first peer first. */
static int index_latest(ls_peerdb_t *db)
{
    int rc = 0;
    for (size_t p = 0; p < db->count && rc == 0; p++) {
        const ls_library_snapshot_t *lib = &db->peers[p].library;
        for (size_t g = 0; g < lib->game_count && rc == 0; g++) {
            const ls_game_summary_t *game = &lib->games[g];
            bool existed;
            rc = ls_strmap_put(&db->by_game_id, game->id, db->title_count, false, &existed);
            if (rc == 0 && !existed)
                db->titles[db->title_count++] = (ls__title_t){.latest = game};
            size_t t;
            ls_strmap_get(&db->by_game_id, game->id, &t);
            if (existed && ls_version_compare(game->version, db->titles[t].latest->version) > 0)
                db->titles[t].latest = game;
        }
    }
    return rc;
}

/* Pass 2 (count, then fill): the peers announcing each latest version. */
static void index_seeders(ls_peerdb_t *db, bool fill)
{
    for (size_t p = 0; p < db->count; p++) {
        const ls_library_snapshot_t *lib = &db->peers[p].library;
        for (size_t g = 0; g < lib->game_count; g++) {
            size_t t;
            ls_strmap_get(&db->by_game_id, lib->games[g].id, &t);
            ls__title_t *title = &db->titles[t];
            if (ls_version_compare(lib->games[g].version, title->latest->version) != 0)
                continue;
            if (fill)
                db->seeders[title->seeder_at + title->seeder_count] = db->peers[p].peer_id;
            title->seeder_count++;
        }
    }
}

/* Rebuilds the title index from every peer's library: O(N log N) in the
 * N (peer, game) entries, whatever the peers announce. */
static int index_rebuild(ls_peerdb_t *db)
{
    size_t total = 0, at = 0;
    for (size_t p = 0; p < db->count; p++)
        total += db->peers[p].library.game_count;
    free(db->titles);
    free(db->seeders);
    db->title_count = 0;
    ls_strmap_clear(&db->by_game_id);
    db->titles = calloc(total ? total : 1, sizeof *db->titles);
    db->seeders = calloc(total ? total : 1, sizeof *db->seeders);
    int rc = db->titles && db->seeders ? ls_strmap_reserve(&db->by_game_id, total) : LS_ENOMEM;
    if (rc == 0)
        rc = index_latest(db);
    if (rc != 0) {
        db->title_count = 0;
        ls_strmap_clear(&db->by_game_id);
        return rc;
    }
    qsort(db->titles, db->title_count, sizeof *db->titles, compare_title);
    ls_strmap_clear(&db->by_game_id);
    for (size_t t = 0; t < db->title_count; t++)
        ls_strmap_put(&db->by_game_id, db->titles[t].latest->id, t, true, NULL); /* reserved */
    index_seeders(db, false);
    for (size_t t = 0; t < db->title_count; t++) {
        db->titles[t].seeder_at = at;
        at += db->titles[t].seeder_count;
        db->titles[t].seeder_count = 0;
    }
    index_seeders(db, true);
    db->is_index_stale = false;
    return 0;
}

static int index_fresh(ls_peerdb_t *db)
{
    return db->is_index_stale ? index_rebuild(db) : 0;
}

int ls_peerdb_seeders(ls_peerdb_t *db, const char *game_id, const char ***peer_ids, size_t *count)
{
    size_t t;
    *count = 0;
    *peer_ids = NULL;
    int rc = index_fresh(db);
    if (rc != 0)
        return rc;
    bool known = ls_strmap_get(&db->by_game_id, game_id, &t);
    size_t n = known ? db->titles[t].seeder_count : 0;
    *peer_ids = calloc(n + 1, sizeof **peer_ids);
    if (!*peer_ids)
        return LS_ENOMEM;
    if (n)
        memcpy(*peer_ids, &db->seeders[db->titles[t].seeder_at], n * sizeof **peer_ids);
    *count = n;
    return 0;
}

int ls_peerdb_games(ls_peerdb_t *db, ls_remote_game_t **out, size_t *count)
{
    *count = 0;
    *out = NULL;
    int rc = index_fresh(db);
    if (rc != 0)
        return rc;
    *out = calloc(db->title_count ? db->title_count : 1, sizeof **out);
    if (!*out)
        return LS_ENOMEM;
    for (size_t t = 0; t < db->title_count && rc == 0; t++) {
        const ls__title_t *title = &db->titles[t];
        ls_remote_game_t *game = &(*out)[(*count)++];
        game->id = strdup(title->latest->id);
        game->name = strdup(title->latest->name);
        game->latest_version = strdup(title->latest->version);
        game->size = title->latest->size;
        game->peer_count = title->seeder_count;
        snprintf(game->cover, sizeof game->cover, "%s",
                 title->latest->cover ? title->latest->cover : "");
        if (!game->id || !game->name || !game->latest_version)
            rc = LS_ENOMEM;
    }
    if (rc != 0) {
        ls_remote_games_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

void ls_remote_games_free(ls_remote_game_t *games, size_t count)
{
    for (size_t i = 0; games && i < count; i++) {
        free(games[i].id);
        free(games[i].name);
        free(games[i].latest_version);
    }
    free(games);
}
