/* Protocol v4 codec: round trips of every message kind, one test per
 * decoder failure, frame header edge cases, and the snapshot digest. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/proto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define GAME "{\"id\":\"doom\",\"name\":\"Doom\",\"version\":\"1.9\",\"size\":5,\"file_count\":1}"
#define LIBRARY "{\"library_rev\":7,\"digest\":\"" D64 "\",\"games\":[" GAME "]}"
#define HELLO_WITH(extra)                                                                          \
    "{\"kind\":\"hello\",\"protocol_version\":5,\"peer_id\":\"p1\",\"name\":\"alpha\","            \
    "\"listen_port\":4433,\"features\":[\"chunks\"]," extra "\"library\":" LIBRARY "}"
#define HELLO HELLO_WITH("")
#define FILE_ENTRY(path) "{\"path\":\"" path "\",\"size\":0,\"is_dir\":false,\"chunk_sha256\":[]}"
#define GAME_MSG_WITH(files)                                                                       \
    "{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1.9\",\"chunk_size\":4194304,"          \
    "\"files\":[" files "]}"
#define CHUNK_REQ(path, offset, length)                                                            \
    "{\"kind\":\"get_game_file_chunk\",\"game_id\":\"doom\",\"path\":\"" path "\","                \
    "\"offset\":" offset ",\"length\":" length "}"
#define HAVE_WITH(fields) "{\"kind\":\"have\",\"game_id\":\"doom\",\"version\":\"1.9\"," fields "}"
#define HAVE(count, bitmap)                                                                        \
    HAVE_WITH("\"manifest_id\":\"" D64 "\",\"chunk_count\":" count ",\"bitmap\":\"" bitmap "\"")
#define PEERS_WITH(entries) "{\"kind\":\"peers\",\"peers\":[" entries "]}"
#define PEER_ENTRY(address) "{\"peer_id\":\"" D64 "\",\"address\":\"" address "\"}"
/* The last message kind: tests that cover every kind run up to it. */
#define LAST_KIND LS_MSG_SIGNED_LIBRARY

static char *xstrdup(const char *s)
{
    char *copy = strdup(s);
    assert_non_null(copy);
    return copy;
}

static void assert_message_is_empty(const ls_msg_t *msg)
{
    ls_msg_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(msg, &zero, sizeof zero);
}

/* Decodes a JSON text; on failure checks that nothing is left to free and
 * that the detail names `field` (when given). */
static int decode_text(const char *json, const char *field)
{
    ls_msg_t msg;
    char detail[256];
    memset(&msg, 0xAB, sizeof msg);
    int rc = ls_msg_decode((const uint8_t *)json, strlen(json), &msg, detail, sizeof detail);
    if (rc == 0) {
        ls_msg_free(&msg);
        return 0;
    }
    assert_message_is_empty(&msg);
    if (field && !strstr(detail, field))
        fail_msg("detail '%s' does not name '%s'", detail, field);
    return rc;
}

/* Encodes, parses the header, decodes: the path every message takes. */
static void round_trip(const ls_msg_t *in, ls_msg_t *out)
{
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    uint32_t payload_len = 0;
    char detail[256] = "";
    assert_int_equal(ls_msg_encode(in, &frame, &frame_len), 0);
    assert_int_equal(ls_frame_parse_header(frame, frame_len, &payload_len), 0);
    assert_int_equal(payload_len, frame_len - LS_FRAME_HEADER_LEN);
    int rc = ls_msg_decode(frame + LS_FRAME_HEADER_LEN, payload_len, out, detail, sizeof detail);
    if (rc != 0)
        fail_msg("decode failed: %s (%s)", ls_strerror(rc), detail);
    assert_int_equal(out->kind, in->kind);
    free(frame);
}

static void fill_summary(ls_game_summary_t *g, const char *id, const char *name,
                         const char *version, uint64_t size, uint64_t file_count)
{
    g->id = xstrdup(id);
    g->name = xstrdup(name);
    g->version = xstrdup(version);
    g->size = size;
    g->file_count = file_count;
}

static void fill_snapshot(ls_library_snapshot_t *snap)
{
    snap->library_rev = 42;
    snap->game_count = 2;
    snap->games = calloc(2, sizeof *snap->games);
    assert_non_null(snap->games);
    fill_summary(&snap->games[0], "quake3", "Quake III: Arena \xc3\xa9", "1.32c", 512000000, 77);
    fill_summary(&snap->games[1], "ut2004", "Unreal \"Tournament\" 2004", "", 0, 0);
    assert_int_equal(ls_snapshot_digest(snap->games, snap->game_count, snap->digest), 0);
}

static void assert_summary_equal(const ls_game_summary_t *a, const ls_game_summary_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->version, b->version);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->file_count, b->file_count);
}

static void assert_snapshot_equal(const ls_library_snapshot_t *a, const ls_library_snapshot_t *b)
{
    assert_int_equal(a->library_rev, b->library_rev);
    assert_string_equal(a->digest, b->digest);
    assert_int_equal(a->game_count, b->game_count);
    for (size_t i = 0; i < a->game_count; i++)
        assert_summary_equal(&a->games[i], &b->games[i]);
}

static void fill_hello(ls_msg_t *msg, ls_msg_kind_t kind, bool with_proof)
{
    memset(msg, 0, sizeof *msg);
    msg->kind = kind;
    ls_hello_t *h = &msg->u.hello;
    h->protocol_version = LS_PROTOCOL_VERSION;
    h->peer_id = xstrdup("5f1c-peer");
    h->name = xstrdup("alpha's laptop");
    h->listen_port = 65535;
    h->feature_count = 2;
    h->features = calloc(2, sizeof *h->features);
    assert_non_null(h->features);
    h->features[0] = xstrdup("chunks");
    h->features[1] = xstrdup("delta");
    h->party_proof = with_proof ? xstrdup("proof/+=") : NULL;
    fill_snapshot(&h->library);
}

static void assert_hello_equal(const ls_hello_t *a, const ls_hello_t *b)
{
    assert_int_equal(a->protocol_version, b->protocol_version);
    assert_string_equal(a->peer_id, b->peer_id);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->listen_port, b->listen_port);
    assert_int_equal(a->feature_count, b->feature_count);
    for (size_t i = 0; i < a->feature_count; i++)
        assert_string_equal(a->features[i], b->features[i]);
    if (a->party_proof)
        assert_string_equal(a->party_proof, b->party_proof);
    else
        assert_null(b->party_proof);
    assert_snapshot_equal(&a->library, &b->library);
}

static void hello_round_trips_with_its_library_snapshot(void **state)
{
    (void)state;
    ls_msg_t in, out;
    fill_hello(&in, LS_MSG_HELLO, true);
    round_trip(&in, &out);
    assert_hello_equal(&in.u.hello, &out.u.hello);
    ls_msg_free(&in);
    ls_msg_free(&out);
}

static void hello_ack_round_trips_without_party_proof(void **state)
{
    (void)state;
    ls_msg_t in, out;
    fill_hello(&in, LS_MSG_HELLO_ACK, false);
    round_trip(&in, &out);
    assert_hello_equal(&in.u.hello, &out.u.hello);
    ls_msg_free(&in);
    ls_msg_free(&out);
}

static void hello_may_defer_its_library_to_hello_library(void **state)
{
    (void)state;
    ls_msg_t in, out, lib = {.kind = LS_MSG_HELLO_LIBRARY}, lib_out;
    fill_hello(&in, LS_MSG_HELLO, true);
    ls_snapshot_free(&in.u.hello.library);
    in.u.hello.is_library_deferred = true;
    round_trip(&in, &out);
    assert_true(out.u.hello.is_library_deferred);
    assert_int_equal(out.u.hello.library.game_count, 0);
    assert_hello_equal(&in.u.hello, &out.u.hello);
    /* the library then travels alone */
    fill_snapshot(&lib.u.games);
    round_trip(&lib, &lib_out);
    assert_snapshot_equal(&lib.u.games, &lib_out.u.games);
    /* a hello_ack never defers its library: the encoder refuses it */
    in.kind = LS_MSG_HELLO_ACK;
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(ls_msg_encode(&in, &frame, &len), LS_EMISSING);
    assert_null(frame);
    in.kind = LS_MSG_HELLO;
    ls_msg_free(&in);
    ls_msg_free(&out);
    ls_msg_free(&lib);
    ls_msg_free(&lib_out);
}

static void ping_pong_and_delta_ack_round_trip_their_number(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_PING, .u.nonce = (uint64_t)INT64_MAX};
    ls_msg_t out;
    round_trip(&in, &out);
    assert_int_equal(out.u.nonce, (uint64_t)INT64_MAX);
    ls_msg_free(&out);
    in.kind = LS_MSG_PONG;
    in.u.nonce = 12345;
    round_trip(&in, &out);
    assert_int_equal(out.u.nonce, 12345);
    ls_msg_free(&out);
    in.kind = LS_MSG_LIBRARY_DELTA_ACK;
    in.u.acked_rev = 99;
    round_trip(&in, &out);
    assert_int_equal(out.u.acked_rev, 99);
    ls_msg_free(&out);
}

static void list_games_round_trips_and_games_carries_the_snapshot(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_LIST_GAMES};
    ls_msg_t out;
    round_trip(&in, &out);
    ls_msg_free(&out);

    in.kind = LS_MSG_GAMES;
    fill_snapshot(&in.u.games);
    round_trip(&in, &out);
    assert_snapshot_equal(&in.u.games, &out.u.games);
    ls_msg_free(&in);
    ls_msg_free(&out);
}

static void get_game_round_trips_its_id(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_GET_GAME};
    ls_msg_t out;
    in.u.game_id = xstrdup("ut2004_goty-1.1");
    round_trip(&in, &out);
    assert_string_equal(out.u.game_id, "ut2004_goty-1.1");
    ls_msg_free(&in);
    ls_msg_free(&out);
}

