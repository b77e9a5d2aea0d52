/* scan_local_library: walks the game directory on the bulk lane (workq.h),
 * reuses cached hashes for files whose (size, mtime, inode) did not change,
 * hashes the others in jobs of one file or a batch of small ones, at most
 * LS_SCAN_HASH_JOBS_MAX queued at once, then publishes and persists the
 * result. */
#include "library_internal.h"

#include "lanspread/array.h"
#include "lanspread/cover.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/path.h"
#include "lanspread/workq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_DEPTH_MAX 64
#define HASH_BUFFER_SIZE (256u * 1024u)
/* A hash job takes consecutive unhashed files until it holds this many, or
 * this many bytes: small files share a job (one trip through the bulk lane
 * per batch, not per file), a large file is a job of its own. */
#define HASH_JOB_FILES_MAX 64
#define HASH_JOB_BYTES (32u * 1024u * 1024u)
/* A library's first scan is what its owner waits for to be seen at all
 * (discovery starts when it ends, and hellos are held until then), so it
 * runs on the latency lane, not the bulk lane's niced threads: on a busy
 * CPU (100 daemons starting together) a thread at LS_WORKQ_BACKGROUND_NICE
 * got so little time that a walk and a save of a 4 KiB game took 1.5 s.
 * Only this many bytes are hashed there, so a big library's first hashing
 * goes on to the bulk lane and leaves the pool its other work. */
#define FIRST_SCAN_HASH_BYTES (64u * 1024u * 1024u)

typedef struct {
    size_t game;
    size_t file;
} ls_pending_hash_t;

typedef struct ls_scan {
    ls_library_t *library;
    uv_loop_t *loop;
    char *only_game_id;
    ls_library_scan_cb cb;
    void *userdata;
    int status;
    ls_scan_stats_t stats;
    ls_index_t next;             /* built on the bulk lane, published on the loop */
    const ls_catalog_t *catalog; /* gates this scan: the library's or catalog_next */
    ls_catalog_t *catalog_next;  /* the game directory's changed catalog, swapped in at publish */
    ls_file_stamp_t catalog_stamp;
    bool is_catalog_read; /* its file changed and was read (or refused) this scan */
    char catalog_error[LS_CATALOG_ERROR_MAX];
    ls_pending_hash_t *pending;
    size_t pending_count;
    size_t pending_next; /* pending[] before it have been queued */
    size_t hashes_outstanding;
    ls_workq_class_t lane;    /* of the walk, the save and the first hashes */
    uint64_t lane_hash_bytes; /* queued on `lane`: at most FIRST_SCAN_HASH_BYTES */
    uv_work_t walk_req;
    uv_work_t save_req;
} ls_scan_t;

typedef struct {
    uv_work_t req; /* first: the lane hands back &req */
    ls_scan_t *scan;
    size_t first; /* pending[first .. first + count) */
    size_t count;
    int status[HASH_JOB_FILES_MAX];
    uint64_t bytes_read; /* of the files hashed */
} ls_hash_job_t;

/* Per-game state while walking its tree. */
typedef struct {
    ls_scan_t *scan;
    const ls_game_record_t *previous;
    ls_game_record_t *game;
    size_t file_cap;
    /* A finished download's verified files, sorted by path: their hashes
     * are taken instead of reading the bytes that were just verified. */
    const ls_file_desc_t **verified;
    size_t verified_count;
} ls_walk_t;

static ls_file_stamp_t stamp_of(const struct stat *st)
{
    return (ls_file_stamp_t){
        .size = (uint64_t)st->st_size,
        .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
        .ino = (uint64_t)st->st_ino,
    };
}

static bool stamps_equal(const ls_file_stamp_t *a, const ls_file_stamp_t *b)
{
    return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino;
}

static void skip(ls_scan_t *scan, const char *game, const char *path, const char *reason)
{
    scan->stats.skipped++;
    ls_warn("scan", "%s%s%s skipped: %s", game, path ? "/" : "", path ? path : "", reason);
}

static ls_file_record_t *add_file(ls_walk_t *walk, const char *relpath, const struct stat *st)
{
    ls_game_record_t *game = walk->game;
    if (game->file_count == walk->file_cap) {
        ls_file_record_t *grown = ls_array_grow(game->files, &walk->file_cap, sizeof *grown, 16);
        if (!grown)
            return NULL;
        game->files = grown;
    }
    ls_file_record_t *file = &game->files[game->file_count];
    memset(file, 0, sizeof *file);
    file->path = strdup(relpath);
    if (!file->path)
        return NULL;
    file->is_dir = S_ISDIR(st->st_mode);
    file->stamp = stamp_of(st);
    if (file->is_dir)
        file->stamp = (ls_file_stamp_t){0};
    game->file_count++;
    return file;
}

static int compare_desc_path(const void *a, const void *b)
{
    return strcmp((*(const ls_file_desc_t *const *)a)->path,
                  (*(const ls_file_desc_t *const *)b)->path);
}

