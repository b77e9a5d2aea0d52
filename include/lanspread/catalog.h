/* The catalog of known games. Only game folders whose id is listed here are
 * announced or served. A catalog is the bundled JSON file, optionally extended
 * by local catalog files with the same format. Entries are bounded like the
 * game.meta a peer sends (proto.h), so either converts into the other. */
#ifndef LANSPREAD_CATALOG_H
#define LANSPREAD_CATALOG_H

#include "lanspread/proto.h"

#include <stddef.h>
#include <stdint.h>

/* Name of an optional local catalog at the top of a game directory. */
#define LS_LOCAL_CATALOG_FILE ".lanspread-catalog.json"
#define LS_CATALOG_FILE_MAX (8u * 1024u * 1024u)
#define LS_CATALOG_TEXT_MAX LS_DESCRIPTION_MAX /* description, bytes */

typedef struct {
    char *id;
    char *name;
    char *description;
    char *genre;
    uint32_t max_players;
    uint32_t release_year; /* 0 when unknown */
} ls_catalog_entry_t;

typedef struct ls_catalog ls_catalog_t;

/* An empty catalog. Caller frees with ls_catalog_free(). */
int ls_catalog_new(ls_catalog_t **out);
void ls_catalog_free(ls_catalog_t *catalog);
/* A deep copy; caller frees. */
int ls_catalog_copy(const ls_catalog_t *src, ls_catalog_t **out);
/* Deep-copies an entry's fields into *dst; frees an entry's fields (not
 * the entry itself). */
int ls_catalog_entry_copy(ls_catalog_entry_t *dst, const ls_catalog_entry_t *src);
void ls_catalog_entry_free(ls_catalog_entry_t *entry);

/* Adds the entries of one catalog document. `source` names it in errors.
 * A later document may redefine an id of an earlier one (a local catalog
 * overrides the bundled one); one document may not list an id twice.
 * On error nothing is added and err holds a message naming the source, the
 * entry and the field. */
int ls_catalog_add_json(ls_catalog_t *catalog, const char *json, size_t len, const char *source,
                        char *err, size_t err_len);
int ls_catalog_add_file(ls_catalog_t *catalog, const char *path, char *err, size_t err_len);

/* Adds `entry` to the catalog document at `path` (created when missing)
 * unless the document lists its id already: a read-modify-write of the JSON
 * document, written with ls_fs_write_atomic, that keeps every other entry
 * and field. A document that does not load as a catalog is never
 * overwritten, and neither is one the entry would make invalid: LS_ECATALOG
 * with err naming the file and what is wrong. Blocks (thread pool); calls
 * are serialized within the process. */
int ls_catalog_file_add(const char *path, const ls_catalog_entry_t *entry, char *err,
                        size_t err_len);

/* The catalog compiled into the program (data/catalog.json). */
int ls_catalog_load_bundled(ls_catalog_t **out, char *err, size_t err_len);
const char *ls_catalog_bundled_json(size_t *len);

/* Borrowed pointers, valid until the catalog changes or is freed. */
const ls_catalog_entry_t *ls_catalog_find(const ls_catalog_t *catalog, const char *id);
size_t ls_catalog_count(const ls_catalog_t *catalog);
const ls_catalog_entry_t *ls_catalog_at(const ls_catalog_t *catalog, size_t index);

#endif
