/* The resume file: which chunks of one exact manifest are verified on disk,
 * so an interrupted download fetches only what is missing next time. Lives
 * in the state directory; strict, bounded parser. */
#include "lanspread/download.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/planner.h"

#include <dirent.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MOD "download"
#define RESUME_MAGIC "LSRESUM2"
#define RESUME_MAGIC_V1 "LSRESUM1" /* no byte counts */
#define RESUME_MAGIC_LEN 8
#define RESUME_DIR "downloads"

static void hash_u64(struct sha256_ctx *ctx, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    sha256_update(ctx, sizeof le, le);
}

static void hash_str(struct sha256_ctx *ctx, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    hash_u64(ctx, len);
    sha256_update(ctx, len, (const uint8_t *)(s ? s : ""));
}

void ls_resume_manifest_id(const ls_game_manifest_t *manifest, uint8_t out[LS_SHA256_LEN])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    hash_str(&ctx, "lanspread-manifest-v1");
    hash_str(&ctx, manifest->game_id);
    hash_str(&ctx, manifest->version);
    hash_u64(&ctx, manifest->chunk_size);
    hash_u64(&ctx, manifest->file_count);
    for (size_t i = 0; i < manifest->file_count; i++) {
        const ls_file_desc_t *f = &manifest->files[i];
        hash_str(&ctx, f->path);
        hash_u64(&ctx, f->size);
        hash_u64(&ctx, f->is_dir);
        hash_u64(&ctx, f->is_dir ? 0 : f->chunk_count);
        if (!f->is_dir && f->chunk_count)
            sha256_update(&ctx, f->chunk_count * LS_SHA256_LEN, &f->chunk_sha256[0][0]);
    }
    sha256_digest(&ctx, LS_SHA256_LEN, out);
}

static size_t bitmap_len(size_t chunk_count)
{
    return (chunk_count + 7) / 8;
}

static int alloc_bitmap(ls_resume_t *r, size_t chunk_count)
{
    if (chunk_count > LS_RESUME_CHUNKS_MAX)
        return LS_ETOOBIG;
    r->chunk_count = chunk_count;
    r->bitmap = calloc(bitmap_len(chunk_count) ? bitmap_len(chunk_count) : 1, 1);
    return r->bitmap ? 0 : LS_ENOMEM;
}

static void find_sentinel(ls_resume_t *r, const ls_game_manifest_t *m)
{
    for (size_t i = 0; i < m->file_count; i++) {
        if (!m->files[i].is_dir && strcmp(m->files[i].path, LS_VERSION_FILE) == 0) {
            r->sentinel_first = ls_manifest_chunk_base(m, i);
            r->sentinel_count = m->files[i].chunk_count;
        }
    }
}

int ls_resume_init(ls_resume_t *resume, const ls_game_manifest_t *manifest)
{
    memset(resume, 0, sizeof *resume);
    if (!manifest->game_id || !manifest->version || strlen(manifest->game_id) > LS_GAME_ID_MAX ||
        strlen(manifest->version) > LS_VERSION_MAX || !ls_game_id_is_valid(manifest->game_id))
        return LS_EINVAL;
    /* Lengths checked above. */
    memcpy(resume->game_id, manifest->game_id, strlen(manifest->game_id) + 1);
    memcpy(resume->version, manifest->version, strlen(manifest->version) + 1);
    ls_resume_manifest_id(manifest, resume->manifest_id);
    find_sentinel(resume, manifest);
    return alloc_bitmap(resume, ls_manifest_chunk_total(manifest));
}

void ls_resume_free(ls_resume_t *resume)
{
    if (!resume)
        return;
    free(resume->bitmap);
    memset(resume, 0, sizeof *resume);
}

void ls_resume_mark(ls_resume_t *resume, size_t chunk_id)
{
    /* version.ini is kept in memory until commit: never on disk to resume */
    if (chunk_id >= resume->chunk_count ||
        (chunk_id >= resume->sentinel_first &&
         chunk_id < resume->sentinel_first + resume->sentinel_count))
        return;
    resume->bitmap[chunk_id / 8] |= (uint8_t)(1u << (chunk_id % 8));
}

void ls_resume_mark_committed(ls_resume_t *resume)
{
    for (size_t id = resume->sentinel_first;
         id < resume->sentinel_first + resume->sentinel_count && id < resume->chunk_count; id++)
        resume->bitmap[id / 8] |= (uint8_t)(1u << (id % 8));
}

bool ls_resume_has(const ls_resume_t *resume, size_t chunk_id)
{
    return chunk_id < resume->chunk_count && (resume->bitmap[chunk_id / 8] >> (chunk_id % 8)) & 1u;
}

/* A byte at a time (the fetcher asks after every stored batch: bit by bit
 * it was a walk of 40,000 bits per batch of small files); the bits of the
 * last byte past chunk_count are not counted. */
size_t ls_resume_count(const ls_resume_t *resume)
{
    size_t n = 0, full = resume->chunk_count / 8;
    for (size_t i = 0; i < full; i++)
        n += (size_t)__builtin_popcount(resume->bitmap[i]);
    for (size_t i = full * 8; i < resume->chunk_count; i++)
        n += ls_resume_has(resume, i);
    return n;
}

