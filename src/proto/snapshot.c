/* Announced games: the canonical digest a receiver recomputes on apply,
 * and deep copy / free of the snapshot and manifest types. */
#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_strings(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int compare_numbers(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

/* Sorted by id; the other fields only break ties between equal ids (which
 * the decoder never lets through), so that even then the order of the
 * input cannot change the digest. */
static int compare_by_id(const void *a, const void *b)
{
    const ls_game_summary_t *ga = *(const ls_game_summary_t *const *)a;
    const ls_game_summary_t *gb = *(const ls_game_summary_t *const *)b;
    int c = compare_strings(ga->id, gb->id);
    if (c == 0)
        c = compare_strings(ga->name, gb->name);
    if (c == 0)
        c = compare_strings(ga->version, gb->version);
    if (c == 0)
        c = compare_numbers(ga->size, gb->size);
    if (c == 0)
        c = compare_numbers(ga->file_count, gb->file_count);
    return c;
}

/* Length-prefixed fields make the encoding unambiguous whatever bytes a
 * name contains. */
static void digest_field(struct sha256_ctx *ctx, const char *value, size_t len)
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "%zu:", len);
    sha256_update(ctx, (size_t)n, (const uint8_t *)prefix);
    sha256_update(ctx, len, (const uint8_t *)value);
}

static void digest_string(struct sha256_ctx *ctx, const char *value)
{
    digest_field(ctx, value ? value : "", value ? strlen(value) : 0);
}

static void digest_number(struct sha256_ctx *ctx, uint64_t value)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRIu64, value);
    digest_field(ctx, text, (size_t)n);
}

int ls_snapshot_digest(const ls_game_summary_t *games, size_t count,
                       char out[LS_SHA256_HEX_LEN + 1])
{
    struct sha256_ctx ctx;
    uint8_t raw[LS_SHA256_LEN];
    const ls_game_summary_t **sorted = NULL;

    if (count > 0) {
        sorted = malloc(count * sizeof *sorted);
        if (!sorted)
            return LS_ENOMEM;
        for (size_t i = 0; i < count; i++)
            sorted[i] = &games[i];
        qsort(sorted, count, sizeof *sorted, compare_by_id);
    }
    sha256_init(&ctx);
    for (size_t i = 0; i < count; i++) {
        digest_string(&ctx, sorted[i]->id);
        digest_string(&ctx, sorted[i]->name);
        digest_string(&ctx, sorted[i]->version);
        digest_number(&ctx, sorted[i]->size);
        digest_number(&ctx, sorted[i]->file_count);
    }
    sha256_digest(&ctx, LS_SHA256_LEN, raw);
    ls_hex_encode(raw, LS_SHA256_LEN, out);
    free(sorted);
    return 0;
}

static int dup_string(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : LS_ENOMEM;
}

int ls_game_summary_copy(ls_game_summary_t *dst, const ls_game_summary_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->size = src->size;
    dst->file_count = src->file_count;
    dst->cover_size = src->cover_size;
    if (dup_string(&dst->id, src->id) || dup_string(&dst->name, src->name) ||
        dup_string(&dst->version, src->version) || dup_string(&dst->cover, src->cover)) {
        ls_game_summary_free(dst);
        return LS_ENOMEM;
    }
    return 0;
}

void ls_snapshot_strip_covers(ls_game_summary_t *games, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(games[i].cover);
        games[i].cover = NULL;
        games[i].cover_size = 0;
    }
}

int ls_snapshot_copy(ls_library_snapshot_t *dst, const ls_library_snapshot_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->library_rev = src->library_rev;
    memcpy(dst->digest, src->digest, sizeof dst->digest);
    if (src->game_count == 0)
        return 0;
    dst->games = calloc(src->game_count, sizeof *dst->games);
    if (!dst->games)
        return LS_ENOMEM;
    for (size_t i = 0; i < src->game_count; i++) {
        if (ls_game_summary_copy(&dst->games[i], &src->games[i]) != 0) {
            ls_snapshot_free(dst);
            return LS_ENOMEM;
        }
        dst->game_count = i + 1;
    }
    return 0;
}

