/* The JSON index that builds before the binary one (index.c) wrote as
 * STATE/LS_INDEX_LEGACY_FILE. It is read once, to migrate its cached hashes;
 * the writer stays so that tests and the fuzzer make real legacy files. */
#include "library_internal.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_FORMAT 1

static json_t *stamp_to_json(const ls_file_stamp_t *stamp)
{
    return json_pack("[III]", (json_int_t)stamp->size, (json_int_t)stamp->mtime_ns,
                     (json_int_t)stamp->ino);
}

static json_t *file_to_json(const ls_file_record_t *file)
{
    char *hex = malloc(file->chunk_count * (LS_SHA256_HEX_LEN) + 1);
    json_t *out = NULL;
    if (!hex)
        return NULL;
    hex[0] = '\0';
    for (size_t i = 0; i < file->chunk_count; i++)
        ls_hex_encode(file->chunks[i], LS_SHA256_LEN, hex + i * LS_SHA256_HEX_LEN);
    out = json_pack("{s:s,s:b,s:o,s:b,s:s}", "path", file->path, "dir", file->is_dir, "stamp",
                    stamp_to_json(&file->stamp), "hashed", file->is_hashed, "chunks", hex);
    free(hex);
    return out;
}

static json_t *game_to_json(const ls_game_record_t *game)
{
    json_t *files = json_array();
    json_t *out;
    for (size_t i = 0; files && i < game->file_count; i++) {
        if (json_array_append_new(files, file_to_json(&game->files[i])) != 0) {
            json_decref(files);
            return NULL;
        }
    }
    out = json_pack("{s:s,s:o,s:o}", "id", game->id, "version_stamp",
                    stamp_to_json(&game->version_stamp), "files", files);
    /* A game that is not downloaded has no version: the key is left out
     * rather than written as null, which older builds refuse. */
    if (out && game->version &&
        json_object_set_new(out, "version", json_string(game->version)) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* The game directory is any path the system accepts; one that is not UTF-8
 * cannot be a JSON string and is stored as hex, so the index still saves. */
static int put_game_dir(json_t *root, const char *game_dir)
{
    size_t len = strlen(game_dir), bad;
    if (ls_proto_utf8_is_valid((const uint8_t *)game_dir, len, &bad))
        return json_object_set_new(root, "game_dir", json_string(game_dir)) == 0 ? 0 : LS_ENOMEM;
    char *hex = malloc(2 * len + 1);
    if (!hex)
        return LS_ENOMEM;
    ls_hex_encode((const uint8_t *)game_dir, len, hex);
    int rc = json_object_set_new(root, "game_dir_hex", json_string(hex)) == 0 ? 0 : LS_ENOMEM;
    free(hex);
    return rc;
}

int ls__index_json_dump(const ls_index_t *index, char **text)
{
    json_t *games = json_array();
    json_t *root = NULL;
    int rc = 0;

    *text = NULL;
    for (size_t i = 0; games && i < index->game_count; i++) {
        if (json_array_append_new(games, game_to_json(&index->games[i])) != 0) {
            rc = LS_ENOMEM;
            goto out;
        }
    }
    root = json_pack("{s:i,s:I,s:s,s:o}", "format", INDEX_FORMAT, "library_rev",
                     (json_int_t)index->library_rev, "digest", index->digest, "games", games);
    games = NULL;
    rc = root ? put_game_dir(root, index->game_dir ? index->game_dir : "") : LS_ENOMEM;
    if (rc == 0) {
        *text = json_dumps(root, JSON_COMPACT);
        rc = *text ? 0 : LS_ENOMEM;
    }
out:
    json_decref(games);
    json_decref(root);
    return rc;
}

static int stamp_from_json(json_t *value, ls_file_stamp_t *stamp)
{
    json_int_t size, mtime, ino;
    if (json_unpack(value, "[III]", &size, &mtime, &ino) != 0 || size < 0)
        return LS_ECORRUPT;
    stamp->size = (uint64_t)size;
    stamp->mtime_ns = (int64_t)mtime;
    stamp->ino = (uint64_t)ino;
    return 0;
}

static int chunks_from_hex(ls_file_record_t *file, const char *hex)
{
    size_t len = strlen(hex);
    if (len % LS_SHA256_HEX_LEN != 0)
        return LS_ECORRUPT;
    file->chunk_count = len / LS_SHA256_HEX_LEN;
    if (file->chunk_count == 0)
        return 0;
    file->chunks = malloc(file->chunk_count * sizeof *file->chunks);
    if (!file->chunks)
        return LS_ENOMEM;
    for (size_t i = 0; i < file->chunk_count; i++)
        if (ls_hex_decode(hex + i * LS_SHA256_HEX_LEN, LS_SHA256_HEX_LEN, file->chunks[i],
                          LS_SHA256_LEN) != 0)
            return LS_ECORRUPT;
    return 0;
}

/* The index is a cache keyed by path and stamp; the one thing in it that is
 * used as is, the chunk hashes of an unchanged file, must fit its size. */
static int file_from_json(json_t *value, ls_file_record_t *file)
{
    const char *path, *hex;
    int is_dir, is_hashed;
    json_t *stamp;
    if (json_unpack(value, "{s:s,s:b,s:o,s:b,s:s}", "path", &path, "dir", &is_dir, "stamp", &stamp,
                    "hashed", &is_hashed, "chunks", &hex) != 0)
        return LS_ECORRUPT;
    file->path = strdup(path);
    file->is_dir = is_dir;
    file->is_hashed = is_hashed;
    if (!file->path)
        return LS_ENOMEM;
    int rc = stamp_from_json(stamp, &file->stamp);
    if (rc == 0)
        rc = chunks_from_hex(file, hex);
    if (rc == 0 && is_hashed && !is_dir &&
        file->chunk_count != (file->stamp.size + LS_CHUNK_SIZE - 1) / LS_CHUNK_SIZE)
        rc = LS_ECORRUPT;
    return rc;
}

/* A not-downloaded game has no version: no key (or null, as builds before
 * this one wrote it). Anything else must be a version a scan could read. */
static int version_from_json(json_t *value, char **version)
{
    *version = NULL;
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value) || json_string_length(value) == 0 ||
        json_string_length(value) > LS_VERSION_MAX ||
        strlen(json_string_value(value)) != json_string_length(value))
        return LS_ECORRUPT;
    *version = strdup(json_string_value(value));
    return *version ? 0 : LS_ENOMEM;
}