bool ls_resume_fits_chunk_size(const ls_resume_t *resume, uint32_t chunk_size)
{
    /* every file takes at least ceil(size / chunk_size) chunks, so the sum
     * is at least floor(bytes_total / chunk_size) */
    return chunk_size == 0 || resume->chunk_count >= resume->bytes_total / chunk_size;
}

int ls_resume_encode(const ls_resume_t *resume, uint8_t **out, size_t *out_len)
{
    size_t id_len = strlen(resume->game_id), ver_len = strlen(resume->version);
    size_t bm_len = bitmap_len(resume->chunk_count);
    size_t len = RESUME_MAGIC_LEN + 1 + id_len + 1 + ver_len + LS_SHA256_LEN + 16 + 4 + bm_len +
                 LS_SHA256_LEN;
    uint8_t *buf = malloc(len);
    uint8_t *p = buf;
    *out = NULL;
    if (!buf)
        return LS_ENOMEM;
    memcpy(p, RESUME_MAGIC, RESUME_MAGIC_LEN);
    p += RESUME_MAGIC_LEN;
    *p++ = (uint8_t)id_len;
    memcpy(p, resume->game_id, id_len);
    p += id_len;
    *p++ = (uint8_t)ver_len;
    memcpy(p, resume->version, ver_len);
    p += ver_len;
    memcpy(p, resume->manifest_id, LS_SHA256_LEN);
    p += LS_SHA256_LEN;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(resume->bytes_total >> (8 * i));
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(resume->bytes_done >> (8 * i));
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(resume->chunk_count >> (8 * i));
    memcpy(p, resume->bitmap, bm_len);
    p += bm_len;
    ls_sha256(buf, (size_t)(p - buf), p);
    *out = buf;
    *out_len = len;
    return 0;
}

