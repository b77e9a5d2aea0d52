/* The on-disk index in the peer's state directory: library rev and digest,
 * and per file its (size, mtime, inode) and chunk hashes, so that a rescan
 * of an unchanged library reads no file contents.
 *
 * Binary, little-endian, one encoding per index (see ARCHITECTURE.md):
 *   header: INDEX_MAGIC, u32 INDEX_FORMAT, u32 flags (0), u64 body length,
 *           SHA-256 of the body;
 *   body:   u64 library_rev, u8 len + digest, u32 len + game_dir,
 *           u32 game count, then per game (sorted by id) u32 record length
 *           and the record: u8 len + id, u8 len + version (0: none),
 *           stamp, u32 file count, then per file (sorted by path)
 *           u16 len + path, u8 flags, stamp, u32 chunk count, chunk hashes.
 *   stamp:  u64 size, u64 mtime_ns (two's complement), u64 inode.
 * Names are bytes (anything but NUL): nothing here needs them to be UTF-8.
 * The file is read from disk and may be damaged: every length and count is
 * checked against what is left before it is used or allocated for. */
#include "library_internal.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"

#include <endian.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAGIC "LSINDEX\n"
#define INDEX_MAGIC_LEN 8
/* 2: chunk hashes at a 1 MiB LS_CHUNK_SIZE (1 held 4 MiB ones); an index of
 * another format is not read, so the library is hashed again. */
#define INDEX_FORMAT 2u
#define INDEX_HEADER_LEN (INDEX_MAGIC_LEN + 4 + 4 + 8 + LS_SHA256_LEN)
#define INDEX_FILE_MAX (512u * 1024u * 1024u)
#define INDEX_GAME_DIR_MAX PATH_MAX
#define STAMP_LEN (3 * 8)
/* The smallest encodings, so that a count is checked against the bytes left
 * before anything is allocated for it. */
#define FILE_RECORD_MIN (2 + 1 + 1 + STAMP_LEN + 4)
#define GAME_RECORD_MIN (4 + 1 + 1 + 1 + STAMP_LEN + 4)

#define FILE_FLAG_DIR 0x01u
#define FILE_FLAG_HASHED 0x02u
#define FILE_FLAGS_KNOWN (FILE_FLAG_DIR | FILE_FLAG_HASHED)

/* --- writing ------------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    int rc; /* the first failure; later puts do nothing */
} writer_t;

static uint8_t *put(writer_t *w, size_t n)
{
    if (w->rc != 0)
        return NULL;
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 4096;
        while (n > cap - w->len)
            cap *= 2;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) {
            w->rc = LS_ENOMEM;
            return NULL;
        }
        w->data = grown;
        w->cap = cap;
    }
    uint8_t *at = w->data + w->len;
    w->len += n;
    return at;
}

static void put_bytes(writer_t *w, const void *src, size_t n)
{
    uint8_t *at = put(w, n);
    if (at && n)
        memcpy(at, src, n);
}

