/* Semantic checks of a message: string lengths, ids, paths, digests, counts,
 * chunk geometry and uniqueness. Shared by the decoder (after parsing) and
 * the encoder (before building JSON), so both agree on what is valid. */
#include "lanspread/error.h"
#include "lanspread/path.h"
#include "lanspread/proto.h"
#include "proto/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

uint64_t ls_proto_chunk_count(uint64_t size, uint32_t chunk_size)
{
    return size / chunk_size + (size % chunk_size != 0);
}

bool ls_proto_chunk_size_ok(uint32_t chunk_size)
{
    return chunk_size >= LS_CHUNK_SIZE_MIN && chunk_size <= LS_CHUNK_SIZE_MAX &&
           (chunk_size & (chunk_size - 1)) == 0;
}

static int check_string(ls_proto_ctx_t *ctx, const char *field, const char *s, size_t min,
                        size_t max)
{
    if (!s)
        return ls_proto_fail(ctx, LS_EMISSING, field, "required string is missing");
    size_t len = strlen(s);
    if (len < min || len > max)
        return ls_proto_fail(ctx, LS_ERANGE, field, "length %zu outside %zu..%zu bytes", len, min,
                             max);
    return 0;
}

static int check_game_id(ls_proto_ctx_t *ctx, const char *field, const char *id)
{
    if (!id)
        return ls_proto_fail(ctx, LS_EMISSING, field, "required game id is missing");
    if (!ls_game_id_is_valid(id))
        return ls_proto_fail(ctx, LS_EINVALID_ID, field,
                             "not a game id (1..%d of [A-Za-z0-9._-], no leading '.' or '-')",
                             LS_GAME_ID_MAX);
    return 0;
}

static int check_relpath(ls_proto_ctx_t *ctx, const char *field, const char *path)
{
    if (!path)
        return ls_proto_fail(ctx, LS_EMISSING, field, "required path is missing");
    int rc = ls_relpath_check(path, strlen(path));
    if (rc != 0)
        return ls_proto_fail(ctx, rc, field, "%s", ls_strerror(rc));
    return 0;
}

static int check_digest(ls_proto_ctx_t *ctx, const char *field, const char *digest)
{
    size_t len = strnlen(digest, LS_SHA256_HEX_LEN + 1);
    bool ok = len == LS_SHA256_HEX_LEN;
    for (size_t i = 0; ok && i < len; i++)
        ok = (digest[i] >= '0' && digest[i] <= '9') || (digest[i] >= 'a' && digest[i] <= 'f');
    if (!ok)
        return ls_proto_fail(ctx, LS_ERANGE, field, "not %d lowercase hex digits",
                             LS_SHA256_HEX_LEN);
    return 0;
}