static const ls_file_desc_t *find_verified(const ls_walk_t *walk, const char *path)
{
    ls_file_desc_t key = {.path = (char *)path};
    const ls_file_desc_t *keyp = &key;
    const ls_file_desc_t **hit = walk->verified_count
                                     ? bsearch(&keyp, walk->verified, walk->verified_count,
                                               sizeof *walk->verified, compare_desc_path)
                                     : NULL;
    return hit ? *hit : NULL;
}

static int copy_hashes(ls_file_record_t *file, const uint8_t (*chunks)[LS_SHA256_LEN], size_t count)
{
    file->chunk_count = count;
    if (count > 0) {
        file->chunks = malloc(count * sizeof *file->chunks);
        if (!file->chunks)
            return LS_ENOMEM;
        memcpy(file->chunks, chunks, count * sizeof *file->chunks);
    }
    file->is_hashed = true;
    return 0;
}

/* Reuses the previous hashes when the stamp matches, or a verified
 * download's when the size does (the walk runs right after its commit). */
static int reuse_or_queue(ls_walk_t *walk, ls_file_record_t *file)
{
    const ls_file_record_t *old = ls_game_find_file(walk->previous, file->path);
    if (file->is_dir) {
        file->is_hashed = true;
        return 0;
    }
    const ls_file_desc_t *verified = find_verified(walk, file->path);
    if (verified && !verified->is_dir && verified->size == file->stamp.size)
        return copy_hashes(file, (const uint8_t(*)[LS_SHA256_LEN])verified->chunk_sha256,
                           verified->chunk_count);
    if (old && !old->is_dir && old->is_hashed && stamps_equal(&old->stamp, &file->stamp))
        return copy_hashes(file, (const uint8_t(*)[LS_SHA256_LEN])old->chunks, old->chunk_count);
    return 0; /* left unhashed: queued after the walk, once files[] stops moving */
}

static void describe_symlink(int dirfd, const char *name, char *reason, size_t len)
{
    char target[LS_RELPATH_MAX + 1];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    if (n > 0 && (target[0] == '/' || strstr(target, "..")))
        snprintf(reason, len, "symlink to '%s' leaves the game root", target);
    else
        snprintf(reason, len, "symlinks are never served");
}

static int walk_dir(ls_walk_t *walk, int dirfd, const char *prefix, int depth);

static int walk_entry(ls_walk_t *walk, int dirfd, const char *prefix, const char *name, int depth)
{
    char relpath[LS_RELPATH_MAX + 1];
    char reason[LS_RELPATH_MAX + 64];
    struct stat st;
    const char *game_id = walk->game->id;
    int n = snprintf(relpath, sizeof relpath, "%s%s%s", prefix, prefix[0] ? "/" : "", name);

    if (n < 0 || (size_t)n >= sizeof relpath) {
        skip(walk->scan, game_id, name, "path too long");
        return 0;
    }
    if (depth == 0 && ls_is_reserved_root_name(name))
        return 0; /* Lanspread's own entries: silently not served */
    /* Paths travel as JSON strings in manifests; a name in another encoding
     * could not be sent (the index could store it: its names are bytes). */
    size_t bad;
    if (!ls_proto_utf8_is_valid((const uint8_t *)name, strlen(name), &bad)) {
        skip(walk->scan, game_id, relpath, "name is not valid UTF-8; never served");
        return 0;
    }
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        skip(walk->scan, game_id, relpath, strerror(errno));
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        describe_symlink(dirfd, name, reason, sizeof reason);
        skip(walk->scan, game_id, relpath, reason);
        return 0;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        skip(walk->scan, game_id, relpath, "not a regular file or directory");
        return 0;
    }
    if (walk->game->file_count >= LS_MANIFEST_FILES_MAX) {
        skip(walk->scan, game_id, relpath, "game has too many files");
        return 0;
    }
    ls_file_record_t *file = add_file(walk, relpath, &st);
    if (!file)
        return LS_ENOMEM;
    walk->scan->stats.files_seen += file->is_dir ? 0 : 1;
    int rc = reuse_or_queue(walk, file);
    if (rc != 0 || !S_ISDIR(st.st_mode))
        return rc;
    if (depth + 1 >= WALK_DEPTH_MAX) {
        skip(walk->scan, game_id, relpath, "directory nesting too deep");
        return 0;
    }
    int child = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
        skip(walk->scan, game_id, relpath, strerror(errno));
        return 0;
    }
    return walk_dir(walk, child, relpath, depth + 1);
}

/* Takes ownership of dirfd. */
static int walk_dir(ls_walk_t *walk, int dirfd, const char *prefix, int depth)
{
    DIR *dir = fdopendir(dirfd);
    int rc = 0;
    if (!dir) {
        close(dirfd);
        skip(walk->scan, walk->game->id, prefix, strerror(errno));
        return 0;
    }
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        rc = walk_entry(walk, dirfd, prefix, entry->d_name, depth);
    }
    closedir(dir);
    return rc;
}