static void put_u8(writer_t *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void put_u16(writer_t *w, uint16_t v)
{
    v = htole16(v);
    put_bytes(w, &v, sizeof v);
}

static void put_u32(writer_t *w, uint32_t v)
{
    v = htole32(v);
    put_bytes(w, &v, sizeof v);
}

static void put_u64(writer_t *w, uint64_t v)
{
    v = htole64(v);
    put_bytes(w, &v, sizeof v);
}

static void put_u32_at(writer_t *w, size_t offset, uint32_t v)
{
    v = htole32(v);
    if (w->rc == 0)
        memcpy(w->data + offset, &v, sizeof v);
}

/* A string whose length the caller's bound fits in the prefix: a record the
 * reader would refuse is refused here, so a save never writes one. */
static void put_string(writer_t *w, const char *s, size_t len_bytes, size_t max)
{
    size_t len = s ? strlen(s) : 0;
    if (len > max) {
        if (w->rc == 0)
            w->rc = LS_EINVAL;
        return;
    }
    if (len_bytes == 1)
        put_u8(w, (uint8_t)len);
    else if (len_bytes == 2)
        put_u16(w, (uint16_t)len);
    else
        put_u32(w, (uint32_t)len);
    put_bytes(w, s, len);
}

static void put_stamp(writer_t *w, const ls_file_stamp_t *stamp)
{
    put_u64(w, stamp->size);
    put_u64(w, (uint64_t)stamp->mtime_ns);
    put_u64(w, stamp->ino);
}

static void put_file(writer_t *w, const ls_file_record_t *file)
{
    put_string(w, file->path, 2, LS_RELPATH_MAX);
    put_u8(w, (uint8_t)((file->is_dir ? FILE_FLAG_DIR : 0) |
                        (file->is_hashed ? FILE_FLAG_HASHED : 0)));
    put_stamp(w, &file->stamp);
    put_u32(w, (uint32_t)file->chunk_count);
    if (file->chunk_count)
        put_bytes(w, file->chunks, file->chunk_count * sizeof *file->chunks);
}

static void put_game(writer_t *w, const ls_game_record_t *game)
{
    size_t length_at = w->len;
    put_u32(w, 0); /* the record's length, filled in below */
    put_string(w, game->id, 1, LS_GAME_ID_MAX);
    put_string(w, game->version, 1, LS_VERSION_MAX);
    put_stamp(w, &game->version_stamp);
    if (game->file_count > LS_MANIFEST_FILES_MAX && w->rc == 0)
        w->rc = LS_EINVAL;
    put_u32(w, (uint32_t)game->file_count);
    for (size_t f = 0; f < game->file_count && w->rc == 0; f++)
        put_file(w, &game->files[f]);
    size_t record_len = w->len - length_at - 4;
    if (record_len > UINT32_MAX && w->rc == 0)
        w->rc = LS_ETOOBIG;
    put_u32_at(w, length_at, (uint32_t)record_len);
}

int ls__index_encode_body(const ls_index_t *index, uint8_t **out, size_t *out_len)
{
    writer_t w = {0};
    *out = NULL;
    *out_len = 0;
    put_u64(&w, index->library_rev);
    put_string(&w, index->digest, 1, LS_SHA256_HEX_LEN);
    put_string(&w, index->game_dir, 4, INDEX_GAME_DIR_MAX);
    put_u32(&w, (uint32_t)index->game_count);
    for (size_t g = 0; g < index->game_count && w.rc == 0; g++)
        put_game(&w, &index->games[g]);
    if (w.rc != 0) {
        free(w.data);
        return w.rc;
    }
    *out = w.data;
    *out_len = w.len;
    return 0;
}

int ls__index_encode(const ls_index_t *index, uint8_t **out, size_t *out_len)
{
    uint8_t *body = NULL;
    size_t body_len = 0;
    writer_t w = {0};
    int rc = ls__index_encode_body(index, &body, &body_len);
    *out = NULL;
    *out_len = 0;
    if (rc != 0)
        return rc;
    put_bytes(&w, INDEX_MAGIC, INDEX_MAGIC_LEN);
    put_u32(&w, INDEX_FORMAT);
    put_u32(&w, 0); /* flags: none defined */
    put_u64(&w, body_len);
    uint8_t *digest = put(&w, LS_SHA256_LEN);
    if (digest)
        ls_sha256(body, body_len, digest);
    put_bytes(&w, body, body_len);
    free(body);
    if (w.rc != 0) {
        free(w.data);
        return w.rc;
    }
    *out = w.data;
    *out_len = w.len;
    return 0;
}

int ls_index_save(const char *path, const ls_index_t *index)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = ls__index_encode(index, &data, &len);
    if (rc == 0)
        rc = ls_fs_write_atomic(path, data, len);
    free(data);
    return rc;
}

/* --- reading ------------------------------------------------------------- */

/* A bounded reader: every take checks what is left first, and a failed
 * take leaves the reader failed, so callers check once per record. */
