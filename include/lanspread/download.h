/* The disk side of a download: the version-sentinel transaction, the chunk
 * writer, chunk verification and the resume file.
 *
 * EVERY function here blocks on the file system (open, fallocate, pwrite,
 * fsync, rename, hashing 4 MiB): call them from a work lane (workq.h),
 * never from the loop thread. The planner
 * (lanspread/planner.h) is the loop-side half.
 *
 * The transaction, in order:
 *   begin   park version.ini as .version.ini.discarded, sweep a stale
 *           .version.ini.tmp, create directories, pre-size the non-sentinel
 *           files (fallocate, so a full disk is found now; existing data is
 *           never truncated: a file is only ever grown here) except small
 *           ones (one chunk of at most LS_DL_CREATE_ON_WRITE_MAX), which
 *           their chunk's write creates;
 *   write   verified chunks at their offsets (pwrite; several threads may
 *           write different chunks of one file at once); chunks of the root
 *           version.ini stay in memory;
 *   commit  per data file: trim a file that was longer than the manifest
 *           (the one deliberate truncation, done only once every chunk is
 *           in); one syncfs of the root's filesystem (an fsync for a file
 *           on another one); then version.ini into
 *           .version.ini.tmp, fsync, rename to version.ini, fsync the game
 *           root, and only then drop .version.ini.discarded. version.ini
 *           therefore never exists before every other file is complete and
 *           durable;
 *   abort   remove .version.ini.tmp and .version.ini.discarded, do not
 *           restore the old sentinel; then undo what begin made, keeping
 *           every verified chunk (what the resume file points at): a file
 *           begin created that holds no chunk written or marked present is
 *           removed, a file it created or grew is cut back to the end of its
 *           last such chunk (never below its size before begin), and the
 *           directories it created (the game root included) are removed
 *           when empty. Nothing that was there before begin is removed.
 *
 * Every path is opened relative to the game root's fd, one component at a
 * time with O_NOFOLLOW: a symlink anywhere inside the root is refused with
 * LS_EPATH_SYMLINK and nothing is written through it. */
#ifndef LANSPREAD_DOWNLOAD_H
#define LANSPREAD_DOWNLOAD_H

#include "lanspread/hash.h"
#include "lanspread/path.h"
#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_dl_tx ls_dl_tx_t;

/* Files of one chunk up to this size are created by their chunk's write,
 * not pre-sized by begin. */
#define LS_DL_CREATE_ON_WRITE_MAX (256u * 1024u)

/* Called after each step of begin/commit/abort with the step's name
 * ("parked", "prepared", "data_synced", "tmp_written", "renamed",
 * "root_synced", "committed", "swept"); for tests and tracing. */
typedef void (*ls_dl_step_cb)(const char *step, void *userdata);

/* Starts the transaction for the files `selected` (indices into
 * manifest->files; NULL = all) under `game_root` (created if missing; the
 * root itself is trusted: it is the user's game folder plus a valid id).
 * When the root version.ini is not selected, commit writes none and the game
 * stays "not downloaded".
 * Files are sized sparse (ftruncate); ls_dl_tx_reserve() reserves their
 * blocks. `observer` may be NULL. On failure nothing is returned, the sentinel
 * leftovers are swept and what begin made is undone as by an abort. Call
 * ls_dl_space_check() first. The manifest must
 * outlive the transaction; free *out with ls_dl_tx_free(). Errors: LS_ENOSPC
 * (disk full), LS_EACCES (unwritable folder), LS_EPATH_* (path escapes or
 * symlinks), LS_ETOOBIG (version.ini over LS_VERSION_FILE_MAX, the limit the scan applies too),
 * LS_EINVAL. */
int ls_dl_tx_begin(const char *game_root, const ls_game_manifest_t *manifest,
                   const size_t *selected, size_t selected_count, ls_dl_step_cb observer,
                   void *userdata, ls_dl_tx_t **out);

