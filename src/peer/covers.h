/* The cover cache and the cover fetch.
 *
 * The cache (any thread, one mutex) keeps covers in STATE/LS_COVER_DIR as
 * <sha256>.<ext>, each verified (its SHA-256 is its name, its first bytes an
 * image signature) before it is stored, at most LS_COVER_CACHE_MAX bytes
 * and LS_COVER_CACHE_ENTRIES_MAX files in all: the least recently used go
 * first. ls__covers_get blocks its caller (a control API connection
 * thread) until the cover is there, its fetch failed or the timeout
 * passed; callers asking for one hash at once wait for one fetch, and at
 * most LS_COVER_FETCHES_MAX hashes are fetched at a time.
 *
 * The fetch (loop thread) finds the bytes: the local library's cover file
 * when this peer has the game with that cover, else the first seeder of
 * the game that announces that cover and listed LS_FEATURE_COVER
 * (get_cover). Reading, checking and writing run on the latency lane. */
#ifndef LS_PEER_COVERS_H
#define LS_PEER_COVERS_H

#include "link.h"

#include "lanspread/library.h"
#include "lanspread/peer.h"
#include "lanspread/peerdb.h"

#include <stdint.h>
#include <uv.h>

#define LS_COVER_DIR "covers"
#define LS_COVER_CACHE_MAX (32u * 1024u * 1024u)
#define LS_COVER_CACHE_ENTRIES_MAX 4096u
#define LS_COVER_FETCHES_MAX 16u

typedef struct ls__covers ls__covers_t;

/* Opens (creating) STATE/LS_COVER_DIR and indexes what it holds; files
 * that are not <64 hex>.<ext> of a cover type are left alone, and the
 * cache is trimmed to max_bytes. */
int ls__covers_open(const char *state_dir, uint64_t max_bytes, ls__covers_t **out);
void ls__covers_free(ls__covers_t *covers);

/* Starts the fetch of a hash nobody is fetching yet (called without the
 * cache's lock); nonzero when it could not be started. */
typedef int (*ls__covers_start_cb)(const char *sha256, void *userdata);

/* The cover with that hash: from the cache, else fetched (start is called
 * for the first asker) and waited for up to timeout_ms. 0 with *out filled
 * (out->data is the caller's to free), LS_ENOENT when no source had it,
 * LS_ETIMEDOUT, LS_EBUSY past LS_COVER_FETCHES_MAX fetches. */
int ls__covers_get(ls__covers_t *covers, const char *sha256, uint32_t timeout_ms,
                   ls__covers_start_cb start, void *userdata, ls_peer_cover_t *out);

/* Verifies data (SHA-256 equal to sha256, a cover signature, at most
 * LS_COVER_MAX bytes) and stores it, evicting the least recently used
 * covers past the bounds. LS_ECORRUPT for a hash mismatch or no image,
 * LS_ETOOBIG; any thread (blocking: the pool). */
int ls__covers_store(ls__covers_t *covers, const char *sha256, const uint8_t *data, size_t len);

/* The fetch of sha256 ended (0: stored, or LS_E*): wakes its waiters. */
void ls__covers_finish(ls__covers_t *covers, const char *sha256, int status);

/* Where the loop thread finds sources. */
typedef struct {
    uv_loop_t *loop;
    const ls_library_t *library;
    ls_peerdb_t *peerdb;
    ls__links_t *links;
} ls__cover_sources_t;

/* Loop thread: fetches game_id's cover sha256 into the cache, then
 * ls__covers_finish. */
void ls__covers_fetch(ls__covers_t *covers, const ls__cover_sources_t *sources, const char *game_id,
                      const char *sha256);

#endif
