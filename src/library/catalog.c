/* The catalog of known games: loading, validation and lookup. */
#include "lanspread/catalog.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/path.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char ls_embedded_catalog[];
extern const size_t ls_embedded_catalog_len;

struct ls_catalog {
    ls_catalog_entry_t *entries; /* sorted by id */
    size_t count;
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    if (!err || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Read-modify-writes of catalog files: two downloads adding an entry each
 * must not both start from the same old document. */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;

static void entry_free(ls_catalog_entry_t *e)
{
    free(e->id);
    free(e->name);
    free(e->description);
    free(e->genre);
    memset(e, 0, sizeof *e);
}

void ls_catalog_entry_free(ls_catalog_entry_t *entry)
{
    if (entry)
        entry_free(entry);
}

static char *dup_optional(const char *s, bool *failed)
{
    char *copy = s ? strdup(s) : NULL;
    *failed |= s && !copy;
    return copy;
}

int ls_catalog_entry_copy(ls_catalog_entry_t *dst, const ls_catalog_entry_t *src)
{
    bool failed = false;
    *dst = *src;
    dst->id = dup_optional(src->id, &failed);
    dst->name = dup_optional(src->name, &failed);
    dst->description = dup_optional(src->description, &failed);
    dst->genre = dup_optional(src->genre, &failed);
    if (failed) {
        entry_free(dst);
        return LS_ENOMEM;
    }
    return 0;
}

int ls_catalog_new(ls_catalog_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : LS_ENOMEM;
}

void ls_catalog_free(ls_catalog_t *catalog)
{
    if (!catalog)
        return;
    for (size_t i = 0; i < catalog->count; i++)
        entry_free(&catalog->entries[i]);
    free(catalog->entries);
    free(catalog);
}

int ls_catalog_copy(const ls_catalog_t *src, ls_catalog_t **out)
{
    ls_catalog_t *copy = calloc(1, sizeof *copy);
    int rc = copy ? 0 : LS_ENOMEM;
    if (rc == 0 && src->count > 0) {
        copy->entries = calloc(src->count, sizeof *copy->entries);
        rc = copy->entries ? 0 : LS_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < src->count; i++) {
        rc = ls_catalog_entry_copy(&copy->entries[i], &src->entries[i]);
        copy->count += rc == 0;
    }
    if (rc != 0) {
        ls_catalog_free(copy);
        copy = NULL;
    }
    *out = copy;
    return rc;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const ls_catalog_entry_t *)a)->id, ((const ls_catalog_entry_t *)b)->id);
}

/* Reads an optional string field; required ones must be present and non-empty. */
static int read_text(json_t *obj, const char *field, bool required, size_t max, char **out,
                     const char *where, char *err, size_t err_len)
{
    json_t *value = json_object_get(obj, field);
    *out = NULL;
    if (!value) {
        if (!required)
            return 0;
        set_err(err, err_len, "%s: field '%s' is missing", where, field);
        return LS_ECATALOG;
    }
    if (!json_is_string(value)) {
        set_err(err, err_len, "%s: field '%s' must be a string", where, field);
        return LS_ECATALOG;
    }
    size_t len = json_string_length(value);
    if ((required && len == 0) || len > max || memchr(json_string_value(value), 0, len)) {
        set_err(err, err_len, "%s: field '%s' must be 1..%zu bytes of text", where, field, max);
        return LS_ECATALOG;
    }
    *out = strdup(json_string_value(value));
    return *out ? 0 : LS_ENOMEM;
}

static int read_count(json_t *obj, const char *field, uint32_t max, uint32_t *out,
                      const char *where, char *err, size_t err_len)
{
    json_t *value = json_object_get(obj, field);
    *out = 0;
    if (!value)
        return 0;
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > (json_int_t)max) {
        set_err(err, err_len, "%s: field '%s' must be an integer from 0 to %u", where, field, max);
        return LS_ECATALOG;
    }
    *out = (uint32_t)json_integer_value(value);
    return 0;
}

static int parse_entry(json_t *obj, size_t index, const char *source, ls_catalog_entry_t *e,
                       char *err, size_t err_len)
{
    char where[256];
    int rc;
    memset(e, 0, sizeof *e);
    snprintf(where, sizeof where, "%s: games[%zu]", source, index);
    if (!json_is_object(obj)) {
        set_err(err, err_len, "%s: must be an object", where);
        return LS_ECATALOG;
    }
    rc = read_text(obj, "id", true, LS_GAME_ID_MAX, &e->id, where, err, err_len);
    if (rc == 0 && !ls_game_id_is_valid(e->id)) {
        set_err(err, err_len, "%s: id '%s' is not a valid game id ([A-Za-z0-9._-], 1..%d)", where,
                e->id, LS_GAME_ID_MAX);
        rc = LS_ECATALOG;
    }
    if (rc == 0)
        rc = read_text(obj, "name", true, LS_NAME_MAX, &e->name, where, err, err_len);
    if (rc == 0)
        rc = read_text(obj, "description", false, LS_CATALOG_TEXT_MAX, &e->description, where, err,
                       err_len);
    if (rc == 0)
        rc = read_text(obj, "genre", false, LS_GENRE_MAX, &e->genre, where, err, err_len);
    if (rc == 0)
        rc = read_count(obj, "max_players", LS_PLAYERS_MAX, &e->max_players, where, err, err_len);
    if (rc == 0)
        rc = read_count(obj, "release_year", LS_RELEASE_YEAR_MAX, &e->release_year, where, err,
                        err_len);
    if (rc != 0)
        entry_free(e);
    return rc;
}