/* `items` is the array a caller-built message claims to have `count` of. */
static int check_count(ls_proto_ctx_t *ctx, const char *field, const void *items, size_t count,
                       size_t max)
{
    if (count > 0 && !items)
        return ls_proto_fail(ctx, LS_EMISSING, field, "%zu entries but no array", count);
    if (count > max)
        return ls_proto_fail(ctx, LS_ERANGE, field, "%zu entries, at most %zu allowed", count, max);
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorting makes the check O(n log n) for the largest lists we accept. */
static int check_unique(ls_proto_ctx_t *ctx, const char *field, const char **names, size_t count)
{
    qsort(names, count, sizeof *names, compare_strings);
    for (size_t i = 1; i < count; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return ls_proto_fail(ctx, LS_EDUPKEY, field, "'%s' appears twice", names[i]);
    return 0;
}

static int validate_summary(ls_proto_ctx_t *ctx, const ls_game_summary_t *g)
{
    int rc = check_game_id(ctx, "id", g->id);
    if (rc == 0)
        rc = check_string(ctx, "name", g->name, 0, LS_NAME_MAX);
    if (rc == 0)
        rc = check_string(ctx, "version", g->version, 0, LS_VERSION_MAX);
    if (rc != 0 || (!g->cover && g->cover_size == 0))
        return rc;
    /* A cover is its hash and its size, both or neither. */
    if (!g->cover)
        return ls_proto_fail(ctx, LS_EMISSING, "cover", "cover_size without cover");
    rc = check_digest(ctx, "cover", g->cover);
    if (rc == 0 && (g->cover_size == 0 || g->cover_size > LS_COVER_MAX))
        rc = ls_proto_fail(ctx, g->cover_size ? LS_ERANGE : LS_EMISSING, "cover_size",
                           "%llu not in 1..%u", (unsigned long long)g->cover_size, LS_COVER_MAX);
    return rc;
}

/* Summaries first, so every id is known valid before the uniqueness check;
 * then ids of `games` and `removed` must all differ (a delta cannot both
 * change and remove a game). */
static int validate_summaries(ls_proto_ctx_t *ctx, const char *field,
                              const ls_game_summary_t *games, size_t count, char *const *removed,
                              size_t removed_count)
{
    const char **ids = NULL;
    int rc = 0;
    size_t mark = ls_proto_path_push(ctx, field);
    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t m = ls_proto_path_push_index(ctx, i);
        rc = validate_summary(ctx, &games[i]);
        ls_proto_path_pop(ctx, m);
    }
    ls_proto_path_pop(ctx, mark);
    if (rc != 0 || count + removed_count < 2)
        return rc;
    ids = malloc((count + removed_count) * sizeof *ids);
    if (!ids)
        return LS_ENOMEM;
    for (size_t i = 0; i < count; i++)
        ids[i] = games[i].id;
    for (size_t i = 0; i < removed_count; i++)
        ids[count + i] = removed[i];
    rc = check_unique(ctx, field, ids, count + removed_count);
    free(ids);
    return rc;
}

static int validate_snapshot(ls_proto_ctx_t *ctx, const ls_library_snapshot_t *snap)
{
    int rc = check_digest(ctx, "digest", snap->digest);
    if (rc == 0)
        rc = check_count(ctx, "games", snap->games, snap->game_count, LS_SNAPSHOT_GAMES_MAX);
    if (rc == 0)
        rc = validate_summaries(ctx, "games", snap->games, snap->game_count, NULL, 0);
    return rc;
}

/* A snapshot carried in a "library" object (hello, hello_library). */
static int validate_library(ls_proto_ctx_t *ctx, const ls_library_snapshot_t *snap)
{
    size_t mark = ls_proto_path_push(ctx, "library");
    int rc = validate_snapshot(ctx, snap);
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int validate_hello(ls_proto_ctx_t *ctx, bool is_hello, const ls_hello_t *h)
{
    int rc = check_string(ctx, "peer_id", h->peer_id, 1, LS_PEER_ID_MAX);
    if (rc == 0)
        rc = check_string(ctx, "name", h->name, 0, LS_NAME_MAX);
    if (rc == 0)
        rc = check_count(ctx, "features", h->features, h->feature_count, LS_FEATURES_MAX);
    for (size_t i = 0; i < h->feature_count && rc == 0; i++) {
        size_t mark = ls_proto_path_push(ctx, "features");
        ls_proto_path_push_index(ctx, i);
        rc = check_string(ctx, NULL, h->features[i], 1, LS_FEATURE_LEN_MAX);
        ls_proto_path_pop(ctx, mark);
    }
    if (rc == 0 && h->party_proof)
        rc = check_string(ctx, "party_proof", h->party_proof, 1, LS_PROOF_MAX);
    if (rc == 0 && h->is_library_deferred && !is_hello)
        return ls_proto_fail(ctx, LS_EMISSING, "library", "a hello_ack carries its library");
    if (rc == 0 && !h->is_library_deferred)
        rc = validate_library(ctx, &h->library);
    return rc;
}

static int validate_file(ls_proto_ctx_t *ctx, const ls_file_desc_t *f, uint32_t chunk_size)
{
    int rc = check_relpath(ctx, "path", f->path);
    if (rc != 0)
        return rc;
    uint64_t expected = f->is_dir ? 0 : ls_proto_chunk_count(f->size, chunk_size);
    if ((uint64_t)f->chunk_count != expected)
        return ls_proto_fail(ctx, LS_ERANGE, "chunk_sha256", "%zu chunks, %s needs %llu",
                             f->chunk_count, f->is_dir ? "a directory" : "its size",
                             (unsigned long long)expected);
    if (f->chunk_count > 0 && !f->chunk_sha256)
        return ls_proto_fail(ctx, LS_EMISSING, "chunk_sha256", "chunk hashes are missing");
    return 0;
}

static int check_count_max(ls_proto_ctx_t *ctx, const char *field, uint32_t value, uint32_t max)
{
    if (value > max)
        return ls_proto_fail(ctx, LS_ERANGE, field, "%u above %u", value, max);
    return 0;
}

/* The same bounds the catalog loader applies, so whatever arrives here
 * makes a valid catalog entry for the downloader. */
static int validate_meta(ls_proto_ctx_t *ctx, const ls_game_meta_t *meta)
{
    size_t mark = ls_proto_path_push(ctx, "meta");
    int rc = check_string(ctx, "name", meta->name, 1, LS_NAME_MAX);
    if (rc == 0 && meta->description)
        rc = check_string(ctx, "description", meta->description, 0, LS_DESCRIPTION_MAX);
    if (rc == 0 && meta->genre)
        rc = check_string(ctx, "genre", meta->genre, 0, LS_GENRE_MAX);
    if (rc == 0)
        rc = check_count_max(ctx, "max_players", meta->max_players, LS_PLAYERS_MAX);
    if (rc == 0)
        rc = check_count_max(ctx, "release_year", meta->release_year, LS_RELEASE_YEAR_MAX);
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int validate_manifest(ls_proto_ctx_t *ctx, const ls_game_manifest_t *m)
{
    const char **paths = NULL;
    int rc = check_game_id(ctx, "game_id", m->game_id);
    if (rc == 0)
        rc = check_string(ctx, "version", m->version, 0, LS_VERSION_MAX);
    /* checked before the files: their chunk counts divide by it */
    if (rc == 0 && !ls_proto_chunk_size_ok(m->chunk_size))
        rc = ls_proto_fail(ctx, LS_ERANGE, "chunk_size", "%u, must be a power of two from %u to %u",
                           m->chunk_size, LS_CHUNK_SIZE_MIN, LS_CHUNK_SIZE_MAX);
    if (rc == 0 && m->meta)
        rc = validate_meta(ctx, m->meta);
    if (rc == 0)
        rc = check_count(ctx, "files", m->files, m->file_count, LS_MANIFEST_FILES_MAX);
    for (size_t i = 0; i < m->file_count && rc == 0; i++) {
        size_t mark = ls_proto_path_push(ctx, "files");
        ls_proto_path_push_index(ctx, i);
        rc = validate_file(ctx, &m->files[i], m->chunk_size);
        ls_proto_path_pop(ctx, mark);
    }
    if (rc != 0 || m->file_count < 2)
        return rc;
    paths = malloc(m->file_count * sizeof *paths);
    if (!paths)
        return LS_ENOMEM;
    for (size_t i = 0; i < m->file_count; i++)
        paths[i] = m->files[i].path;
    rc = check_unique(ctx, "files", paths, m->file_count);
    free(paths);
    return rc;
}

/* Offsets address files through off_t: the end of a range must fit it. */
static int check_range(ls_proto_ctx_t *ctx, uint64_t offset, uint64_t length)
{
    if (offset > LS_PROTO_INT_MAX || length > LS_PROTO_INT_MAX - offset)
        return ls_proto_fail(ctx, LS_ERANGE, "offset", "offset + length overflows");
    return 0;
}

static int validate_file_request(ls_proto_ctx_t *ctx, const ls_msg_t *msg)
{
    int rc = check_game_id(ctx, "game_id", msg->u.file_request.game_id);
    if (rc == 0)
        rc = check_relpath(ctx, "path", msg->u.file_request.path);
    if (rc != 0 || msg->kind != LS_MSG_GET_FILE_CHUNK)
        return rc;
    uint64_t length = msg->u.file_request.length;
    if (length == 0 || length > LS_CHUNK_REQUEST_MAX)
        return ls_proto_fail(ctx, LS_ERANGE, "length", "%llu outside 1..%u",
                             (unsigned long long)length, LS_CHUNK_REQUEST_MAX);
    return check_range(ctx, msg->u.file_request.offset, length);
}

/* Every range is a safe path and a non-empty range; the lengths add up to
 * at most LS_BATCH_BYTES_MAX (checked as they are summed: no overflow). */
static int validate_batch_request(ls_proto_ctx_t *ctx, const ls_msg_t *msg)
{
    const ls_file_range_t *ranges = msg->u.batch_request.ranges;
    size_t n = msg->u.batch_request.range_count;
    uint64_t total = 0;
    int rc = check_game_id(ctx, "game_id", msg->u.batch_request.game_id);
    if (rc == 0 && (n == 0 || n > LS_BATCH_RANGES_MAX || !ranges))
        rc = ls_proto_fail(ctx, LS_ERANGE, "ranges", "%zu ranges, outside 1..%u", n,
                           LS_BATCH_RANGES_MAX);
    size_t mark = ls_proto_path_push(ctx, "ranges");
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = check_relpath(ctx, "path", ranges[i].path);
        if (rc == 0 && (ranges[i].length == 0 || ranges[i].length > LS_BATCH_BYTES_MAX - total))
            rc = ls_proto_fail(ctx, LS_ERANGE, "length",
                               "empty, or the ranges exceed %u bytes in all", LS_BATCH_BYTES_MAX);
        if (rc == 0)
            rc = check_range(ctx, ranges[i].offset, ranges[i].length);
        total += rc == 0 ? ranges[i].length : 0;
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int validate_file_header(ls_proto_ctx_t *ctx, const ls_msg_t *msg)
{
    uint64_t length = msg->u.file_header.length;
    if (msg->kind == LS_MSG_FILE_BATCH) {
        if (msg->u.file_header.offset != 0)
            return ls_proto_fail(ctx, LS_ERANGE, "offset", "must be 0 for file_batch");
        if (length > LS_BATCH_BYTES_MAX)
            return ls_proto_fail(ctx, LS_ERANGE, "length", "%llu above %u",
                                 (unsigned long long)length, LS_BATCH_BYTES_MAX);
        return 0;
    }
    if (msg->kind == LS_MSG_COVER) {
        if (msg->u.file_header.offset != 0)
            return ls_proto_fail(ctx, LS_ERANGE, "offset", "must be 0 for cover");
        if (length == 0 || length > LS_COVER_MAX)
            return ls_proto_fail(ctx, LS_ERANGE, "length", "%llu not in 1..%u",
                                 (unsigned long long)length, LS_COVER_MAX);
        return 0;
    }
    if (msg->kind == LS_MSG_FILE_DATA) {
        if (msg->u.file_header.offset != 0)
            return ls_proto_fail(ctx, LS_ERANGE, "offset", "must be 0 for file_data");
        return check_range(ctx, 0, length);
    }
    if (length > LS_CHUNK_REQUEST_MAX)
        return ls_proto_fail(ctx, LS_ERANGE, "length", "%llu above %u", (unsigned long long)length,
                             LS_CHUNK_REQUEST_MAX);
    return check_range(ctx, msg->u.file_header.offset, length);
}

static int validate_delta(ls_proto_ctx_t *ctx, const ls_library_delta_t *d)
{
    int rc = 0;
    if (d->to_rev <= d->from_rev)
        return ls_proto_fail(ctx, LS_ERANGE, "to_rev", "must be greater than from_rev");
    rc = check_digest(ctx, "digest", d->digest);
    if (rc == 0)
        rc = check_count(ctx, "changed", d->changed, d->changed_count, LS_SNAPSHOT_GAMES_MAX);
    if (rc == 0)
        rc = check_count(ctx, "removed", d->removed, d->removed_count, LS_SNAPSHOT_GAMES_MAX);
    for (size_t i = 0; i < d->removed_count && rc == 0; i++) {
        size_t mark = ls_proto_path_push(ctx, "removed");
        ls_proto_path_push_index(ctx, i);
        rc = check_game_id(ctx, NULL, d->removed[i]);
        ls_proto_path_pop(ctx, mark);
    }
    if (rc == 0)
        rc = validate_summaries(ctx, "changed", d->changed, d->changed_count, d->removed,
                                d->removed_count);
    return rc;
}

static int validate_error(ls_proto_ctx_t *ctx, const ls_msg_t *msg)
{
    if (!ls_proto_wire_error_to_name(msg->u.error.code))
        return ls_proto_fail(ctx, LS_ERANGE, "code", "unknown error code %d",
                             (int)msg->u.error.code);
    return check_string(ctx, "message", msg->u.error.message, 0, LS_MESSAGE_MAX);
}

/* Bits past chunk_count in the last byte must be 0: one spelling per
 * bitmap, and no claim to a chunk the manifest does not have. */
static int validate_have(ls_proto_ctx_t *ctx, const ls_have_t *have)
{
    int rc = check_game_id(ctx, "game_id", have->game_id);
    if (rc == 0)
        rc = check_string(ctx, "version", have->version, 0, LS_VERSION_MAX);
    if (rc == 0)
        rc = check_digest(ctx, "manifest_id", have->manifest_id);
    if (rc == 0 && have->chunk_count > LS_HAVE_CHUNKS_MAX)
        rc = ls_proto_fail(ctx, LS_ERANGE, "chunk_count", "%u above %u", have->chunk_count,
                           LS_HAVE_CHUNKS_MAX);
    if (rc != 0 || have->chunk_count == 0)
        return rc;
    if (!have->bitmap)
        return ls_proto_fail(ctx, LS_EMISSING, "bitmap", "%u chunks but no bitmap",
                             have->chunk_count);
    unsigned spare = (unsigned)(LS_HAVE_BITMAP_LEN(have->chunk_count) * 8 - have->chunk_count);
    uint8_t last = have->bitmap[LS_HAVE_BITMAP_LEN(have->chunk_count) - 1];
    if (spare > 0 && (last >> (8 - spare)) != 0)
        return ls_proto_fail(ctx, LS_ERANGE, "bitmap", "bits past chunk %u are set",
                             have->chunk_count - 1);
    return 0;
}

int ls_peer_addr_parse(const char *address, uint32_t *ipv4, uint16_t *port)
{
    char host[LS_PEER_ADDRESS_MAX];
    const char *colon = strrchr(address, ':');
    size_t host_len = colon ? (size_t)(colon - address) : 0;
    const char *digits = colon ? colon + 1 : "";
    size_t ndigits = strlen(digits);
    unsigned long value = 0;
    struct in_addr in;
    if (host_len == 0 || host_len >= sizeof host || ndigits == 0 || ndigits > 5 ||
        (digits[0] == '0'))
        return LS_EINVAL;
    for (size_t i = 0; i < ndigits; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return LS_EINVAL;
        value = value * 10 + (unsigned long)(digits[i] - '0');
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    /* inet_pton takes exactly four decimal parts and refuses leading zeros */
    if (value > UINT16_MAX || inet_pton(AF_INET, host, &in) != 1)
        return LS_EINVAL;
    *ipv4 = in.s_addr;
    *port = htons((uint16_t)value);
    return 0;
}

static int validate_peers(ls_proto_ctx_t *ctx, const ls_peer_list_t *list)
{
    int rc = check_count(ctx, "peers", list->peers, list->count, LS_PEERS_MAX);
    size_t mark = ls_proto_path_push(ctx, "peers");
    for (size_t i = 0; i < list->count && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        uint32_t ip;
        uint16_t port;
        rc = check_digest(ctx, "peer_id", list->peers[i].peer_id);
        if (rc == 0 &&
            (strnlen(list->peers[i].address, LS_PEER_ADDRESS_MAX) == LS_PEER_ADDRESS_MAX ||
             ls_peer_addr_parse(list->peers[i].address, &ip, &port) != 0))
            rc = ls_proto_fail(ctx, LS_ERANGE, "address", "not an IPv4 address and port");
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

/* Lowercase hex of 1..max_bytes bytes: one spelling per value. */
static int check_hex(ls_proto_ctx_t *ctx, const char *field, const char *hex, size_t max_bytes)
{
    int rc = check_string(ctx, field, hex, 2, 2 * max_bytes);
    size_t len = rc == 0 ? strlen(hex) : 0;
    bool ok = len % 2 == 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
    if (rc == 0 && !ok)
        rc = ls_proto_fail(ctx, LS_ERANGE, field, "not an even number of lowercase hex digits");
    return rc;
}

/* Covers are not signed (not in the digest), so a signed library has none:
 * a relay could otherwise make any peer announce any cover. */
static int validate_signed_library(ls_proto_ctx_t *ctx, const ls_signed_library_t *sl)
{
    int rc = check_digest(ctx, "peer_id", sl->peer_id);
    if (rc == 0)
        rc = check_string(ctx, "name", sl->name, 0, LS_NAME_MAX);
    if (rc == 0)
        rc = check_hex(ctx, "spki", sl->spki, LS_LIBSIG_SPKI_MAX);
    if (rc == 0)
        rc = check_hex(ctx, "signature", sl->signature, LS_LIBSIG_SIG_MAX);
    if (rc == 0)
        rc = validate_library(ctx, &sl->library);
    for (size_t i = 0; rc == 0 && i < sl->library.game_count; i++)
        if (sl->library.games[i].cover)
            rc =
                ls_proto_fail(ctx, LS_ERANGE, "library.games", "a signed library carries no cover");
    return rc;
}

int ls_proto_validate(ls_proto_ctx_t *ctx, const ls_msg_t *msg)
{
    switch (msg->kind) {
    case LS_MSG_HELLO:
    case LS_MSG_HELLO_ACK:
        return validate_hello(ctx, msg->kind == LS_MSG_HELLO, &msg->u.hello);
    case LS_MSG_HELLO_LIBRARY:
        return validate_library(ctx, &msg->u.games);
    case LS_MSG_GAMES:
        return validate_snapshot(ctx, &msg->u.games);
    case LS_MSG_GET_GAME:
        return check_game_id(ctx, "game_id", msg->u.game_id);
    case LS_MSG_GAME:
        return validate_manifest(ctx, &msg->u.game);
    case LS_MSG_GET_FILE_DATA:
    case LS_MSG_GET_FILE_CHUNK:
        return validate_file_request(ctx, msg);
    case LS_MSG_FILE_DATA:
    case LS_MSG_FILE_CHUNK:
    case LS_MSG_FILE_BATCH:
    case LS_MSG_COVER:
        return validate_file_header(ctx, msg);
    case LS_MSG_GET_COVER: {
        int rc = check_game_id(ctx, "game_id", msg->u.cover_request.game_id);
        return rc ? rc : check_digest(ctx, "sha256", msg->u.cover_request.sha256);
    }
    case LS_MSG_GET_FILE_BATCH:
        return validate_batch_request(ctx, msg);
    case LS_MSG_LIBRARY_DELTA:
        return validate_delta(ctx, &msg->u.delta);
    case LS_MSG_ERROR:
        return validate_error(ctx, msg);
    case LS_MSG_HAVE:
        return validate_have(ctx, &msg->u.have);
    case LS_MSG_PEERS:
        return validate_peers(ctx, &msg->u.peer_list);
    case LS_MSG_GET_LIBRARY:
        return check_digest(ctx, "peer_id", msg->u.library_request.peer_id);
    case LS_MSG_SIGNED_LIBRARY:
        return validate_signed_library(ctx, &msg->u.signed_library);
    case LS_MSG_PING:
    case LS_MSG_PONG:
    case LS_MSG_LIST_GAMES:
    case LS_MSG_LIBRARY_DELTA_ACK:
    case LS_MSG_HAVE_ACK:
    case LS_MSG_HELLO_LIBRARY_ACK:
    case LS_MSG_PEERS_ACK:
        return 0;
    }
    return ls_proto_fail(ctx, LS_EUNKNOWN_KIND, "kind", "unknown kind %d", (int)msg->kind);
}