static void game_manifest_round_trips_files_dirs_and_chunk_hashes(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_GAME};
    ls_msg_t out;
    ls_game_manifest_t *m = &in.u.game;
    m->game_id = xstrdup("quake3");
    m->version = xstrdup("1.32c");
    m->chunk_size = LS_CHUNK_SIZE;
    m->file_count = 3;
    m->files = calloc(3, sizeof *m->files);
    assert_non_null(m->files);
    m->files[0].path = xstrdup("baseq3");
    m->files[0].is_dir = true;
    m->files[1].path = xstrdup("baseq3/pak0.pk3");
    m->files[1].size = 2ull * LS_CHUNK_SIZE + 1;
    m->files[1].chunk_count = 3;
    m->files[1].chunk_sha256 = calloc(3, LS_SHA256_LEN);
    assert_non_null(m->files[1].chunk_sha256);
    ls_test_fill(m->files[1].chunk_sha256, 3 * LS_SHA256_LEN, 7);
    m->files[2].path = xstrdup("version.ini");
    m->files[2].size = 0;

    round_trip(&in, &out);
    ls_game_manifest_t *r = &out.u.game;
    assert_string_equal(r->game_id, "quake3");
    assert_string_equal(r->version, "1.32c");
    assert_int_equal(r->chunk_size, LS_CHUNK_SIZE);
    assert_int_equal(r->file_count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r->files[i].path, m->files[i].path);
        assert_int_equal(r->files[i].size, m->files[i].size);
        assert_int_equal(r->files[i].is_dir, m->files[i].is_dir);
        assert_int_equal(r->files[i].chunk_count, m->files[i].chunk_count);
    }
    assert_memory_equal(r->files[1].chunk_sha256, m->files[1].chunk_sha256, 3 * LS_SHA256_LEN);
    ls_msg_free(&in);
    ls_msg_free(&out);
}

#define META_WITH(fields) ",\"meta\":{" fields "}}"
#define GAME_MSG_META(fields)                                                                      \
    "{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1.9\",\"chunk_size\":4194304,"          \
    "\"files\":[]" META_WITH(fields)
#define META_COUNTS "\"max_players\":4,\"release_year\":1993"

static void game_meta_round_trips_and_is_optional(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_GAME};
    ls_msg_t out;
    ls_game_manifest_t *m = &in.u.game;
    m->game_id = xstrdup("doom");
    m->version = xstrdup("1.9");
    m->chunk_size = LS_CHUNK_SIZE;
    m->meta = calloc(1, sizeof *m->meta);
    assert_non_null(m->meta);
    m->meta->name = xstrdup("Doom");
    m->meta->description = xstrdup("Rip and tear, in UTF-8: \xc3\xa9");
    m->meta->max_players = LS_PLAYERS_MAX;
    m->meta->release_year = 1993;
    round_trip(&in, &out);
    assert_non_null(out.u.game.meta);
    assert_string_equal(out.u.game.meta->name, "Doom");
    assert_string_equal(out.u.game.meta->description, m->meta->description);
    assert_null(out.u.game.meta->genre); /* absent stays absent */
    assert_int_equal(out.u.game.meta->max_players, LS_PLAYERS_MAX);
    assert_int_equal(out.u.game.meta->release_year, 1993);
    ls_msg_free(&out);

    /* A copy carries it; a manifest without it decodes as before. */
    ls_game_manifest_t copy;
    assert_int_equal(ls_manifest_copy(&copy, m), 0);
    assert_string_equal(copy.meta->description, m->meta->description);
    ls_manifest_free(&copy);
    ls_msg_free(&in);
    assert_int_equal(decode_text(GAME_MSG_WITH(""), NULL), 0);
    assert_int_equal(decode_text(GAME_MSG_META("\"name\":\"D\",\"genre\":\"\"," META_COUNTS), NULL),
                     0);
}

/* Every field of game.meta is checked as strictly as the rest, with the
 * bounds of a catalog entry. */
static void game_meta_is_decoded_strictly(void **state)
{
    (void)state;
    char text[LS_DESCRIPTION_MAX + 2];
    char json[LS_DESCRIPTION_MAX + 512];
    assert_int_equal(
        decode_text(GAME_MSG_META("\"name\":\"D\",\"rating\":5," META_COUNTS), "meta.rating"),
        LS_EUNKNOWN_FIELD);
    assert_int_equal(decode_text(GAME_MSG_META(META_COUNTS), "meta.name"), LS_EMISSING);
    assert_int_equal(
        decode_text(GAME_MSG_META("\"name\":\"D\",\"max_players\":4"), "meta.release_year"),
        LS_EMISSING);
    assert_int_equal(decode_text(GAME_MSG_META("\"name\":\"\"," META_COUNTS), "meta.name"),
                     LS_ERANGE);
    assert_int_equal(
        decode_text(GAME_MSG_META("\"name\":\"D\",\"genre\":null," META_COUNTS), "meta.genre"),
        LS_ETYPE);
    assert_int_equal(decode_text(GAME_MSG_META("\"name\":\"D\\u0000\"," META_COUNTS), "meta.name"),
                     LS_ERANGE);
    assert_int_equal(
        decode_text(GAME_MSG_META("\"name\":\"D\",\"max_players\":1025,\"release_year\":0"),
                    "meta.max_players"),
        LS_ERANGE);
    assert_int_equal(
        decode_text(GAME_MSG_META("\"name\":\"D\",\"max_players\":0,\"release_year\":10000"),
                    "meta.release_year"),
        LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1\","
                                 "\"chunk_size\":4194304,\"files\":[],\"meta\":[]}",
                                 "meta"),
                     LS_ETYPE);
    memset(text, 'd', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    snprintf(json, sizeof json, GAME_MSG_META("\"name\":\"D\",\"description\":\"%s\"," META_COUNTS),
             text);
    assert_int_equal(decode_text(json, "meta.description"), LS_ERANGE);
    text[LS_DESCRIPTION_MAX] = '\0'; /* exactly the limit is fine */
    snprintf(json, sizeof json, GAME_MSG_META("\"name\":\"D\",\"description\":\"%s\"," META_COUNTS),
             text);
    assert_int_equal(decode_text(json, NULL), 0);
    text[LS_NAME_MAX + 1] = '\0';
    snprintf(json, sizeof json, GAME_MSG_META("\"name\":\"%s\"," META_COUNTS), text);
    assert_int_equal(decode_text(json, "meta.name"), LS_ERANGE);
    text[LS_GENRE_MAX + 1] = '\0';
    snprintf(json, sizeof json, GAME_MSG_META("\"name\":\"D\",\"genre\":\"%s\"," META_COUNTS),
             text);
    assert_int_equal(decode_text(json, "meta.genre"), LS_ERANGE);
}

static void file_requests_round_trip_game_path_and_range(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_GET_FILE_DATA};
    ls_msg_t out;
    in.u.file_request.game_id = xstrdup("quake3");
    in.u.file_request.path = xstrdup("baseq3/pak0.pk3");
    round_trip(&in, &out);
    assert_string_equal(out.u.file_request.game_id, "quake3");
    assert_string_equal(out.u.file_request.path, "baseq3/pak0.pk3");
    assert_int_equal(out.u.file_request.offset, 0);
    assert_int_equal(out.u.file_request.length, 0);
    ls_msg_free(&out);

    in.kind = LS_MSG_GET_FILE_CHUNK;
    in.u.file_request.offset = 3ull * LS_CHUNK_SIZE;
    in.u.file_request.length = LS_CHUNK_SIZE;
    round_trip(&in, &out);
    assert_string_equal(out.u.file_request.path, "baseq3/pak0.pk3");
    assert_int_equal(out.u.file_request.offset, 3ull * LS_CHUNK_SIZE);
    assert_int_equal(out.u.file_request.length, LS_CHUNK_SIZE);
    ls_msg_free(&out);
    ls_msg_free(&in);
}

static void file_headers_round_trip_offset_and_length(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_FILE_DATA};
    ls_msg_t out;
    in.u.file_header.length = 10000000000ull;
    round_trip(&in, &out);
    assert_int_equal(out.u.file_header.offset, 0);
    assert_int_equal(out.u.file_header.length, 10000000000ull);
    ls_msg_free(&out);

    in.kind = LS_MSG_FILE_CHUNK;
    in.u.file_header.offset = 8ull * LS_CHUNK_SIZE;
    in.u.file_header.length = 1234;
    round_trip(&in, &out);
    assert_int_equal(out.u.file_header.offset, 8ull * LS_CHUNK_SIZE);
    assert_int_equal(out.u.file_header.length, 1234);
    ls_msg_free(&out);
}

static void batch_request_round_trips_its_ranges_and_file_batch_its_length(void **state)
{
    (void)state;
    ls_file_range_t ranges[2] = {{.path = "a/b.txt", .offset = 0, .length = 10},
                                 {.path = "c.cfg", .offset = 5, .length = 3}};
    ls_msg_t in = {.kind = LS_MSG_GET_FILE_BATCH};
    ls_msg_t out;
    in.u.batch_request.game_id = "quake3";
    in.u.batch_request.ranges = ranges;
    in.u.batch_request.range_count = 2;
    round_trip(&in, &out);
    assert_string_equal(out.u.batch_request.game_id, "quake3");
    assert_int_equal(out.u.batch_request.range_count, 2);
    assert_string_equal(out.u.batch_request.ranges[1].path, "c.cfg");
    assert_int_equal(out.u.batch_request.ranges[1].offset, 5);
    assert_int_equal(out.u.batch_request.ranges[1].length, 3);
    ls_msg_free(&out);

    ls_msg_t header = {.kind = LS_MSG_FILE_BATCH, .u.file_header.length = LS_BATCH_BYTES_MAX};
    round_trip(&header, &out);
    assert_int_equal(out.u.file_header.length, LS_BATCH_BYTES_MAX);
    ls_msg_free(&out);
}

static void batch_request_is_bounded(void **state)
{
    (void)state;
    char big[256];
    assert_int_equal(decode_text("{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\","
                                 "\"ranges\":[]}",
                                 "ranges"),
                     LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\","
                                 "\"ranges\":[{\"path\":\"a\",\"offset\":0,\"length\":0}]}",
                                 "length"),
                     LS_ERANGE);
    assert_int_not_equal(decode_text("{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\","
                                     "\"ranges\":[{\"path\":\"../a\",\"offset\":0,\"length\":1}]}",
                                     "path"),
                         0);
    /* two ranges that are each allowed but together exceed the batch */
    snprintf(big, sizeof big,
             "{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\",\"ranges\":["
             "{\"path\":\"a\",\"offset\":0,\"length\":%u},"
             "{\"path\":\"b\",\"offset\":0,\"length\":1}]}",
             LS_BATCH_BYTES_MAX);
    assert_int_equal(decode_text(big, "length"), LS_ERANGE);
    snprintf(big, sizeof big, "{\"kind\":\"file_batch\",\"length\":%u}", LS_BATCH_BYTES_MAX + 1);
    assert_int_equal(decode_text(big, "length"), LS_ERANGE);

    /* more than LS_BATCH_RANGES_MAX ranges */
    size_t cap = 64 + (LS_BATCH_RANGES_MAX + 1) * 48;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t at = (size_t)snprintf(
        text, cap, "{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\",\"ranges\":[");
    for (unsigned i = 0; i <= LS_BATCH_RANGES_MAX; i++)
        at += (size_t)snprintf(text + at, cap - at,
                               "%s{\"path\":\"f%u\",\"offset\":0,\"length\":1}", i ? "," : "", i);
    snprintf(text + at, cap - at, "]}");
    assert_int_not_equal(decode_text(text, "ranges"), 0);

    /* the detail names the element: ranges[0], then 12 good ones before a bad ranges[12] */
    assert_int_equal(decode_text("{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\","
                                 "\"ranges\":[{\"path\":\"a\",\"offset\":0,\"length\":0}]}",
                                 "ranges[0].length"),
                     LS_ERANGE);
    at = (size_t)snprintf(text, cap,
                          "{\"kind\":\"get_game_file_batch\",\"game_id\":\"q\",\"ranges\":[");
    for (unsigned i = 0; i <= 12; i++)
        at +=
            (size_t)snprintf(text + at, cap - at, "%s{\"path\":\"f%u\",\"offset\":0,\"length\":%u}",
                             i ? "," : "", i, i < 12 ? 1u : 0u);
    snprintf(text + at, cap - at, "]}");
    assert_int_equal(decode_text(text, "ranges[12].length"), LS_ERANGE);
    free(text);
}

