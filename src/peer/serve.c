/* The answer to each request a peer receives: games, manifests, file bytes,
 * pings, and typed errors for everything else. */
#include "lanspread/serve.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ls_serve_error_msg(ls_msg_t *msg, ls_wire_error_t code, const char *message)
{
    memset(msg, 0, sizeof *msg);
    msg->kind = LS_MSG_ERROR;
    msg->u.error.code = code;
    msg->u.error.message = strndup(message, LS_MESSAGE_MAX);
    return msg->u.error.message ? 0 : LS_ENOMEM;
}

static int refuse(ls_serve_reply_t *reply, ls_wire_error_t code, const char *fmt, const char *arg)
{
    char message[LS_MESSAGE_MAX];
    snprintf(message, sizeof message, fmt, arg);
    return ls_serve_error_msg(&reply->header, code, message);
}

static int refuse_code(ls_serve_reply_t *reply, int code, const char *what)
{
    char message[LS_MESSAGE_MAX];
    snprintf(message, sizeof message, "%s: %s", what, ls_strerror(code));
    return ls_serve_error_msg(&reply->header, ls_wire_error_from_code(code), message);
}

/* A file request is checked against the published index in place (no copy
 * of the manifest): a peer's chunk requests cost O(log n) each. */
static int prepare_file(const ls_library_t *library, const ls_msg_t *request,
                        ls_serve_reply_t *reply)
{
    const char *game_id = request->u.file_request.game_id;
    const char *path = request->u.file_request.path;
    bool is_chunk = request->kind == LS_MSG_GET_FILE_CHUNK;
    ls_library_file_t file;
    int rc = ls_relpath_check(path, strlen(path));
    if (rc != 0)
        return refuse_code(reply, rc, path);
    rc = ls_library_file(library, game_id, path, &file);
    if (rc == LS_ENOENT || (rc == 0 && file.is_dir))
        return refuse(reply, LS_WIRE_INVALID_PATH, "%s: no such file in the game", path);
    if (rc != 0)
        return refuse_code(reply, rc, game_id);
    uint64_t offset = is_chunk ? request->u.file_request.offset : 0;
    uint64_t length = is_chunk ? request->u.file_request.length : file.size;
    if (offset > file.size || length > file.size - offset)
        return refuse(reply, LS_WIRE_INVALID_REQUEST, "%s: range outside the file", path);
    reply->game_root = ls_library_game_root(library, game_id);
    reply->path = strdup(path);
    if (!reply->game_root || !reply->path)
        return LS_ENOMEM;
    reply->file_size = file.size;
    reply->offset = offset;
    reply->length = length;
    reply->header.kind = is_chunk ? LS_MSG_FILE_CHUNK : LS_MSG_FILE_DATA;
    reply->header.u.file_header.offset = offset;
    reply->header.u.file_header.length = length;
    return 0;
}

/* A batch is served only whole: every range must be a range of a file the
 * published index lists (each lookup O(log n)), or the whole request is
 * refused, naming the first bad one. */
static int prepare_batch(const ls_library_t *library, const ls_msg_t *request,
                         ls_serve_reply_t *reply)
{
    const char *game_id = request->u.batch_request.game_id;
    size_t n = request->u.batch_request.range_count;
    uint64_t total = 0;
    reply->ranges = calloc(n, sizeof *reply->ranges);
    if (!reply->ranges)
        return LS_ENOMEM;
    reply->range_count = n;
    for (size_t i = 0; i < n; i++) {
        const ls_file_range_t *r = &request->u.batch_request.ranges[i];
        ls_library_file_t file;
        int rc = ls_library_file(library, game_id, r->path, &file);
        if (rc == LS_ENOENT || (rc == 0 && file.is_dir))
            return refuse(reply, LS_WIRE_INVALID_PATH, "%s: no such file in the game", r->path);
        if (rc != 0)
            return refuse_code(reply, rc, game_id);
        if (r->offset > file.size || r->length > file.size - r->offset)
            return refuse(reply, LS_WIRE_INVALID_REQUEST, "%s: range outside the file", r->path);
        reply->ranges[i] = (ls_serve_range_t){
            .path = strdup(r->path),
            .file_size = file.size,
            .offset = r->offset,
            .length = r->length,
        };
        if (!reply->ranges[i].path)
            return LS_ENOMEM;
        total += r->length;
    }
    reply->game_root = ls_library_game_root(library, game_id);
    if (!reply->game_root)
        return LS_ENOMEM;
    reply->length = total;
    reply->header.kind = LS_MSG_FILE_BATCH;
    reply->header.u.file_header.length = total;
    return 0;
}

