/* The encoder: an ls_msg_t into one complete frame (length prefix and
 * compact JSON). The message is validated first with the decoder's own
 * checks, so whatever is encoded is accepted by ls_msg_decode(). */
#include "lanspread/error.h"
#include "lanspread/log.h"
#include "lanspread/proto.h"
#include "proto/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* json_object_set_new() and json_array_append_new() take the value's
 * reference even when they fail, so nothing leaks on these paths. */
static int put(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return LS_ENOMEM;
    return json_object_set_new(obj, key, value) == 0 ? 0 : LS_ENOMEM;
}

static int append(json_t *arr, json_t *value)
{
    if (!value)
        return LS_ENOMEM;
    return json_array_append_new(arr, value) == 0 ? 0 : LS_ENOMEM;
}

static int new_string(const char *s, json_t **out)
{
    size_t bad;
    if (!s)
        return LS_EMISSING;
    *out = json_string(s);
    if (*out)
        return 0;
    return ls_proto_utf8_is_valid((const uint8_t *)s, strlen(s), &bad) ? LS_ENOMEM : LS_EUTF8;
}

static int put_string(json_t *obj, const char *key, const char *s)
{
    json_t *v;
    int rc = new_string(s, &v);
    return rc ? rc : put(obj, key, v);
}

/* jansson integers are signed 64-bit; larger values cannot travel. */
static int put_u64(json_t *obj, const char *key, uint64_t value)
{
    if (value > LS_PROTO_INT_MAX)
        return LS_ERANGE;
    return put(obj, key, json_integer((json_int_t)value));
}

static int put_new(json_t *obj, const char *key, json_t **value)
{
    int rc = put(obj, key, *value);
    if (rc == 0)
        return 0;
    *value = NULL;
    return rc;
}

static int encode_strings(json_t *obj, const char *key, char *const *items, size_t count)
{
    json_t *arr = json_array();
    int rc = put_new(obj, key, &arr);
    for (size_t i = 0; i < count && rc == 0; i++) {
        json_t *v;
        rc = new_string(items[i], &v);
        if (rc == 0)
            rc = append(arr, v);
    }
    return rc;
}

static int encode_summary(json_t *arr, const ls_game_summary_t *g)
{
    json_t *obj = json_object();
    int rc = append(arr, obj);
    if (rc == 0)
        rc = put_string(obj, "id", g->id);
    if (rc == 0)
        rc = put_string(obj, "name", g->name);
    if (rc == 0)
        rc = put_string(obj, "version", g->version);
    if (rc == 0)
        rc = put_u64(obj, "size", g->size);
    if (rc == 0)
        rc = put_u64(obj, "file_count", g->file_count);
    if (rc == 0 && g->cover)
        rc = put_string(obj, "cover", g->cover);
    if (rc == 0 && g->cover)
        rc = put_u64(obj, "cover_size", g->cover_size);
    return rc;
}

static int encode_summaries(json_t *obj, const char *key, const ls_game_summary_t *games,
                            size_t count)
{
    json_t *arr = json_array();
    int rc = put_new(obj, key, &arr);
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = encode_summary(arr, &games[i]);
    return rc;
}

static int encode_snapshot_fields(json_t *obj, const ls_library_snapshot_t *snap)
{
    int rc = put_u64(obj, "library_rev", snap->library_rev);
    if (rc == 0)
        rc = put_string(obj, "digest", snap->digest);
    if (rc == 0)
        rc = encode_summaries(obj, "games", snap->games, snap->game_count);
    return rc;
}

/* {"library": {library_rev, digest, games}} inside root. */
static int encode_library(json_t *root, const ls_library_snapshot_t *snap)
{
    json_t *library = json_object();
    int rc = put_new(root, "library", &library);
    return rc == 0 ? encode_snapshot_fields(library, snap) : rc;
}

