/* PeerGameDB: remote peers, their announced libraries, file lists and
 * partial copies, and the latest version of each title across them. */
#include "lanspread/peerdb.h"

#include "lanspread/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_summary_id(const void *a, const void *b)
{
    return strcmp(((const ls_game_summary_t *)a)->id, ((const ls_game_summary_t *)b)->id);
}

/* A peer's games are kept sorted by id (ids are unique: the decoder checks),
 * so a lookup is a binary search: listing N games of P peers costs
 * O(N log N), not O(N^2) — a peer announcing 10,000 games must not stall
 * the loop on every list. */
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

struct ls_peerdb {
    ls_peer_t *peers;
    size_t count;
    size_t cap;
};

int ls_peerdb_new(ls_peerdb_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : LS_ENOMEM;
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
    free(db);
}

static ls_peer_t *find_mutable(const ls_peerdb_t *db, const char *peer_id)
{
    for (size_t i = 0; i < db->count; i++)
        if (strcmp(db->peers[i].peer_id, peer_id) == 0)
            return &db->peers[i];
    return NULL;
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
static bool lists_complete(const ls_game_summary_t *games, size_t count, const char *game_id,
                           const char *version)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(games[i].id, game_id) == 0)
            return ls_version_compare(games[i].version, version) == 0;
    return false;
}