static int game_from_json(json_t *value, ls_game_record_t *game)
{
    const char *id;
    json_t *version = NULL, *stamp, *files;
    int rc;
    if (json_unpack(value, "{s:s,s?o,s:o,s:o}", "id", &id, "version", &version, "version_stamp",
                    &stamp, "files", &files) != 0 ||
        !json_is_array(files))
        return LS_ECORRUPT;
    game->id = strdup(id);
    if (!game->id)
        return LS_ENOMEM;
    rc = version_from_json(version, &game->version);
    if (rc == 0)
        rc = stamp_from_json(stamp, &game->version_stamp);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(files);
    game->files = calloc(n ? n : 1, sizeof *game->files);
    if (!game->files)
        return LS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        game->file_count = i + 1;
        rc = file_from_json(json_array_get(files, i), &game->files[i]);
        if (rc != 0)
            return rc;
    }
    /* Lookups bsearch by path; never trust the file's order, and a path
     * listed twice is not something a scan writes. */
    qsort(game->files, game->file_count, sizeof *game->files, ls_file_record_compare);
    for (size_t i = 1; i < game->file_count; i++)
        if (ls_file_record_compare(&game->files[i - 1], &game->files[i]) == 0)
            return LS_ECORRUPT;
    return 0;
}

/* Exactly one of game_dir (UTF-8) and game_dir_hex (any other bytes). */
static int game_dir_from_json(json_t *root, char **game_dir)
{
    json_t *text = json_object_get(root, "game_dir");
    json_t *hex = json_object_get(root, "game_dir_hex");
    *game_dir = NULL;
    if (!text == !hex)
        return LS_ECORRUPT;
    if (text) {
        if (!json_is_string(text) || strlen(json_string_value(text)) != json_string_length(text))
            return LS_ECORRUPT;
        if (json_string_length(text) == 0)
            return 0;
        *game_dir = strdup(json_string_value(text));
        return *game_dir ? 0 : LS_ENOMEM;
    }
    size_t hex_len = json_is_string(hex) ? json_string_length(hex) : 0;
    if (hex_len == 0 || hex_len % 2 != 0)
        return LS_ECORRUPT;
    *game_dir = calloc(1, hex_len / 2 + 1);
    if (!*game_dir)
        return LS_ENOMEM;
    if (ls_hex_decode(json_string_value(hex), hex_len, (uint8_t *)*game_dir, hex_len / 2) != 0 ||
        strlen(*game_dir) != hex_len / 2)
        return LS_ECORRUPT;
    return 0;
}

static int index_from_json(json_t *root, ls_index_t *out)
{
    const char *digest;
    json_int_t format, rev;
    json_t *games;
    int rc = 0;
    if (json_unpack(root, "{s:I,s:I,s:s,s:o}", "format", &format, "library_rev", &rev, "digest",
                    &digest, "games", &games) != 0 ||
        format != INDEX_FORMAT || rev < 0 || !json_is_array(games) ||
        strlen(digest) > LS_SHA256_HEX_LEN)
        return LS_ECORRUPT;
    out->library_rev = (uint64_t)rev;
    memcpy(out->digest, digest, strlen(digest) + 1); /* length checked above */
    rc = game_dir_from_json(root, &out->game_dir);
    if (rc != 0)
        return rc;
    size_t n = json_array_size(games);
    out->games = calloc(n ? n : 1, sizeof *out->games);
    if (!out->games)
        return LS_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        out->game_count = i + 1;
        rc = game_from_json(json_array_get(games, i), &out->games[i]);
    }
    if (rc != 0)
        return rc;
    qsort(out->games, out->game_count, sizeof *out->games, ls_game_record_compare);
    for (size_t i = 1; i < out->game_count; i++)
        if (ls_game_record_compare(&out->games[i - 1], &out->games[i]) == 0)
            return LS_ECORRUPT;
    return 0;
}

int ls__index_json_parse(const char *text, size_t len, ls_index_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = root ? index_from_json(root, out) : LS_ECORRUPT;
    json_decref(root);
    if (rc != 0)
        ls_index_free(out);
    return rc;
}