/* A cover is served only for a game this peer announces, only the exact
 * cover (by hash) its summary carries: the file the published index lists
 * under the cover's name, hashed as one chunk. Anything else is refused
 * `invalid_request` (unknown game: `unknown_game`). */
static int prepare_cover(const ls_library_t *library, const ls_msg_t *request,
                         ls_serve_reply_t *reply)
{
    const char *game_id = request->u.cover_request.game_id;
    const ls_local_game_t *game = ls_library_find(library, game_id);
    ls_library_file_t file;
    char hex[LS_SHA256_HEX_LEN + 1] = "";
    int rc = game && game->cover_file ? ls_library_file(library, game_id, game->cover_file, &file)
                                      : LS_ENOENT;
    if (rc == 0 && !file.is_dir && file.chunk_count == 1 && file.size <= LS_COVER_MAX)
        ls_hex_encode(file.chunk_sha256[0], LS_SHA256_LEN, hex);
    if (rc == LS_EUNKNOWN_GAME || (!game && rc == LS_ENOENT))
        return refuse(reply, LS_WIRE_UNKNOWN_GAME, "%s: no such game", game_id);
    if (rc == LS_ENOMEM)
        return rc;
    if (strcmp(hex, request->u.cover_request.sha256) != 0)
        return refuse(reply, LS_WIRE_INVALID_REQUEST, "%s: no such cover", game_id);
    reply->game_root = ls_library_game_root(library, game_id);
    reply->path = strdup(game->cover_file);
    if (!reply->game_root || !reply->path)
        return LS_ENOMEM;
    reply->file_size = file.size;
    reply->length = file.size;
    reply->header.kind = LS_MSG_COVER;
    reply->header.u.file_header.length = file.size;
    return 0;
}

static int prepare_game(const ls_library_t *library, const char *game_id, ls_serve_reply_t *reply)
{
    int rc = ls_library_manifest(library, game_id, &reply->header.u.game);
    if (rc == LS_ENOMEM)
        return rc;
    if (rc != 0)
        return refuse_code(reply, rc, game_id);
    reply->header.kind = LS_MSG_GAME;
    return 0;
}

int ls_serve_prepare(const ls_library_t *library, const ls_msg_t *request, ls_serve_reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    switch (request->kind) {
    case LS_MSG_PING:
        reply->header.kind = LS_MSG_PONG;
        reply->header.u.nonce = request->u.nonce;
        return 0;
    case LS_MSG_LIST_GAMES:
        reply->header.kind = LS_MSG_GAMES;
        return ls_library_snapshot(library, &reply->header.u.games);
    case LS_MSG_GET_GAME:
        return prepare_game(library, request->u.game_id, reply);
    case LS_MSG_GET_FILE_DATA:
    case LS_MSG_GET_FILE_CHUNK:
        return prepare_file(library, request, reply);
    case LS_MSG_GET_FILE_BATCH:
        return prepare_batch(library, request, reply);
    case LS_MSG_GET_COVER:
        return prepare_cover(library, request, reply);
    default:
        return refuse(reply, LS_WIRE_INVALID_REQUEST, "%s is not a request",
                      ls_msg_kind_name(request->kind));
    }
}