/* Bounded: at most LS_PEERDB_PARTIALS_MAX records, each looked up once. */
static void drop_completed_partials(ls_peer_t *peer, const ls_game_summary_t *games, size_t count)
{
    size_t i = 0;
    while (i < peer->partial_count) {
        const ls_peer_partial_t *p = &peer->partials[i];
        if (lists_complete(games, count, p->game_id, p->version))
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
    if (existing) {
        /* Manifests describe files of versions that may be gone; drop them.
         * Partial copies stand until the peer withdraws or completes them:
         * it sends a `have` only when its bitmap changes. */
        fresh.partials = existing->partials;
        fresh.partial_count = existing->partial_count;
        existing->partials = NULL;
        existing->partial_count = 0;
        peer_free(existing);
        *existing = fresh;
        drop_completed_partials(existing, existing->library.games, existing->library.game_count);
        return 0;
    }
    if (db->count == db->cap) {
        size_t cap = db->cap ? db->cap * 2 : 8;
        ls_peer_t *grown = realloc(db->peers, cap * sizeof *grown);
        if (!grown) {
            peer_free(&fresh);
            return LS_ENOMEM;
        }
        db->peers = grown;
        db->cap = cap;
    }
    db->peers[db->count++] = fresh;
    return 0;
}

static bool is_removed(const ls_library_delta_t *delta, const char *id)
{
    for (size_t i = 0; i < delta->removed_count; i++)
        if (strcmp(delta->removed[i], id) == 0)
            return true;
    return false;
}

/* Builds the library that results from applying delta to base. */
static int build_delta_result(const ls_library_snapshot_t *base, const ls_library_delta_t *delta,
                              ls_library_snapshot_t *out)
{
    size_t cap = base->game_count + delta->changed_count;
    int rc = 0;
    memset(out, 0, sizeof *out);
    out->games = calloc(cap ? cap : 1, sizeof *out->games);
    if (!out->games)
        return LS_ENOMEM;
    for (size_t i = 0; i < base->game_count && rc == 0; i++) {
        const char *id = base->games[i].id;
        bool replaced = false;
        for (size_t c = 0; c < delta->changed_count; c++)
            replaced |= strcmp(delta->changed[c].id, id) == 0;
        if (replaced || is_removed(delta, id))
            continue;
        rc = ls_game_summary_copy(&out->games[out->game_count], &base->games[i]);
        out->game_count += rc == 0;
    }
    for (size_t c = 0; c < delta->changed_count && rc == 0; c++) {
        if (find_game(out, delta->changed[c].id) >= 0)
            continue; /* listed twice in one delta: first wins */
        rc = ls_game_summary_copy(&out->games[out->game_count], &delta->changed[c]);
        out->game_count += rc == 0;
    }
    out->library_rev = delta->to_rev;
    if (rc == 0)
        rc = ls_snapshot_digest(out->games, out->game_count, out->digest);
    if (rc != 0)
        ls_snapshot_free(out);
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
    drop_completed_partials(peer, delta->changed, delta->changed_count);
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
    bool seeds =
        lists_complete(peer->library.games, peer->library.game_count, have->game_id, have->version);
    /* A withdrawn copy, or a late `have` of what the peer now seeds. */
    if (have->chunk_count == 0 || seeds) {
        if (at >= 0)
            drop_partial(peer, (size_t)at);
        return 0;
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

/* The latest version of a title across peers, and a peer announcing it. */
static const ls_game_summary_t *latest_of(const ls_peerdb_t *db, const char *id)
{
    const ls_game_summary_t *best = NULL;
    for (size_t p = 0; p < db->count; p++) {
        ssize_t g = find_game(&db->peers[p].library, id);
        if (g < 0)
            continue;
        const ls_game_summary_t *game = &db->peers[p].library.games[g];
        if (!best || ls_version_compare(game->version, best->version) > 0)
            best = game;
    }
    return best;
}

int ls_peerdb_seeders(const ls_peerdb_t *db, const char *game_id, const char ***peer_ids,
                      size_t *count)
{
    const ls_game_summary_t *latest = latest_of(db, game_id);
    *peer_ids = calloc(db->count + 1, sizeof **peer_ids);
    *count = 0;
    if (!*peer_ids)
        return LS_ENOMEM;
    for (size_t p = 0; latest && p < db->count; p++) {
        ssize_t g = find_game(&db->peers[p].library, game_id);
        if (g >= 0 &&
            ls_version_compare(db->peers[p].library.games[g].version, latest->version) == 0)
            (*peer_ids)[(*count)++] = db->peers[p].peer_id;
    }
    return 0;
}

/* Every (peer, game) entry, sorted by game id then: one title per run. */
typedef struct {
    const ls_game_summary_t *game;
} ls_entry_t;

static int compare_entry(const void *a, const void *b)
{
    return strcmp(((const ls_entry_t *)a)->game->id, ((const ls_entry_t *)b)->game->id);
}

/* One title from its run of entries: the latest version's name and size,
 * and how many peers hold that version. */
static int title_of(const ls_entry_t *run, size_t n, ls_remote_game_t *out)
{
    const ls_game_summary_t *latest = run[0].game;
    size_t seeders = 0;
    for (size_t i = 1; i < n; i++)
        if (ls_version_compare(run[i].game->version, latest->version) > 0)
            latest = run[i].game;
    for (size_t i = 0; i < n; i++)
        seeders += ls_version_compare(run[i].game->version, latest->version) == 0;
    out->id = strdup(latest->id);
    out->name = strdup(latest->name);
    out->latest_version = strdup(latest->version);
    out->size = latest->size;
    out->peer_count = seeders;
    return (out->id && out->name && out->latest_version) ? 0 : LS_ENOMEM;
}

int ls_peerdb_games(const ls_peerdb_t *db, ls_remote_game_t **out, size_t *count)
{
    size_t total = 0, n = 0;
    int rc = 0;
    for (size_t p = 0; p < db->count; p++)
        total += db->peers[p].library.game_count;
    ls_entry_t *entries = calloc(total ? total : 1, sizeof *entries);
    *count = 0;
    *out = calloc(total ? total : 1, sizeof **out);
    if (!entries || !*out) {
        free(entries);
        free(*out);
        *out = NULL;
        return LS_ENOMEM;
    }
    for (size_t p = 0; p < db->count; p++)
        for (size_t g = 0; g < db->peers[p].library.game_count; g++)
            entries[n++].game = &db->peers[p].library.games[g];
    qsort(entries, n, sizeof *entries, compare_entry);
    for (size_t start = 0; start < n && rc == 0;) {
        size_t end = start + 1;
        while (end < n && strcmp(entries[end].game->id, entries[start].game->id) == 0)
            end++;
        rc = title_of(&entries[start], end - start, &(*out)[*count]);
        (*count)++;
        start = end;
    }
    free(entries);
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