static const char cover_hash[] = "3fa405a8301ace34d11cf44a816080b8f0e49a48fbd048b8aef1543a8c58bdb6";

static void summaries_carry_an_optional_cover_outside_the_digest(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_GAMES}, out;
    char plain_digest[LS_SHA256_HEX_LEN + 1];
    fill_snapshot(&in.u.games);
    memcpy(plain_digest, in.u.games.digest, sizeof plain_digest);
    in.u.games.games[0].cover = xstrdup(cover_hash);
    in.u.games.games[0].cover_size = LS_COVER_MAX;
    /* the cover is not in the digest: a peer stripped of it agrees */
    assert_int_equal(ls_snapshot_digest(in.u.games.games, in.u.games.game_count, in.u.games.digest),
                     0);
    assert_string_equal(in.u.games.digest, plain_digest);
    round_trip(&in, &out);
    assert_string_equal(out.u.games.games[0].cover, cover_hash);
    assert_int_equal(out.u.games.games[0].cover_size, LS_COVER_MAX);
    assert_null(out.u.games.games[1].cover);
    assert_int_equal(out.u.games.games[1].cover_size, 0);
    ls_msg_free(&out);
    /* what a peer without the feature is sent: no cover field at all */
    ls_snapshot_strip_covers(in.u.games.games, in.u.games.game_count);
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(ls_msg_encode(&in, &frame, &len), 0);
    assert_null(memmem(frame, len, "cover", 5));
    free(frame);
    ls_msg_free(&in);
}

static void covers_are_decoded_strictly(void **state)
{
    (void)state;
    char text[512];
    const char *game = "{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"%s\",\"games\":[{"
                       "\"id\":\"q\",\"name\":\"Q\",\"version\":\"1\",\"size\":1,"
                       "\"file_count\":1%s}]}";
    const char *d = "0000000000000000000000000000000000000000000000000000000000000000";
    char extra[200];
    snprintf(extra, sizeof extra, ",\"cover_size\":10");
    snprintf(text, sizeof text, game, d, extra);
    assert_int_equal(decode_text(text, "cover"), LS_EMISSING);
    snprintf(extra, sizeof extra, ",\"cover\":\"%s\"", cover_hash);
    snprintf(text, sizeof text, game, d, extra);
    assert_int_equal(decode_text(text, "cover_size"), LS_EMISSING);
    snprintf(extra, sizeof extra, ",\"cover\":\"%s\",\"cover_size\":%u", cover_hash,
             LS_COVER_MAX + 1);
    snprintf(text, sizeof text, game, d, extra);
    assert_int_equal(decode_text(text, "cover_size"), LS_ERANGE);
    snprintf(extra, sizeof extra, ",\"cover\":\"ABC\",\"cover_size\":1");
    snprintf(text, sizeof text, game, d, extra);
    assert_int_equal(decode_text(text, "cover"), LS_ERANGE);
    /* get_cover: an id and a hash; cover: 1..LS_COVER_MAX bytes follow */
    snprintf(text, sizeof text, "{\"kind\":\"get_cover\",\"game_id\":\"../x\",\"sha256\":\"%s\"}",
             cover_hash);
    assert_int_equal(decode_text(text, "game_id"), LS_EINVALID_ID);
    assert_int_equal(
        decode_text("{\"kind\":\"get_cover\",\"game_id\":\"q\",\"sha256\":\"x\"}", "sha256"),
        LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"get_cover\",\"game_id\":\"q\"}", "sha256"),
                     LS_EMISSING);
    assert_int_equal(decode_text("{\"kind\":\"cover\",\"length\":0}", "length"), LS_ERANGE);
    snprintf(text, sizeof text, "{\"kind\":\"cover\",\"length\":%u}", LS_COVER_MAX + 1);
    assert_int_equal(decode_text(text, "length"), LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"cover\",\"offset\":0,\"length\":1}", "offset"),
                     LS_EUNKNOWN_FIELD);
}

static void get_cover_and_cover_round_trip(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_GET_COVER}, out;
    in.u.cover_request.game_id = xstrdup("quake3");
    memcpy(in.u.cover_request.sha256, cover_hash, sizeof cover_hash);
    round_trip(&in, &out);
    assert_string_equal(out.u.cover_request.game_id, "quake3");
    assert_string_equal(out.u.cover_request.sha256, cover_hash);
    ls_msg_free(&out);
    ls_msg_free(&in);
    ls_msg_t header = {.kind = LS_MSG_COVER, .u.file_header.length = LS_COVER_MAX};
    round_trip(&header, &out);
    assert_int_equal(out.u.file_header.length, LS_COVER_MAX);
    ls_msg_free(&out);
}

static void library_delta_round_trips_changes_and_removals(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_LIBRARY_DELTA};
    ls_msg_t out;
    ls_library_delta_t *d = &in.u.delta;
    d->from_rev = 7;
    d->to_rev = 9;
    memcpy(d->digest, D64, sizeof d->digest);
    d->changed_count = 1;
    d->changed = calloc(1, sizeof *d->changed);
    assert_non_null(d->changed);
    fill_summary(&d->changed[0], "doom", "Doom", "1.9", 12, 3);
    d->removed_count = 2;
    d->removed = calloc(2, sizeof *d->removed);
    assert_non_null(d->removed);
    d->removed[0] = xstrdup("hexen");
    d->removed[1] = xstrdup("heretic");

    round_trip(&in, &out);
    assert_int_equal(out.u.delta.from_rev, 7);
    assert_int_equal(out.u.delta.to_rev, 9);
    assert_string_equal(out.u.delta.digest, D64);
    assert_int_equal(out.u.delta.changed_count, 1);
    assert_summary_equal(&out.u.delta.changed[0], &d->changed[0]);
    assert_int_equal(out.u.delta.removed_count, 2);
    assert_string_equal(out.u.delta.removed[0], "hexen");
    assert_string_equal(out.u.delta.removed[1], "heretic");
    ls_msg_free(&in);
    ls_msg_free(&out);
}

static void error_round_trips_every_code_and_its_message(void **state)
{
    (void)state;
    for (int code = LS_WIRE_UNKNOWN_GAME; code <= LS_WIRE_GIVEN; code++) {
        ls_msg_t in = {.kind = LS_MSG_ERROR};
        ls_msg_t out;
        in.u.error.code = (ls_wire_error_t)code;
        in.u.error.message = xstrdup("line\nbreak and \"quotes\"");
        round_trip(&in, &out);
        assert_int_equal(out.u.error.code, code);
        assert_string_equal(out.u.error.message, in.u.error.message);
        ls_msg_free(&in);
        ls_msg_free(&out);
    }
}

static void have_round_trips_its_bitmap_and_have_ack_is_empty(void **state)
{
    (void)state;
    uint8_t bitmap[2] = {0xef, 0x03}; /* chunks 0-3 and 5-9 of 10 */
    ls_msg_t in = {.kind = LS_MSG_HAVE};
    ls_msg_t out;
    in.u.have.game_id = "quake3";
    in.u.have.version = "1.32c";
    memcpy(in.u.have.manifest_id, D64, sizeof in.u.have.manifest_id);
    in.u.have.chunk_count = 10;
    in.u.have.bitmap = bitmap;
    round_trip(&in, &out);
    assert_string_equal(out.u.have.game_id, "quake3");
    assert_string_equal(out.u.have.version, "1.32c");
    assert_string_equal(out.u.have.manifest_id, D64);
    assert_int_equal(out.u.have.chunk_count, 10);
    assert_memory_equal(out.u.have.bitmap, bitmap, sizeof bitmap);
    ls_msg_free(&out);

    /* No chunks: the partial copy is withdrawn, and there is no bitmap. */
    in.u.have.chunk_count = 0;
    in.u.have.bitmap = NULL;
    round_trip(&in, &out);
    assert_int_equal(out.u.have.chunk_count, 0);
    assert_null(out.u.have.bitmap);
    ls_msg_free(&out);

    ls_msg_t ack = {.kind = LS_MSG_HAVE_ACK};
    round_trip(&ack, &out);
    ls_msg_free(&out);
}

static void peers_round_trips_its_addresses_and_peers_ack_is_empty(void **state)
{
    (void)state;
    ls_peer_addr_t list[2] = {{.address = "198.18.0.5:7400"},
                              {.address = "10.0.0.1:1", .library_rev = 7}};
    memcpy(list[0].peer_id, D64, sizeof list[0].peer_id);
    memcpy(list[1].peer_id, D64, sizeof list[1].peer_id);
    list[1].peer_id[0] = 'a';
    ls_msg_t in = {.kind = LS_MSG_PEERS, .u.peer_list = {.peers = list, .count = 2}};
    ls_msg_t out;
    round_trip(&in, &out);
    assert_int_equal(out.u.peer_list.count, 2);
    assert_string_equal(out.u.peer_list.peers[0].address, "198.18.0.5:7400");
    assert_string_equal(out.u.peer_list.peers[1].peer_id, list[1].peer_id);
    /* a linked peer's entry has no library_rev; a relayed one's keeps it */
    assert_int_equal(out.u.peer_list.peers[0].library_rev, 0);
    assert_int_equal(out.u.peer_list.peers[1].library_rev, 7);
    ls_msg_free(&out);

    in.u.peer_list.count = 0; /* no one to tell of: an empty list */
    in.u.peer_list.peers = NULL;
    round_trip(&in, &out);
    assert_int_equal(out.u.peer_list.count, 0);
    ls_msg_free(&out);

    ls_msg_t ack = {.kind = LS_MSG_PEERS_ACK};
    round_trip(&ack, &out);
    ls_msg_free(&out);
}

