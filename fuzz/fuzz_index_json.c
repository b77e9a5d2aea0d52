/* Fuzzes the parser of the legacy JSON index (read once, to migrate): a
 * corrupt one is refused without a crash or leak, every file of a parsed one
 * can be looked up by path, and whatever parses is written back by the
 * legacy writer as text that parses to the same index. */
#include "library/library_internal.h"

#include "lanspread/error.h"

#include <stdlib.h>
#include <string.h>

static bool same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_stamp(const ls_file_stamp_t *a, const ls_file_stamp_t *b)
{
    return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino;
}

static bool same_file(const ls_file_record_t *a, const ls_file_record_t *b)
{
    return strcmp(a->path, b->path) == 0 && a->is_dir == b->is_dir &&
           a->is_hashed == b->is_hashed && same_stamp(&a->stamp, &b->stamp) &&
           a->chunk_count == b->chunk_count &&
           (a->chunk_count == 0 ||
            memcmp(a->chunks, b->chunks, a->chunk_count * sizeof *a->chunks) == 0);
}

static bool same_game(const ls_game_record_t *a, const ls_game_record_t *b)
{
    if (strcmp(a->id, b->id) != 0 || !same_string(a->version, b->version) ||
        !same_stamp(&a->version_stamp, &b->version_stamp) || a->file_count != b->file_count)
        return false;
    for (size_t f = 0; f < a->file_count; f++)
        if (!same_file(&a->files[f], &b->files[f]))
            return false;
    return true;
}

static bool same_index(const ls_index_t *a, const ls_index_t *b)
{
    if (!same_string(a->game_dir, b->game_dir) || a->library_rev != b->library_rev ||
        strcmp(a->digest, b->digest) != 0 || a->game_count != b->game_count)
        return false;
    for (size_t g = 0; g < a->game_count; g++)
        if (!same_game(&a->games[g], &b->games[g]))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_index_t index, again;
    char *text = NULL;
    if (ls__index_json_parse((const char *)data, size, &index) != 0)
        return 0;
    for (size_t g = 0; g < index.game_count; g++)
        for (size_t f = 0; f < index.games[g].file_count; f++)
            if (!ls_game_find_file(&index.games[g], index.games[g].files[f].path))
                abort();
    int rc = ls__index_json_dump(&index, &text);
    if (rc == 0) {
        if (ls__index_json_parse(text, strlen(text), &again) != 0 || !same_index(&index, &again))
            abort();
        ls_index_free(&again);
    } else if (rc != LS_ENOMEM) {
        abort();
    }
    free(text);
    ls_index_free(&index);
    return 0;
}