typedef struct {
    const uint8_t *p;
    size_t left;
    bool failed;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n)
{
    if (r->failed || n > r->left) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static uint64_t take_uint(reader_t *r, size_t n)
{
    const uint8_t *at = take(r, n);
    uint64_t v = 0;
    for (size_t i = 0; at && i < n; i++)
        v |= (uint64_t)at[i] << (8 * i);
    return v;
}

/* A length-prefixed name of min..max bytes without NUL, as a C string. */
static int take_string(reader_t *r, size_t len_bytes, size_t min, size_t max, char **out)
{
    size_t len = (size_t)take_uint(r, len_bytes);
    *out = NULL;
    if (r->failed || len < min || len > max)
        return LS_ECORRUPT;
    const uint8_t *s = take(r, len);
    if (!s || memchr(s, '\0', len))
        return LS_ECORRUPT;
    *out = malloc(len + 1);
    if (!*out)
        return LS_ENOMEM;
    memcpy(*out, s, len);
    (*out)[len] = '\0';
    return 0;
}

static void take_stamp(reader_t *r, ls_file_stamp_t *stamp)
{
    stamp->size = take_uint(r, 8);
    stamp->mtime_ns = (int64_t)take_uint(r, 8);
    stamp->ino = take_uint(r, 8);
}

/* The index is a cache keyed by path and stamp; the one thing in it that is
 * used as is, the chunk hashes of an unchanged file, must fit its size. */
static int take_file(reader_t *r, ls_file_record_t *file)
{
    int rc = take_string(r, 2, 1, LS_RELPATH_MAX, &file->path);
    if (rc != 0)
        return rc;
    unsigned flags = (unsigned)take_uint(r, 1);
    take_stamp(r, &file->stamp);
    size_t count = (size_t)take_uint(r, 4);
    if (r->failed || (flags & ~FILE_FLAGS_KNOWN) != 0 || count > r->left / LS_SHA256_LEN)
        return LS_ECORRUPT;
    file->is_dir = flags & FILE_FLAG_DIR;
    file->is_hashed = flags & FILE_FLAG_HASHED;
    bool has_chunks = file->is_hashed && !file->is_dir;
    if (has_chunks ? count != (file->stamp.size + LS_CHUNK_SIZE - 1) / LS_CHUNK_SIZE : count != 0)
        return LS_ECORRUPT;
    if (count == 0)
        return 0;
    file->chunks = malloc(count * sizeof *file->chunks);
    if (!file->chunks)
        return LS_ENOMEM;
    file->chunk_count = count;
    memcpy(file->chunks, take(r, count * LS_SHA256_LEN), count * LS_SHA256_LEN);
    return 0;
}

static int take_files(reader_t *r, ls_game_record_t *game)
{
    size_t count = (size_t)take_uint(r, 4);
    if (r->failed || count > LS_MANIFEST_FILES_MAX || count > r->left / FILE_RECORD_MIN)
        return LS_ECORRUPT;
    if (count == 0)
        return 0;
    game->files = calloc(count, sizeof *game->files);
    if (!game->files)
        return LS_ENOMEM;
    for (size_t f = 0; f < count; f++) {
        game->file_count = f + 1;
        int rc = take_file(r, &game->files[f]);
        if (rc != 0)
            return rc;
        /* Lookups bsearch by path: the writer's order is checked, not
         * trusted, and a path listed twice is not something a scan writes. */
        if (f > 0 && ls_file_record_compare(&game->files[f - 1], &game->files[f]) >= 0)
            return LS_ECORRUPT;
    }
    return 0;
}

/* One game record, which must fill exactly the length it was given. */
static int take_game(reader_t *outer, ls_game_record_t *game)
{
    size_t len = (size_t)take_uint(outer, 4);
    const uint8_t *at = take(outer, len);
    reader_t r = {.p = at, .left = len};
    if (!at)
        return LS_ECORRUPT;
    int rc = take_string(&r, 1, 1, LS_GAME_ID_MAX, &game->id);
    if (rc == 0 && !ls_game_id_is_valid(game->id))
        rc = LS_ECORRUPT;
    if (rc == 0)
        rc = take_string(&r, 1, 0, LS_VERSION_MAX, &game->version);
    if (rc == 0 && game->version[0] == '\0') {
        free(game->version); /* no version: not downloaded */
        game->version = NULL;
    }
    if (rc == 0)
        take_stamp(&r, &game->version_stamp);
    if (rc == 0)
        rc = take_files(&r, game);
    if (rc == 0 && (r.failed || r.left != 0))
        rc = LS_ECORRUPT;
    return rc;
}

static int take_digest(reader_t *r, char digest[LS_SHA256_HEX_LEN + 1])
{
    char *text = NULL;
    int rc = take_string(r, 1, 0, LS_SHA256_HEX_LEN, &text);
    if (rc == 0)
        memcpy(digest, text, strlen(text) + 1); /* length bounded above */
    free(text);
    return rc;
}

static int take_body(reader_t *r, ls_index_t *out)
{
    out->library_rev = take_uint(r, 8);
    int rc = take_digest(r, out->digest);
    if (rc == 0)
        rc = take_string(r, 4, 0, INDEX_GAME_DIR_MAX, &out->game_dir);
    if (rc == 0 && out->game_dir[0] == '\0') {
        free(out->game_dir);
        out->game_dir = NULL;
    }
    if (rc != 0)
        return rc;
    size_t count = (size_t)take_uint(r, 4);
    if (r->failed || count > r->left / GAME_RECORD_MIN)
        return LS_ECORRUPT;
    out->games = calloc(count ? count : 1, sizeof *out->games);
    if (!out->games)
        return LS_ENOMEM;
    for (size_t g = 0; g < count; g++) {
        out->game_count = g + 1;
        rc = take_game(r, &out->games[g]);
        if (rc != 0)
            return rc;
        if (g > 0 && ls_game_record_compare(&out->games[g - 1], &out->games[g]) >= 0)
            return LS_ECORRUPT;
    }
    return r->left == 0 ? 0 : LS_ECORRUPT;
}

int ls__index_decode_body(const uint8_t *body, size_t len, ls_index_t *out)
{
    reader_t r = {.p = body, .left = len};
    memset(out, 0, sizeof *out);
    int rc = take_body(&r, out);
    if (rc != 0)
        ls_index_free(out);
    return rc;
}

int ls__index_decode(const uint8_t *data, size_t len, ls_index_t *out)
{
    uint8_t digest[LS_SHA256_LEN];
    reader_t r = {.p = data, .left = len};
    memset(out, 0, sizeof *out);
    const uint8_t *magic = take(&r, INDEX_MAGIC_LEN);
    uint64_t format = take_uint(&r, 4);
    uint64_t flags = take_uint(&r, 4);
    uint64_t body_len = take_uint(&r, 8);
    const uint8_t *sum = take(&r, LS_SHA256_LEN);
    if (r.failed || memcmp(magic, INDEX_MAGIC, INDEX_MAGIC_LEN) != 0)
        return LS_ECORRUPT;
    /* Another build's format (e.g. an older chunk size): not damage, an
     * upgrade, which the caller reports as such. */
    if (format != INDEX_FORMAT)
        return LS_EVERSION;
    if (flags != 0 || body_len != r.left)
        return LS_ECORRUPT;
    ls_sha256(r.p, r.left, digest);
    if (memcmp(digest, sum, LS_SHA256_LEN) != 0)
        return LS_ECORRUPT;
    return ls__index_decode_body(r.p, r.left, out);
}

/* Reads one index file; LS_ENOENT when there is none. */
static int read_index(const char *path, bool is_legacy, ls_index_t *out)
{
    char *data = NULL;
    size_t len = 0;
    int rc = ls_fs_read_file(path, INDEX_FILE_MAX, &data, &len);
    if (rc == 0)
        rc = is_legacy ? ls__index_json_parse(data, len, out)
                       : ls__index_decode((const uint8_t *)data, len, out);
    free(data);
    return rc;
}

int ls_index_load(const char *path, const char *legacy_path, ls_index_t *out, bool *migrated)
{
    const char *read_path = path;
    *migrated = false;
    memset(out, 0, sizeof *out);
    int rc = read_index(path, false, out);
    if (rc == LS_ENOENT && legacy_path) {
        /* No binary index yet: an older build's JSON one, read this once.
         * Whether it loads or not, the next save replaces it. */
        read_path = legacy_path;
        rc = read_index(legacy_path, true, out);
        *migrated = rc != LS_ENOENT;
        if (rc == 0)
            ls_info("library", "index %s migrated to %s (saved by the next scan)", legacy_path,
                    path);
    }
    if (rc == LS_ENOENT)
        return 0;
    if (rc == LS_ENOMEM)
        return rc;
    if (rc != 0)
        out->library_rev = (uint64_t)time(NULL);
    if (rc == LS_EVERSION)
        ls_info("library",
                "index %s was written in another format (this build reads format %u); "
                "rehashing everything once, rev restarts at %llu",
                read_path, INDEX_FORMAT, (unsigned long long)out->library_rev);
    else if (rc != 0)
        ls_warn("library",
                "index %s is unreadable (%s); rehashing everything, rev restarts at %llu",
                read_path, ls_strerror(rc), (unsigned long long)out->library_rev);
    return 0;
}
