/* `lanspread demo-library`: a real library to run and test against — game
 * folders with archives written by libarchive, data files and version.ini. */
#include "lanspread/library.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "install/archive_lib.h"
#include "lanspread/path.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deterministic bytes (xorshift) that do not compress to nothing. */
static void fill_bytes(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed ? seed : 0x2545f491u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)(x >> 11);
    }
}

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc;
    if (fd < 0)
        return ls_error_from_errno(errno);
    rc = ls_fs_pwrite_all(fd, data, len, 0);
    close(fd);
    return rc;
}

typedef struct {
    const char *name;
    const uint8_t *data;
    size_t len;
} ls_demo_member_t;

static int add_member(struct archive *ar, const ls_demo_member_t *m)
{
    struct archive_entry *entry = archive_entry_new();
    int rc = 0;
    if (!entry)
        return LS_ENOMEM;
    archive_entry_set_pathname(entry, m->name);
    archive_entry_set_size(entry, (la_int64_t)m->len);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_mtime(entry, 1700000000, 0);
    if (archive_write_header(ar, entry) != ARCHIVE_OK ||
        archive_write_data(ar, m->data, m->len) != (la_ssize_t)m->len)
        rc = LS_EARCHIVE;
    archive_entry_free(entry);
    return rc;
}

/* format: "zip" or "tar.gz". */
static int write_archive(const char *path, const char *format, const ls_demo_member_t *members,
                         size_t count)
{
    if (ls_archive_load() != 0)
        return LS_EARCHIVE;
    struct archive *ar = archive_write_new();
    int rc = 0;
    if (!ar)
        return LS_ENOMEM;
    /* Fast over deep compression: the members are random bytes that would
     * not shrink anyway, and `make run` generates tens of MiB per game. */
    if (strcmp(format, "zip") == 0) {
        archive_write_set_format_zip(ar);
        archive_write_set_format_option(ar, "zip", "compression", "store");
    } else {
        archive_write_set_format_pax_restricted(ar);
        archive_write_add_filter_gzip(ar);
        archive_write_set_filter_option(ar, "gzip", "compression-level", "1");
    }
    if (archive_write_open_filename(ar, path) != ARCHIVE_OK) {
        ls_error("demo", "%s: %s", path, archive_error_string(ar));
        rc = LS_EARCHIVE;
        goto out;
    }
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = add_member(ar, &members[i]);
    if (archive_write_close(ar) != ARCHIVE_OK)
        rc = LS_EARCHIVE;
out:
    archive_write_free(ar);
    return rc;
}

/* Creates parent directories as needed. */
static int write_bytes(const char *root, const char *relpath, const void *data, size_t len)
{
    char *path = ls_path_join(root, relpath);
    char *slash = path ? strrchr(path, '/') : NULL;
    int rc = path ? 0 : LS_ENOMEM;
    if (slash) {
        *slash = '\0';
        rc = ls_fs_mkdir_p(path, 0755);
        *slash = '/';
    }
    if (rc == 0)
        rc = write_file(path, data, len);
    free(path);
    return rc;
}

/* An installed game has local/ holding what its archives would unpack to. */
static int write_installed_copy(const char *root, const ls_demo_member_t *members, size_t count)
{
    char *local = ls_path_join(root, LS_INSTALL_DIR);
    int rc = local ? ls_fs_mkdir_p(local, 0755) : LS_ENOMEM;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = write_bytes(local, members[i].name, members[i].data, members[i].len);
    }
    free(local);
    return rc;
}