static int encode_hello(json_t *root, const ls_hello_t *h)
{
    int rc = put_u64(root, "protocol_version", h->protocol_version);
    if (rc == 0)
        rc = put_string(root, "peer_id", h->peer_id);
    if (rc == 0)
        rc = put_string(root, "name", h->name);
    if (rc == 0)
        rc = put_u64(root, "listen_port", h->listen_port);
    if (rc == 0)
        rc = encode_strings(root, "features", h->features, h->feature_count);
    if (rc == 0 && h->party_proof)
        rc = put_string(root, "party_proof", h->party_proof);
    if (rc == 0 && !h->is_library_deferred)
        return encode_library(root, &h->library);
    return rc;
}

static int encode_file(json_t *obj, const ls_file_desc_t *f)
{
    json_t *chunks = json_array();
    char hex[LS_SHA256_HEX_LEN + 1];
    int rc = obj ? 0 : LS_ENOMEM;
    if (rc == 0)
        rc = put_string(obj, "path", f->path);
    if (rc == 0)
        rc = put_u64(obj, "size", f->size);
    if (rc == 0)
        rc = put(obj, "is_dir", json_boolean(f->is_dir));
    if (rc == 0)
        rc = put_new(obj, "chunk_sha256", &chunks);
    else
        json_decref(chunks);
    for (size_t i = 0; i < f->chunk_count && rc == 0; i++) {
        ls_hex_encode(f->chunk_sha256[i], LS_SHA256_LEN, hex);
        rc = append(chunks, json_string(hex));
    }
    return rc;
}

static int encode_meta(json_t *root, const ls_game_meta_t *meta)
{
    json_t *obj = json_object();
    int rc = put_new(root, "meta", &obj);
    if (rc == 0)
        rc = put_string(obj, "name", meta->name);
    if (rc == 0 && meta->description)
        rc = put_string(obj, "description", meta->description);
    if (rc == 0 && meta->genre)
        rc = put_string(obj, "genre", meta->genre);
    if (rc == 0)
        rc = put_u64(obj, "max_players", meta->max_players);
    if (rc == 0)
        rc = put_u64(obj, "release_year", meta->release_year);
    return rc;
}

/* Everything but the files, which dump_game_frame writes one by one into
 * the empty "files" array that comes last. */
static int encode_game(json_t *root, const ls_game_manifest_t *m)
{
    int rc = put_string(root, "game_id", m->game_id);
    if (rc == 0)
        rc = put_string(root, "version", m->version);
    if (rc == 0)
        rc = put_u64(root, "chunk_size", m->chunk_size);
    if (rc == 0 && m->meta)
        rc = encode_meta(root, m->meta);
    if (rc == 0)
        rc = put(root, "files", json_array());
    return rc;
}

static int encode_file_request(json_t *root, const ls_msg_t *msg)
{
    int rc = put_string(root, "game_id", msg->u.file_request.game_id);
    if (rc == 0)
        rc = put_string(root, "path", msg->u.file_request.path);
    if (rc == 0 && msg->kind == LS_MSG_GET_FILE_CHUNK)
        rc = put_u64(root, "offset", msg->u.file_request.offset);
    if (rc == 0 && msg->kind == LS_MSG_GET_FILE_CHUNK)
        rc = put_u64(root, "length", msg->u.file_request.length);
    return rc;
}

static int encode_batch_request(json_t *root, const ls_msg_t *msg)
{
    json_t *ranges = json_array();
    int rc = put_string(root, "game_id", msg->u.batch_request.game_id);
    if (rc == 0)
        rc = put_new(root, "ranges", &ranges);
    else
        json_decref(ranges);
    for (size_t i = 0; i < msg->u.batch_request.range_count && rc == 0; i++) {
        const ls_file_range_t *r = &msg->u.batch_request.ranges[i];
        json_t *obj = json_object();
        rc = append(ranges, obj);
        if (rc == 0)
            rc = put_string(obj, "path", r->path);
        if (rc == 0)
            rc = put_u64(obj, "offset", r->offset);
        if (rc == 0)
            rc = put_u64(obj, "length", r->length);
    }
    return rc;
}