/* Reserves the blocks of every file begin sized (fallocate, keeping each
 * size and every byte written), so that a disk filled by something else
 * since ls_dl_space_check() shows up now, not at a chunk's write, and a
 * file written out of order is not scattered. Meant for a background
 * thread once the transfer has started: thread-safe against the writes,
 * but call it, like commit and abort, at most once at a time and never
 * beside either. 0 where the filesystem reserves nothing ahead. Errors:
 * LS_ENOSPC (disk full), LS_EIO, LS_EPATH_* (a file was replaced by a
 * symlink meanwhile). */
int ls_dl_tx_reserve(ls_dl_tx_t *tx);

/* Writes one chunk the caller has verified (ls_dl_chunk_verify) at its
 * offset. Thread-safe against other writes of the same transaction.
 * LS_ECHUNK when (file, chunk, len) does not match the manifest or the file
 * is not selected. The data stays the caller's. */
int ls_dl_tx_write_chunk(ls_dl_tx_t *tx, size_t file_index, size_t chunk_index, const void *data,
                         size_t len);

/* Records a chunk already on disk and verified there (resume). Not allowed
 * for the in-memory sentinel: LS_ECHUNK. */
int ls_dl_tx_mark_present(ls_dl_tx_t *tx, size_t file_index, size_t chunk_index);

/* Chunks of the selected files not yet written or marked present. */
size_t ls_dl_tx_missing(ls_dl_tx_t *tx);

/* Commits (see above). LS_EINCOMPLETE while chunks are missing; any other
 * failure leaves no version.ini and no .version.ini.tmp behind. After a
 * failed commit, call ls_dl_tx_abort(). */
int ls_dl_tx_commit(ls_dl_tx_t *tx);

/* Sweeps the sentinel leftovers and undoes what begin made (see above);
 * keeps verified data. Like commit and
 * free, call it only once every write of this transaction has returned
 * (a Cancel waits for the pool's writes in flight). */
int ls_dl_tx_abort(ls_dl_tx_t *tx);

/* Releases the transaction (closes the root fd). Does not sweep. */
void ls_dl_tx_free(ls_dl_tx_t *tx);

/* ---- free space ----
 * A download keeps this much free on the game directory's file system
 * beyond what it needs, so that the state files, the index and the rest of
 * the system still find room once it has pre-sized its files. */
#define LS_DL_FREE_MARGIN (64ull * 1024u * 1024u)

typedef struct {
    uint64_t needed;    /* bytes the selected files still need on disk */
    uint64_t available; /* bytes free for us on game_root's file system */
} ls_dl_space_t;

/* Whether the selected files (indices into manifest->files; NULL = all)
 * fit under game_root: needed counts each regular file's size less the
 * bytes already allocated to it there (a resume needs only the rest);
 * available is statvfs's f_bavail of game_root, or of its parent while the
 * root does not exist. LS_ENOSPC when needed + LS_DL_FREE_MARGIN exceeds
 * available; *out is filled either way (for the message). Creates nothing. */
int ls_dl_space_check(const char *game_root, const ls_game_manifest_t *manifest,
                      const size_t *selected, size_t selected_count, ls_dl_space_t *out);

/* 0 when data matches the manifest's SHA-256 of (file, chunk) and has its
 * exact length; LS_ECHUNK otherwise. Pure. */
int ls_dl_chunk_verify(const ls_game_manifest_t *manifest, size_t file_index, size_t chunk_index,
                       const void *data, size_t len);

/* Reads (file, chunk) from disk under game_root (confined, no symlinks) and
 * checks it against the manifest: 0, LS_ECHUNK (differs), LS_ECORRUPT
 * (file too short) or an open error. For trusting a resumed chunk. */
int ls_dl_chunk_verify_on_disk(const char *game_root, const ls_game_manifest_t *manifest,
                               size_t file_index, size_t chunk_index);

/* ---- resume file ----
 * <state_dir>/downloads/<game_id>.resume records which chunks of one game
 * version (one exact manifest) are verified on disk. Binary, little-endian:
 *   "LSRESUM2", u8 id_len, id, u8 version_len, version, 32-byte manifest id,
 *   u64 bytes_total, u64 bytes_done (the download's, when saved: what a UI
 *   shows as kept), u32 chunk_count, bitmap (ceil(count/8) bytes, LSB first,
 *   spare bits 0), SHA-256 of everything before it. "LSRESUM1" files (no
 *   byte counts) are still read, with both counts 0 (unknown).
 * It lives in the state directory, never in the game root. */