static int create_game(const char *dir, const char *id, unsigned index,
                       const ls_demo_options_t *opt)
{
    char *root = ls_path_join(dir, id);
    uint8_t *payload = malloc(opt->file_size ? opt->file_size : 1);
    uint8_t *exe = malloc(opt->file_size ? opt->file_size : 1);
    char readme[512], path[LS_RELPATH_MAX], version[64];
    int rc = (root && payload && exe) ? ls_fs_mkdir_p(root, 0755) : LS_ENOMEM;

    if (rc != 0)
        goto out;
    fill_bytes(payload, opt->file_size, opt->seed * 7919u + index * 2u + 1u);
    fill_bytes(exe, opt->file_size, opt->seed * 7919u + index * 2u + 2u);
    snprintf(readme, sizeof readme, "%s demo build %u.\nStart %s.bin to play.\n", id, index, id);
    snprintf(path, sizeof path, "%s.bin", id);
    ls_demo_member_t members[] = {
        {"README.txt", (const uint8_t *)readme, strlen(readme)},
        {path, exe, opt->file_size},
        {"data/assets.pak", payload, opt->file_size},
    };
    char *zip = ls_strdup_printf("%s/%s-game.zip", root, id);
    char *tgz = ls_strdup_printf("%s/%s-data.tar.gz", root, id);
    rc = (zip && tgz) ? write_archive(zip, "zip", members, 2) : LS_ENOMEM;
    if (rc == 0)
        rc = write_archive(tgz, "tar.gz", &members[2], 1);
    free(zip);
    free(tgz);
    /* Extra plain files stand for the loose content some games ship. */
    for (unsigned f = 3; rc == 0 && f < opt->files_per_game; f++) {
        snprintf(path, sizeof path, "extras/part-%04u.bin", f);
        fill_bytes(payload, opt->file_size, opt->seed + index * 100003u + f);
        rc = write_bytes(root, path, payload, opt->file_size);
    }
    if (rc == 0 && index % 3 == 0)
        rc = write_installed_copy(root, members, 3);
    /* version.ini last: its presence means the game is complete. */
    snprintf(version, sizeof version, "[lanspread]\nversion=1.%u.0\n", index);
    if (rc == 0)
        rc = write_bytes(root, LS_VERSION_FILE, version, strlen(version));
out:
    if (rc != 0)
        ls_error("demo", "creating %s: %s", id, ls_strerror(rc));
    free(root);
    free(payload);
    free(exe);
    return rc;
}

/* Ids beyond the catalog get entries in the game directory's local catalog. */
static int write_local_catalog(const char *dir, unsigned first, unsigned last)
{
    json_t *games = json_array();
    for (unsigned i = first; games && i < last; i++) {
        char id[32], name[64];
        snprintf(id, sizeof id, "demo-%03u", i);
        snprintf(name, sizeof name, "Demo Game %u", i);
        json_array_append_new(games, json_pack("{s:s,s:s,s:s,s:s,s:i}", "id", id, "name", name,
                                               "description", "A generated demo game.", "genre",
                                               "Demo", "max_players", 8));
    }
    json_t *root = json_pack("{s:i,s:o}", "catalog_version", 1, "games", games);
    char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    char *path = ls_path_join(dir, LS_LOCAL_CATALOG_FILE);
    int rc = (text && path) ? ls_fs_write_atomic(path, text, strlen(text)) : LS_ENOMEM;
    json_decref(root);
    free(text);
    free(path);
    return rc;
}

int ls_demo_library_create(const char *dir, const ls_catalog_t *catalog,
                           const ls_demo_options_t *options)
{
    ls_demo_options_t opt = *options;
    size_t known = ls_catalog_count(catalog);
    int rc;

    if (opt.files_per_game < 3)
        opt.files_per_game = 3;
    rc = ls_fs_mkdir_p(dir, 0755);
    for (unsigned i = opt.first; rc == 0 && i < opt.games; i++) {
        char generated[32];
        const char *id = generated;
        if (i < known)
            id = ls_catalog_at(catalog, i)->id;
        else
            snprintf(generated, sizeof generated, "demo-%03u", i);
        rc = create_game(dir, id, i, &opt);
    }
    if (rc == 0 && opt.games > known)
        rc = write_local_catalog(dir, opt.first > known ? opt.first : (unsigned)known, opt.games);
    return rc;
}