static int encode_file_header(json_t *root, const ls_msg_t *msg)
{
    int rc = 0;
    if (msg->kind == LS_MSG_FILE_CHUNK)
        rc = put_u64(root, "offset", msg->u.file_header.offset);
    if (rc == 0)
        rc = put_u64(root, "length", msg->u.file_header.length);
    return rc;
}

static int encode_delta(json_t *root, const ls_library_delta_t *d)
{
    int rc = put_u64(root, "from_rev", d->from_rev);
    if (rc == 0)
        rc = put_u64(root, "to_rev", d->to_rev);
    if (rc == 0)
        rc = put_string(root, "digest", d->digest);
    if (rc == 0)
        rc = encode_summaries(root, "changed", d->changed, d->changed_count);
    if (rc == 0)
        rc = encode_strings(root, "removed", d->removed, d->removed_count);
    return rc;
}

static int encode_error(json_t *root, const ls_msg_t *msg)
{
    int rc = put_string(root, "code", ls_proto_wire_error_to_name(msg->u.error.code));
    if (rc == 0)
        rc = put_string(root, "message", msg->u.error.message);
    return rc;
}

static int encode_have(json_t *root, const ls_have_t *have)
{
    size_t bytes = LS_HAVE_BITMAP_LEN(have->chunk_count);
    /* Bounded by LS_HAVE_CHUNKS_MAX, which validation checked. */
    char *hex = malloc(2 * bytes + 1);
    int rc = hex ? put_string(root, "game_id", have->game_id) : LS_ENOMEM;
    if (rc == 0)
        rc = put_string(root, "version", have->version);
    if (rc == 0)
        rc = put_string(root, "manifest_id", have->manifest_id);
    if (rc == 0)
        rc = put_u64(root, "chunk_count", have->chunk_count);
    if (rc == 0) {
        ls_hex_encode(have->bitmap, bytes, hex);
        rc = put_string(root, "bitmap", hex);
    }
    free(hex);
    return rc;
}

static int encode_peers(json_t *root, const ls_peer_list_t *list)
{
    json_t *arr = json_array();
    int rc = put_new(root, "peers", &arr);
    for (size_t i = 0; i < list->count && rc == 0; i++) {
        json_t *entry = json_object();
        rc = append(arr, entry); /* NULL: LS_ENOMEM */
        if (rc == 0)
            rc = put_string(entry, "peer_id", list->peers[i].peer_id);
        if (rc == 0)
            rc = put_string(entry, "address", list->peers[i].address);
        if (rc == 0 && list->peers[i].library_rev)
            rc = put_u64(entry, "library_rev", list->peers[i].library_rev);
    }
    return rc;
}

static int encode_signed_library(json_t *root, const ls_signed_library_t *sl)
{
    int rc = put_string(root, "peer_id", sl->peer_id);
    if (rc == 0)
        rc = put_string(root, "name", sl->name);
    if (rc == 0)
        rc = put_string(root, "spki", sl->spki);
    if (rc == 0)
        rc = put_string(root, "signature", sl->signature);
    return rc ? rc : encode_library(root, &sl->library);
}

