/* Internal state of the library module: the index records that a scan
 * builds, persists and publishes. Not part of the public API. */
#ifndef LS_LIBRARY_INTERNAL_H
#define LS_LIBRARY_INTERNAL_H

#include "lanspread/library.h"
#include "lanspread/workq.h"

#include <stdbool.h>
#include <stdint.h>

/* Identity of a file's contents as far as stat can tell: when all three are
 * unchanged, the cached chunk hashes are reused without reading the file. */
typedef struct {
    uint64_t size;
    int64_t mtime_ns;
    uint64_t ino;
} ls_file_stamp_t;

typedef struct {
    char *path; /* relative to the game root */
    bool is_dir;
    ls_file_stamp_t stamp;
    uint8_t (*chunks)[LS_SHA256_LEN];
    size_t chunk_count;
    bool is_hashed;
} ls_file_record_t;

typedef struct {
    char *id;
    char *version; /* NULL when not downloaded */
    ls_file_stamp_t version_stamp;
    bool is_downloaded;
    bool is_installed;
    bool is_servable; /* downloaded and every file hashed */
    /* The cover the scan found (cover.h): its type (LS_COVER_NONE: none)
     * and which of ls_cover_names it is. Not saved in the index: every
     * scan probes it again (one small read per game that has one). */
    uint8_t cover_type;
    uint8_t cover_name;
    ls_file_record_t *files; /* sorted by path; only for downloaded games */
    size_t file_count;
} ls_game_record_t;

typedef struct {
    char *game_dir;
    uint64_t library_rev;
    char digest[LS_SHA256_HEX_LEN + 1];
    ls_game_record_t *games; /* sorted by id */
    size_t game_count;
} ls_index_t;

void ls_file_record_free(ls_file_record_t *file);
void ls_game_record_free(ls_game_record_t *game);
void ls_index_free(ls_index_t *index);
int ls_game_record_copy(ls_game_record_t *dst, const ls_game_record_t *src);
const ls_game_record_t *ls_index_find_game(const ls_index_t *index, const char *id);
const ls_file_record_t *ls_game_find_file(const ls_game_record_t *game, const char *path);
int ls_file_record_compare(const void *a, const void *b);
int ls_game_record_compare(const void *a, const void *b);

/* Index persistence (index.c: binary; index_json.c: the legacy JSON).
 * Loads STATE/LS_INDEX_FILE; when there is none, the JSON index at
 * legacy_path (NULL: none) that builds before wrote, and sets *migrated so
 * that the caller saves the binary one and removes the JSON one. A missing
 * index gives an empty one with rev 0; a corrupt one is logged and replaced
 * by an empty index whose rev starts at the current Unix time, so revs stay
 * monotonic for peers that saw the old ones. Fails only for LS_ENOMEM. */
int ls_index_load(const char *path, const char *legacy_path, ls_index_t *out, bool *migrated);
/* Writes the binary index atomically (temp, fsync, rename, directory fsync).
 * Every record a scan builds must come back equal from ls_index_load, a
 * not-downloaded game included, or a restart rehashes the whole library. */
int ls_index_save(const char *path, const ls_index_t *index);
/* The file ls_index_save writes, and its parser; on failure *out is empty.
 * The body alone (no header, no checksum) is what the fuzzer mutates. */
int ls__index_encode(const ls_index_t *index, uint8_t **out, size_t *out_len);
int ls__index_decode(const uint8_t *data, size_t len, ls_index_t *out);
int ls__index_encode_body(const ls_index_t *index, uint8_t **out, size_t *out_len);
int ls__index_decode_body(const uint8_t *body, size_t len, ls_index_t *out);
/* The legacy JSON index: parser (migration) and writer (tests, fuzzer). */
int ls__index_json_parse(const char *text, size_t len, ls_index_t *out);
int ls__index_json_dump(const ls_index_t *index, char **text);

struct ls_library_adoption {
    ls_library_adoption_t *next; /* queued while a scan runs */
    ls_game_record_t record;
};
#define LS_CATALOG_ERROR_MAX 512

struct ls_library {
    char *game_dir;
    char *state_dir;
    char *index_path;
    char *legacy_index_path;       /* the JSON index to remove once index_path is saved */
    const ls_catalog_t *base;      /* the caller's, borrowed */
    ls_catalog_t *catalog;         /* effective: base + the game directory's catalog */
    char *catalog_path;            /* GAMEDIR/LS_LOCAL_CATALOG_FILE */
    ls_file_stamp_t catalog_stamp; /* of the file last read; all zero: there was none */
    bool has_catalog_stamp;        /* false until the first scan looked */
    char *catalog_error;           /* why its last change was refused; NULL if it was not */
    ls_index_t index;              /* published: read on the loop thread */
    ls_local_game_t *gamedb;       /* derived from index + catalog */
    size_t gamedb_count;
    ls_game_summary_t *announced; /* catalog-gated, servable games, sorted by id */
    size_t announced_count;
    struct ls_scan *scan;             /* the scan in progress, if any */
    ls_library_adoption_t *adoptions; /* waiting for the running scan to publish */
    bool is_index_dirty;              /* published records the saved index lacks */
    bool is_scan_started;             /* its first scan was started (see ls__scan_lane) */
    bool is_first_scan_background;    /* config: nobody waits for its first scan */
};

/* The lane of a scan's walk, save and first hashes (scan.c): the latency
 * lane for the first scan started on a library whose owner waits for it,
 * the bulk lane for every other. The first started, not the first to
 * succeed: the peer announces itself when its first scan ends, failed or
 * not, and waits for no later one, which on the latency lane hashed up to
 * FIRST_SCAN_HASH_BYTES there each time while the game directory failed. */
ls_workq_class_t ls__scan_lane(bool is_scan_started, bool is_first_scan_background);

/* Rebuilds gamedb and announced from index (library.c). */
int ls_library_publish(ls_library_t *library, ls_index_t *new_index);

#endif
