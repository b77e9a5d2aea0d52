/* Sharing your own games from the web UI: which folders of the game
 * directory the scan skips and why (GET /api/folders), and adding one to the
 * game directory's own catalog (POST /api/catalog). Both run on the HTTP
 * connection's thread and touch only the game directory's top level, the
 * one folder named and the catalog file; the runtime learns of the change
 * through the rescan they ask for. */
#include "app/http_internal.h"

#include "lanspread/catalog.h"
#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/library.h"
#include "lanspread/log.h"
#include "lanspread/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Entries of the game directory read per listing, and skipped folders
 * listed: a directory with a million entries costs a bounded walk. */
#define LS_FOLDERS_READ_MAX 20000
#define LS_FOLDERS_LIST_MAX 500
#define LS_FOLDER_NAME_MAX 255 /* NAME_MAX of the usual file systems */

static const char *kind_name(ls_folder_kind_t kind)
{
    return kind == LS_FOLDER_SYMLINK ? "symlink" : kind == LS_FOLDER_BAD_ID ? "bad-id" : "unlisted";
}

/* The version a folder's version.ini names, or NULL: read through the
 * folder without following links and never more than the scan would read. */
static char *folder_version(int topfd, const char *name)
{
    char text[LS_VERSION_FILE_MAX];
    char *version = NULL;
    struct stat st;
    int dirfd = openat(topfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = dirfd < 0
                 ? -1
                 : openat(dirfd, LS_VERSION_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (off_t)sizeof text) {
        ssize_t n = read(fd, text, sizeof text);
        if (n > 0 && ls_library_parse_version(text, (size_t)n, &version) != 0)
            version = NULL;
    }
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return version;
}

/* A game id made from a folder name ("My Game" -> "my-game"): what the add
 * form proposes; the user may change it. */
static void suggest_id(const char *name, char *id, size_t len)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < len && n < LS_GAME_ID_MAX; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
        if (ok)
            id[n++] = c;
        else if (n > 0 && id[n - 1] != '-')
            id[n++] = '-';
    }
    while (n > 0 && id[n - 1] == '-')
        n--;
    id[n] = '\0';
    if (!ls_game_id_is_valid(id))
        id[0] = '\0';
}

static json_t *folder_entry(int topfd, const char *name, ls_folder_kind_t kind)
{
    char id[LS_GAME_ID_MAX + 1];
    char *version = kind == LS_FOLDER_SYMLINK ? NULL : folder_version(topfd, name);
    suggest_id(name, id, sizeof id);
    json_t *entry = json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "name", name, "kind", kind_name(kind),
                              "reason", ls_library_folder_reason(kind), "suggested_id",
                              id[0] ? id : NULL, "version", version);
    free(version);
    return entry;
}

static char *game_dir_of(ls_http_server_t *server)
{
    json_t *status = ls_api_state_status(server->state);
    const char *dir = json_string_value(json_object_get(status, "game_dir"));
    char *copy = dir ? strdup(dir) : NULL;
    json_decref(status);
    return copy;
}

enum MHD_Result ls__http_folders_list(ls_http_server_t *server, struct MHD_Connection *conn)
{
    char *game_dir = game_dir_of(server);
    json_t *local = ls_api_state_local_index(server->state);
    json_t *folders = json_array();
    DIR *dir = game_dir ? opendir(game_dir) : NULL;
    bool is_truncated = false;
    enum MHD_Result ret;
    if (!dir) {
        ret = ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read %s: %s",
                                 game_dir ? game_dir : "the game directory", strerror(errno));
        goto out;
    }
    struct dirent *d;
    for (size_t read = 0; (d = readdir(dir)) != NULL; read++) {
        if (read == LS_FOLDERS_READ_MAX || json_array_size(folders) == LS_FOLDERS_LIST_MAX) {
            is_truncated = true;
            break;
        }
        ls_folder_kind_t kind = ls_library_classify_folder(dirfd(dir), d->d_name);
        if (kind == LS_FOLDER_IGNORED || ls_is_reserved_root_name(d->d_name))
            continue;
        if (kind == LS_FOLDER_CANDIDATE) {
            if (json_object_get(local, d->d_name))
                continue;
            kind = LS_FOLDER_UNLISTED;
        }
        json_array_append_new(folders, folder_entry(dirfd(dir), d->d_name, kind));
    }
    ret = ls_http_send_json(conn, MHD_HTTP_OK,
                            json_pack("{s:s,s:s,s:o,s:b}", "game_dir", game_dir, "catalog",
                                      LS_LOCAL_CATALOG_FILE, "folders", folders, "truncated",
                                      is_truncated));
    folders = NULL;