static int parse_document(const char *json, size_t len, const char *source,
                          ls_catalog_entry_t **entries, size_t *count, char *err, size_t err_len)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *games;
    int rc = 0;

    *entries = NULL;
    *count = 0;
    if (!root) {
        set_err(err, err_len, "%s: line %d column %d: %s", source, jerr.line, jerr.column,
                jerr.text);
        return LS_ECATALOG;
    }
    games = json_object_get(root, "games");
    if (!json_is_array(games)) {
        set_err(err, err_len, "%s: top level must be an object with a 'games' array", source);
        rc = LS_ECATALOG;
        goto out;
    }
    size_t n = json_array_size(games);
    *entries = calloc(n ? n : 1, sizeof **entries);
    if (!*entries) {
        rc = LS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = parse_entry(json_array_get(games, i), i, source, &(*entries)[i], err, err_len);
        if (rc == 0)
            *count = i + 1;
    }
    if (rc == 0 && n > 1) {
        qsort(*entries, n, sizeof **entries, compare_entries);
        for (size_t i = 1; i < n; i++) {
            if (strcmp((*entries)[i - 1].id, (*entries)[i].id) == 0) {
                set_err(err, err_len, "%s: game id '%s' is listed twice", source, (*entries)[i].id);
                rc = LS_ECATALOG;
                break;
            }
        }
    }
out:
    json_decref(root);
    if (rc != 0) {
        for (size_t i = 0; i < *count; i++)
            entry_free(&(*entries)[i]);
        free(*entries);
        *entries = NULL;
        *count = 0;
    }
    return rc;
}

static ls_catalog_entry_t *find_mutable(const ls_catalog_t *catalog, const char *id)
{
    ls_catalog_entry_t key = {.id = (char *)id};
    if (catalog->count == 0)
        return NULL;
    return bsearch(&key, catalog->entries, catalog->count, sizeof key, compare_entries);
}

int ls_catalog_add_json(ls_catalog_t *catalog, const char *json, size_t len, const char *source,
                        char *err, size_t err_len)
{
    ls_catalog_entry_t *added = NULL;
    size_t added_count = 0;
    int rc = parse_document(json, len, source, &added, &added_count, err, err_len);
    if (rc != 0)
        return rc;
    ls_catalog_entry_t *grown =
        realloc(catalog->entries, (catalog->count + added_count + 1) * sizeof *grown);
    if (!grown) {
        for (size_t i = 0; i < added_count; i++)
            entry_free(&added[i]);
        free(added);
        return LS_ENOMEM;
    }
    catalog->entries = grown;
    size_t old_count = catalog->count;
    for (size_t i = 0; i < added_count; i++) {
        ls_catalog_entry_t *existing = NULL;
        if (old_count > 0) {
            ls_catalog_entry_t key = {.id = added[i].id};
            existing = bsearch(&key, catalog->entries, old_count, sizeof key, compare_entries);
        }
        if (existing) {
            entry_free(existing);
            *existing = added[i];
        } else {
            catalog->entries[catalog->count++] = added[i];
        }
    }
    free(added);
    qsort(catalog->entries, catalog->count, sizeof *catalog->entries, compare_entries);
    return 0;
}

int ls_catalog_add_file(ls_catalog_t *catalog, const char *path, char *err, size_t err_len)
{
    char *text = NULL;
    size_t len = 0;
    int rc = ls_fs_read_file(path, LS_CATALOG_FILE_MAX, &text, &len);
    if (rc != 0) {
        set_err(err, err_len, "%s: %s", path, ls_strerror(rc));
        return rc == LS_ENOMEM ? rc : LS_ECATALOG;
    }
    rc = ls_catalog_add_json(catalog, text, len, path, err, err_len);
    free(text);
    return rc;
}

static void free_entries(ls_catalog_entry_t *entries, size_t count)
{
    for (size_t i = 0; i < count; i++)
        entry_free(&entries[i]);
    free(entries);
}

/* The entry as a catalog document writes it: absent text and unknown (0)
 * counts are left out, as a person would write them. */
