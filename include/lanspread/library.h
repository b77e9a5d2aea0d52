/* The local library: what the game directory holds, what this peer announces
 * (LibrarySnapshot) and serves (manifests with per-chunk SHA-256).
 *
 * Layout: one folder per game, named by its id. A game is downloaded when its
 * root-level version.ini exists and installed when local/ is a directory.
 * Reserved root names (path.h) are never announced or served.
 *
 * A scan walks the directory on the bulk lane (workq.h), compares every
 * file's (size, mtime, inode) with the on-disk index in the state directory,
 * hashes only the files that changed (a bulk job per file or batch of small
 * files, at most LS_SCAN_HASH_JOBS_MAX queued at once), then publishes the
 * result on the loop thread. A library's first scan (what its owner waits
 * for to be seen) runs on the latency lane instead, but for the hashes
 * beyond its first 64 MiB, which go to the bulk lane; only the first
 * started, failed or not (its owner waits for nothing after it), and not
 * when the config says nobody waits for it. An unchanged library is rescanned without
 * reading any file's contents.
 *
 * Catalog: the library gates games with the caller's base catalog extended by
 * the game directory's own LS_LOCAL_CATALOG_FILE, whose entries override the
 * base's. Every scan (full or single-game) re-reads that file on the pool
 * when its (size, mtime, inode) changed, and swaps the new catalog in when it
 * publishes; a file that does not load leaves the previous catalog in force
 * (ls_library_catalog_error says why). */
#ifndef LANSPREAD_LIBRARY_H
#define LANSPREAD_LIBRARY_H

#include "lanspread/catalog.h"
#include "lanspread/path.h"
#include "lanspread/proto.h"
#include "lanspread/workq.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define LS_INDEX_FILE "index.bin"
/* The JSON index of earlier builds: read once when there is no binary one,
 * then removed by the first save. */
#define LS_INDEX_LEGACY_FILE "index.json"
/* Hash jobs a scan keeps queued or running (each one file, or a batch of
 * small ones): two per bulk thread, so a thread finds its next job queued
 * instead of idling while the loop refills, and other bulk work waits behind
 * that many jobs, not behind every changed file of the library. */
#define LS_SCAN_HASH_JOBS_MAX (2 * LS_WORKQ_BULK_THREADS)

/* One game of the local GameDB. */
typedef struct {
    char *id;
    char *name;
    char *description;
    char *genre;
    uint32_t max_players;
    uint32_t release_year; /* 0 when unknown */
    char *version;         /* NULL when not downloaded */
    bool is_downloaded;
    bool is_installed;
    uint64_t size;       /* bytes of the files it serves */
    uint64_t file_count; /* regular files it serves */
    /* Its cover (lanspread/cover.h): SHA-256 hex ("" when none), size, the
     * image type (an ls_cover_type_t; 0 when none) and its file name in the
     * game folder (NULL when none; a static string). */
    char cover[LS_SHA256_HEX_LEN + 1];
    uint64_t cover_size;
    int cover_type;
    const char *cover_file;
} ls_local_game_t;

typedef struct {
    const char *game_dir;  /* folder holding one folder per game */
    const char *state_dir; /* the peer's own state (index, rev); never a game root */
    /* The base catalog (bundled and --catalog files), borrowed: must outlive
     * the library. The game directory's catalog is added by the library. */
    const ls_catalog_t *catalog;
    /* Nobody waits for this library's first scan (a game directory swapped
     * in at run time: links and discovery run already, the new games are
     * told as a delta when it ends): it runs on the bulk lane like every
     * later scan. */
    bool is_first_scan_background;
} ls_library_config_t;

/* What a scan did; for logs, benchmarks and tests. */
typedef struct {
    uint64_t games_seen;
    uint64_t games_announced;
    uint64_t files_seen;
    uint64_t files_hashed; /* files whose contents were read this scan */
    uint64_t bytes_hashed;
    uint64_t version_reads;  /* version.ini files read (unchanged ones are cached) */
    uint64_t skipped;        /* entries skipped with a logged reason */
    uint64_t hash_jobs_peak; /* most hash jobs queued at once; <= LS_SCAN_HASH_JOBS_MAX */
    bool rev_bumped;
    bool catalog_changed; /* the game directory's catalog was (re)loaded */
    bool catalog_refused; /* it changed but did not load: see ls_library_catalog_error */
} ls_scan_stats_t;

typedef struct ls_library ls_library_t;

/* Called on the loop thread when a scan ends. status is 0 or LS_E*. */
typedef void (*ls_library_scan_cb)(ls_library_t *library, int status, const ls_scan_stats_t *stats,
                                   void *userdata);

/* Opens the library and loads the index (rev, digest, cached hashes) from the
 * state directory, creating it if needed. Nothing is scanned yet.
 * Free with ls_library_close(). */
int ls_library_open(const ls_library_config_t *config, ls_library_t **out);
void ls_library_close(ls_library_t *library);

/* Starts a scan on the bulk lane; cb runs on loop's thread. only_game_id
 * limits it to one game (NULL: everything). One scan at a time: LS_EBUSY
 * while one runs. The library must not be closed before cb has run. */
int ls_library_scan_start(ls_library_t *library, uv_loop_t *loop, const char *only_game_id,
                          ls_library_scan_cb cb, void *userdata);

/* Convenience for programs without a loop: runs a full scan on a private
 * loop and returns when it is done. */
int ls_library_scan_sync(ls_library_t *library, ls_scan_stats_t *stats);

/* The local GameDB, sorted by id. Borrowed: valid until the next scan ends;
 * read it on the loop thread only. */