#define LS_RESUME_CHUNKS_MAX (1u << 24) /* 16 TiB of 1 MiB chunks */
#define LS_RESUME_FILE_MAX                                                                         \
    (8 + 1 + LS_GAME_ID_MAX + 1 + LS_VERSION_MAX + 32 + 16 + 4 + LS_RESUME_CHUNKS_MAX / 8 + 32)

typedef struct {
    char game_id[LS_GAME_ID_MAX + 1];
    char version[LS_VERSION_MAX + 1];
    uint8_t manifest_id[LS_SHA256_LEN];
    size_t chunk_count;
    uint8_t *bitmap;       /* owned; (chunk_count + 7) / 8 bytes */
    size_t sentinel_first; /* chunks of version.ini are never recorded: */
    size_t sentinel_count; /*   they are kept in memory, not on disk */
    uint64_t bytes_total;  /* of the download, set by its owner before a save; */
    uint64_t bytes_done;   /*   verified ones (0 and 0: unknown) */
} ls_resume_t;

/* A hash over everything that makes a manifest: ids, sizes, chunk hashes. */
void ls_resume_manifest_id(const ls_game_manifest_t *manifest, uint8_t out[LS_SHA256_LEN]);

/* An empty record for `manifest`. Free with ls_resume_free(). */
int ls_resume_init(ls_resume_t *resume, const ls_game_manifest_t *manifest);
void ls_resume_free(ls_resume_t *resume);

void ls_resume_mark(ls_resume_t *resume, size_t chunk_id);
/* Marks version.ini's chunks too, once the commit wrote it: for a last
 * `have` that tells of every chunk. Such a record is not saved again (a
 * resume of it would skip the sentinel). */
void ls_resume_mark_committed(ls_resume_t *resume);
bool ls_resume_has(const ls_resume_t *resume, size_t chunk_id);
size_t ls_resume_count(const ls_resume_t *resume);

/* False when the record cannot be of a manifest hashed at chunk_size: it
 * has fewer chunks than bytes_total / chunk_size, so it was made with larger
 * chunks (an older version hashed at LS_CHUNK_SIZE_MAX). A peer of this
 * version offers another manifest, so such a download starts over; a UI
 * must not promise it resumes. True when the counts are unknown (0). */
bool ls_resume_fits_chunk_size(const ls_resume_t *resume, uint32_t chunk_size);

/* Serialises; *out is the caller's (free()). Cheap enough for the loop
 * thread, so the loop can hand a snapshot to the pool. */
int ls_resume_encode(const ls_resume_t *resume, uint8_t **out, size_t *out_len);

/* Strict parser: exact length, magic, valid game id, bounds, spare bits,
 * checksum. On success free *out with ls_resume_free(); on failure *out is
 * empty. sentinel_* are left 0 (ls_resume_load fills them). */
int ls_resume_parse(const void *data, size_t len, ls_resume_t *out);

/* The resume file's path; caller frees. */
char *ls_resume_path(const char *state_dir, const char *game_id);

/* Writes the record atomically (ls_fs_write_atomic). */
int ls_resume_save(const ls_resume_t *resume, const char *state_dir);

/* Loads the record for this manifest. Always leaves a usable *out (free with
 * ls_resume_free()): the stored one when it matches the game, version and
 * manifest id (returns 0), else an empty one, returning LS_ENOENT (none
 * stored) or LS_ERESUME (corrupt or for another version/manifest; logged). */
int ls_resume_load(const char *state_dir, const ls_game_manifest_t *manifest, ls_resume_t *out);

/* Calls `each` for every valid record in <state_dir>/downloads, at most
 * `max` files read (a UI's "N% kept" of downloads not running). Blocks
 * (disk): any thread but the loop. A missing directory is no record. */
typedef void ls_resume_each_cb(const ls_resume_t *resume, void *ctx);
int ls_resume_scan(const char *state_dir, size_t max, ls_resume_each_cb *each, void *ctx);

/* Deletes the record (after a commit); a missing one is fine. */
int ls_resume_remove(const char *state_dir, const char *game_id);

#endif