int ls_hello_copy(ls_hello_t *dst, const ls_hello_t *src)
{
    ls_msg_t copy = {.kind = LS_MSG_HELLO};
    ls_hello_t *h = &copy.u.hello;
    int rc = 0;
    *h = (ls_hello_t){.protocol_version = src->protocol_version,
                      .listen_port = src->listen_port,
                      .is_library_deferred = src->is_library_deferred};
    if (src->feature_count && !(h->features = calloc(src->feature_count, sizeof *h->features)))
        rc = LS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < src->feature_count; i++, h->feature_count++)
        rc = dup_string(&h->features[i], src->features[i]);
    if (rc == 0)
        rc = dup_string(&h->peer_id, src->peer_id);
    if (rc == 0)
        rc = dup_string(&h->name, src->name);
    if (rc == 0 && src->party_proof)
        rc = dup_string(&h->party_proof, src->party_proof);
    if (rc == 0)
        rc = ls_snapshot_copy(&h->library, &src->library);
    if (rc != 0) {
        ls_msg_free(&copy);
        memset(dst, 0, sizeof *dst);
        return rc;
    }
    *dst = *h;
    return 0;
}

void ls_game_summary_free(ls_game_summary_t *game)
{
    if (!game)
        return;
    free(game->id);
    free(game->name);
    free(game->version);
    free(game->cover);
    memset(game, 0, sizeof *game);
}

void ls_snapshot_free(ls_library_snapshot_t *snap)
{
    if (!snap)
        return;
    for (size_t i = 0; i < snap->game_count; i++)
        ls_game_summary_free(&snap->games[i]);
    free(snap->games);
    memset(snap, 0, sizeof *snap);
}

void ls_file_desc_free(ls_file_desc_t *file)
{
    if (!file)
        return;
    free(file->path);
    free(file->chunk_sha256);
    memset(file, 0, sizeof *file);
}

void ls_game_meta_free(ls_game_meta_t *meta)
{
    if (!meta)
        return;
    free(meta->name);
    free(meta->description);
    free(meta->genre);
    memset(meta, 0, sizeof *meta);
}

int ls_game_meta_copy(ls_game_meta_t *dst, const ls_game_meta_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->max_players = src->max_players;
    dst->release_year = src->release_year;
    dst->name = strdup(src->name);
    dst->description = src->description ? strdup(src->description) : NULL;
    dst->genre = src->genre ? strdup(src->genre) : NULL;
    if (!dst->name || (src->description && !dst->description) || (src->genre && !dst->genre)) {
        ls_game_meta_free(dst);
        return LS_ENOMEM;
    }
    return 0;
}

void ls_manifest_free(ls_game_manifest_t *manifest)
{
    if (!manifest)
        return;
    free(manifest->game_id);
    free(manifest->version);
    for (size_t i = 0; i < manifest->file_count; i++)
        ls_file_desc_free(&manifest->files[i]);
    free(manifest->files);
    ls_game_meta_free(manifest->meta);
    free(manifest->meta);
    memset(manifest, 0, sizeof *manifest);
}

int ls_manifest_copy(ls_game_manifest_t *dst, const ls_game_manifest_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->game_id = strdup(src->game_id);
    dst->version = strdup(src->version);
    dst->chunk_size = src->chunk_size;
    dst->files = calloc(src->file_count ? src->file_count : 1, sizeof *dst->files);
    if (!dst->game_id || !dst->version || !dst->files)
        goto fail;
    if (src->meta && (!(dst->meta = malloc(sizeof *dst->meta)) ||
                      ls_game_meta_copy(dst->meta, src->meta) != 0)) {
        free(dst->meta);
        dst->meta = NULL;
        goto fail;
    }
    for (size_t i = 0; i < src->file_count; i++) {
        const ls_file_desc_t *f = &src->files[i];
        ls_file_desc_t *d = &dst->files[i];
        dst->file_count = i + 1;
        *d = *f;
        d->path = strdup(f->path);
        d->chunk_sha256 = f->chunk_count ? malloc(f->chunk_count * sizeof *d->chunk_sha256) : NULL;
        if (!d->path || (f->chunk_count && !d->chunk_sha256))
            goto fail;
        if (f->chunk_count)
            memcpy(d->chunk_sha256, f->chunk_sha256, f->chunk_count * sizeof *d->chunk_sha256);
    }
    return 0;
fail:
    ls_manifest_free(dst);
    return LS_ENOMEM;
}