/* A peer's word on other peers' addresses: one spelling of an IPv4 address
 * and a real port, 64-hex ids, a bounded count, nothing else. */
static void peers_is_decoded_strictly(void **state)
{
    (void)state;
    assert_int_equal(decode_text(PEERS_WITH(PEER_ENTRY("198.18.0.5:7400")), NULL), 0);
    assert_int_equal(decode_text(PEERS_WITH(PEER_ENTRY("255.255.255.255:65535")), NULL), 0);
    assert_int_equal(decode_text(PEERS_WITH(""), NULL), 0);
    static const char *const bad[] = {
        "198.18.0.5",      "198.18.0.5:0",        "198.18.0.5:65536", "198.18.0.5:07400",
        "198.18.0.05:740", "198.18.5:7400",       "[::1]:7400",       "host.local:7400",
        ":7400",           "198.18.0.5:74a0",     "198.18.0.5:-1",    "1.2.3.4:5:6",
        "198.18.0.5 :1",   "198.18.0.255:123456",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, PEERS_WITH("{\"peer_id\":\"" D64 "\",\"address\":\"%s\"}"),
                 bad[i]);
        if (decode_text(text, "address") != LS_ERANGE)
            fail_msg("address '%s' was not refused", bad[i]);
    }
    assert_int_equal(
        decode_text(PEERS_WITH("{\"peer_id\":\"ABC\",\"address\":\"1.2.3.4:5\"}"), "peer_id"),
        LS_ERANGE);
    assert_int_equal(decode_text(PEERS_WITH("{\"peer_id\":\"" D64 "\"}"), "address"), LS_EMISSING);
    assert_int_equal(
        decode_text(PEERS_WITH("{\"peer_id\":\"" D64 "\",\"address\":\"1.2.3.4:5\",\"x\":1}"), "x"),
        LS_EUNKNOWN_FIELD);
    assert_int_equal(decode_text(PEERS_WITH("{\"peer_id\":\"" D64
                                            "\",\"address\":\"1.2.3.4:5\",\"library_rev\":3}"),
                                 NULL),
                     0);
    assert_int_equal(decode_text(PEERS_WITH("{\"peer_id\":\"" D64
                                            "\",\"address\":\"1.2.3.4:5\",\"library_rev\":-1}"),
                                 "library_rev"),
                     LS_ETYPE);
    assert_int_equal(decode_text(PEERS_WITH("7"), "peers"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":\"peers\"}", "peers"), LS_EMISSING);

    /* LS_PEERS_MAX entries are taken, one more is refused before any is decoded */
    size_t entry = strlen(PEER_ENTRY("198.18.0.5:7400")) + 1;
    size_t size = 64 + (LS_PEERS_MAX + 1) * entry;
    char *text = malloc(size);
    assert_non_null(text);
    for (size_t n = LS_PEERS_MAX; n <= LS_PEERS_MAX + 1; n++) {
        size_t len = (size_t)snprintf(text, size, "{\"kind\":\"peers\",\"peers\":[");
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(text + len, size - len, "%s" PEER_ENTRY("198.18.0.5:7400"),
                                    i ? "," : "");
        snprintf(text + len, size - len, "]}");
        assert_int_equal(decode_text(text, "peers"), n == LS_PEERS_MAX ? 0 : LS_ERANGE);
    }
    free(text);
}

/* A have of every chunk the protocol allows stays a small request: 256 KiB
 * of hex and a few fields. */
static void the_largest_have_is_a_bounded_frame(void **state)
{
    (void)state;
    size_t bytes = LS_HAVE_BITMAP_LEN(LS_HAVE_CHUNKS_MAX);
    uint8_t *bitmap = malloc(bytes);
    uint8_t *frame = NULL;
    size_t len = 0;
    ls_msg_t msg = {.kind = LS_MSG_HAVE};
    ls_msg_t out;
    assert_non_null(bitmap);
    memset(bitmap, 0xff, bytes);
    msg.u.have.game_id = "doom";
    msg.u.have.version = "1.9";
    memcpy(msg.u.have.manifest_id, D64, sizeof msg.u.have.manifest_id);
    msg.u.have.chunk_count = LS_HAVE_CHUNKS_MAX;
    msg.u.have.bitmap = bitmap;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), 0);
    assert_true(len <= LS_FRAME_HEADER_LEN + 2 * bytes + 256);
    assert_int_equal(
        ls_msg_decode(frame + LS_FRAME_HEADER_LEN, len - LS_FRAME_HEADER_LEN, &out, NULL, 0), 0);
    assert_memory_equal(out.u.have.bitmap, bitmap, bytes);
    ls_msg_free(&out);
    free(frame);
    frame = NULL;

    msg.u.have.chunk_count = LS_HAVE_CHUNKS_MAX + 1;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), LS_ERANGE);
    assert_null(frame);
    free(bitmap);
}

/* The bitmap has one spelling for each set of chunks: its length follows
 * from chunk_count, its digits are lowercase, its spare bits are 0. */
static void have_is_decoded_strictly(void **state)
{
    (void)state;
    assert_int_equal(decode_text(HAVE("10", "ef03"), NULL), 0);
    assert_int_equal(decode_text(HAVE("8", "ff"), NULL), 0);
    assert_int_equal(decode_text(HAVE("0", ""), NULL), 0);
    assert_int_equal(decode_text("{\"kind\":\"have_ack\"}", NULL), 0);

    /* bad hex */
    assert_int_equal(decode_text(HAVE("10", "eg03"), "bitmap"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("10", "EF03"), "bitmap"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("10", "\\u0000f03"), "bitmap"), LS_ERANGE);
    /* wrong length */
    assert_int_equal(decode_text(HAVE("10", "ef"), "bitmap"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("10", "ef0"), "bitmap"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("10", "ef0300"), "bitmap"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("0", "00"), "bitmap"), LS_ERANGE);
    /* spare bits: chunk 10 of 10, chunk 1 of 1 */
    assert_int_equal(decode_text(HAVE("10", "ef07"), "bitmap"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("1", "02"), "bitmap"), LS_ERANGE);
    /* chunk_count is bounded before the bitmap is looked at */
    assert_int_equal(decode_text(HAVE("1048577", ""), "chunk_count"), LS_ERANGE);
    assert_int_equal(decode_text(HAVE("-1", ""), "chunk_count"), LS_ETYPE);
    /* missing, unknown, duplicate and mistyped fields */
    assert_int_equal(
        decode_text(HAVE_WITH("\"manifest_id\":\"" D64 "\",\"chunk_count\":0"), "bitmap"),
        LS_EMISSING);
    assert_int_equal(decode_text(HAVE_WITH("\"chunk_count\":0,\"bitmap\":\"\""), "manifest_id"),
                     LS_EMISSING);
    assert_int_equal(decode_text("{\"kind\":\"have\",\"version\":\"1\",\"manifest_id\":\"" D64
                                 "\",\"chunk_count\":0,\"bitmap\":\"\"}",
                                 "game_id"),
                     LS_EMISSING);
    assert_int_equal(decode_text(HAVE_WITH("\"manifest_id\":\"" D64
                                           "\",\"chunk_count\":0,\"bitmap\":\"\",\"held\":0"),
                                 "held"),
                     LS_EUNKNOWN_FIELD);
    assert_int_equal(decode_text("{\"kind\":\"have_ack\",\"game_id\":\"doom\"}", "game_id"),
                     LS_EUNKNOWN_FIELD);
    assert_int_equal(decode_text(HAVE_WITH("\"manifest_id\":\"" D64
                                           "\",\"chunk_count\":0,\"bitmap\":\"\",\"bitmap\":\"\""),
                                 NULL),
                     LS_EDUPKEY);
    assert_int_equal(
        decode_text(HAVE_WITH("\"manifest_id\":\"" D64 "\",\"chunk_count\":8,\"bitmap\":255"),
                    "bitmap"),
        LS_ETYPE);
    /* the other fields */
    assert_int_equal(decode_text(HAVE_WITH("\"manifest_id\":\"abc\",\"chunk_count\":0,"
                                           "\"bitmap\":\"\""),
                                 "manifest_id"),
                     LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"have\",\"game_id\":\"../x\",\"version\":\"1\","
                                 "\"manifest_id\":\"" D64 "\",\"chunk_count\":0,\"bitmap\":\"\"}",
                                 "game_id"),
                     LS_EINVALID_ID);
}

static void encoder_refuses_a_have_the_decoder_would_refuse(void **state)
{
    (void)state;
    uint8_t bitmap[2] = {0xff, 0x04}; /* bit 10 of 10 chunks */
    uint8_t *frame = NULL;
    size_t len = 0;
    ls_msg_t msg = {.kind = LS_MSG_HAVE};
    msg.u.have.game_id = "doom";
    msg.u.have.version = "1.9";
    memcpy(msg.u.have.manifest_id, D64, sizeof msg.u.have.manifest_id);
    msg.u.have.chunk_count = 10;
    msg.u.have.bitmap = bitmap;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), LS_ERANGE);
    msg.u.have.bitmap = NULL;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), LS_EMISSING);
    msg.u.have.chunk_count = 0; /* withdrawn: no bitmap needed */
    msg.u.have.manifest_id[0] = 'A';
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), LS_ERANGE);
    assert_null(frame);
}

static void encoder_writes_compact_json_after_a_big_endian_length(void **state)
{
    (void)state;
    ls_msg_t in = {.kind = LS_MSG_PING, .u.nonce = 7};
    uint8_t *frame = NULL;
    size_t len = 0;
    const char *expected = "{\"kind\":\"ping\",\"nonce\":7}";
    assert_int_equal(ls_msg_encode(&in, &frame, &len), 0);
    assert_int_equal(len, 4 + strlen(expected));
    assert_int_equal(frame[0], 0);
    assert_int_equal(frame[1], 0);
    assert_int_equal(frame[2], 0);
    assert_int_equal(frame[3], strlen(expected));
    assert_memory_equal(frame + 4, expected, strlen(expected));
    free(frame);
}

