/* The published library: the GameDB and announced snapshot derived from the
 * index, and the accessors the rest of the peer reads. */
#include "library_internal.h"

#include "lanspread/cover.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ls_file_record_free(ls_file_record_t *file)
{
    free(file->path);
    free(file->chunks);
    memset(file, 0, sizeof *file);
}

void ls_game_record_free(ls_game_record_t *game)
{
    free(game->id);
    free(game->version);
    for (size_t i = 0; i < game->file_count; i++)
        ls_file_record_free(&game->files[i]);
    free(game->files);
    memset(game, 0, sizeof *game);
}

void ls_index_free(ls_index_t *index)
{
    free(index->game_dir);
    for (size_t i = 0; i < index->game_count; i++)
        ls_game_record_free(&index->games[i]);
    free(index->games);
    memset(index, 0, sizeof *index);
}

static int copy_file_record(ls_file_record_t *dst, const ls_file_record_t *src)
{
    *dst = *src;
    dst->chunks = NULL;
    dst->path = strdup(src->path);
    if (!dst->path)
        return LS_ENOMEM;
    if (src->chunk_count > 0) {
        dst->chunks = malloc(src->chunk_count * sizeof *dst->chunks);
        if (!dst->chunks) {
            free(dst->path);
            dst->path = NULL;
            return LS_ENOMEM;
        }
        memcpy(dst->chunks, src->chunks, src->chunk_count * sizeof *dst->chunks);
    }
    return 0;
}

int ls_game_record_copy(ls_game_record_t *dst, const ls_game_record_t *src)
{
    *dst = *src;
    dst->files = NULL;
    dst->file_count = 0;
    dst->id = strdup(src->id);
    dst->version = src->version ? strdup(src->version) : NULL;
    if (!dst->id || (src->version && !dst->version))
        goto fail;
    if (src->file_count > 0) {
        dst->files = calloc(src->file_count, sizeof *dst->files);
        if (!dst->files)
            goto fail;
        for (size_t i = 0; i < src->file_count; i++) {
            if (copy_file_record(&dst->files[i], &src->files[i]) != 0)
                goto fail;
            dst->file_count = i + 1;
        }
    }
    return 0;
fail:
    ls_game_record_free(dst);
    return LS_ENOMEM;
}

int ls_file_record_compare(const void *a, const void *b)
{
    return strcmp(((const ls_file_record_t *)a)->path, ((const ls_file_record_t *)b)->path);
}

int ls_game_record_compare(const void *a, const void *b)
{
    return strcmp(((const ls_game_record_t *)a)->id, ((const ls_game_record_t *)b)->id);
}

const ls_game_record_t *ls_index_find_game(const ls_index_t *index, const char *id)
{
    ls_game_record_t key = {.id = (char *)id};
    if (index->game_count == 0)
        return NULL;
    return bsearch(&key, index->games, index->game_count, sizeof key, ls_game_record_compare);
}

const ls_file_record_t *ls_game_find_file(const ls_game_record_t *game, const char *path)
{
    ls_file_record_t key = {.path = (char *)path};
    if (!game || game->file_count == 0)
        return NULL;
    return bsearch(&key, game->files, game->file_count, sizeof key, ls_file_record_compare);
}

static void game_totals(const ls_game_record_t *game, uint64_t *size, uint64_t *file_count)
{
    *size = 0;
    *file_count = 0;
    for (size_t i = 0; i < game->file_count; i++) {
        if (game->files[i].is_dir)
            continue;
        *size += game->files[i].stamp.size;
        *file_count += 1;
    }
}

static void gamedb_free(ls_local_game_t *games, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(games[i].id);
        free(games[i].name);
        free(games[i].description);
        free(games[i].genre);
        free(games[i].version);
    }
    free(games);
}