static int encode_body(json_t *root, const ls_msg_t *msg)
{
    switch (msg->kind) {
    case LS_MSG_HELLO:
    case LS_MSG_HELLO_ACK:
        return encode_hello(root, &msg->u.hello);
    case LS_MSG_PING:
    case LS_MSG_PONG:
        return put_u64(root, "nonce", msg->u.nonce);
    case LS_MSG_LIST_GAMES:
        return 0;
    case LS_MSG_GAMES:
        return encode_snapshot_fields(root, &msg->u.games);
    case LS_MSG_GET_GAME:
        return put_string(root, "game_id", msg->u.game_id);
    case LS_MSG_GAME:
        return encode_game(root, &msg->u.game);
    case LS_MSG_GET_FILE_DATA:
    case LS_MSG_GET_FILE_CHUNK:
        return encode_file_request(root, msg);
    case LS_MSG_FILE_DATA:
    case LS_MSG_FILE_CHUNK:
    case LS_MSG_FILE_BATCH:
    case LS_MSG_COVER:
        return encode_file_header(root, msg);
    case LS_MSG_GET_COVER: {
        int rc = put_string(root, "game_id", msg->u.cover_request.game_id);
        return rc ? rc : put_string(root, "sha256", msg->u.cover_request.sha256);
    }
    case LS_MSG_GET_FILE_BATCH:
        return encode_batch_request(root, msg);
    case LS_MSG_LIBRARY_DELTA:
        return encode_delta(root, &msg->u.delta);
    case LS_MSG_LIBRARY_DELTA_ACK:
        return put_u64(root, "acked_rev", msg->u.acked_rev);
    case LS_MSG_ERROR:
        return encode_error(root, msg);
    case LS_MSG_HAVE:
        return encode_have(root, &msg->u.have);
    case LS_MSG_PEERS:
        return encode_peers(root, &msg->u.peer_list);
    case LS_MSG_GET_LIBRARY:
        return put_string(root, "peer_id", msg->u.library_request.peer_id);
    case LS_MSG_SIGNED_LIBRARY:
        return encode_signed_library(root, &msg->u.signed_library);
    case LS_MSG_HAVE_ACK:
    case LS_MSG_HELLO_LIBRARY_ACK:
    case LS_MSG_PEERS_ACK:
        return 0;
    case LS_MSG_HELLO_LIBRARY:
        return encode_library(root, &msg->u.games);
    }
    return LS_EUNKNOWN_KIND;
}

typedef struct {
    uint8_t *data; /* LS_FRAME_HEADER_LEN bytes of room, then the payload */
    size_t len;    /* payload bytes */
    size_t cap;    /* payload bytes of room */
} ls__text_t;

static int text_reserve(ls__text_t *t, size_t more)
{
    if (more > LS_FRAME_MAX || t->len > LS_FRAME_MAX - more)
        return LS_EFRAME_TOO_BIG;
    if (t->len + more <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more)
        cap *= 2;
    uint8_t *grown = realloc(t->data, LS_FRAME_HEADER_LEN + cap);
    if (!grown)
        return LS_ENOMEM;
    t->data = grown;
    t->cap = cap;
    return 0;
}

static int text_append(ls__text_t *t, const char *s, size_t n)
{
    int rc = text_reserve(t, n);
    if (rc == 0) {
        memcpy(t->data + LS_FRAME_HEADER_LEN + t->len, s, n);
        t->len += n;
    }
    return rc;
}

/* Room made before a dump, so that a value this small (a manifest's file
 * entry) is dumped once rather than once to size it and once to write it:
 * the manifest of 40,000 files was a third of its seeder's CPU. */
#define TEXT_DUMP_ROOM 1024
/* The same for a whole message: a batch request of LS_BATCH_RANGES_MAX
 * ranges with short paths fits. */
#define FRAME_DUMP_ROOM (16u * 1024u)

/* Dumps v at the end of t: into the room reserved (`room` bytes, fewer near
 * the frame limit), and a second time only when it did not fit. */
static int text_append_json(ls__text_t *t, json_t *v, size_t room)
{
    if (room > LS_FRAME_MAX - t->len)
        room = LS_FRAME_MAX - t->len;
    int rc = text_reserve(t, room);
    if (rc != 0)
        return rc;
    size_t avail = t->cap - t->len;
    size_t n = json_dumpb(v, (char *)t->data + LS_FRAME_HEADER_LEN + t->len, avail, JSON_COMPACT);
    if (n == 0)
        return LS_ENOMEM;
    if (n > avail) {
        rc = text_reserve(t, n);
        if (rc == 0 &&
            json_dumpb(v, (char *)t->data + LS_FRAME_HEADER_LEN + t->len, n, JSON_COMPACT) != n)
            rc = LS_ENOMEM;
    }
    t->len += rc == 0 ? n : 0;
    return rc;
}