static void encoder_refuses_what_the_decoder_would_refuse(void **state)
{
    (void)state;
    uint8_t *frame = NULL;
    size_t len = 0;
    ls_msg_t msg = {.kind = LS_MSG_GET_GAME, .u.game_id = "../etc"};
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), LS_EINVALID_ID);
    assert_null(frame);
    ls_msg_t ping = {.kind = LS_MSG_PING, .u.nonce = UINT64_MAX};
    assert_int_equal(ls_msg_encode(&ping, &frame, &len), LS_ERANGE);
    ls_msg_t chunk = {.kind = LS_MSG_GET_FILE_CHUNK};
    chunk.u.file_request.game_id = "doom";
    chunk.u.file_request.path = "/etc/passwd";
    chunk.u.file_request.length = 1;
    assert_int_equal(ls_msg_encode(&chunk, &frame, &len), LS_EPATH_ABSOLUTE);
    ls_msg_t bad_kind = {.kind = (ls_msg_kind_t)99};
    assert_int_equal(ls_msg_encode(&bad_kind, &frame, &len), LS_EUNKNOWN_KIND);
    ls_msg_t bad_utf8 = {.kind = LS_MSG_ERROR};
    bad_utf8.u.error.code = LS_WIRE_IO;
    bad_utf8.u.error.message = "\xff\xfe";
    assert_int_equal(ls_msg_encode(&bad_utf8, &frame, &len), LS_EUTF8);
    assert_null(frame);
}

/* One file with enough chunk hashes (67 bytes of JSON each) to pass 16 MiB. */
static void encoder_refuses_a_frame_above_the_maximum(void **state)
{
    (void)state;
    const size_t chunks = LS_FRAME_MAX / 64;
    ls_msg_t msg = {.kind = LS_MSG_GAME};
    ls_file_desc_t file = {.path = "big.pak", .size = (uint64_t)chunks * LS_CHUNK_SIZE};
    uint8_t *frame = NULL;
    size_t len = 0;
    file.chunk_count = chunks;
    file.chunk_sha256 = calloc(chunks, LS_SHA256_LEN);
    assert_non_null(file.chunk_sha256);
    msg.u.game.game_id = "doom";
    msg.u.game.version = "1";
    msg.u.game.chunk_size = LS_CHUNK_SIZE;
    msg.u.game.files = &file;
    msg.u.game.file_count = 1;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), LS_EFRAME_TOO_BIG);
    assert_null(frame);
    /* a quarter of that fits */
    file.chunk_count = chunks / 4;
    file.size = (uint64_t)file.chunk_count * LS_CHUNK_SIZE;
    assert_int_equal(ls_msg_encode(&msg, &frame, &len), 0);
    assert_true(len <= LS_FRAME_HEADER_LEN + LS_FRAME_MAX);
    free(frame);
    free(file.chunk_sha256);
}

/* ---- frame header ---- */

static void frame_header_needs_four_bytes(void **state)
{
    (void)state;
    const uint8_t buf[4] = {0, 0, 0, 10};
    uint32_t n = 0;
    for (size_t len = 0; len < 4; len++)
        assert_int_equal(ls_frame_parse_header(buf, len, &n), LS_EAGAIN);
    assert_int_equal(ls_frame_parse_header(buf, 4, &n), 0);
    assert_int_equal(n, 10);
}

static void frame_header_refuses_oversized_and_empty_frames(void **state)
{
    (void)state;
    uint32_t n = 0;
    const uint8_t too_big[4] = {0x01, 0x00, 0x00, 0x01}; /* LS_FRAME_MAX + 1 */
    const uint8_t largest[4] = {0x01, 0x00, 0x00, 0x00};
    const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    const uint8_t zero[4] = {0, 0, 0, 0};
    assert_int_equal(ls_frame_parse_header(too_big, 4, &n), LS_EFRAME_TOO_BIG);
    assert_int_equal(ls_frame_parse_header(huge, 4, &n), LS_EFRAME_TOO_BIG);
    assert_int_equal(ls_frame_parse_header(zero, 4, &n), LS_EJSON);
    assert_int_equal(ls_frame_parse_header(largest, 4, &n), 0);
    assert_int_equal(n, LS_FRAME_MAX);
}

/* The length is checked before a byte of the payload is read: ASan would
 * report the 1-byte buffer being read past its end. */
static void decoder_checks_payload_size_before_reading_it(void **state)
{
    (void)state;
    uint8_t *one = malloc(1);
    assert_non_null(one);
    one[0] = '{';
    ls_msg_t msg;
    assert_int_equal(ls_msg_decode(one, (size_t)LS_FRAME_MAX + 1, &msg, NULL, 0),
                     LS_EFRAME_TOO_BIG);
    assert_message_is_empty(&msg);
    assert_int_equal(ls_msg_decode(one, 0, &msg, NULL, 0), LS_EJSON);
    free(one);
}

/* ---- decoder failures, one code each ---- */

static void valid_texts_decode(void **state)
{
    (void)state;
    assert_int_equal(decode_text(HELLO, NULL), 0);
    assert_int_equal(decode_text(HELLO_WITH("\"party_proof\":\"x\","), NULL), 0);
    assert_int_equal(decode_text(GAME_MSG_WITH(FILE_ENTRY("a/b.txt")), NULL), 0);
    assert_int_equal(decode_text(CHUNK_REQ("a/b", "0", "1"), NULL), 0);
    assert_int_equal(decode_text("{\"kind\":\"list_games\"}", NULL), 0);
    /* whitespace and escapes are fine */
    assert_int_equal(decode_text(" { \"kind\" : \"ping\" , \"nonce\" : 1 } ", NULL), 0);
}

static void malformed_json_is_ejson(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1", NULL), LS_EJSON);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1}{}", NULL), LS_EJSON);
    assert_int_equal(decode_text("kind=ping", NULL), LS_EJSON);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":01}", NULL), LS_EJSON);
    assert_int_equal(
        decode_text("{\"kind\":\"error\",\"code\":\"io\",\"message\":\"\\ud800\"}", NULL),
        LS_EJSON);
}

static void invalid_utf8_is_eutf8(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"error\",\"code\":\"io\",\"message\":\"\xff\"}", NULL),
                     LS_EUTF8);
    /* overlong '/', an encoded surrogate, a truncated sequence */
    assert_int_equal(
        decode_text("{\"kind\":\"error\",\"code\":\"io\",\"message\":\"\xc0\xaf\"}", NULL),
        LS_EUTF8);
    assert_int_equal(
        decode_text("{\"kind\":\"error\",\"code\":\"io\",\"message\":\"\xed\xa0\x80\"}", NULL),
        LS_EUTF8);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1}\xe2\x82", NULL), LS_EUTF8);
}

static void duplicate_keys_are_edupkey(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1,\"nonce\":2}", NULL), LS_EDUPKEY);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"kind\":\"pong\",\"nonce\":1}", NULL),
                     LS_EDUPKEY);
    /* nested: a game entry with two names */
    assert_int_equal(decode_text("{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
                                 "\",\"games\":[{\"id\":\"a\",\"name\":\"x\",\"name\":\"y\","
                                 "\"version\":\"\",\"size\":0,\"file_count\":0}]}",
                                 NULL),
                     LS_EDUPKEY);
}

static void the_same_game_twice_in_a_snapshot_is_edupkey(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
                                 "\",\"games\":[" GAME "," GAME "]}",
                                 "games"),
                     LS_EDUPKEY);
    assert_int_equal(
        decode_text(GAME_MSG_WITH(FILE_ENTRY("a.txt") "," FILE_ENTRY("a.txt")), "files"),
        LS_EDUPKEY);
    assert_int_equal(decode_text("{\"kind\":\"library_delta\",\"from_rev\":1,\"to_rev\":2,"
                                 "\"digest\":\"" D64 "\",\"changed\":[" GAME
                                 "],\"removed\":[\"doom\"]}",
                                 "changed"),
                     LS_EDUPKEY);
}

static void wrong_types_are_etype(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":\"1\"}", "nonce"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1.0}", "nonce"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1e3}", "nonce"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":-1}", "nonce"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":null}", "nonce"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":1,\"nonce\":1}", "kind"), LS_ETYPE);
    assert_int_equal(decode_text("[{\"kind\":\"ping\",\"nonce\":1}]", NULL), LS_ETYPE);
    assert_int_equal(decode_text(GAME_MSG_WITH("{\"path\":\"a\",\"size\":0,\"is_dir\":0,"
                                               "\"chunk_sha256\":[]}"),
                                 "files[0].is_dir"),
                     LS_ETYPE);
    assert_int_equal(decode_text(HELLO_WITH("\"party_proof\":null,"), "party_proof"), LS_ETYPE);
    assert_int_equal(decode_text("{\"kind\":\"hello\",\"protocol_version\":5,\"peer_id\":\"p\","
                                 "\"name\":\"n\",\"listen_port\":1,\"features\":\"chunks\","
                                 "\"library\":" LIBRARY "}",
                                 "features"),
                     LS_ETYPE);
    assert_int_equal(decode_text(GAME_MSG_WITH("\"a.txt\""), "files[0]"), LS_ETYPE);
}

static void missing_fields_are_emissing(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"ping\"}", "nonce"), LS_EMISSING);
    assert_int_equal(decode_text("{\"nonce\":1}", "kind"), LS_EMISSING);
    /* Only a hello may leave its library out (it follows in hello_library). */
    assert_int_equal(decode_text("{\"kind\":\"hello_ack\",\"protocol_version\":5,"
                                 "\"peer_id\":\"p\",\"name\":\"n\",\"listen_port\":1,"
                                 "\"features\":[]}",
                                 "library"),
                     LS_EMISSING);
    assert_int_equal(decode_text("{\"kind\":\"hello_library\"}", "library"), LS_EMISSING);
    assert_int_equal(decode_text("{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
                                 "\",\"games\":[{\"id\":\"a\",\"name\":\"x\","
                                 "\"version\":\"\",\"size\":0}]}",
                                 "games[0].file_count"),
                     LS_EMISSING);
}

static void unknown_kind_is_eunknown_kind(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"library_summary\"}", "kind"), LS_EUNKNOWN_KIND);
    assert_int_equal(decode_text("{\"kind\":\"PING\",\"nonce\":1}", "kind"), LS_EUNKNOWN_KIND);
}

static void unknown_fields_are_eunknown_field(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1,\"extra\":true}", "extra"),
                     LS_EUNKNOWN_FIELD);
    /* a key with a line break cannot forge a second log line */
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1,\"x\\ny\":true}", "x?y"),
                     LS_EUNKNOWN_FIELD);
    /* file_data has no offset: it always starts at 0 */
    assert_int_equal(decode_text("{\"kind\":\"file_data\",\"offset\":0,\"length\":1}", "offset"),
                     LS_EUNKNOWN_FIELD);
    /* the snapshot carries the rev: hello does not duplicate it */
    assert_int_equal(decode_text(HELLO_WITH("\"library_rev\":7,"), "library_rev"),
                     LS_EUNKNOWN_FIELD);
    assert_int_equal(decode_text(GAME_MSG_WITH("{\"path\":\"a\",\"size\":0,\"is_dir\":false,"
                                               "\"chunk_sha256\":[],\"mode\":420}"),
                                 "files[0].mode"),
                     LS_EUNKNOWN_FIELD);
}