static void announced_free(ls_game_summary_t *games, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ls_game_summary_free(&games[i]);
    free(games);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* The cover the scan found, as hashed: a one-chunk file, so its chunk hash
 * is the file's SHA-256. A cover not hashed yet shows from the next publish. */
static void fill_cover(ls_local_game_t *out, const ls_game_record_t *rec)
{
    if (rec->cover_type == LS_COVER_NONE || rec->cover_name >= LS_COVER_NAME_COUNT)
        return;
    const char *name = ls_cover_names[rec->cover_name];
    const ls_file_record_t *f = ls_game_find_file(rec, name);
    if (!f || f->is_dir || !f->is_hashed || f->chunk_count != 1 || f->stamp.size == 0 ||
        f->stamp.size > LS_COVER_MAX)
        return;
    ls_hex_encode(f->chunks[0], LS_SHA256_LEN, out->cover);
    out->cover_size = f->stamp.size;
    out->cover_type = rec->cover_type;
    out->cover_file = name;
}

static int fill_local_game(ls_local_game_t *out, const ls_game_record_t *rec,
                           const ls_catalog_entry_t *meta)
{
    out->id = strdup(rec->id);
    out->name = dup_or_empty(meta->name);
    out->description = dup_or_empty(meta->description);
    out->genre = dup_or_empty(meta->genre);
    out->max_players = meta->max_players;
    out->release_year = meta->release_year;
    out->version = rec->version ? strdup(rec->version) : NULL;
    out->is_downloaded = rec->is_downloaded;
    out->is_installed = rec->is_installed;
    game_totals(rec, &out->size, &out->file_count);
    fill_cover(out, rec);
    if (!out->id || !out->name || !out->description || !out->genre ||
        (rec->version && !out->version))
        return LS_ENOMEM;
    return 0;
}

static int fill_summary(ls_game_summary_t *out, const ls_local_game_t *game)
{
    out->id = strdup(game->id);
    out->name = strdup(game->name);
    out->version = strdup(game->version);
    out->size = game->size;
    out->file_count = game->file_count;
    out->cover = game->cover[0] ? strdup(game->cover) : NULL;
    out->cover_size = game->cover_size;
    return (out->id && out->name && out->version && (out->cover || !game->cover[0])) ? 0
                                                                                     : LS_ENOMEM;
}

/* Derives the GameDB and the announced list from an index; catalog-gated. */
static int derive_views(const ls_library_t *library, const ls_index_t *index,
                        ls_local_game_t **gamedb, size_t *gamedb_count,
                        ls_game_summary_t **announced, size_t *announced_count)
{
    size_t n = index->game_count;
    int rc = 0;
    *gamedb = calloc(n ? n : 1, sizeof **gamedb);
    *announced = calloc(n ? n : 1, sizeof **announced);
    *gamedb_count = 0;
    *announced_count = 0;
    if (!*gamedb || !*announced)
        return LS_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ls_game_record_t *rec = &index->games[i];
        const ls_catalog_entry_t *meta = ls_catalog_find(library->catalog, rec->id);
        if (!meta)
            continue;
        ls_local_game_t *game = &(*gamedb)[(*gamedb_count)++];
        rc = fill_local_game(game, rec, meta);
        if (rc == 0 && rec->is_servable)
            rc = fill_summary(&(*announced)[(*announced_count)++], game);
    }
    return rc;
}

/* Covers are not in the digest (old peers get summaries without them), so
 * a cover replaced by another of the same size would leave the digest as it
 * was: a game announced before and now whose cover differs moves the rev
 * too. Both lists are sorted by id: one merge. */
static bool covers_changed(const ls_game_summary_t *old, size_t old_count,
                           const ls_game_summary_t *now, size_t now_count)
{
    size_t i = 0, j = 0;
    while (i < old_count && j < now_count) {
        int c = strcmp(old[i].id, now[j].id);
        if (c == 0 &&
            strcmp(old[i].cover ? old[i].cover : "", now[j].cover ? now[j].cover : "") != 0)
            return true;
        i += c <= 0;
        j += c >= 0;
    }
    return false;
}

int ls_library_publish(ls_library_t *library, ls_index_t *new_index)
{
    ls_local_game_t *gamedb = NULL;
    ls_game_summary_t *announced = NULL;
    size_t gamedb_count = 0, announced_count = 0;
    char digest[LS_SHA256_HEX_LEN + 1];
    int rc = derive_views(library, new_index, &gamedb, &gamedb_count, &announced, &announced_count);
    if (rc == 0)
        rc = ls_snapshot_digest(announced, announced_count, digest);
    if (rc != 0) {
        gamedb_free(gamedb, gamedb_count);
        announced_free(announced, announced_count);
        return rc;
    }
    /* The rev moves only when what peers see changes. */
    bool bumped =
        strcmp(digest, library->index.digest) != 0 ||
        covers_changed(library->announced, library->announced_count, announced, announced_count);
    new_index->library_rev = library->index.library_rev + (bumped ? 1 : 0);
    memcpy(new_index->digest, digest, sizeof digest);

    ls_index_free(&library->index);
    library->index = *new_index;
    memset(new_index, 0, sizeof *new_index);
    gamedb_free(library->gamedb, library->gamedb_count);
    announced_free(library->announced, library->announced_count);
    library->gamedb = gamedb;
    library->gamedb_count = gamedb_count;
    library->announced = announced;
    library->announced_count = announced_count;
    return bumped ? 1 : 0;
}