const ls_local_game_t *ls_library_games(const ls_library_t *library, size_t *count);
const ls_local_game_t *ls_library_find(const ls_library_t *library, const char *id);

/* The effective catalog (base + the game directory's), and why the game
 * directory's last change was refused (NULL when it was not). Borrowed:
 * valid until the next scan ends; loop thread only. */
const ls_catalog_t *ls_library_catalog(const ls_library_t *library);
const char *ls_library_catalog_error(const ls_library_t *library);

/* The snapshot this peer announces (catalog-gated, downloaded games).
 * *out is owned by the caller: ls_snapshot_free(). */
int ls_library_snapshot(const ls_library_t *library, ls_library_snapshot_t *out);
uint64_t ls_library_rev(const ls_library_t *library);

/* A finished download, as the library will record it: built right after the
 * download's commit, on the bulk lane (blocking: it stats the game root
 * and reads version.ini), from the verified manifest and the indices of the
 * selected files, whose chunk hashes are taken instead of reading back the
 * bytes just verified. Files outside the selection are left unhashed. */
typedef struct ls_library_adoption ls_library_adoption_t;
int ls_library_adoption_prepare(const ls_library_t *library, const ls_game_manifest_t *verified,
                                const size_t *selected, size_t selected_count,
                                ls_library_adoption_t **out);
void ls_library_adoption_free(ls_library_adoption_t *adoption);

/* Loop thread: publishes the game from the adoption at once (the rev moves
 * as after a scan; the index file is written by the next scan) and takes
 * ownership of it. While a scan runs, it is applied when that scan
 * publishes instead. Returns 1 when a file still needs hashing (rescan the
 * game), 0 when the game is complete, or LS_E*. */
int ls_library_adopt(ls_library_t *library, ls_library_adoption_t *adoption);

/* Whether the game is published at exactly `version` and served now (what
 * ls_library_manifest and ls_library_file answer). After ls_library_adopt
 * it is false while the adoption waits for a running scan, or while a file
 * outside the download's selection still needs hashing. */
bool ls_library_serves(const ls_library_t *library, const char *game_id, const char *version);

/* The manifest of an announced game. LS_EUNKNOWN_GAME if the id is not in the
 * library (or not in the catalog), LS_ENOT_DOWNLOADED if it has no
 * version.ini. *out is owned by the caller: ls_manifest_free(). */
int ls_library_manifest(const ls_library_t *library, const char *game_id, ls_game_manifest_t *out);

/* One file (or directory) of an announced game, as last published. */
typedef struct {
    const char *path;
    uint64_t size; /* 0 for a directory */
    bool is_dir;
    size_t chunk_count;
    const uint8_t (*chunk_sha256)[LS_SHA256_LEN];
} ls_library_file_t;

/* Looks up one path of an announced game without copying anything: a binary
 * search over the game, then over its files (both sorted), so serving a
 * chunk costs O(log n) and no allocation. Loop thread only; *out borrows from
 * the library and is valid until the next publish (a scan's end or
 * ls_library_adopt): copy what must outlive the current callback. The errors
 * of ls_library_manifest, and LS_ENOENT when the game lists no such path. */
int ls_library_file(const ls_library_t *library, const char *game_id, const char *path,
                    ls_library_file_t *out);

/* The absolute root folder of a game id (whether or not it exists).
 * Caller frees. NULL on an invalid id. */
char *ls_library_game_root(const ls_library_t *library, const char *game_id);
const char *ls_library_game_dir(const ls_library_t *library);

/* What a top-level entry of a game directory is to a scan. Any thread: it
 * reads one entry's metadata (fstatat, never following a link). */
typedef enum {
    LS_FOLDER_CANDIDATE, /* a folder named by a game id: a game when the catalog lists it */
    LS_FOLDER_IGNORED,   /* a dot entry, a plain file, gone: not a game folder at all */
    LS_FOLDER_SYMLINK,   /* a link: never followed */
    LS_FOLDER_BAD_ID,    /* a folder whose name is not a valid game id (ls_game_id_is_valid) */
    LS_FOLDER_UNLISTED,  /* a candidate the catalog does not list (callers decide this) */
} ls_folder_kind_t;
ls_folder_kind_t ls_library_classify_folder(int dirfd, const char *name);
/* Why a folder of that kind is skipped, as the scan logs it; NULL for
 * LS_FOLDER_CANDIDATE and LS_FOLDER_IGNORED. A static string. */
const char *ls_library_folder_reason(ls_folder_kind_t kind);

/* Parses version.ini text: the value of a `version=` line if there is one,
 * else the first non-empty line, trimmed. LS_ECORRUPT when empty,
 * LS_ETOOBIG above LS_VERSION_MAX bytes, LS_EUTF8 when not UTF-8 (it is
 * announced and saved as a JSON string). *out owned by the caller. */
int ls_library_parse_version(const char *text, size_t len, char **out);

/* Creates a demo library: games from the catalog (and generated ones listed in
 * DIR/.lanspread-catalog.json when more are asked for than it has), each with
 * real archives made by libarchive, extra data files and a version.ini; every
 * third game is installed. */
typedef struct {
    unsigned games;
    unsigned files_per_game; /* total regular files, version.ini included; >= 3 */
    size_t file_size;        /* bytes per plain data file */
    uint32_t seed;
    unsigned first; /* games before this index are not made (another peer has them) */
} ls_demo_options_t;

int ls_demo_library_create(const char *dir, const ls_catalog_t *catalog,
                           const ls_demo_options_t *options);

#endif