static void over_long_strings_are_erange(void **state)
{
    (void)state;
    char name[LS_NAME_MAX + 2];
    char json[512];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(json, sizeof json,
             "{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
             "\",\"games\":[{\"id\":\"a\",\"name\":\"%s\",\"version\":\"\",\"size\":0,"
             "\"file_count\":0}]}",
             name);
    assert_int_equal(decode_text(json, "games[0].name"), LS_ERANGE);
    name[LS_NAME_MAX] = '\0'; /* exactly the limit is fine */
    snprintf(json, sizeof json,
             "{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
             "\",\"games\":[{\"id\":\"a\",\"name\":\"%s\",\"version\":\"\",\"size\":0,"
             "\"file_count\":0}]}",
             name);
    assert_int_equal(decode_text(json, NULL), 0);
    assert_int_equal(decode_text("{\"kind\":\"hello\",\"protocol_version\":5,\"peer_id\":\"\","
                                 "\"name\":\"n\",\"listen_port\":1,\"features\":[],"
                                 "\"library\":" LIBRARY "}",
                                 "peer_id"),
                     LS_ERANGE);
}

/* Builds {"kind":"games",...,"games":[0,0,...]} with `count` entries: the
 * count is refused before any entry is looked at. */
static char *json_with_many_entries(const char *head, size_t count, const char *tail)
{
    size_t len = strlen(head) + 2 * count + strlen(tail) + 1;
    char *json = malloc(len);
    assert_non_null(json);
    size_t used = (size_t)snprintf(json, len, "%s", head);
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(json + used, len - used, i ? ",0" : "0");
    used += (size_t)snprintf(json + used, len - used, "%s", tail);
    assert_true(used < len);
    return json;
}

static void too_many_entries_are_erange(void **state)
{
    (void)state;
    char *json = json_with_many_entries("{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
                                        "\",\"games\":[",
                                        LS_SNAPSHOT_GAMES_MAX + 1, "]}");
    assert_int_equal(decode_text(json, "games"), LS_ERANGE);
    free(json);
    json = json_with_many_entries("{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1\","
                                  "\"chunk_size\":4194304,\"files\":[",
                                  LS_MANIFEST_FILES_MAX + 1, "]}");
    assert_int_equal(decode_text(json, "files"), LS_ERANGE);
    free(json);
    json = json_with_many_entries("{\"kind\":\"hello\",\"protocol_version\":5,\"peer_id\":\"p\","
                                  "\"name\":\"n\",\"listen_port\":1,\"features\":[",
                                  LS_FEATURES_MAX + 1, "],\"library\":" LIBRARY "}");
    assert_int_equal(decode_text(json, "features"), LS_ERANGE);
    free(json);
}

static void chunk_request_length_and_range_are_bounded(void **state)
{
    (void)state;
    assert_int_equal(decode_text(CHUNK_REQ("a", "0", "0"), "length"), LS_ERANGE);
    assert_int_equal(decode_text(CHUNK_REQ("a", "0", "67108865"), "length"), LS_ERANGE);
    assert_int_equal(decode_text(CHUNK_REQ("a", "0", "67108864"), NULL), 0);
    assert_int_equal(decode_text(CHUNK_REQ("a", "9223372036854775807", "1"), "offset"), LS_ERANGE);
    assert_int_equal(decode_text(CHUNK_REQ("a", "9223372036854775806", "1"), NULL), 0);
    /* beyond what a JSON integer holds here */
    assert_int_equal(decode_text(CHUNK_REQ("a", "18446744073709551615", "1"), NULL), LS_ERANGE);
}

static void listen_port_and_protocol_version_must_fit(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"hello\",\"protocol_version\":5,\"peer_id\":\"p\","
                                 "\"name\":\"n\",\"listen_port\":65536,\"features\":[],"
                                 "\"library\":" LIBRARY "}",
                                 "listen_port"),
                     LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"hello\",\"protocol_version\":4294967296,"
                                 "\"peer_id\":\"p\",\"name\":\"n\",\"listen_port\":1,"
                                 "\"features\":[],\"library\":" LIBRARY "}",
                                 "protocol_version"),
                     LS_ERANGE);
}

/* A mismatch is the handshake's to answer (version_mismatch), so the
 * decoder hands any version through. */
static void other_protocol_versions_still_decode(void **state)
{
    (void)state;
    const char *json = "{\"kind\":\"hello_ack\",\"protocol_version\":3,\"peer_id\":\"p\","
                       "\"name\":\"n\",\"listen_port\":1,\"features\":[],"
                       "\"library\":" LIBRARY "}";
    ls_msg_t msg;
    assert_int_equal(ls_msg_decode((const uint8_t *)json, strlen(json), &msg, NULL, 0), 0);
    assert_int_equal(msg.kind, LS_MSG_HELLO_ACK);
    assert_int_equal(msg.u.hello.protocol_version, 3);
    ls_msg_free(&msg);
}

static void chunk_geometry_must_match_the_size(void **state)
{
    (void)state;
    /* a manifest states its chunk size: a power of two from 1 to 4 MiB */
    static const char *const bad_sizes[] = {"0", "524288", "3145728", "8388608", "4194305"};
    static const char *const good_sizes[] = {"1048576", "2097152", "4194304"};
    char json[256];
    for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++) {
        snprintf(json, sizeof json,
                 "{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1\","
                 "\"chunk_size\":%s,\"files\":[]}",
                 bad_sizes[i]);
        assert_int_equal(decode_text(json, "chunk_size"), LS_ERANGE);
    }
    for (size_t i = 0; i < sizeof good_sizes / sizeof *good_sizes; i++) {
        snprintf(json, sizeof json,
                 "{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1\","
                 "\"chunk_size\":%s,\"files\":[]}",
                 good_sizes[i]);
        assert_int_equal(decode_text(json, NULL), 0);
    }
    /* the chunk count follows the stated size: 5 MiB is 2 chunks of 4 MiB,
     * 5 of 1 MiB */
    assert_int_equal(decode_text("{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1\","
                                 "\"chunk_size\":4194304,\"files\":[{\"path\":\"a\","
                                 "\"size\":5242880,\"is_dir\":false,\"chunk_sha256\":[\"" D64
                                 "\",\"" D64 "\"]}]}",
                                 NULL),
                     0);
    assert_int_equal(decode_text("{\"kind\":\"game\",\"game_id\":\"doom\",\"version\":\"1\","
                                 "\"chunk_size\":1048576,\"files\":[{\"path\":\"a\","
                                 "\"size\":5242880,\"is_dir\":false,\"chunk_sha256\":[\"" D64
                                 "\",\"" D64 "\"]}]}",
                                 "files[0].chunk_sha256"),
                     LS_ERANGE);
    /* a 1-byte file needs one chunk */
    assert_int_equal(decode_text(GAME_MSG_WITH("{\"path\":\"a\",\"size\":1,\"is_dir\":false,"
                                               "\"chunk_sha256\":[]}"),
                                 "files[0].chunk_sha256"),
                     LS_ERANGE);
    assert_int_equal(decode_text(GAME_MSG_WITH("{\"path\":\"a\",\"size\":1,\"is_dir\":false,"
                                               "\"chunk_sha256\":[\"" D64 "\"]}"),
                                 NULL),
                     0);
    /* a directory has none */
    assert_int_equal(decode_text(GAME_MSG_WITH("{\"path\":\"d\",\"size\":0,\"is_dir\":true,"
                                               "\"chunk_sha256\":[\"" D64 "\"]}"),
                                 "files[0].chunk_sha256"),
                     LS_ERANGE);
    /* hashes are lowercase hex */
    assert_int_equal(
        decode_text(GAME_MSG_WITH("{\"path\":\"a\",\"size\":1,\"is_dir\":false,"
                                  "\"chunk_sha256\":[\"00112233445566778899AABBCCDDEEFF"
                                  "00112233445566778899aabbccddeeff\"]}"),
                    "files[0].chunk_sha256[0]"),
        LS_ERANGE);
}

static void digests_must_be_64_lowercase_hex(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"abc\","
                                 "\"games\":[]}",
                                 "digest"),
                     LS_ERANGE);
    assert_int_equal(
        decode_text("{\"kind\":\"games\",\"library_rev\":1,\"digest\":"
                    "\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\","
                    "\"games\":[]}",
                    "digest"),
        LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"library_delta\",\"from_rev\":1,\"to_rev\":2,"
                                 "\"digest\":\"" D64 "0\",\"changed\":[],\"removed\":[]}",
                                 "digest"),
                     LS_ERANGE);
}

static void unknown_error_codes_and_backward_deltas_are_erange(void **state)
{
    (void)state;
    assert_int_equal(
        decode_text("{\"kind\":\"error\",\"code\":\"teapot\",\"message\":\"\"}", "code"),
        LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"library_delta\",\"from_rev\":2,\"to_rev\":2,"
                                 "\"digest\":\"" D64 "\",\"changed\":[],\"removed\":[]}",
                                 "to_rev"),
                     LS_ERANGE);
}

static void nul_bytes_are_path_errors_in_paths_and_range_errors_elsewhere(void **state)
{
    (void)state;
    assert_int_equal(decode_text(CHUNK_REQ("a\\u0000b", "0", "1"), "path"), LS_EPATH_NUL);
    assert_int_equal(
        decode_text("{\"kind\":\"error\",\"code\":\"io\",\"message\":\"a\\u0000\"}", "message"),
        LS_ERANGE);
    assert_int_equal(decode_text("{\"kind\":\"get_game\",\"game_id\":\"doom\\u0000\"}", "game_id"),
                     LS_ERANGE);
    /* in a key the parser refuses it */
    assert_int_equal(decode_text("{\"kind\":\"ping\",\"nonce\":1,\"a\\u0000\":1}", NULL), LS_EJSON);
    /* a raw NUL byte is a control character: not JSON */
    const char raw[] = "{\"kind\":\"get_game\",\"game_id\":\"do\0om\"}";
    ls_msg_t msg;
    assert_int_equal(ls_msg_decode((const uint8_t *)raw, sizeof raw - 1, &msg, NULL, 0), LS_EJSON);
}