out:
    if (dir)
        closedir(dir);
    json_decref(folders);
    json_decref(local);
    free(game_dir);
    return ret;
}

/* --- adding a folder to the catalog --------------------------------------- */

typedef struct {
    const char *folder, *id, *name, *version, *description, *genre;
} ls__add_request_t;

static bool has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return true;
    return false;
}

/* An optional string field: absent or null is NULL; *bad when present but
 * not a string, empty, too long or holding a control character (or a NUL,
 * which a C string would cut at). */
static const char *text_field(json_t *body, const char *key, size_t max, bool *bad)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return NULL;
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != strlen(s) || s[0] == '\0' || strlen(s) > max ||
        (strcmp(key, "description") != 0 && has_control_char(s)))
        *bad = true;
    return s;
}

/* Checks the body; on failure why says what is wrong (a 400). */
static int parse_add(json_t *body, ls__add_request_t *req, char *why, size_t why_len)
{
    static const char *const known[] = {"folder", "id", "name", "version", "description", "genre"};
    const char *key;
    json_t *value;
    bool bad = false;
    json_object_foreach(body, key, value)
    {
        bool is_known = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            is_known = is_known || strcmp(key, known[i]) == 0;
        if (!is_known) {
            snprintf(why, why_len, "unknown field '%s'", key);
            return LS_EINVAL;
        }
    }
    req->id = text_field(body, "id", LS_GAME_ID_MAX, &bad);
    if (bad || !req->id || !ls_game_id_is_valid(req->id)) {
        snprintf(why, why_len,
                 "'id' must be a game id: letters, digits, '.', '_', '-' (at most "
                 "%d, not starting with '.' or '-')",
                 LS_GAME_ID_MAX);
        return LS_EINVAL;
    }
    struct {
        const char *key;
        size_t max;
        const char **out;
    } texts[] = {{"folder", LS_FOLDER_NAME_MAX, &req->folder},
                 {"name", LS_NAME_MAX, &req->name},
                 {"version", LS_VERSION_MAX, &req->version},
                 {"description", LS_DESCRIPTION_MAX, &req->description},
                 {"genre", LS_GENRE_MAX, &req->genre}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        *texts[i].out = text_field(body, texts[i].key, texts[i].max, &bad);
        if (bad) {
            snprintf(why, why_len, "'%s' must be a non-empty string of at most %zu bytes%s",
                     texts[i].key, texts[i].max,
                     strcmp(texts[i].key, "description") ? " without control characters" : "");
            return LS_EINVAL;
        }
    }
    if (!req->name) {
        snprintf(why, why_len, "'name' is required");
        return LS_EINVAL;
    }
    if (!req->folder)
        req->folder = req->id;
    if (strchr(req->folder, '/') || req->folder[0] == '.') {
        snprintf(why, why_len, "'folder' must be a folder's name in the game directory");
        return LS_EINVAL;
    }
    return 0;
}

/* version.ini last: its presence makes the folder a complete game. */
static int write_version(const char *root, const char *version)
{
    char text[LS_VERSION_MAX + 32];
    char *path = ls_path_join(root, LS_VERSION_FILE);
    int rc = path ? 0 : LS_ENOMEM;
    int n = snprintf(text, sizeof text, "[lanspread]\nversion=%s\n", version);
    if (rc == 0)
        rc = ls_fs_write_atomic(path, text, (size_t)n);
    free(path);
    return rc;
}

typedef struct {
    char *game_dir, *from, *to, *catalog;
} ls__add_paths_t;

static void add_paths_free(ls__add_paths_t *p)
{
    free(p->game_dir);
    free(p->from);
    free(p->to);
    free(p->catalog);
}