static int read_small_file(int rootfd, const char *name, size_t size, char **out)
{
    int rc;
    int fd = openat(rootfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    *out = NULL;
    if (fd < 0)
        return ls_error_from_errno(errno);
    *out = calloc(1, size + 1);
    rc = *out ? ls_fs_pread_all(fd, *out, size, 0) : LS_ENOMEM;
    close(fd);
    return rc;
}

/* Reads version.ini, or reuses the cached version when its stamp matches. */
static void read_version(ls_scan_t *scan, int rootfd, ls_game_record_t *game,
                         const ls_game_record_t *previous)
{
    struct stat st;
    char *text = NULL;
    int rc;

    if (fstatat(rootfd, LS_VERSION_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (!S_ISREG(st.st_mode)) {
        skip(scan, game->id, LS_VERSION_FILE, "not a regular file; game not downloaded");
        return;
    }
    game->version_stamp = stamp_of(&st);
    if (previous && previous->version &&
        stamps_equal(&previous->version_stamp, &game->version_stamp)) {
        game->version = strdup(previous->version);
        game->is_downloaded = game->version != NULL;
        return;
    }
    if (st.st_size > LS_VERSION_FILE_MAX) {
        skip(scan, game->id, LS_VERSION_FILE, "larger than 4 KiB; game not downloaded");
        return;
    }
    scan->stats.version_reads++;
    rc = read_small_file(rootfd, LS_VERSION_FILE, (size_t)st.st_size, &text);
    if (rc == 0)
        rc = ls_library_parse_version(text, (size_t)st.st_size, &game->version);
    if (rc != 0)
        skip(scan, game->id, LS_VERSION_FILE,
             rc == LS_ECORRUPT ? "empty; game not downloaded"
             : rc == LS_EUTF8  ? "not valid UTF-8; game not downloaded"
                               : ls_strerror(rc));
    game->is_downloaded = rc == 0;
    free(text);
}

/* The game's cover, re-probed every scan (cheap: a few stats, one small
 * read); a refused candidate stays a game file and is logged once a scan. */
static void probe_cover(ls_scan_t *scan, int rootfd, ls_game_record_t *game)
{
    unsigned name = 0;
    ls_cover_type_t type;
    const char *reason;
    int rc = ls_cover_probe(rootfd, &name, &type, &reason);
    if (rc < 0)
        skip(scan, game->id, ls_cover_names[name], reason);
    game->cover_type = rc == 1 ? (uint8_t)type : LS_COVER_NONE;
    game->cover_name = (uint8_t)name;
}

/* --- adopting a finished download ----------------------------------------- */

void ls_library_adoption_free(ls_library_adoption_t *adoption)
{
    if (!adoption)
        return;
    ls_game_record_free(&adoption->record);
    free(adoption);
}

static bool record_is_servable(const ls_game_record_t *game)
{
    bool servable = game->is_downloaded;
    for (size_t f = 0; f < game->file_count && servable; f++)
        servable = game->files[f].is_hashed;
    return servable;
}

int ls_library_adoption_prepare(const ls_library_t *library, const ls_game_manifest_t *verified,
                                const size_t *selected, size_t selected_count,
                                ls_library_adoption_t **out)
{
    ls_scan_t quiet = {.library = (ls_library_t *)library}; /* skip() counts into it */
    ls_library_adoption_t *a = calloc(1, sizeof *a);
    ls_walk_t walk = {.scan = &quiet};
    struct stat st;
    int rc = 0, rootfd = -1;
    *out = NULL;
    if (!a || !(walk.verified = calloc(selected_count + 1, sizeof *walk.verified)) ||
        !(a->record.id = strdup(verified->game_id))) {
        rc = LS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < selected_count; i++)
        if (selected[i] < verified->file_count)
            walk.verified[walk.verified_count++] = &verified->files[selected[i]];
    qsort(walk.verified, walk.verified_count, sizeof *walk.verified, compare_desc_path);
    char *root = ls_path_join(library->game_dir, verified->game_id);
    rootfd = root ? open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    free(root);
    if (rootfd < 0) {
        rc = root ? ls_error_from_errno(errno) : LS_ENOMEM;
        goto out;
    }
    a->record.is_installed =
        fstatat(rootfd, LS_INSTALL_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    read_version(&quiet, rootfd, &a->record, NULL);
    if (!a->record.is_downloaded) {
        rc = LS_ENOT_DOWNLOADED; /* the commit did not leave a usable version.ini */
        goto out;
    }
    probe_cover(&quiet, rootfd, &a->record);
    walk.game = &a->record;
    rc = walk_dir(&walk, rootfd, "", 0);
    rootfd = -1; /* walk_dir took it */
    if (rc == 0 && a->record.file_count > 1)
        qsort(a->record.files, a->record.file_count, sizeof *a->record.files,
              ls_file_record_compare);
    a->record.is_servable = record_is_servable(&a->record);
out:
    if (rootfd >= 0)
        close(rootfd);
    free(walk.verified);
    if (rc != 0) {
        ls_library_adoption_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* Puts the record in index (sorted by id), replacing one with its id. */
static int index_put(ls_index_t *index, ls_game_record_t *record)
{
    size_t lo = 0, hi = index->game_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(index->games[mid].id, record->id);
        if (cmp == 0) {
            ls_game_record_free(&index->games[mid]);
            index->games[mid] = *record;
            memset(record, 0, sizeof *record);
            return 0;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    ls_game_record_t *grown = realloc(index->games, (index->game_count + 1) * sizeof *grown);
    if (!grown)
        return LS_ENOMEM;
    index->games = grown;
    memmove(&grown[lo + 1], &grown[lo], (index->game_count - lo) * sizeof *grown);
    grown[lo] = *record;
    memset(record, 0, sizeof *record);
    index->game_count++;
    return 0;
}

int ls_library_adopt(ls_library_t *library, ls_library_adoption_t *adoption)
{
    bool needs_hashing = !adoption->record.is_servable;
    int rc;
    if (library->scan) {
        /* The scan's walk reads the published index on the bulk lane: leave it
         * alone and apply this when that scan publishes. */
        adoption->next = library->adoptions;
        library->adoptions = adoption;
        return needs_hashing ? 1 : 0;
    }
    ls_index_t next = library->index; /* takes the records; rev and digest stay */
    library->index.games = NULL;
    library->index.game_count = 0;
    library->index.game_dir = NULL;
    rc = index_put(&next, &adoption->record);
    if (rc == 0)
        rc = ls_library_publish(library, &next);
    if (rc < 0) {
        library->index.games = next.games; /* nothing published: put them back */
        library->index.game_count = next.game_count;
        library->index.game_dir = next.game_dir;
    } else {
        library->is_index_dirty = true; /* saved by the next scan */
    }
    ls_library_adoption_free(adoption);
    return rc < 0 ? rc : (needs_hashing ? 1 : 0);
}

/* Adoptions that waited for a scan go into its result before it publishes. */
static int apply_adoptions(ls_scan_t *scan)
{
    int rc = 0;
    while (scan->library->adoptions) {
        ls_library_adoption_t *a = scan->library->adoptions;
        scan->library->adoptions = a->next;
        if (rc == 0)
            rc = index_put(&scan->next, &a->record);
        ls_library_adoption_free(a);
    }
    return rc;
}

static int scan_game(ls_scan_t *scan, int topfd, const char *id, size_t game_index)
{
    ls_game_record_t *game = &scan->next.games[game_index];
    const ls_game_record_t *previous = ls_index_find_game(&scan->library->index, id);
    struct stat st;
    int rc = 0;

    game->id = strdup(id);
    if (!game->id)
        return LS_ENOMEM;
    int rootfd = openat(topfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0) {
        skip(scan, id, NULL, strerror(errno));
        return 0;
    }
    scan->stats.games_seen++;
    game->is_installed =
        fstatat(rootfd, LS_INSTALL_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    read_version(scan, rootfd, game, previous);
    if (!game->is_downloaded) {
        close(rootfd);
        return 0;
    }
    probe_cover(scan, rootfd, game);
    ls_walk_t walk = {.scan = scan, .previous = previous, .game = game};
    rc = walk_dir(&walk, rootfd, "", 0);
    if (rc == 0 && game->file_count > 1)
        qsort(game->files, game->file_count, sizeof *game->files, ls_file_record_compare);
    return rc;
}

/* Lists the files left unhashed by the walk, once every files[] array has
 * its final place, so hash jobs can address them by index. */
static int collect_pending(ls_scan_t *scan)
{
    size_t needed = 0;
    for (size_t g = 0; g < scan->next.game_count; g++)
        for (size_t f = 0; f < scan->next.games[g].file_count; f++)
            needed += !scan->next.games[g].files[f].is_hashed;
    scan->pending = calloc(needed ? needed : 1, sizeof *scan->pending);
    if (!scan->pending)
        return LS_ENOMEM;
    for (size_t g = 0; g < scan->next.game_count; g++)
        for (size_t f = 0; f < scan->next.games[g].file_count; f++)
            if (!scan->next.games[g].files[f].is_hashed)
                scan->pending[scan->pending_count++] = (ls_pending_hash_t){g, f};
    return 0;
}

ls_folder_kind_t ls_library_classify_folder(int dirfd, const char *name)
{
    struct stat st;
    if (name[0] == '.' || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return LS_FOLDER_IGNORED;
    if (S_ISLNK(st.st_mode))
        return LS_FOLDER_SYMLINK;
    if (!S_ISDIR(st.st_mode))
        return LS_FOLDER_IGNORED;
    return ls_game_id_is_valid(name) ? LS_FOLDER_CANDIDATE : LS_FOLDER_BAD_ID;
}

const char *ls_library_folder_reason(ls_folder_kind_t kind)
{
    switch (kind) {
    case LS_FOLDER_SYMLINK:
        return "game folder is a symlink; never followed";
    case LS_FOLDER_BAD_ID:
        return "folder name is not a valid game id";
    case LS_FOLDER_UNLISTED:
        return "not in the catalog; not announced";
    default:
        return NULL;
    }
}

/* Decides which top-level folders are games worth a record. */
static bool is_candidate(ls_scan_t *scan, int topfd, const char *name)
{
    ls_folder_kind_t kind = ls_library_classify_folder(topfd, name);
    if (kind == LS_FOLDER_SYMLINK || kind == LS_FOLDER_BAD_ID)
        skip(scan, name, NULL, ls_library_folder_reason(kind));
    if (kind != LS_FOLDER_CANDIDATE)
        return false;
    if (!ls_catalog_find(scan->catalog, name)) {
        ls_info("scan", "%s: %s", name, ls_library_folder_reason(LS_FOLDER_UNLISTED));
        return false;
    }
    if (scan->only_game_id && strcmp(scan->only_game_id, name) != 0)
        return false;
    return true;
}

static int collect_names(ls_scan_t *scan, int topfd, char ***names, size_t *count)
{
    DIR *dir = fdopendir(dup(topfd));
    size_t cap = 0;
    int rc = 0;
    *names = NULL;
    *count = 0;
    if (!dir)
        return ls_error_from_errno(errno);
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        if (!is_candidate(scan, topfd, entry->d_name))
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 32;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) {
                rc = LS_ENOMEM;
                break;
            }
            *names = grown;
        }
        (*names)[*count] = strdup(entry->d_name);
        rc = (*names)[*count] ? 0 : LS_ENOMEM;
        *count += rc == 0;
    }
    closedir(dir);
    return rc;
}

/* A partial scan keeps every other game's record as it was. */
static int keep_other_games(ls_scan_t *scan)
{
    const ls_index_t *old = &scan->library->index;
    for (size_t i = 0; i < old->game_count; i++) {
        if (strcmp(old->games[i].id, scan->only_game_id) == 0)
            continue;
        int rc = ls_game_record_copy(&scan->next.games[scan->next.game_count], &old->games[i]);
        if (rc != 0)
            return rc;
        scan->next.game_count++;
    }
    return 0;
}

static int walk_library(ls_scan_t *scan)
{
    char **names = NULL;
    size_t count = 0;
    int rc;
    int topfd = open(scan->library->game_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (topfd < 0)
        return ls_error_from_errno(errno);
    rc = collect_names(scan, topfd, &names, &count);
    size_t kept = scan->only_game_id ? scan->library->index.game_count : 0;
    if (rc == 0) {
        scan->next.games = calloc(count + kept + 1, sizeof *scan->next.games);
        rc = scan->next.games ? 0 : LS_ENOMEM;
    }
    if (rc == 0 && scan->only_game_id)
        rc = keep_other_games(scan);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        size_t slot = scan->next.game_count++;
        rc = scan_game(scan, topfd, names[i], slot);
    }
    if (rc == 0)
        qsort(scan->next.games, scan->next.game_count, sizeof *scan->next.games,
              ls_game_record_compare);
    if (rc == 0)
        rc = collect_pending(scan);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    close(topfd);
    return rc;
}

/* The base catalog extended by the game directory's document (NULL: none). */
static int build_catalog(ls_scan_t *scan, const char *text, size_t len)
{
    ls_library_t *library = scan->library;
    ls_catalog_t *next = NULL;
    int rc = ls_catalog_copy(library->base, &next);
    if (rc == 0 && text)
        rc = ls_catalog_add_json(next, text, len, library->catalog_path, scan->catalog_error,
                                 sizeof scan->catalog_error);
    if (rc != 0) {
        ls_catalog_free(next);
        return rc;
    }
    scan->catalog_next = next;
    scan->catalog = next;
    return 0;
}

/* Reads the game directory's catalog when its stamp moved since the
 * effective catalog was built; a hand edit, a download adding an entry and
 * a new game directory all show up here. O_NONBLOCK: a FIFO in its place
 * must not park a pool thread. */
static void read_local_catalog(ls_scan_t *scan)
{
    ls_library_t *library = scan->library;
    ls_file_stamp_t stamp = {0};
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    int fd = open(library->catalog_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    scan->catalog = library->catalog;
    if (fd < 0 && errno != ENOENT)
        rc = ls_error_from_errno(errno);
    else if (fd >= 0 && fstat(fd, &st) != 0)
        rc = ls_error_from_errno(errno);
    else if (fd >= 0)
        stamp = stamp_of(&st);
    if (rc == 0 && library->has_catalog_stamp && stamps_equal(&stamp, &library->catalog_stamp))
        goto out;
    scan->is_catalog_read = true;
    scan->catalog_stamp = stamp;
    if (rc == 0 && fd >= 0 && !S_ISREG(st.st_mode))
        rc = LS_EINVAL;
    else if (rc == 0 && fd >= 0 && (uint64_t)st.st_size > LS_CATALOG_FILE_MAX)
        rc = LS_ETOOBIG;
    if (rc == 0 && fd >= 0) {
        len = (size_t)st.st_size;
        text = calloc(1, len + 1);
        rc = text ? ls_fs_pread_all(fd, text, len, 0) : LS_ENOMEM;
    }
    if (rc == 0)
        rc = build_catalog(scan, text, len);
    else
        snprintf(scan->catalog_error, sizeof scan->catalog_error, "%s: %s", library->catalog_path,
                 ls_strerror(rc));
out:
    if (fd >= 0)
        close(fd);
    free(text);
}

static void walk_work(uv_work_t *req)
{
    ls_scan_t *scan = req->data;
    read_local_catalog(scan);
    scan->status = walk_library(scan);
}

/* Hashes one file chunk by chunk. The stamp is taken from the open file and
 * checked again afterwards, so a file written during hashing is not cached
 * with hashes of a mix of old and new bytes. */
static int hash_file(const char *game_root, ls_file_record_t *file, uint64_t *bytes_read)
{
    struct stat before, after;
    uint8_t *buffer = NULL;
    int rc = 0;
    int fd = ls_open_in_root(game_root, file->path, O_RDONLY);
    if (fd < 0)
        return fd;
    if (fstat(fd, &before) != 0) {
        rc = ls_error_from_errno(errno);
        goto out;
    }
    file->stamp = stamp_of(&before);
    file->chunk_count = (file->stamp.size + LS_CHUNK_SIZE - 1) / LS_CHUNK_SIZE;
    file->chunks = file->chunk_count ? malloc(file->chunk_count * sizeof *file->chunks) : NULL;
    buffer = malloc(HASH_BUFFER_SIZE);
    if ((file->chunk_count && !file->chunks) || !buffer) {
        rc = LS_ENOMEM;
        goto out;
    }
    for (size_t c = 0; c < file->chunk_count && rc == 0; c++) {
        struct sha256_ctx ctx;
        uint64_t offset = (uint64_t)c * LS_CHUNK_SIZE;
        uint64_t left =
            file->stamp.size - offset < LS_CHUNK_SIZE ? file->stamp.size - offset : LS_CHUNK_SIZE;
        sha256_init(&ctx);
        while (left > 0 && rc == 0) {
            size_t n = left < HASH_BUFFER_SIZE ? (size_t)left : HASH_BUFFER_SIZE;
            rc = ls_fs_pread_all(fd, buffer, n, (off_t)offset);
            sha256_update(&ctx, n, buffer);
            offset += n;
            left -= n;
            *bytes_read += n;
        }
        sha256_digest(&ctx, LS_SHA256_LEN, file->chunks[c]);
    }
    if (rc == 0 && fstat(fd, &after) != 0)
        rc = ls_error_from_errno(errno);
    if (rc == 0) {
        ls_file_stamp_t now = stamp_of(&after);
        if (!stamps_equal(&file->stamp, &now))
            rc = LS_EAGAIN;
    }
out:
    free(buffer);
    close(fd);
    if (rc != 0) {
        free(file->chunks);
        file->chunks = NULL;
        file->chunk_count = 0;
    }
    file->is_hashed = rc == 0;
    return rc;
}

static ls_file_record_t *pending_file(ls_scan_t *scan, size_t i, ls_game_record_t **game)
{
    *game = &scan->next.games[scan->pending[i].game];
    return &(*game)->files[scan->pending[i].file];
}

static void hash_work(uv_work_t *req)
{
    ls_hash_job_t *job = (ls_hash_job_t *)req;
    for (size_t i = 0; i < job->count; i++) {
        ls_game_record_t *game;
        ls_file_record_t *file = pending_file(job->scan, job->first + i, &game);
        char *root = ls_path_join(job->scan->library->game_dir, game->id);
        uint64_t bytes = 0;
        job->status[i] = root ? hash_file(root, file, &bytes) : LS_ENOMEM;
        job->bytes_read += job->status[i] == 0 ? bytes : 0;
        free(root);
    }
}

static void finish_scan(ls_scan_t *scan);
static void queue_hashes(ls_scan_t *scan);

static void hash_done(uv_work_t *req, int status)
{
    ls_hash_job_t *job = (ls_hash_job_t *)req;
    ls_scan_t *scan = job->scan;

    if (status != 0 && scan->status == 0)
        scan->status = LS_ECANCELED;
    for (size_t i = 0; status == 0 && i < job->count; i++) {
        ls_game_record_t *game;
        ls_file_record_t *file = pending_file(scan, job->first + i, &game);
        if (job->status[i] != 0)
            skip(scan, game->id, file->path,
                 job->status[i] == LS_EAGAIN ? "changed while it was hashed; game held back"
                                             : ls_strerror(job->status[i]));
        else
            scan->stats.files_hashed++;
    }
    if (status == 0)
        scan->stats.bytes_hashed += job->bytes_read;
    free(job);
    scan->hashes_outstanding--;
    queue_hashes(scan);
}

/* The end of the batch that starts at pending[first]. */
static size_t batch_end(ls_scan_t *scan, size_t first)
{
    uint64_t bytes = 0;
    size_t end = first;
    while (end < scan->pending_count && end - first < HASH_JOB_FILES_MAX) {
        ls_game_record_t *game;
        uint64_t size = pending_file(scan, end, &game)->stamp.size;
        if (end > first && bytes + size > HASH_JOB_BYTES)
            break;
        bytes += size;
        end++;
    }
    return end;
}

/* The lane of a hash job: the scan's while its hashes there stay within
 * FIRST_SCAN_HASH_BYTES, else the bulk lane. */
static ls_workq_class_t hash_lane(ls_scan_t *scan, const ls_hash_job_t *job)
{
    if (scan->lane == LS_WORKQ_BULK)
        return LS_WORKQ_BULK;
    uint64_t bytes = 0;
    for (size_t i = 0; i < job->count; i++) {
        ls_game_record_t *game;
        bytes += pending_file(scan, job->first + i, &game)->stamp.size;
    }
    if (bytes > FIRST_SCAN_HASH_BYTES - scan->lane_hash_bytes)
        return LS_WORKQ_BULK;
    scan->lane_hash_bytes += bytes;
    return scan->lane;
}

/* Keeps at most LS_SCAN_HASH_JOBS_MAX hash jobs queued or running, refilled
 * as each ends: the bulk lane stays busy, other bulk work (a download's
 * commit, another library's scan) waits behind that many jobs rather than
 * the whole list, and memory does not grow with the number of files. */
static void queue_hashes(ls_scan_t *scan)
{
    while (scan->status == 0 && scan->pending_next < scan->pending_count &&
           scan->hashes_outstanding < LS_SCAN_HASH_JOBS_MAX) {
        ls_hash_job_t *job = calloc(1, sizeof *job);
        if (!job) {
            scan->status = LS_ENOMEM;
            break;
        }
        job->scan = scan;
        job->first = scan->pending_next;
        scan->pending_next = batch_end(scan, job->first);
        job->count = scan->pending_next - job->first;
        if (ls_workq_queue(scan->loop, &job->req, hash_lane(scan, job), hash_work, hash_done) !=
            0) {
            free(job);
            scan->status = LS_EIO;
            break;
        }
        scan->hashes_outstanding++;
        if (scan->hashes_outstanding > scan->stats.hash_jobs_peak)
            scan->stats.hash_jobs_peak = scan->hashes_outstanding;
    }
    if (scan->hashes_outstanding == 0)
        finish_scan(scan);
}

static void walk_done(uv_work_t *req, int status)
{
    ls_scan_t *scan = req->data;
    if (status != 0 && scan->status == 0)
        scan->status = LS_ECANCELED;
    if (scan->status != 0)
        finish_scan(scan);
    else
        queue_hashes(scan);
}

static void scan_free(ls_scan_t *scan)
{
    ls_catalog_free(scan->catalog_next);
    ls_index_free(&scan->next);
    free(scan->pending);
    free(scan->only_game_id);
    free(scan);
}

static void save_work(uv_work_t *req)
{
    ls_scan_t *scan = req->data;
    ls_library_t *library = scan->library;
    int rc = ls_index_save(library->index_path, &library->index);
    if (rc == 0)
        library->is_index_dirty = false; /* the loop waits for save_done before a change */
    if (rc == 0 && library->legacy_index_path) {
        /* The binary index is durable: the migrated JSON one has served. */
        if (unlink(library->legacy_index_path) != 0 && errno != ENOENT)
            ls_warn("library", "removing %s: %s", library->legacy_index_path, strerror(errno));
        free(library->legacy_index_path);
        library->legacy_index_path = NULL;
    }
    if (rc != 0)
        ls_error("library", "saving index %s: %s", library->index_path, ls_strerror(rc));
    if (scan->status == 0)
        scan->status = rc;
}

static void save_done(uv_work_t *req, int status)
{
    ls_scan_t *scan = req->data;
    ls_library_t *library = scan->library;
    ls_scan_stats_t stats = scan->stats;
    int result = scan->status != 0 ? scan->status : (status != 0 ? LS_ECANCELED : 0);
    ls_library_scan_cb cb = scan->cb;
    void *userdata = scan->userdata;

    library->scan = NULL;
    scan_free(scan);
    if (cb)
        cb(library, result, &stats, userdata);
}

/* A game with a file that could not be hashed is not served this time. */
static void mark_servable(ls_index_t *index)
{
    for (size_t g = 0; g < index->game_count; g++) {
        ls_game_record_t *game = &index->games[g];
        game->is_servable = game->is_downloaded;
        for (size_t f = 0; f < game->file_count && game->is_servable; f++)
            game->is_servable = game->files[f].is_hashed;
    }
}

/* The index only caches what disk says; it needs writing when a hash or a
 * version was (re)computed, the rev moved, or entries came or went. */
static bool index_needs_saving(const ls_scan_t *scan, const ls_index_t *old, const ls_index_t *next)
{
    if (scan->stats.files_hashed || scan->stats.version_reads || scan->stats.skipped ||
        old->game_count != next->game_count)
        return true;
    for (size_t g = 0; g < next->game_count; g++)
        if (old->games[g].file_count != next->games[g].file_count ||
            strcmp(old->games[g].id, next->games[g].id) != 0)
            return true;
    return false;
}

/* The catalog changes on the loop, together with the games it gates. */
static void apply_catalog(ls_scan_t *scan)
{
    ls_library_t *library = scan->library;
    if (!scan->is_catalog_read)
        return;
    library->catalog_stamp = scan->catalog_stamp;
    library->has_catalog_stamp = true;
    free(library->catalog_error);
    library->catalog_error = NULL;
    if (scan->catalog_next) {
        ls_catalog_free(library->catalog);
        library->catalog = scan->catalog_next;
        scan->catalog_next = NULL;
        scan->stats.catalog_changed = true;
        ls_info("library", "catalog of %s loaded: %zu games known", library->game_dir,
                ls_catalog_count(library->catalog));
        return;
    }
    scan->stats.catalog_refused = true;
    library->catalog_error = strdup(scan->catalog_error);
    ls_error("library", "%s; the previous catalog stays in force", scan->catalog_error);
}

static void publish_scan(ls_scan_t *scan, bool *needs_saving)
{
    ls_library_t *library = scan->library;
    scan->next.game_dir = strdup(library->game_dir);
    if (!scan->next.game_dir) {
        scan->status = LS_ENOMEM;
        return;
    }
    apply_catalog(scan);
    scan->status = apply_adoptions(scan);
    if (scan->status != 0)
        return;
    mark_servable(&scan->next);
    *needs_saving =
        library->is_index_dirty || index_needs_saving(scan, &library->index, &scan->next);
    int published = ls_library_publish(library, &scan->next);
    if (published < 0) {
        scan->status = published;
        return;
    }
    scan->stats.rev_bumped = published == 1;
    scan->stats.games_announced = library->announced_count;
    *needs_saving |= scan->stats.rev_bumped;
}

static void finish_scan(ls_scan_t *scan)
{
    bool needs_saving = false;
    scan->save_req.data = scan;
    if (scan->status == 0)
        publish_scan(scan, &needs_saving);
    if (scan->status != 0 || !needs_saving) {
        save_done(&scan->save_req, 0);
        return;
    }
    if (ls_workq_queue(scan->loop, &scan->save_req, scan->lane, save_work, save_done) != 0) {
        scan->status = LS_EIO;
        save_done(&scan->save_req, 0);
    }
}

ls_workq_class_t ls__scan_lane(bool is_scan_started, bool is_first_scan_background)
{
    return is_scan_started || is_first_scan_background ? LS_WORKQ_BULK : LS_WORKQ_LATENCY;
}

int ls_library_scan_start(ls_library_t *library, uv_loop_t *loop, const char *only_game_id,
                          ls_library_scan_cb cb, void *userdata)
{
    if (library->scan)
        return LS_EBUSY;
    if (only_game_id && !ls_game_id_is_valid(only_game_id))
        return LS_EINVALID_ID;
    ls_scan_t *scan = calloc(1, sizeof *scan);
    if (!scan)
        return LS_ENOMEM;
    scan->library = library;
    scan->loop = loop;
    scan->cb = cb;
    scan->userdata = userdata;
    scan->lane = ls__scan_lane(library->is_scan_started, library->is_first_scan_background);
    scan->only_game_id = only_game_id ? strdup(only_game_id) : NULL;
    if (only_game_id && !scan->only_game_id) {
        scan_free(scan);
        return LS_ENOMEM;
    }
    scan->walk_req.data = scan;
    if (ls_workq_queue(loop, &scan->walk_req, scan->lane, walk_work, walk_done) != 0) {
        scan_free(scan);
        return LS_EIO;
    }
    library->scan = scan;
    library->is_scan_started = true;
    return 0;
}

typedef struct {
    int status;
    ls_scan_stats_t stats;
} ls_sync_result_t;

static void sync_done_cb(ls_library_t *library, int status, const ls_scan_stats_t *stats,
                         void *userdata)
{
    ls_sync_result_t *result = userdata;
    result->status = status;
    result->stats = *stats;
}

int ls_library_scan_sync(ls_library_t *library, ls_scan_stats_t *stats)
{
    uv_loop_t loop;
    ls_sync_result_t result = {.status = LS_ESTATE};
    int rc = uv_loop_init(&loop);
    if (rc != 0)
        return LS_EIO;
    rc = ls_library_scan_start(library, &loop, NULL, sync_done_cb, &result);
    if (rc == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = result.status;
        if (stats)
            *stats = result.stats;
    }
    uv_loop_close(&loop);
    return rc;
}