static void invalid_game_ids_are_einvalid_id(void **state)
{
    (void)state;
    assert_int_equal(decode_text("{\"kind\":\"get_game\",\"game_id\":\"../x\"}", "game_id"),
                     LS_EINVALID_ID);
    assert_int_equal(decode_text("{\"kind\":\"get_game\",\"game_id\":\"\"}", "game_id"),
                     LS_EINVALID_ID);
    assert_int_equal(decode_text("{\"kind\":\"library_delta\",\"from_rev\":1,\"to_rev\":2,"
                                 "\"digest\":\"" D64 "\",\"changed\":[],\"removed\":[\"a b\"]}",
                                 "removed[0]"),
                     LS_EINVALID_ID);
    assert_int_equal(decode_text("{\"kind\":\"games\",\"library_rev\":1,\"digest\":\"" D64
                                 "\",\"games\":[{\"id\":\".hidden\",\"name\":\"x\","
                                 "\"version\":\"\",\"size\":0,\"file_count\":0}]}",
                                 "games[0].id"),
                     LS_EINVALID_ID);
}

static void unsafe_paths_are_refused_with_their_path_code(void **state)
{
    (void)state;
    assert_int_equal(decode_text(CHUNK_REQ("/etc/passwd", "0", "1"), "path"), LS_EPATH_ABSOLUTE);
    assert_int_equal(decode_text(CHUNK_REQ("a/../../x", "0", "1"), "path"), LS_EPATH_DOTDOT);
    assert_int_equal(decode_text(CHUNK_REQ("local/game.exe", "0", "1"), "path"), LS_EPATH_RESERVED);
    assert_int_equal(decode_text(CHUNK_REQ("a//b", "0", "1"), "path"), LS_EPATH_INVALID);
    assert_int_equal(decode_text(GAME_MSG_WITH(FILE_ENTRY(".lanspread.json")), "files[0].path"),
                     LS_EPATH_RESERVED);
    assert_int_equal(
        decode_text("{\"kind\":\"get_game_file_data\",\"game_id\":\"doom\",\"path\":\"..\"}",
                    "path"),
        LS_EPATH_DOTDOT);
}

/* ---- names ---- */

static void kind_and_error_names_match_the_wire(void **state)
{
    (void)state;
    assert_string_equal(ls_msg_kind_name(LS_MSG_GET_FILE_CHUNK), "get_game_file_chunk");
    assert_string_equal(ls_msg_kind_name(LS_MSG_LIBRARY_DELTA_ACK), "library_delta_ack");
    assert_string_equal(ls_msg_kind_name(LS_MSG_HAVE), "have");
    assert_string_equal(ls_msg_kind_name(LS_MSG_HAVE_ACK), "have_ack");
    assert_string_equal(ls_msg_kind_name((ls_msg_kind_t)0), "unknown");
    assert_string_equal(ls_msg_kind_name((ls_msg_kind_t)1000), "unknown");
    assert_string_equal(ls_wire_error_name(LS_WIRE_VERSION_MISMATCH), "version_mismatch");
    assert_string_equal(ls_wire_error_name(LS_WIRE_NOT_DOWNLOADED), "not_downloaded");
    assert_string_equal(ls_wire_error_name((ls_wire_error_t)77), "unknown");
}

static void local_failures_map_to_wire_errors(void **state)
{
    (void)state;
    assert_int_equal(ls_wire_error_from_code(LS_EUNKNOWN_GAME), LS_WIRE_UNKNOWN_GAME);
    assert_int_equal(ls_wire_error_from_code(LS_ENOT_DOWNLOADED), LS_WIRE_NOT_DOWNLOADED);
    assert_int_equal(ls_wire_error_from_code(LS_EPATH_SYMLINK), LS_WIRE_INVALID_PATH);
    assert_int_equal(ls_wire_error_from_code(LS_ENOENT), LS_WIRE_INVALID_PATH);
    assert_int_equal(ls_wire_error_from_code(LS_EUNKNOWN_FIELD), LS_WIRE_INVALID_REQUEST);
    assert_int_equal(ls_wire_error_from_code(LS_EVERSION), LS_WIRE_VERSION_MISMATCH);
    assert_int_equal(ls_wire_error_from_code(LS_EFRAME_TOO_BIG), LS_WIRE_TOO_LARGE);
    assert_int_equal(ls_wire_error_from_code(LS_EAUTH), LS_WIRE_UNAUTHORIZED);
    assert_int_equal(ls_wire_error_from_code(LS_EBUSY), LS_WIRE_BUSY);
    assert_int_equal(ls_wire_error_from_code(LS_EIO), LS_WIRE_IO);
    assert_int_equal(ls_wire_error_from_code(LS_ENOMEM), LS_WIRE_INTERNAL);
}

/* ---- snapshot digest ---- */

static void digest_ignores_the_order_of_games(void **state)
{
    (void)state;
    ls_game_summary_t games[3] = {
        {.id = "quake3", .name = "Quake III", .version = "1.32", .size = 10, .file_count = 2},
        {.id = "doom", .name = "Doom", .version = "1.9", .size = 5, .file_count = 1},
        {.id = "ut2004", .name = "UT", .version = "3369", .size = 7, .file_count = 3},
    };
    ls_game_summary_t shuffled[3] = {games[2], games[0], games[1]};
    char a[LS_SHA256_HEX_LEN + 1], b[LS_SHA256_HEX_LEN + 1];
    assert_int_equal(ls_snapshot_digest(games, 3, a), 0);
    assert_int_equal(ls_snapshot_digest(shuffled, 3, b), 0);
    assert_string_equal(a, b);
}

/* Never on the wire (duplicates are refused), but a local list might. */
static void digest_ignores_order_even_among_equal_ids(void **state)
{
    (void)state;
    ls_game_summary_t games[3] = {
        {.id = "doom", .name = "Doom", .version = "1.9", .size = 5, .file_count = 1},
        {.id = "doom", .name = "Doom", .version = "1.9", .size = 5, .file_count = 2},
        {.id = "doom", .name = "Doom II", .version = "1.9", .size = 5, .file_count = 1},
    };
    ls_game_summary_t shuffled[3] = {games[2], games[1], games[0]};
    char a[LS_SHA256_HEX_LEN + 1], b[LS_SHA256_HEX_LEN + 1];
    assert_int_equal(ls_snapshot_digest(games, 3, a), 0);
    assert_int_equal(ls_snapshot_digest(shuffled, 3, b), 0);
    assert_string_equal(a, b);
}

static void digest_changes_with_every_field(void **state)
{
    (void)state;
    ls_game_summary_t base = {
        .id = "doom", .name = "Doom", .version = "1.9", .size = 5, .file_count = 1};
    ls_game_summary_t variants[5] = {base, base, base, base, base};
    variants[0].id = "doom2";
    variants[1].name = "Doom II";
    variants[2].version = "1.10";
    variants[3].size = 6;
    variants[4].file_count = 2;
    char ref[LS_SHA256_HEX_LEN + 1], other[LS_SHA256_HEX_LEN + 1];
    assert_int_equal(ls_snapshot_digest(&base, 1, ref), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ls_snapshot_digest(&variants[i], 1, other), 0);
        assert_string_not_equal(ref, other);
    }
}

/* Without length prefixes "x:1"+"2" and "x"+"1:2", or "12"+3 and "1"+23,
 * would hash the same bytes. */
static void digest_fields_cannot_shift_into_each_other(void **state)
{
    (void)state;
    ls_game_summary_t a = {.id = "g", .name = "x:1", .version = "2", .size = 0, .file_count = 0};
    ls_game_summary_t b = {.id = "g", .name = "x", .version = "1:2", .size = 0, .file_count = 0};
    ls_game_summary_t c = {.id = "g", .name = "n", .version = "12", .size = 3, .file_count = 0};
    ls_game_summary_t d = {.id = "g", .name = "n", .version = "1", .size = 23, .file_count = 0};
    char da[65], db[65], dc[65], dd[65];
    assert_int_equal(ls_snapshot_digest(&a, 1, da), 0);
    assert_int_equal(ls_snapshot_digest(&b, 1, db), 0);
    assert_int_equal(ls_snapshot_digest(&c, 1, dc), 0);
    assert_int_equal(ls_snapshot_digest(&d, 1, dd), 0);
    assert_string_not_equal(da, db);
    assert_string_not_equal(dc, dd);
}