/* Everything checked before anything is written; then the catalog entry,
 * the rename and version.ini, in an order where a failure half-way leaves
 * at worst a catalog entry without its folder (skipped like any other). */
static enum MHD_Result add_checked(ls_http_server_t *server, struct MHD_Connection *conn,
                                   const ls__add_request_t *req, ls__add_paths_t *p)
{
    char err[512];
    bool is_rename = strcmp(req->folder, req->id) != 0;
    if (ls_fs_is_dir(p->from) != 1)
        return ls_http_send_error(conn, MHD_HTTP_NOT_FOUND,
                                  "no folder '%s' in the game directory (%s)", req->folder,
                                  p->game_dir);
    if (is_rename && ls_fs_exists(p->to) == 1)
        return ls_http_send_error(conn, MHD_HTTP_CONFLICT,
                                  "'%s' exists already in the game directory: choose another id",
                                  req->id);
    char *version = folder_version(AT_FDCWD, p->from);
    bool needs_version = version == NULL;
    bool is_other_version = version && req->version && strcmp(version, req->version) != 0;
    free(version);
    if (needs_version && !req->version)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST,
                                  "'%s' has no %s: give a version (it is written there)",
                                  req->folder, LS_VERSION_FILE);
    if (is_other_version)
        return ls_http_send_error(conn, MHD_HTTP_CONFLICT,
                                  "'%s/%s' names another version: edit it or leave the version "
                                  "empty",
                                  req->folder, LS_VERSION_FILE);
    json_t *game = ls_api_state_game(server->state, req->id);
    bool is_taken = game && (json_is_true(json_object_get(game, "downloaded")) ||
                             !json_is_null(json_object_get(game, "operation")));
    json_decref(game);
    if (is_taken)
        return ls_http_send_error(conn, MHD_HTTP_CONFLICT,
                                  "game '%s' is already in the library or busy", req->id);

    ls_catalog_entry_t entry = {.id = (char *)req->id,
                                .name = (char *)req->name,
                                .description = (char *)req->description,
                                .genre = (char *)req->genre};
    err[0] = '\0';
    int rc = ls_catalog_file_add(p->catalog, &entry, err, sizeof err);
    if (rc != 0)
        return ls_http_send_error(
            conn, rc == LS_ECATALOG ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
            err[0] ? err : ls_strerror(rc));
    if (is_rename && rename(p->from, p->to) != 0)
        return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "renaming %s to %s: %s",
                                  p->from, req->id, strerror(errno));
    rc = needs_version ? write_version(p->to, req->version) : 0;
    if (rc != 0)
        return ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "writing %s/%s: %s",
                                  req->id, LS_VERSION_FILE, ls_strerror(rc));
    ls_info("http", "game %s added to %s (folder %s)", req->id, p->catalog, req->folder);
    ls_peer_command_t cmd = {.kind = LS_CMD_RESCAN, .game_id = req->id};
    json_t *answer = json_pack("{s:b,s:s,s:s,s:b}", "accepted", 1, "game_id", req->id, "catalog",
                               p->catalog, "renamed", is_rename);
    if (ls_peer_submit(server->peer, &cmd) != 0) {
        json_decref(answer);
        return ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "added to the catalog, but the rescan could not be queued");
    }
    return ls_http_send_json(conn, MHD_HTTP_ACCEPTED, answer);
}

enum MHD_Result ls__http_catalog_add(ls_http_server_t *server, struct MHD_Connection *conn,
                                     json_t *body)
{
    char why[256];
    ls__add_request_t req = {0};
    ls__add_paths_t p = {0};
    enum MHD_Result ret;
    if (parse_add(body, &req, why, sizeof why) != 0)
        return ls_http_send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", why);
    p.game_dir = game_dir_of(server);
    if (!p.game_dir) {
        ret = ls_http_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no game directory");
        goto out;
    }
    p.from = ls_path_join(p.game_dir, req.folder);
    p.to = ls_path_join(p.game_dir, req.id);
    p.catalog = ls_path_join(p.game_dir, LS_LOCAL_CATALOG_FILE);
    if (!p.from || !p.to || !p.catalog) {
        ret = ls_http_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto out;
    }
    ret = add_checked(server, conn, &req, &p);
out:
    add_paths_free(&p);
    return ret;
}