/* Puts the frame header before t's payload and hands the frame over. */
static void text_to_frame(ls__text_t *t, uint8_t **frame, size_t *frame_len)
{
    t->data[0] = (uint8_t)(t->len >> 24);
    t->data[1] = (uint8_t)(t->len >> 16);
    t->data[2] = (uint8_t)(t->len >> 8);
    t->data[3] = (uint8_t)t->len;
    *frame = t->data;
    *frame_len = LS_FRAME_HEADER_LEN + t->len;
}

/* The frame limit is checked before the text is written past the room;
 * the room left over is given back (a queued frame holds only its text). */
static int dump_frame(json_t *root, uint8_t **frame, size_t *frame_len)
{
    ls__text_t t = {0};
    int rc = text_append_json(&t, root, FRAME_DUMP_ROOM);
    if (rc != 0) {
        free(t.data);
        return rc;
    }
    uint8_t *fit = realloc(t.data, LS_FRAME_HEADER_LEN + t.len);
    if (fit)
        t.data = fit;
    text_to_frame(&t, frame, frame_len);
    return 0;
}

/* A manifest of many files would be a tree of several objects per file
 * (tens of MiB for 40,000 files) before its text exists: each file is
 * dumped on its own instead, so the peak is the text plus one file. */
static int dump_game_frame(json_t *root, const ls_game_manifest_t *m, uint8_t **frame,
                           size_t *frame_len)
{
    static const char tail[] = "[]}"; /* the empty files array, last */
    ls__text_t t = {0};
    json_t *obj = NULL;
    int rc = text_append_json(&t, root, TEXT_DUMP_ROOM);
    if (rc == 0 &&
        (t.len < sizeof tail - 1 || memcmp(t.data + LS_FRAME_HEADER_LEN + t.len - 3, tail, 3) != 0))
        rc = LS_EINVAL;
    if (rc == 0)
        t.len -= 2; /* keep "[" */
    for (size_t i = 0; i < m->file_count && rc == 0; i++) {
        obj = json_object();
        rc = i ? text_append(&t, ",", 1) : 0;
        if (rc == 0)
            rc = encode_file(obj, &m->files[i]);
        if (rc == 0)
            rc = text_append_json(&t, obj, TEXT_DUMP_ROOM);
        json_decref(obj);
    }
    if (rc == 0)
        rc = text_append(&t, "]}", 2);
    if (rc != 0) {
        free(t.data);
        return rc;
    }
    text_to_frame(&t, frame, frame_len);
    return 0;
}

int ls_msg_encode(const ls_msg_t *msg, uint8_t **frame, size_t *frame_len)
{
    ls_proto_ctx_t ctx;
    char detail[256];
    json_t *root = NULL;
    int rc;

    if (!msg || !frame || !frame_len)
        return LS_EINVAL;
    *frame = NULL;
    *frame_len = 0;
    ls_proto_ctx_init(&ctx, detail, sizeof detail);
    rc = ls_proto_validate(&ctx, msg);
    if (rc != 0) {
        /* A message we built ourselves is wrong: worth a line in the log. */
        ls_warn("proto", "refusing to encode %s: %s (%s)", ls_msg_kind_name(msg->kind), detail,
                ls_strerror(rc));
        goto out;
    }
    root = json_object();
    if (!root) {
        rc = LS_ENOMEM;
        goto out;
    }
    rc = put_string(root, "kind", ls_proto_kind_to_name(msg->kind));
    if (rc == 0)
        rc = encode_body(root, msg);
    if (rc == 0 && msg->kind == LS_MSG_GAME)
        rc = dump_game_frame(root, &msg->u.game, frame, frame_len);
    else if (rc == 0)
        rc = dump_frame(root, frame, frame_len);
out:
    json_decref(root);
    return rc;
}