/* The canonical encoding documented in docs/PROTOCOL.md, pinned. */
static void digest_matches_the_documented_encoding(void **state)
{
    (void)state;
    ls_game_summary_t games[2] = {
        {.id = "quake", .name = "Quake: Arena", .version = "", .size = 0, .file_count = 0},
        {.id = "doom", .name = "Doom", .version = "1.9", .size = 123, .file_count = 4},
    };
    char out[65];
    /* sha256("4:doom4:Doom3:1.93:1231:45:quake12:Quake: Arena0:1:01:0") */
    assert_int_equal(ls_snapshot_digest(games, 2, out), 0);
    assert_string_equal(out, "4621337a72000972c7d2d6f2c53ddba959a637bca8109e351f9cd91e729ad4d8");
    /* sha256("") */
    assert_int_equal(ls_snapshot_digest(NULL, 0, out), 0);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- seed corpus ---- */

/* The library snapshot a message carries, if any (not a deferred one). */
static const ls_library_snapshot_t *carried_snapshot(const ls_msg_t *msg)
{
    if (msg->kind == LS_MSG_GAMES || msg->kind == LS_MSG_HELLO_LIBRARY)
        return &msg->u.games;
    if ((msg->kind == LS_MSG_HELLO || msg->kind == LS_MSG_HELLO_ACK) &&
        !msg->u.hello.is_library_deferred)
        return &msg->u.hello.library;
    return NULL;
}

static void check_corpus_file(const char *dir, const char *name, ls_msg_kind_t kind)
{
    size_t len = 0;
    uint32_t payload_len = 0;
    ls_msg_t msg;
    char detail[256] = "";
    char digest[LS_SHA256_HEX_LEN + 1];
    char *data = ls_test_read_file(dir, name, &len);
    const uint8_t *bytes = (const uint8_t *)data;
    assert_int_equal(ls_frame_parse_header(bytes, len, &payload_len), 0);
    assert_int_equal(payload_len, len - LS_FRAME_HEADER_LEN);
    int rc = ls_msg_decode(bytes + LS_FRAME_HEADER_LEN, payload_len, &msg, detail, sizeof detail);
    if (rc != 0)
        fail_msg("%s: %s (%s)", ls_msg_kind_name(kind), ls_strerror(rc), detail);
    assert_int_equal(msg.kind, kind);
    /* the generator computed digests independently: they must agree */
    const ls_library_snapshot_t *snap = carried_snapshot(&msg);
    if (snap) {
        assert_int_equal(ls_snapshot_digest(snap->games, snap->game_count, digest), 0);
        assert_string_equal(digest, snap->digest);
    }
    ls_msg_free(&msg);
    free(data);
}

static void check_corpus_frame(const char *dir, ls_msg_kind_t kind)
{
    check_corpus_file(dir, ls_msg_kind_name(kind), kind);
}

static void seed_corpus_holds_a_valid_frame_for_every_kind(void **state)
{
    (void)state;
    const char *src = getenv("LS_TEST_SOURCE_DIR");
    if (!src)
        skip();
    char *dir = ls_path_join(src, "fuzz/corpus/fuzz_proto");
    assert_non_null(dir);
    for (int kind = LS_MSG_HELLO; kind <= LAST_KIND; kind++)
        check_corpus_frame(dir, (ls_msg_kind_t)kind);
    check_corpus_file(dir, "game_meta", LS_MSG_GAME); /* game with its optional meta */
    /* a have with no chunks: the withdrawn partial copy */
    check_corpus_file(dir, "have_empty", LS_MSG_HAVE);
    /* a hello under a party key: its library follows in hello_library */
    check_corpus_file(dir, "hello_deferred", LS_MSG_HELLO);
    free(dir);
}

/* ---- allocation failures ---- */

static int allocations_left;

static void *failing_malloc(size_t size)
{
    if (allocations_left <= 0)
        return NULL;
    allocations_left--;
    return malloc(size);
}

/* Lets jansson's n-th allocation fail, for every n until a run succeeds:
 * each failure must come back as an error with nothing leaked (ASan). */
static void codec_survives_every_json_allocation_failure(void **state)
{
    (void)state;
    ls_msg_t in, out;
    uint8_t *frame = NULL;
    size_t len = 0;
    fill_hello(&in, LS_MSG_HELLO, true);
    json_set_alloc_funcs(failing_malloc, free);
    int rc = -1;
    for (int n = 0; n < 10000 && rc != 0; n++) {
        allocations_left = n;
        rc = ls_msg_encode(&in, &frame, &len);
        assert_true(rc == 0 || rc == LS_ENOMEM);
        if (rc != 0)
            assert_null(frame);
    }
    assert_int_equal(rc, 0);
    rc = -1;
    for (int n = 0; n < 10000 && rc != 0; n++) {
        allocations_left = n;
        /* jansson reports some of its allocation failures as syntax
         * errors, so only "an error, nothing left" is asserted here. */
        rc = ls_msg_decode(frame + LS_FRAME_HEADER_LEN, len - LS_FRAME_HEADER_LEN, &out, NULL, 0);
        if (rc != 0)
            assert_message_is_empty(&out);
    }
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(rc, 0);
    assert_hello_equal(&in.u.hello, &out.u.hello);
    ls_msg_free(&out);
    ls_msg_free(&in);
    free(frame);
}

/* ---- docs/PROTOCOL.md ---- */

/* The example with its line breaks (and the indentation after them) taken
 * out: the examples break lines only between tokens. */
static char *compact_example(const char *json, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        if (json[i] != '\n') {
            out[n++] = json[i];
            continue;
        }
        while (i + 1 < len && json[i + 1] == ' ')
            i++;
    }
    out[n] = '\0';
    return out;
}

/* Decodes one ```json block of the protocol document: every example there
 * is a valid message, written exactly as the encoder writes it, and its
 * snapshot digests are the real digests. */
static ls_msg_kind_t check_doc_example(const char *json, size_t len)
{
    ls_msg_t msg;
    char detail[256] = "";
    char digest[LS_SHA256_HEX_LEN + 1];
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    int rc = ls_msg_decode((const uint8_t *)json, len, &msg, detail, sizeof detail);
    if (rc != 0)
        fail_msg("example %.*s: %s (%s)", (int)len, json, ls_strerror(rc), detail);
    const ls_library_snapshot_t *snap = carried_snapshot(&msg);
    if (snap) {
        assert_int_equal(ls_snapshot_digest(snap->games, snap->game_count, digest), 0);
        assert_string_equal(digest, snap->digest);
    }
    assert_int_equal(ls_msg_encode(&msg, &frame, &frame_len), 0);
    char *compact = compact_example(json, len);
    if (frame_len - LS_FRAME_HEADER_LEN != strlen(compact) ||
        memcmp(frame + LS_FRAME_HEADER_LEN, compact, strlen(compact)) != 0)
        fail_msg("example differs from the encoder's output:\n%s\n%.*s", compact,
                 (int)(frame_len - LS_FRAME_HEADER_LEN), (const char *)frame + LS_FRAME_HEADER_LEN);
    free(compact);
    free(frame);
    ls_msg_kind_t kind = msg.kind;
    ls_msg_free(&msg);
    return kind;
}

static void protocol_md_examples_decode(void **state)
{
    (void)state;
    const char *src = getenv("LS_TEST_SOURCE_DIR");
    if (!src)
        skip();
    size_t len = 0;
    bool seen[LAST_KIND + 1] = {false};
    char *doc = ls_test_read_file(src, "docs/PROTOCOL.md", &len);
    const char *open_tag = "```json\n";
    const char *p = doc;
    for (const char *start; (start = strstr(p, open_tag)) != NULL;) {
        start += strlen(open_tag);
        const char *end = strstr(start, "\n```");
        assert_non_null(end);
        seen[check_doc_example(start, (size_t)(end - start))] = true;
        p = end + 4;
    }
    for (int kind = LS_MSG_HELLO; kind <= LAST_KIND; kind++)
        if (!seen[kind])
            fail_msg("docs/PROTOCOL.md has no example of %s",
                     ls_msg_kind_name((ls_msg_kind_t)kind));
    free(doc);
}

/* `have` goes out at most every 20 ms for a game of usual size, less
 * often for a bitmap so big that it would cost over 256 hex digits per ms. */
static void have_interval_grows_with_the_bitmap(void **state)
{
    (void)state;
    assert_int_equal(ls_have_interval_ms(112), 20);
    assert_int_equal(ls_have_interval_ms(20480), 20);   /* 20 GiB of 1 MiB chunks */
    assert_int_equal(ls_have_interval_ms(51200), 50);   /* 50 GiB */
    assert_int_equal(ls_have_interval_ms(250000), 244); /* about the frame bound */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_round_trips_with_its_library_snapshot),
        cmocka_unit_test(have_interval_grows_with_the_bitmap),
        cmocka_unit_test(hello_ack_round_trips_without_party_proof),
        cmocka_unit_test(hello_may_defer_its_library_to_hello_library),
        cmocka_unit_test(ping_pong_and_delta_ack_round_trip_their_number),
        cmocka_unit_test(list_games_round_trips_and_games_carries_the_snapshot),
        cmocka_unit_test(get_game_round_trips_its_id),
        cmocka_unit_test(game_manifest_round_trips_files_dirs_and_chunk_hashes),
        cmocka_unit_test(game_meta_round_trips_and_is_optional),
        cmocka_unit_test(game_meta_is_decoded_strictly),
        cmocka_unit_test(file_requests_round_trip_game_path_and_range),
        cmocka_unit_test(file_headers_round_trip_offset_and_length),
        cmocka_unit_test(library_delta_round_trips_changes_and_removals),
        cmocka_unit_test(error_round_trips_every_code_and_its_message),
        cmocka_unit_test(have_round_trips_its_bitmap_and_have_ack_is_empty),
        cmocka_unit_test(the_largest_have_is_a_bounded_frame),
        cmocka_unit_test(have_is_decoded_strictly),
        cmocka_unit_test(peers_round_trips_its_addresses_and_peers_ack_is_empty),
        cmocka_unit_test(peers_is_decoded_strictly),
        cmocka_unit_test(encoder_refuses_a_have_the_decoder_would_refuse),
        cmocka_unit_test(encoder_writes_compact_json_after_a_big_endian_length),
        cmocka_unit_test(encoder_refuses_what_the_decoder_would_refuse),
        cmocka_unit_test(encoder_refuses_a_frame_above_the_maximum),
        cmocka_unit_test(frame_header_needs_four_bytes),
        cmocka_unit_test(frame_header_refuses_oversized_and_empty_frames),
        cmocka_unit_test(decoder_checks_payload_size_before_reading_it),
        cmocka_unit_test(valid_texts_decode),
        cmocka_unit_test(malformed_json_is_ejson),
        cmocka_unit_test(invalid_utf8_is_eutf8),
        cmocka_unit_test(duplicate_keys_are_edupkey),
        cmocka_unit_test(the_same_game_twice_in_a_snapshot_is_edupkey),
        cmocka_unit_test(wrong_types_are_etype),
        cmocka_unit_test(missing_fields_are_emissing),
        cmocka_unit_test(unknown_kind_is_eunknown_kind),
        cmocka_unit_test(unknown_fields_are_eunknown_field),
        cmocka_unit_test(over_long_strings_are_erange),
        cmocka_unit_test(too_many_entries_are_erange),
        cmocka_unit_test(chunk_request_length_and_range_are_bounded),
        cmocka_unit_test(listen_port_and_protocol_version_must_fit),
        cmocka_unit_test(other_protocol_versions_still_decode),
        cmocka_unit_test(chunk_geometry_must_match_the_size),
        cmocka_unit_test(digests_must_be_64_lowercase_hex),
        cmocka_unit_test(unknown_error_codes_and_backward_deltas_are_erange),
        cmocka_unit_test(nul_bytes_are_path_errors_in_paths_and_range_errors_elsewhere),
        cmocka_unit_test(invalid_game_ids_are_einvalid_id),
        cmocka_unit_test(unsafe_paths_are_refused_with_their_path_code),
        cmocka_unit_test(kind_and_error_names_match_the_wire),
        cmocka_unit_test(local_failures_map_to_wire_errors),
        cmocka_unit_test(digest_ignores_the_order_of_games),
        cmocka_unit_test(digest_ignores_order_even_among_equal_ids),
        cmocka_unit_test(digest_changes_with_every_field),
        cmocka_unit_test(digest_fields_cannot_shift_into_each_other),
        cmocka_unit_test(digest_matches_the_documented_encoding),
        cmocka_unit_test(codec_survives_every_json_allocation_failure),
        cmocka_unit_test(seed_corpus_holds_a_valid_frame_for_every_kind),
        cmocka_unit_test(protocol_md_examples_decode),
        cmocka_unit_test(batch_request_round_trips_its_ranges_and_file_batch_its_length),
        cmocka_unit_test(batch_request_is_bounded),
        cmocka_unit_test(summaries_carry_an_optional_cover_outside_the_digest),
        cmocka_unit_test(covers_are_decoded_strictly),
        cmocka_unit_test(get_cover_and_cover_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
