/* The catalog of known games: loading, validation and lookup. */
#include "lanspread/catalog.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/path.h"

#include <jansson.h>
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

static void entry_free(ls_catalog_entry_t *e)
{
    free(e->id);
    free(e->name);
    free(e->description);
    free(e->genre);
    memset(e, 0, sizeof *e);
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
        set_err(err, err_len, "%s: field '%s' must be an integer from 0 to %u", where, field,
                max);
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
        set_err(err, err_len, "%s: id '%s' is not a valid game id ([A-Za-z0-9._-], 1..%d)",
                where, e->id, LS_GAME_ID_MAX);
        rc = LS_ECATALOG;
    }
    if (rc == 0)
        rc = read_text(obj, "name", true, 128, &e->name, where, err, err_len);
    if (rc == 0)
        rc = read_text(obj, "description", false, LS_CATALOG_TEXT_MAX, &e->description, where,
                       err, err_len);
    if (rc == 0)
        rc = read_text(obj, "genre", false, 64, &e->genre, where, err, err_len);
    if (rc == 0)
        rc = read_count(obj, "max_players", 1024, &e->max_players, where, err, err_len);
    if (rc == 0)
        rc = read_count(obj, "release_year", 9999, &e->release_year, where, err, err_len);
    if (rc != 0)
        entry_free(e);
    return rc;
}

static int parse_document(const char *json, size_t len, const char *source,
                          ls_catalog_entry_t **entries, size_t *count, char *err,
                          size_t err_len)
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
                set_err(err, err_len, "%s: game id '%s' is listed twice", source,
                        (*entries)[i].id);
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