int ls_library_open(const ls_library_config_t *config, ls_library_t **out)
{
    ls_library_t *library = calloc(1, sizeof *library);
    int rc = 0;
    *out = NULL;
    if (!library)
        return LS_ENOMEM;
    library->base = config->catalog;
    library->is_first_scan_background = config->is_first_scan_background;
    library->game_dir = realpath(config->game_dir, NULL);
    if (!library->game_dir) {
        rc = LS_ENOENT;
        ls_error("library", "game directory %s cannot be opened", config->game_dir);
        goto out;
    }
    /* The base alone until the first scan has read the directory's catalog. */
    rc = ls_catalog_copy(library->base, &library->catalog);
    library->catalog_path = ls_path_join(library->game_dir, LS_LOCAL_CATALOG_FILE);
    if (rc == 0 && !library->catalog_path)
        rc = LS_ENOMEM;
    if (rc != 0)
        goto out;
    rc = ls_fs_mkdir_p(config->state_dir, 0700);
    if (rc != 0) {
        ls_error("library", "state directory %s: %s", config->state_dir, ls_strerror(rc));
        goto out;
    }
    library->state_dir = strdup(config->state_dir);
    library->index_path = ls_path_join(config->state_dir, LS_INDEX_FILE);
    library->legacy_index_path = ls_path_join(config->state_dir, LS_INDEX_LEGACY_FILE);
    if (!library->state_dir || !library->index_path || !library->legacy_index_path) {
        rc = LS_ENOMEM;
        goto out;
    }
    bool migrated;
    rc = ls_index_load(library->index_path, library->legacy_index_path, &library->index, &migrated);
    if (rc != 0)
        goto out;
    /* Read once: the first scan saves the binary index and removes this. */
    library->is_index_dirty = migrated;
    if (!migrated) {
        free(library->legacy_index_path);
        library->legacy_index_path = NULL;
    }
    if (library->index.game_dir && strcmp(library->index.game_dir, library->game_dir) != 0) {
        /* Cached hashes describe another folder; keep only the rev. */
        ls_info("library", "game directory changed from %s; hashes will be recomputed",
                library->index.game_dir);
        for (size_t i = 0; i < library->index.game_count; i++)
            ls_game_record_free(&library->index.games[i]);
        library->index.game_count = 0;
    }
    free(library->index.game_dir);
    library->index.game_dir = strdup(library->game_dir);
    if (!library->index.game_dir)
        rc = LS_ENOMEM;
out:
    if (rc != 0) {
        ls_library_close(library);
        return rc;
    }
    *out = library;
    return 0;
}

void ls_library_close(ls_library_t *library)
{
    if (!library)
        return;
    while (library->adoptions) {
        ls_library_adoption_t *a = library->adoptions;
        library->adoptions = a->next;
        ls_library_adoption_free(a);
    }
    ls_index_free(&library->index);
    gamedb_free(library->gamedb, library->gamedb_count);
    announced_free(library->announced, library->announced_count);
    free(library->game_dir);
    free(library->state_dir);
    free(library->index_path);
    free(library->legacy_index_path);
    ls_catalog_free(library->catalog);
    free(library->catalog_path);
    free(library->catalog_error);
    free(library);
}

const ls_catalog_t *ls_library_catalog(const ls_library_t *library)
{
    return library->catalog;
}

const char *ls_library_catalog_error(const ls_library_t *library)
{
    return library->catalog_error;
}

const ls_local_game_t *ls_library_games(const ls_library_t *library, size_t *count)
{
    *count = library->gamedb_count;
    return library->gamedb;
}

const ls_local_game_t *ls_library_find(const ls_library_t *library, const char *id)
{
    for (size_t i = 0; i < library->gamedb_count; i++)
        if (strcmp(library->gamedb[i].id, id) == 0)
            return &library->gamedb[i];
    return NULL;
}

int ls_library_snapshot(const ls_library_t *library, ls_library_snapshot_t *out)
{
    ls_library_snapshot_t view = {
        .library_rev = library->index.library_rev,
        .games = library->announced,
        .game_count = library->announced_count,
    };
    memcpy(view.digest, library->index.digest, sizeof view.digest);
    return ls_snapshot_copy(out, &view);
}

uint64_t ls_library_rev(const ls_library_t *library)
{
    return library->index.library_rev;
}

/* The record ls_library_manifest would copy, or why there is none. */
static int find_servable(const ls_library_t *library, const char *game_id,
                         const ls_game_record_t **out)
{
    const ls_game_record_t *rec = ls_index_find_game(&library->index, game_id);
    *out = NULL;
    if (!rec || !ls_catalog_find(library->catalog, game_id))
        return LS_EUNKNOWN_GAME;
    if (!rec->is_servable)
        return LS_ENOT_DOWNLOADED;
    *out = rec;
    return 0;
}

