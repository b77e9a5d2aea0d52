/* The strict decoder: one frame's JSON payload into an ls_msg_t. Parsing
 * checks syntax, types, presence and unknown fields here; bounds, ids and
 * paths are checked by ls_proto_validate() on the parsed message. */
#include "lanspread/error.h"
#include "lanspread/proto.h"
#include "proto/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const summary_fields[] = {"id",         "name",  "version",    "size",
                                             "file_count", "cover", "cover_size", NULL};
static const char *const snapshot_fields[] = {"library_rev", "digest", "games", NULL};
static const char *const file_fields[] = {"path", "size", "is_dir", "chunk_sha256", NULL};
static const char *const meta_fields[] = {"name",        "description",  "genre",
                                          "max_players", "release_year", NULL};

static int check_fields(ls_proto_ctx_t *ctx, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known)
            return ls_proto_fail(ctx, LS_EUNKNOWN_FIELD, key, "unknown field");
    }
    return 0;
}

static int get_member(ls_proto_ctx_t *ctx, json_t *obj, const char *key, json_t **out)
{
    *out = json_object_get(obj, key);
    if (!*out)
        return ls_proto_fail(ctx, LS_EMISSING, key, "required field is missing");
    return 0;
}

static int as_u64(ls_proto_ctx_t *ctx, const char *field, json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ls_proto_fail(ctx, LS_ETYPE, field, "expected a non-negative integer");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_u64(ls_proto_ctx_t *ctx, json_t *obj, const char *key, uint64_t *out)
{
    json_t *v;
    int rc = get_member(ctx, obj, key, &v);
    return rc ? rc : as_u64(ctx, key, v, out);
}

static int get_uint_max(ls_proto_ctx_t *ctx, json_t *obj, const char *key, uint64_t max,
                        uint64_t *out)
{
    int rc = get_u64(ctx, obj, key, out);
    if (rc == 0 && *out > max)
        rc = ls_proto_fail(ctx, LS_ERANGE, key, "%llu above %llu", (unsigned long long)*out,
                           (unsigned long long)max);
    return rc;
}

/* Payloads are parsed with JSON_ALLOW_NUL so that a NUL can be reported
 * against the field it is in: an unsafe path for paths, a bad value for
 * every other string. */
static int as_string(ls_proto_ctx_t *ctx, const char *field, json_t *v, bool is_path, char **out)
{
    if (!json_is_string(v))
        return ls_proto_fail(ctx, LS_ETYPE, field, "expected a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (memchr(s, '\0', len))
        return ls_proto_fail(ctx, is_path ? LS_EPATH_NUL : LS_ERANGE, field,
                             "string contains a NUL byte");
    *out = malloc(len + 1);
    if (!*out)
        return LS_ENOMEM;
    memcpy(*out, s, len + 1);
    return 0;
}

static int get_string(ls_proto_ctx_t *ctx, json_t *obj, const char *key, bool is_path, char **out)
{
    json_t *v;
    int rc = get_member(ctx, obj, key, &v);
    return rc ? rc : as_string(ctx, key, v, is_path, out);
}

static int get_bool(ls_proto_ctx_t *ctx, json_t *obj, const char *key, bool *out)
{
    json_t *v;
    int rc = get_member(ctx, obj, key, &v);
    if (rc != 0)
        return rc;
    if (!json_is_boolean(v))
        return ls_proto_fail(ctx, LS_ETYPE, key, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

static int get_object(ls_proto_ctx_t *ctx, json_t *obj, const char *key, json_t **out)
{
    int rc = get_member(ctx, obj, key, out);
    if (rc == 0 && !json_is_object(*out))
        rc = ls_proto_fail(ctx, LS_ETYPE, key, "expected an object");
    return rc;
}

/* The count is bounded before the caller allocates anything for it. */
static int get_array(ls_proto_ctx_t *ctx, json_t *obj, const char *key, size_t max, json_t **out)
{
    int rc = get_member(ctx, obj, key, out);
    if (rc == 0 && !json_is_array(*out))
        rc = ls_proto_fail(ctx, LS_ETYPE, key, "expected an array");
    if (rc == 0 && json_array_size(*out) > max)
        rc = ls_proto_fail(ctx, LS_ERANGE, key, "%zu entries, at most %zu allowed",
                           json_array_size(*out), max);
    return rc;
}

static int get_digest(ls_proto_ctx_t *ctx, json_t *obj, const char *key,
                      char out[LS_SHA256_HEX_LEN + 1])
{
    char *s = NULL;
    int rc = get_string(ctx, obj, key, false, &s);
    if (rc == 0 && strlen(s) != LS_SHA256_HEX_LEN)
        rc = ls_proto_fail(ctx, LS_ERANGE, key, "not %d lowercase hex digits", LS_SHA256_HEX_LEN);
    if (rc == 0)
        memcpy(out, s, LS_SHA256_HEX_LEN + 1);
    free(s);
    return rc;
}

static int get_string_array(ls_proto_ctx_t *ctx, json_t *obj, const char *key, size_t max,
                            char ***items, size_t *count)
{
    json_t *arr;
    int rc = get_array(ctx, obj, key, max, &arr);
    size_t n = rc == 0 ? json_array_size(arr) : 0;
    if (n == 0)
        return rc;
    *items = calloc(n, sizeof **items);
    if (!*items)
        return LS_ENOMEM;
    *count = n;
    size_t mark = ls_proto_path_push(ctx, key);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = as_string(ctx, NULL, json_array_get(arr, i), false, &(*items)[i]);
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int decode_summary(ls_proto_ctx_t *ctx, json_t *v, ls_game_summary_t *g)
{
    if (!json_is_object(v))
        return ls_proto_fail(ctx, LS_ETYPE, NULL, "expected an object");
    int rc = check_fields(ctx, v, summary_fields);
    if (rc == 0)
        rc = get_string(ctx, v, "id", false, &g->id);
    if (rc == 0)
        rc = get_string(ctx, v, "name", false, &g->name);
    if (rc == 0)
        rc = get_string(ctx, v, "version", false, &g->version);
    if (rc == 0)
        rc = get_u64(ctx, v, "size", &g->size);
    if (rc == 0)
        rc = get_u64(ctx, v, "file_count", &g->file_count);
    /* Optional, both or neither: validate_summary checks that. */
    if (rc == 0 && json_object_get(v, "cover"))
        rc = get_string(ctx, v, "cover", false, &g->cover); /* its form: validate_summary */
    if (rc == 0 && json_object_get(v, "cover_size"))
        rc = get_u64(ctx, v, "cover_size", &g->cover_size);
    return rc;
}

static int decode_summaries(ls_proto_ctx_t *ctx, json_t *obj, const char *key,
                            ls_game_summary_t **games, size_t *count)
{
    json_t *arr;
    int rc = get_array(ctx, obj, key, LS_SNAPSHOT_GAMES_MAX, &arr);
    size_t n = rc == 0 ? json_array_size(arr) : 0;
    if (n == 0)
        return rc;
    *games = calloc(n, sizeof **games);
    if (!*games)
        return LS_ENOMEM;
    *count = n;
    size_t mark = ls_proto_path_push(ctx, key);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = decode_summary(ctx, json_array_get(arr, i), &(*games)[i]);
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

/* The snapshot's fields sit in hello.library and at the top of "games". */
static int decode_snapshot_fields(ls_proto_ctx_t *ctx, json_t *obj, ls_library_snapshot_t *snap)
{
    int rc = get_u64(ctx, obj, "library_rev", &snap->library_rev);
    if (rc == 0)
        rc = get_digest(ctx, obj, "digest", snap->digest);
    if (rc == 0)
        rc = decode_summaries(ctx, obj, "games", &snap->games, &snap->game_count);
    return rc;
}

static int decode_library(ls_proto_ctx_t *ctx, json_t *root, ls_library_snapshot_t *snap)
{
    json_t *obj;
    int rc = get_object(ctx, root, "library", &obj);
    if (rc != 0)
        return rc;
    size_t mark = ls_proto_path_push(ctx, "library");
    rc = check_fields(ctx, obj, snapshot_fields);
    if (rc == 0)
        rc = decode_snapshot_fields(ctx, obj, snap);
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int decode_hello(ls_proto_ctx_t *ctx, json_t *root, bool is_hello, ls_hello_t *h)
{
    static const char *const fields[] = {"kind",        "protocol_version", "peer_id",
                                         "name",        "listen_port",      "features",
                                         "party_proof", "library",          NULL};
    uint64_t n = 0;
    json_t *proof = json_object_get(root, "party_proof");
    int rc = check_fields(ctx, root, fields);
    /* Any version is decoded: the handshake answers a mismatch. */
    if (rc == 0)
        rc = get_uint_max(ctx, root, "protocol_version", UINT32_MAX, &n);
    h->protocol_version = (uint32_t)n;
    if (rc == 0)
        rc = get_string(ctx, root, "peer_id", false, &h->peer_id);
    if (rc == 0)
        rc = get_string(ctx, root, "name", false, &h->name);
    if (rc == 0)
        rc = get_uint_max(ctx, root, "listen_port", UINT16_MAX, &n);
    h->listen_port = (uint16_t)n;
    if (rc == 0)
        rc = get_string_array(ctx, root, "features", LS_FEATURES_MAX, &h->features,
                              &h->feature_count);
    if (rc == 0 && proof)
        rc = as_string(ctx, "party_proof", proof, false, &h->party_proof);
    /* Only a hello may defer its library (to hello_library); a hello_ack
     * without one is LS_EMISSING, from decode_library. */
    h->is_library_deferred = is_hello && !json_object_get(root, "library");
    if (rc == 0 && !h->is_library_deferred)
        rc = decode_library(ctx, root, &h->library);
    return rc;
}

static int decode_hello_library(ls_proto_ctx_t *ctx, json_t *root, ls_library_snapshot_t *snap)
{
    static const char *const fields[] = {"kind", "library", NULL};
    int rc = check_fields(ctx, root, fields);
    return rc ? rc : decode_library(ctx, root, snap);
}

static int decode_games(ls_proto_ctx_t *ctx, json_t *root, ls_library_snapshot_t *snap)
{
    static const char *const fields[] = {"kind", "library_rev", "digest", "games", NULL};
    int rc = check_fields(ctx, root, fields);
    return rc ? rc : decode_snapshot_fields(ctx, root, snap);
}

static bool is_lower_hex(const char *s, size_t len)
{
    bool ok = true;
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    return ok;
}

/* Hashes are 64 lowercase hex digits: one spelling per value keeps the
 * encoding canonical. */
static int decode_chunk_hash(ls_proto_ctx_t *ctx, json_t *v, uint8_t out[LS_SHA256_LEN])
{
    if (!json_is_string(v))
        return ls_proto_fail(ctx, LS_ETYPE, NULL, "expected a string");
    const char *s = json_string_value(v);
    bool ok = json_string_length(v) == LS_SHA256_HEX_LEN && is_lower_hex(s, LS_SHA256_HEX_LEN);
    if (!ok || ls_hex_decode(s, LS_SHA256_HEX_LEN, out, LS_SHA256_LEN) != 0)
        return ls_proto_fail(ctx, LS_ERANGE, NULL, "not %d lowercase hex digits",
                             LS_SHA256_HEX_LEN);
    return 0;
}

static int decode_chunk_hashes(ls_proto_ctx_t *ctx, json_t *obj, ls_file_desc_t *f)
{
    json_t *arr;
    int rc = get_array(ctx, obj, "chunk_sha256", SIZE_MAX, &arr);
    size_t n = rc == 0 ? json_array_size(arr) : 0;
    if (n == 0)
        return rc;
    f->chunk_sha256 = calloc(n, sizeof *f->chunk_sha256);
    if (!f->chunk_sha256)
        return LS_ENOMEM;
    f->chunk_count = n;
    size_t mark = ls_proto_path_push(ctx, "chunk_sha256");
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = decode_chunk_hash(ctx, json_array_get(arr, i), f->chunk_sha256[i]);
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int decode_file(ls_proto_ctx_t *ctx, json_t *v, ls_file_desc_t *f)
{
    if (!json_is_object(v))
        return ls_proto_fail(ctx, LS_ETYPE, NULL, "expected an object");
    int rc = check_fields(ctx, v, file_fields);
    if (rc == 0)
        rc = get_string(ctx, v, "path", true, &f->path);
    if (rc == 0)
        rc = get_u64(ctx, v, "size", &f->size);
    if (rc == 0)
        rc = get_bool(ctx, v, "is_dir", &f->is_dir);
    if (rc == 0)
        rc = decode_chunk_hashes(ctx, v, f);
    return rc;
}

static int decode_files(ls_proto_ctx_t *ctx, json_t *root, ls_game_manifest_t *m)
{
    json_t *arr;
    int rc = get_array(ctx, root, "files", LS_MANIFEST_FILES_MAX, &arr);
    size_t n = rc == 0 ? json_array_size(arr) : 0;
    if (n == 0)
        return rc;
    m->files = calloc(n, sizeof *m->files);
    if (!m->files)
        return LS_ENOMEM;
    m->file_count = n;
    size_t mark = ls_proto_path_push(ctx, "files");
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = decode_file(ctx, json_array_get(arr, i), &m->files[i]);
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

/* description and genre are optional; the counts are always sent (0:
 * unknown), so each entry has one encoding. */
static int decode_meta_fields(ls_proto_ctx_t *ctx, json_t *obj, ls_game_meta_t *meta)
{
    json_t *description = json_object_get(obj, "description");
    json_t *genre = json_object_get(obj, "genre");
    uint64_t n = 0;
    int rc = check_fields(ctx, obj, meta_fields);
    if (rc == 0)
        rc = get_string(ctx, obj, "name", false, &meta->name);
    if (rc == 0 && description)
        rc = as_string(ctx, "description", description, false, &meta->description);
    if (rc == 0 && genre)
        rc = as_string(ctx, "genre", genre, false, &meta->genre);
    if (rc == 0)
        rc = get_uint_max(ctx, obj, "max_players", UINT32_MAX, &n);
    meta->max_players = (uint32_t)n;
    if (rc == 0)
        rc = get_uint_max(ctx, obj, "release_year", UINT32_MAX, &n);
    meta->release_year = (uint32_t)n;
    return rc;
}

static int decode_meta(ls_proto_ctx_t *ctx, json_t *root, ls_game_manifest_t *m)
{
    json_t *obj;
    int rc = get_object(ctx, root, "meta", &obj);
    if (rc != 0)
        return rc;
    m->meta = calloc(1, sizeof *m->meta);
    if (!m->meta)
        return LS_ENOMEM;
    size_t mark = ls_proto_path_push(ctx, "meta");
    rc = decode_meta_fields(ctx, obj, m->meta);
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int decode_game(ls_proto_ctx_t *ctx, json_t *root, ls_game_manifest_t *m)
{
    static const char *const fields[] = {"kind",  "game_id", "version", "chunk_size",
                                         "files", "meta",    NULL};
    uint64_t chunk_size = 0;
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_string(ctx, root, "game_id", false, &m->game_id);
    if (rc == 0)
        rc = get_string(ctx, root, "version", false, &m->version);
    if (rc == 0)
        rc = get_uint_max(ctx, root, "chunk_size", UINT32_MAX, &chunk_size);
    m->chunk_size = (uint32_t)chunk_size;
    if (rc == 0)
        rc = decode_files(ctx, root, m);
    if (rc == 0 && json_object_get(root, "meta"))
        rc = decode_meta(ctx, root, m);
    return rc;
}

static int decode_file_request(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    static const char *const data_fields[] = {"kind", "game_id", "path", NULL};
    static const char *const chunk_fields[] = {"kind", "game_id", "path", "offset", "length", NULL};
    bool is_chunk = msg->kind == LS_MSG_GET_FILE_CHUNK;
    int rc = check_fields(ctx, root, is_chunk ? chunk_fields : data_fields);
    if (rc == 0)
        rc = get_string(ctx, root, "game_id", false, &msg->u.file_request.game_id);
    if (rc == 0)
        rc = get_string(ctx, root, "path", true, &msg->u.file_request.path);
    if (rc == 0 && is_chunk)
        rc = get_u64(ctx, root, "offset", &msg->u.file_request.offset);
    if (rc == 0 && is_chunk)
        rc = get_u64(ctx, root, "length", &msg->u.file_request.length);
    return rc;
}

static int decode_range(ls_proto_ctx_t *ctx, json_t *v, ls_file_range_t *r)
{
    static const char *const fields[] = {"path", "offset", "length", NULL};
    if (!json_is_object(v))
        return ls_proto_fail(ctx, LS_ETYPE, NULL, "expected an object");
    int rc = check_fields(ctx, v, fields);
    if (rc == 0)
        rc = get_string(ctx, v, "path", true, &r->path);
    if (rc == 0)
        rc = get_u64(ctx, v, "offset", &r->offset);
    if (rc == 0)
        rc = get_u64(ctx, v, "length", &r->length);
    return rc;
}

static int decode_batch_request(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    static const char *const fields[] = {"kind", "game_id", "ranges", NULL};
    json_t *arr;
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_string(ctx, root, "game_id", false, &msg->u.batch_request.game_id);
    if (rc == 0)
        rc = get_array(ctx, root, "ranges", LS_BATCH_RANGES_MAX, &arr);
    size_t n = rc == 0 ? json_array_size(arr) : 0;
    if (n == 0)
        return rc;
    msg->u.batch_request.ranges = calloc(n, sizeof *msg->u.batch_request.ranges);
    if (!msg->u.batch_request.ranges)
        return LS_ENOMEM;
    msg->u.batch_request.range_count = n;
    size_t mark = ls_proto_path_push(ctx, "ranges");
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = decode_range(ctx, json_array_get(arr, i), &msg->u.batch_request.ranges[i]);
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int decode_file_header(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    static const char *const data_fields[] = {"kind", "length", NULL};
    static const char *const chunk_fields[] = {"kind", "offset", "length", NULL};
    bool is_chunk = msg->kind == LS_MSG_FILE_CHUNK;
    int rc = check_fields(ctx, root, is_chunk ? chunk_fields : data_fields);
    if (rc == 0 && is_chunk)
        rc = get_u64(ctx, root, "offset", &msg->u.file_header.offset);
    if (rc == 0)
        rc = get_u64(ctx, root, "length", &msg->u.file_header.length);
    return rc;
}

static int decode_cover_request(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    static const char *const fields[] = {"kind", "game_id", "sha256", NULL};
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_string(ctx, root, "game_id", false, &msg->u.cover_request.game_id);
    if (rc == 0)
        rc = get_digest(ctx, root, "sha256", msg->u.cover_request.sha256);
    return rc;
}

static int decode_delta(ls_proto_ctx_t *ctx, json_t *root, ls_library_delta_t *d)
{
    static const char *const fields[] = {"kind",    "from_rev", "to_rev", "digest",
                                         "changed", "removed",  NULL};
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_u64(ctx, root, "from_rev", &d->from_rev);
    if (rc == 0)
        rc = get_u64(ctx, root, "to_rev", &d->to_rev);
    if (rc == 0)
        rc = get_digest(ctx, root, "digest", d->digest);
    if (rc == 0)
        rc = decode_summaries(ctx, root, "changed", &d->changed, &d->changed_count);
    if (rc == 0)
        rc = get_string_array(ctx, root, "removed", LS_SNAPSHOT_GAMES_MAX, &d->removed,
                              &d->removed_count);
    return rc;
}

static int decode_error(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    static const char *const fields[] = {"kind", "code", "message", NULL};
    char *code = NULL;
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_string(ctx, root, "code", false, &code);
    if (rc == 0 && ls_proto_wire_error_from_name(code, &msg->u.error.code) != 0)
        rc = ls_proto_fail(ctx, LS_ERANGE, "code", "unknown error code '%s'", code);
    if (rc == 0)
        rc = get_string(ctx, root, "message", false, &msg->u.error.message);
    free(code);
    return rc;
}

/* The bitmap's length follows from chunk_count, which is already bounded:
 * the text is checked against it before the bytes are allocated. Spare bits
 * are the validator's, so the encoder refuses them too. */
static int decode_bitmap(ls_proto_ctx_t *ctx, json_t *root, ls_have_t *have)
{
    json_t *v;
    int rc = get_member(ctx, root, "bitmap", &v);
    if (rc != 0)
        return rc;
    if (!json_is_string(v))
        return ls_proto_fail(ctx, LS_ETYPE, "bitmap", "expected a string");
    size_t bytes = LS_HAVE_BITMAP_LEN(have->chunk_count);
    const char *hex = json_string_value(v);
    size_t hex_len = json_string_length(v);
    if (hex_len != 2 * bytes)
        return ls_proto_fail(ctx, LS_ERANGE, "bitmap", "%zu hex digits, %u chunks need %zu",
                             hex_len, have->chunk_count, 2 * bytes);
    if (!is_lower_hex(hex, hex_len))
        return ls_proto_fail(ctx, LS_ERANGE, "bitmap", "not lowercase hex");
    if (bytes == 0)
        return 0;
    have->bitmap = malloc(bytes);
    if (!have->bitmap)
        return LS_ENOMEM;
    if (ls_hex_decode(hex, hex_len, have->bitmap, bytes) != 0)
        return ls_proto_fail(ctx, LS_ERANGE, "bitmap", "not lowercase hex");
    return 0;
}

static int decode_have(ls_proto_ctx_t *ctx, json_t *root, ls_have_t *have)
{
    static const char *const fields[] = {"kind",        "game_id", "version", "manifest_id",
                                         "chunk_count", "bitmap",  NULL};
    uint64_t chunk_count = 0;
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_string(ctx, root, "game_id", false, &have->game_id);
    if (rc == 0)
        rc = get_string(ctx, root, "version", false, &have->version);
    if (rc == 0)
        rc = get_digest(ctx, root, "manifest_id", have->manifest_id);
    if (rc == 0)
        rc = get_uint_max(ctx, root, "chunk_count", LS_HAVE_CHUNKS_MAX, &chunk_count);
    have->chunk_count = (uint32_t)chunk_count;
    if (rc == 0)
        rc = decode_bitmap(ctx, root, have);
    return rc;
}

static int decode_peer_addr(ls_proto_ctx_t *ctx, json_t *v, ls_peer_addr_t *p)
{
    static const char *const fields[] = {"peer_id", "address", "library_rev", NULL};
    char *address = NULL;
    if (!json_is_object(v))
        return ls_proto_fail(ctx, LS_ETYPE, NULL, "expected an object");
    int rc = check_fields(ctx, v, fields);
    if (rc == 0)
        rc = get_digest(ctx, v, "peer_id", p->peer_id);
    if (rc == 0)
        rc = get_string(ctx, v, "address", false, &address);
    if (rc == 0 && strlen(address) >= sizeof p->address)
        rc = ls_proto_fail(ctx, LS_ERANGE, "address", "longer than an IPv4 address and port");
    if (rc == 0)
        memcpy(p->address, address, strlen(address) + 1);
    /* Optional: present on a relayed peer's entry, 1.. (validate_peers) */
    if (rc == 0 && json_object_get(v, "library_rev"))
        rc = get_u64(ctx, v, "library_rev", &p->library_rev);
    free(address);
    return rc;
}

static int decode_peers(ls_proto_ctx_t *ctx, json_t *root, ls_peer_list_t *list)
{
    static const char *const fields[] = {"kind", "peers", NULL};
    json_t *arr;
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_array(ctx, root, "peers", LS_PEERS_MAX, &arr);
    size_t n = rc == 0 ? json_array_size(arr) : 0;
    if (n == 0)
        return rc;
    if (!(list->peers = calloc(n, sizeof *list->peers)))
        return LS_ENOMEM;
    list->count = n;
    size_t mark = ls_proto_path_push(ctx, "peers");
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t item = ls_proto_path_push_index(ctx, i);
        rc = decode_peer_addr(ctx, json_array_get(arr, i), &list->peers[i]);
        ls_proto_path_pop(ctx, item);
    }
    ls_proto_path_pop(ctx, mark);
    return rc;
}

static int decode_signed_library(ls_proto_ctx_t *ctx, json_t *root, ls_signed_library_t *sl)
{
    static const char *const fields[] = {"kind",      "peer_id", "name", "spki",
                                         "signature", "library", NULL};
    int rc = check_fields(ctx, root, fields);
    if (rc == 0)
        rc = get_digest(ctx, root, "peer_id", sl->peer_id);
    if (rc == 0)
        rc = get_string(ctx, root, "name", false, &sl->name);
    if (rc == 0)
        rc = get_string(ctx, root, "spki", false, &sl->spki);
    if (rc == 0)
        rc = get_string(ctx, root, "signature", false, &sl->signature);
    return rc ? rc : decode_library(ctx, root, &sl->library);
}

static int decode_library_request(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    static const char *const fields[] = {"kind", "peer_id", NULL};
    int rc = check_fields(ctx, root, fields);
    return rc ? rc : get_digest(ctx, root, "peer_id", msg->u.library_request.peer_id);
}

/* Messages whose only field besides "kind" is one integer or one id. */
static int decode_single(ls_proto_ctx_t *ctx, json_t *root, const char *key, uint64_t *number,
                         char **id)
{
    const char *const fields[] = {"kind", key, NULL};
    int rc = check_fields(ctx, root, fields);
    if (rc == 0 && key && number)
        rc = get_u64(ctx, root, key, number);
    if (rc == 0 && key && id)
        rc = get_string(ctx, root, key, false, id);
    return rc;
}

static int decode_kind(ls_proto_ctx_t *ctx, json_t *root, ls_msg_kind_t *kind)
{
    char *name = NULL;
    int rc = get_string(ctx, root, "kind", false, &name);
    if (rc == 0 && ls_proto_kind_from_name(name, kind) != 0)
        rc = ls_proto_fail(ctx, LS_EUNKNOWN_KIND, "kind", "unknown kind '%s'", name);
    free(name);
    return rc;
}

static int decode_body(ls_proto_ctx_t *ctx, json_t *root, ls_msg_t *msg)
{
    switch (msg->kind) {
    case LS_MSG_HELLO:
    case LS_MSG_HELLO_ACK:
        return decode_hello(ctx, root, msg->kind == LS_MSG_HELLO, &msg->u.hello);
    case LS_MSG_PING:
    case LS_MSG_PONG:
        return decode_single(ctx, root, "nonce", &msg->u.nonce, NULL);
    case LS_MSG_LIST_GAMES:
        return decode_single(ctx, root, NULL, NULL, NULL);
    case LS_MSG_GAMES:
        return decode_games(ctx, root, &msg->u.games);
    case LS_MSG_GET_GAME:
        return decode_single(ctx, root, "game_id", NULL, &msg->u.game_id);
    case LS_MSG_GAME:
        return decode_game(ctx, root, &msg->u.game);
    case LS_MSG_GET_FILE_DATA:
    case LS_MSG_GET_FILE_CHUNK:
        return decode_file_request(ctx, root, msg);
    case LS_MSG_FILE_DATA:
    case LS_MSG_FILE_CHUNK:
    case LS_MSG_FILE_BATCH:
    case LS_MSG_COVER:
        return decode_file_header(ctx, root, msg);
    case LS_MSG_GET_COVER:
        return decode_cover_request(ctx, root, msg);
    case LS_MSG_GET_FILE_BATCH:
        return decode_batch_request(ctx, root, msg);
    case LS_MSG_LIBRARY_DELTA:
        return decode_delta(ctx, root, &msg->u.delta);
    case LS_MSG_LIBRARY_DELTA_ACK:
        return decode_single(ctx, root, "acked_rev", &msg->u.acked_rev, NULL);
    case LS_MSG_ERROR:
        return decode_error(ctx, root, msg);
    case LS_MSG_HAVE:
        return decode_have(ctx, root, &msg->u.have);
    case LS_MSG_PEERS:
        return decode_peers(ctx, root, &msg->u.peer_list);
    case LS_MSG_GET_LIBRARY:
        return decode_library_request(ctx, root, msg);
    case LS_MSG_SIGNED_LIBRARY:
        return decode_signed_library(ctx, root, &msg->u.signed_library);
    case LS_MSG_HAVE_ACK:
    case LS_MSG_HELLO_LIBRARY_ACK:
    case LS_MSG_PEERS_ACK:
        return decode_single(ctx, root, NULL, NULL, NULL);
    case LS_MSG_HELLO_LIBRARY:
        return decode_hello_library(ctx, root, &msg->u.games);
    }
    return LS_EUNKNOWN_KIND;
}

static int parse_json(ls_proto_ctx_t *ctx, const uint8_t *payload, size_t len, json_t **root)
{
    json_error_t err;
    *root = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (*root)
        return 0;
    int code;
    switch (json_error_code(&err)) {
    case json_error_out_of_memory:
        return LS_ENOMEM;
    case json_error_invalid_utf8:
        code = LS_EUTF8;
        break;
    case json_error_duplicate_key:
        code = LS_EDUPKEY;
        break;
    case json_error_numeric_overflow:
        code = LS_ERANGE;
        break;
    default:
        code = LS_EJSON;
        break;
    }
    return ls_proto_fail(ctx, code, NULL, "%s (byte %d)", err.text, err.position);
}

int ls_msg_decode(const uint8_t *payload, size_t len, ls_msg_t *out, char *detail,
                  size_t detail_len)
{
    ls_proto_ctx_t ctx;
    json_t *root = NULL;
    size_t bad = 0;
    int rc;

    ls_proto_ctx_init(&ctx, detail, detail_len);
    if (!out)
        return LS_EINVAL;
    memset(out, 0, sizeof *out);
    if (!payload || len == 0)
        return ls_proto_fail(&ctx, LS_EJSON, NULL, "empty payload");
    if (len > LS_FRAME_MAX)
        return ls_proto_fail(&ctx, LS_EFRAME_TOO_BIG, NULL, "payload of %zu bytes", len);
    if (!ls_proto_utf8_is_valid(payload, len, &bad))
        return ls_proto_fail(&ctx, LS_EUTF8, NULL, "invalid UTF-8 at byte %zu", bad);
    rc = parse_json(&ctx, payload, len, &root);
    if (rc != 0)
        goto out;
    if (!json_is_object(root)) {
        rc = ls_proto_fail(&ctx, LS_ETYPE, NULL, "a message is a JSON object");
        goto out;
    }
    rc = decode_kind(&ctx, root, &out->kind);
    if (rc == 0)
        rc = decode_body(&ctx, root, out);
    if (rc == 0)
        rc = ls_proto_validate(&ctx, out);
out:
    json_decref(root);
    if (rc != 0)
        ls_msg_free(out);
    return rc;
}

static void free_hello(ls_hello_t *h)
{
    free(h->peer_id);
    free(h->name);
    for (size_t i = 0; i < h->feature_count; i++)
        free(h->features[i]);
    free(h->features);
    free(h->party_proof);
    ls_snapshot_free(&h->library);
}

static void free_delta(ls_library_delta_t *d)
{
    for (size_t i = 0; i < d->changed_count; i++)
        ls_game_summary_free(&d->changed[i]);
    free(d->changed);
    for (size_t i = 0; i < d->removed_count; i++)
        free(d->removed[i]);
    free(d->removed);
}

/* Partly decoded messages are freed here too: arrays are allocated zeroed
 * with their count set, so unfilled entries are NULL. */
void ls_msg_free(ls_msg_t *msg)
{
    if (!msg)
        return;
    switch (msg->kind) {
    case LS_MSG_HELLO:
    case LS_MSG_HELLO_ACK:
        free_hello(&msg->u.hello);
        break;
    case LS_MSG_GAMES:
    case LS_MSG_HELLO_LIBRARY:
        ls_snapshot_free(&msg->u.games);
        break;
    case LS_MSG_GET_GAME:
        free(msg->u.game_id);
        break;
    case LS_MSG_GAME:
        ls_manifest_free(&msg->u.game);
        break;
    case LS_MSG_GET_FILE_DATA:
    case LS_MSG_GET_FILE_CHUNK:
        free(msg->u.file_request.game_id);
        free(msg->u.file_request.path);
        break;
    case LS_MSG_GET_FILE_BATCH:
        free(msg->u.batch_request.game_id);
        for (size_t i = 0; i < msg->u.batch_request.range_count; i++)
            free(msg->u.batch_request.ranges[i].path);
        free(msg->u.batch_request.ranges);
        break;
    case LS_MSG_LIBRARY_DELTA:
        free_delta(&msg->u.delta);
        break;
    case LS_MSG_GET_COVER:
        free(msg->u.cover_request.game_id);
        break;
    case LS_MSG_ERROR:
        free(msg->u.error.message);
        break;
    case LS_MSG_HAVE:
        free(msg->u.have.game_id);
        free(msg->u.have.version);
        free(msg->u.have.bitmap);
        break;
    case LS_MSG_PEERS:
        free(msg->u.peer_list.peers);
        break;
    case LS_MSG_SIGNED_LIBRARY:
        free(msg->u.signed_library.name);
        free(msg->u.signed_library.spki);
        free(msg->u.signed_library.signature);
        ls_snapshot_free(&msg->u.signed_library.library);
        break;
    default:
        break;
    }
    memset(msg, 0, sizeof *msg);
}