/* A bounded reader: every take checks the remaining length first. */
typedef struct {
    const uint8_t *p;
    size_t left;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n)
{
    if (n > r->left)
        return NULL;
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static int take_string(reader_t *r, char *out, size_t min, size_t max)
{
    const uint8_t *len = take(r, 1);
    if (!len || *len < min || *len > max)
        return LS_ECORRUPT;
    const uint8_t *s = take(r, *len);
    if (!s || memchr(s, '\0', *len))
        return LS_ECORRUPT;
    memcpy(out, s, *len);
    out[*len] = '\0';
    return 0;
}

static uint64_t take_u64(reader_t *r, bool *is_short)
{
    const uint8_t *b = take(r, 8);
    uint64_t v = 0;
    *is_short = *is_short || !b;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static int parse_body(reader_t *r, ls_resume_t *out)
{
    bool is_short = false;
    const uint8_t *magic = take(r, RESUME_MAGIC_LEN);
    bool is_v1 = magic && memcmp(magic, RESUME_MAGIC_V1, RESUME_MAGIC_LEN) == 0;
    if (!magic || (!is_v1 && memcmp(magic, RESUME_MAGIC, RESUME_MAGIC_LEN) != 0))
        return LS_ECORRUPT;
    if (take_string(r, out->game_id, 1, LS_GAME_ID_MAX) != 0 || !ls_game_id_is_valid(out->game_id))
        return LS_ECORRUPT;
    if (take_string(r, out->version, 0, LS_VERSION_MAX) != 0)
        return LS_ECORRUPT;
    const uint8_t *mid = take(r, LS_SHA256_LEN);
    if (!is_v1) {
        out->bytes_total = take_u64(r, &is_short);
        out->bytes_done = take_u64(r, &is_short);
    }
    const uint8_t *count = take(r, 4);
    if (!mid || !count || is_short || out->bytes_done > out->bytes_total)
        return LS_ECORRUPT;
    memcpy(out->manifest_id, mid, LS_SHA256_LEN);
    size_t n =
        (size_t)count[0] | (size_t)count[1] << 8 | (size_t)count[2] << 16 | (size_t)count[3] << 24;
    if (n > LS_RESUME_CHUNKS_MAX || r->left != bitmap_len(n) + LS_SHA256_LEN)
        return LS_ECORRUPT;
    int rc = alloc_bitmap(out, n);
    if (rc != 0)
        return rc;
    memcpy(out->bitmap, take(r, bitmap_len(n)), bitmap_len(n));
    if (n % 8 && (out->bitmap[n / 8] >> (n % 8)) != 0)
        return LS_ECORRUPT; /* spare bits must be zero: one encoding per state */
    return 0;
}

int ls_resume_parse(const void *data, size_t len, ls_resume_t *out)
{
    uint8_t digest[LS_SHA256_LEN];
    reader_t r = {data, len};
    memset(out, 0, sizeof *out);
    if (!data || len < LS_SHA256_LEN || len > LS_RESUME_FILE_MAX)
        return LS_ECORRUPT;
    ls_sha256(data, len - LS_SHA256_LEN, digest);
    int rc = memcmp(digest, (const uint8_t *)data + len - LS_SHA256_LEN, LS_SHA256_LEN) == 0
                 ? parse_body(&r, out)
                 : LS_ECORRUPT;
    if (rc != 0)
        ls_resume_free(out);
    return rc;
}

char *ls_resume_path(const char *state_dir, const char *game_id)
{
    return ls_strdup_printf("%s/" RESUME_DIR "/%s.resume", state_dir, game_id);
}

int ls_resume_save(const ls_resume_t *resume, const char *state_dir)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char *dir = ls_path_join(state_dir, RESUME_DIR);
    char *path = ls_resume_path(state_dir, resume->game_id);
    int rc = (!dir || !path) ? LS_ENOMEM : 0;
    if (rc == 0 && !ls_game_id_is_valid(resume->game_id))
        rc = LS_EINVALID_ID;
    if (rc == 0)
        rc = ls_fs_mkdir_p(dir, 0755);
    if (rc == 0)
        rc = ls_resume_encode(resume, &buf, &len);
    if (rc == 0)
        rc = ls_fs_write_atomic(path, buf, len);
    free(buf);
    free(dir);
    free(path);
    return rc;
}

static int matches(const ls_resume_t *stored, const ls_resume_t *want)
{
    return strcmp(stored->game_id, want->game_id) == 0 &&
           strcmp(stored->version, want->version) == 0 &&
           memcmp(stored->manifest_id, want->manifest_id, LS_SHA256_LEN) == 0 &&
           stored->chunk_count == want->chunk_count;
}

int ls_resume_load(const char *state_dir, const ls_game_manifest_t *manifest, ls_resume_t *out)
{
    ls_resume_t stored;
    char *data = NULL;
    size_t len = 0;
    char *path = NULL;
    int rc = ls_resume_init(out, manifest);
    if (rc != 0)
        return rc;
    path = ls_resume_path(state_dir, manifest->game_id);
    if (!path)
        return LS_ENOMEM;
    rc = ls_fs_read_file(path, LS_RESUME_FILE_MAX, &data, &len);
    if (rc != 0) {
        if (rc != LS_ENOENT)
            ls_info(LOG_MOD, "resume file %s ignored: %s", path, ls_strerror(rc));
        rc = rc == LS_ENOENT ? LS_ENOENT : LS_ERESUME;
        goto out;
    }
    if (ls_resume_parse(data, len, &stored) != 0) {
        ls_info(LOG_MOD, "resume file %s ignored: corrupt", path);
        rc = LS_ERESUME;
        goto out;
    }
    if (!matches(&stored, out)) {
        /* Same id and version but another manifest: the seeder's files
         * changed, or its chunk size did (an upgrade from 4 MiB chunks). */
        ls_info(LOG_MOD,
                "resume file %s ignored: it was made for another file list of %s %s "
                "(%zu chunks, this one has %zu); the download starts over",
                path, stored.game_id, stored.version, stored.chunk_count, out->chunk_count);
        rc = LS_ERESUME;
    } else {
        memcpy(out->bitmap, stored.bitmap, bitmap_len(out->chunk_count));
        for (size_t i = 0; i < out->sentinel_count; i++) {
            size_t id = out->sentinel_first + i;
            out->bitmap[id / 8] &= (uint8_t) ~(1u << (id % 8));
        }
    }
    ls_resume_free(&stored);
out:
    free(data);
    free(path);
    return rc;
}

static void scan_one(const char *path, ls_resume_each_cb *each, void *ctx)
{
    char *data = NULL;
    size_t len = 0;
    ls_resume_t stored;
    if (ls_fs_read_file(path, LS_RESUME_FILE_MAX, &data, &len) == 0 &&
        ls_resume_parse(data, len, &stored) == 0) {
        each(&stored, ctx);
        ls_resume_free(&stored);
    }
    free(data);
}

int ls_resume_scan(const char *state_dir, size_t max, ls_resume_each_cb *each, void *ctx)
{
    static const char suffix[] = ".resume";
    char *dir_path = ls_path_join(state_dir, RESUME_DIR);
    DIR *dir = dir_path ? opendir(dir_path) : NULL;
    struct dirent *de;
    int rc = dir_path ? 0 : LS_ENOMEM;
    for (size_t seen = 0; dir && seen < max && (de = readdir(dir)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len <= sizeof suffix - 1 || strcmp(de->d_name + len - (sizeof suffix - 1), suffix) != 0)
            continue; /* ".", "..", a save's temporary file */
        seen++;
        char *path = ls_path_join(dir_path, de->d_name);
        if (!path) {
            rc = LS_ENOMEM;
            break;
        }
        scan_one(path, each, ctx);
        free(path);
    }
    if (dir)
        closedir(dir);
    free(dir_path);
    return rc;
}

int ls_resume_remove(const char *state_dir, const char *game_id)
{
    char *path = ls_resume_path(state_dir, game_id);
    if (!path)
        return LS_ENOMEM;
    int rc = ls_fs_remove_tree(path);
    free(path);
    return rc;
}