static int copy_manifest_file(ls_file_desc_t *dst, const ls_file_record_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->path = strdup(src->path);
    dst->size = src->is_dir ? 0 : src->stamp.size;
    dst->is_dir = src->is_dir;
    dst->chunk_count = src->chunk_count;
    if (!dst->path)
        return LS_ENOMEM;
    if (src->chunk_count > 0) {
        dst->chunk_sha256 = malloc(src->chunk_count * sizeof *dst->chunk_sha256);
        if (!dst->chunk_sha256)
            return LS_ENOMEM;
        memcpy(dst->chunk_sha256, src->chunks, src->chunk_count * sizeof *dst->chunk_sha256);
    }
    return 0;
}

bool ls_library_serves(const ls_library_t *library, const char *game_id, const char *version)
{
    const ls_game_record_t *rec;
    return version && find_servable(library, game_id, &rec) == 0 && rec->version &&
           strcmp(rec->version, version) == 0;
}

int ls_library_manifest(const ls_library_t *library, const char *game_id, ls_game_manifest_t *out)
{
    const ls_game_record_t *rec;
    memset(out, 0, sizeof *out);
    int rc = find_servable(library, game_id, &rec);
    if (rc != 0)
        return rc;
    out->game_id = strdup(rec->id);
    out->version = strdup(rec->version);
    out->chunk_size = LS_CHUNK_SIZE;
    out->files = calloc(rec->file_count ? rec->file_count : 1, sizeof *out->files);
    if (!out->game_id || !out->version || !out->files) {
        rc = LS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < rec->file_count && rc == 0; i++) {
        out->file_count = i + 1;
        rc = copy_manifest_file(&out->files[i], &rec->files[i]);
    }
out:
    if (rc != 0)
        ls_manifest_free(out);
    return rc;
}

int ls_library_file(const ls_library_t *library, const char *game_id, const char *path,
                    ls_library_file_t *out)
{
    const ls_game_record_t *rec;
    memset(out, 0, sizeof *out);
    int rc = find_servable(library, game_id, &rec);
    if (rc != 0)
        return rc;
    const ls_file_record_t *file = ls_game_find_file(rec, path);
    if (!file)
        return LS_ENOENT;
    out->path = file->path;
    out->size = file->is_dir ? 0 : file->stamp.size;
    out->is_dir = file->is_dir;
    out->chunk_count = file->chunk_count;
    out->chunk_sha256 = (const uint8_t(*)[LS_SHA256_LEN])file->chunks;
    return 0;
}

char *ls_library_game_root(const ls_library_t *library, const char *game_id)
{
    if (!ls_game_id_is_valid(game_id))
        return NULL;
    return ls_path_join(library->game_dir, game_id);
}

const char *ls_library_game_dir(const ls_library_t *library)
{
    return library->game_dir;
}

static char *trimmed_copy(const char *start, const char *end)
{
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    if (start == end)
        return NULL;
    return strndup(start, (size_t)(end - start));
}

/* The value of a `version = X` line, or NULL if the line is something else. */
static char *version_assignment(const char *line, const char *eol)
{
    while (line < eol && isspace((unsigned char)*line))
        line++;
    if ((size_t)(eol - line) < 7 || strncasecmp(line, "version", 7) != 0)
        return NULL;
    line += 7;
    while (line < eol && isspace((unsigned char)*line))
        line++;
    if (line == eol || *line != '=')
        return NULL;
    return trimmed_copy(line + 1, eol);
}

static bool is_comment_or_section(const char *value)
{
    return value[0] == '[' || value[0] == ';' || value[0] == '#';
}

int ls_library_parse_version(const char *text, size_t len, char **out)
{
    const char *end = text + len;
    char *found = NULL;
    char *first = NULL;
    *out = NULL;
    if (memchr(text, '\0', len))
        return LS_ECORRUPT;
    for (const char *line = text; line < end && !found;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        found = version_assignment(line, eol);
        if (!found && !first) {
            char *value = trimmed_copy(line, eol);
            if (value && !is_comment_or_section(value) && !strchr(value, '='))
                first = value;
            else
                free(value);
        }
        line = eol + 1;
    }
    if (found) {
        free(first);
        first = found;
    }
    if (!first)
        return LS_ECORRUPT;
    if (strlen(first) > LS_VERSION_MAX) {
        free(first);
        return LS_ETOOBIG;
    }
    /* The version is announced and saved as a JSON string. */
    size_t bad;
    if (!ls_proto_utf8_is_valid((const uint8_t *)first, strlen(first), &bad)) {
        free(first);
        return LS_EUTF8;
    }
    *out = first;
    return 0;
}