static json_t *entry_to_json(const ls_catalog_entry_t *e)
{
    json_t *obj = json_pack("{s:s,s:s}", "id", e->id, "name", e->name);
    bool ok = obj != NULL;
    if (ok && e->description)
        ok = json_object_set_new(obj, "description", json_string(e->description)) == 0;
    if (ok && e->genre)
        ok = json_object_set_new(obj, "genre", json_string(e->genre)) == 0;
    if (ok && e->max_players)
        ok = json_object_set_new(obj, "max_players", json_integer(e->max_players)) == 0;
    if (ok && e->release_year)
        ok = json_object_set_new(obj, "release_year", json_integer(e->release_year)) == 0;
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static bool lists_id(const ls_catalog_entry_t *entries, size_t count, const char *id)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(entries[i].id, id) == 0)
            return true;
    return false;
}

/* The current document, checked as a catalog; an empty one when missing. */
static int load_document(const char *path, json_t **root, bool *has_id, const char *id, char *err,
                         size_t err_len)
{
    ls_catalog_entry_t *entries = NULL;
    size_t count = 0, len = 0;
    char *text = NULL;
    int rc = ls_fs_read_file(path, LS_CATALOG_FILE_MAX, &text, &len);
    *root = NULL;
    *has_id = false;
    if (rc == LS_ENOENT) {
        *root = json_pack("{s:[]}", "games");
        return *root ? 0 : LS_ENOMEM;
    }
    if (rc != 0) {
        set_err(err, err_len, "%s: %s", path, ls_strerror(rc));
        return rc == LS_ENOMEM ? rc : LS_ECATALOG;
    }
    rc = parse_document(text, len, path, &entries, &count, err, err_len);
    if (rc == 0) {
        *has_id = lists_id(entries, count, id);
        *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        rc = *root ? 0 : LS_ENOMEM;
    }
    free_entries(entries, count);
    free(text);
    return rc;
}

/* The new text, checked by the loader itself before it may replace the file. */
static int dump_checked(json_t *root, const char *path, char **out, char *err, size_t err_len)
{
    ls_catalog_entry_t *entries = NULL;
    size_t count = 0;
    char *text = json_dumps(root, JSON_INDENT(2));
    char *line = text ? ls_strdup_printf("%s\n", text) : NULL;
    int rc = line ? 0 : LS_ENOMEM;
    if (rc == 0 && strlen(line) > LS_CATALOG_FILE_MAX) {
        set_err(err, err_len, "%s: would grow beyond %u bytes", path, LS_CATALOG_FILE_MAX);
        rc = LS_ECATALOG;
    }
    if (rc == 0)
        rc = parse_document(line, strlen(line), path, &entries, &count, err, err_len);
    free_entries(entries, count);
    free(text);
    if (rc != 0) {
        free(line);
        line = NULL;
    }
    *out = line;
    return rc;
}

static int file_add_locked(const char *path, const ls_catalog_entry_t *entry, char *err,
                           size_t err_len)
{
    json_t *root = NULL, *obj = NULL;
    char *text = NULL;
    bool has_id = false;
    int rc = load_document(path, &root, &has_id, entry->id, err, err_len);
    if (rc != 0 || has_id)
        goto out;
    obj = entry_to_json(entry);
    if (!obj || json_array_append_new(json_object_get(root, "games"), obj) != 0) {
        rc = LS_ENOMEM;
        goto out;
    }
    rc = dump_checked(root, path, &text, err, err_len);
    if (rc == 0)
        rc = ls_fs_write_atomic(path, text, strlen(text));
    if (rc != 0 && rc != LS_ECATALOG && rc != LS_ENOMEM)
        set_err(err, err_len, "%s: %s", path, ls_strerror(rc));
out:
    free(text);
    json_decref(root);
    return rc;
}

int ls_catalog_file_add(const char *path, const ls_catalog_entry_t *entry, char *err,
                        size_t err_len)
{
    if (!entry->id || !entry->name)
        return LS_EINVAL;
    pthread_mutex_lock(&file_lock);
    int rc = file_add_locked(path, entry, err, err_len);
    pthread_mutex_unlock(&file_lock);
    return rc;
}

const char *ls_catalog_bundled_json(size_t *len)
{
    if (len)
        *len = ls_embedded_catalog_len;
    return (const char *)ls_embedded_catalog;
}

int ls_catalog_load_bundled(ls_catalog_t **out, char *err, size_t err_len)
{
    size_t len;
    const char *json = ls_catalog_bundled_json(&len);
    int rc = ls_catalog_new(out);
    if (rc != 0)
        return rc;
    rc = ls_catalog_add_json(*out, json, len, "bundled catalog", err, err_len);
    if (rc != 0) {
        ls_catalog_free(*out);
        *out = NULL;
    }
    return rc;
}

const ls_catalog_entry_t *ls_catalog_find(const ls_catalog_t *catalog, const char *id)
{
    return find_mutable(catalog, id);
}

size_t ls_catalog_count(const ls_catalog_t *catalog)
{
    return catalog->count;
}

const ls_catalog_entry_t *ls_catalog_at(const ls_catalog_t *catalog, size_t index)
{
    return index < catalog->count ? &catalog->entries[index] : NULL;
}