int ls_serve_add_meta(const ls_library_t *library, ls_serve_reply_t *reply)
{
    ls_game_manifest_t *game = &reply->header.u.game;
    if (reply->header.kind != LS_MSG_GAME)
        return 0;
    const ls_catalog_entry_t *entry = ls_catalog_find(ls_library_catalog(library), game->game_id);
    if (!entry)
        return 0; /* served games are catalog games; nothing to add otherwise */
    ls_game_meta_t view = {
        .name = entry->name,
        .description = entry->description,
        .genre = entry->genre,
        .max_players = entry->max_players,
        .release_year = entry->release_year,
    };
    ls_game_meta_t *meta = malloc(sizeof *meta);
    if (!meta || ls_game_meta_copy(meta, &view) != 0) {
        free(meta);
        return LS_ENOMEM;
    }
    game->meta = meta;
    return 0;
}

bool ls_serve_reply_has_body(const ls_serve_reply_t *reply)
{
    return (reply->header.kind == LS_MSG_FILE_DATA || reply->header.kind == LS_MSG_FILE_CHUNK ||
            reply->header.kind == LS_MSG_FILE_BATCH || reply->header.kind == LS_MSG_COVER) &&
           reply->length > 0;
}

/* `opened` (an fd or LS_E*) must be the indexed file: regular, of the
 * indexed size; anything else is closed and refused. */
static int check_indexed(int opened, uint64_t file_size, int *fd)
{
    struct stat st;
    *fd = -1;
    if (opened < 0)
        return opened;
    if (fstat(opened, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != file_size) {
        close(opened);
        return LS_ECORRUPT;
    }
    *fd = opened;
    return 0;
}

/* O_NONBLOCK: a FIFO put in a game root must not park a pool thread in
 * open() until a writer shows up; it is refused by check_indexed like any
 * non-regular file. Regular files ignore the flag. */
#define SERVE_OPEN_FLAGS (O_RDONLY | O_NONBLOCK)

int ls_serve_open(const ls_serve_reply_t *reply, int *fd)
{
    return check_indexed(ls_open_in_root(reply->game_root, reply->path, SERVE_OPEN_FLAGS),
                         reply->file_size, fd);
}

/* The game root is opened once for the whole batch and each range's file
 * beneath it (one openat2 per file where the kernel has it): a batch of
 * 2 KiB files spent most of its time walking paths. */
int ls_serve_read_batch(const ls_serve_reply_t *reply, uint8_t *buf)
{
    size_t at = 0;
    int rc = 0;
    int root_fd = open(reply->game_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return ls_error_from_errno(errno);
    for (size_t i = 0; i < reply->range_count && rc == 0; i++) {
        const ls_serve_range_t *r = &reply->ranges[i];
        int fd;
        rc = check_indexed(ls_open_beneath(root_fd, r->path, SERVE_OPEN_FLAGS), r->file_size, &fd);
        if (rc != 0)
            break;
        rc = ls_fs_pread_all(fd, buf + at, r->length, r->offset);
        close(fd);
        at += r->length;
    }
    close(root_fd);
    return rc;
}

void ls_serve_reply_free(ls_serve_reply_t *reply)
{
    for (size_t i = 0; i < reply->range_count; i++)
        free(reply->ranges[i].path);
    free(reply->ranges);
    ls_msg_free(&reply->header);
    free(reply->game_root);
    free(reply->path);
    memset(reply, 0, sizeof *reply);
}

bool ls_serve_swarm_admits(uint32_t sends, uint32_t sends_to_requester, bool other_wants,
                           uint32_t shared_max)
{
    bool is_shared = sends > sends_to_requester || other_wants;
    return sends < shared_max || !is_shared;
}

size_t ls_serve_wait_pick(const uint32_t *sends, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (sends[i] < sends[best])
            best = i;
    return best;
}

bool ls_serve_refuses_parallel_copy(bool is_partial_copy)
{
    return !is_partial_copy;
}
