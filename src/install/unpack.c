/* The default unpacker: libarchive reads the archive, and every entry is
 * written here, by hand, relative to a descriptor of the destination, so the
 * confinement is ours and testable (archive_write_disk is not used). */
#include "lanspread/unpack.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "install/archive_lib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ENTRY_PATH_MAX 4096
#define ENTRY_DEPTH_MAX 256
#define READ_BLOCK (64 * 1024)

typedef struct {
    const char *archive_name; /* basename, for messages */
    const char *entry_name;   /* current entry, for messages */
    int destfd;
    uint64_t limit;
    uint64_t written;
    uint64_t archive_size;
    const ls_unpack_opts_t *opts;
    struct archive *a;
    char *reason;
    size_t reason_len;
} unpack_ctx_t;

/* An entry path split into components, '.' and empty ones dropped. */
typedef struct {
    char buf[ENTRY_PATH_MAX + 1];
    const char *comp[ENTRY_DEPTH_MAX];
    size_t count;
} entry_path_t;

static int fail(unpack_ctx_t *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(unpack_ctx_t *ctx, int code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (ctx->reason && ctx->reason_len > 0) {
        if (ctx->entry_name)
            snprintf(ctx->reason, ctx->reason_len, "archive '%s': entry '%s': %s",
                     ctx->archive_name, ctx->entry_name, detail);
        else
            snprintf(ctx->reason, ctx->reason_len, "archive '%s': %s", ctx->archive_name, detail);
    }
    return code;
}

/* A backslash-separated '..' would climb on Windows, where the game may
 * eventually be copied; refuse it here too. */
static bool component_climbs(const char *c)
{
    const char *p = c;
    for (;;) {
        const char *bs = strchr(p, '\\');
        size_t n = bs ? (size_t)(bs - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        if (!bs)
            return false;
        p = bs + 1;
    }
}

static bool looks_absolute(const char *name)
{
    if (name[0] == '/' || name[0] == '\\')
        return true;
    /* "C:..." is a drive-relative Windows path */
    return ((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')) &&
           name[1] == ':';
}

static int entry_path_split(const char *name, entry_path_t *out)
{
    size_t len = name ? strlen(name) : 0;
    out->count = 0;
    if (len == 0 || len > ENTRY_PATH_MAX)
        return LS_EPATH_INVALID;
    if (looks_absolute(name))
        return LS_EPATH_ABSOLUTE;
    memcpy(out->buf, name, len + 1);
    char *save = NULL;
    for (char *c = strtok_r(out->buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (component_climbs(c))
            return LS_EPATH_DOTDOT;
        if (strlen(c) > 255 || out->count == ENTRY_DEPTH_MAX)
            return LS_EPATH_INVALID;
        out->comp[out->count++] = c;
    }
    return 0;
}

/* A symlink may only point down, or up by at most as many levels as it sits
 * below the destination. '..' after a normal component is refused because
 * that component could itself be a symlink, which would make a lexical
 * check meaningless. */
static bool symlink_target_is_confined(size_t link_depth, const char *target)
{
    size_t len = target ? strlen(target) : 0;
    bool descended = false;
    size_t depth = link_depth;
    if (len == 0 || len > ENTRY_PATH_MAX || looks_absolute(target))
        return false;
    const char *p = target;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (descended || depth == 0)
                return false;
            depth--;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            descended = true;
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

/* Opens the directory that holds the last component, creating missing
 * directories when `create` is set. Never follows a symlink: a component
 * that is one makes the entry unsafe. Returns an fd or a negative code. */
static int open_parent(unpack_ctx_t *ctx, const entry_path_t *p, bool create)
{
    int fd = dup(ctx->destfd);
    if (fd < 0)
        return fail(ctx, ls_error_from_errno(errno), "cannot open destination: %s",
                    strerror(errno));
    for (size_t i = 0; i + 1 < p->count; i++) {
        if (create && mkdirat(fd, p->comp[i], 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            return fail(ctx, ls_error_from_errno(e), "cannot create directory '%s': %s", p->comp[i],
                        strerror(e));
        }
        int next = openat(fd, p->comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        struct stat st;
        bool is_link = next < 0 && fstatat(fd, p->comp[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISLNK(st.st_mode);
        close(fd);
        if (is_link)
            return fail(ctx, LS_EUNSAFE_ENTRY, "path passes through the symlink '%s'", p->comp[i]);
        if (next < 0)
            return fail(ctx, ls_error_from_errno(e), "cannot open directory '%s': %s", p->comp[i],
                        strerror(e));
        fd = next;
    }
    return fd;
}

/* A later archive may replace what an earlier one wrote; a symlink is
 * unlinked, never written through. */
static int clear_slot(unpack_ctx_t *ctx, int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : fail(ctx, ls_error_from_errno(errno), "%s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(ctx, LS_EEXIST, "a directory of that name was already unpacked");
    if (unlinkat(dirfd, name, 0) != 0)
        return fail(ctx, ls_error_from_errno(errno), "cannot replace: %s", strerror(errno));
    return 0;
}

static void report_progress(unpack_ctx_t *ctx)
{
    if (!ctx->opts || !ctx->opts->progress)
        return;
    la_int64_t consumed = archive_filter_bytes(ctx->a, -1);
    ls_unpack_progress_t p = {
        .bytes_written = ctx->written,
        .archive_bytes_read = consumed > 0 ? (uint64_t)consumed : 0,
        .archive_size = ctx->archive_size,
    };
    ctx->opts->progress(&p, ctx->opts->userdata);
}

static int copy_data(unpack_ctx_t *ctx, struct archive_entry *e, int fd)
{
    bool size_known = archive_entry_size_is_set(e);
    uint64_t declared = size_known ? (uint64_t)archive_entry_size(e) : 0;
    uint64_t end_max = 0;
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(ctx->a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return fail(ctx, LS_EARCHIVE, "%s", archive_error_string(ctx->a));
        if (offset < 0 || size > ctx->limit || (uint64_t)offset > ctx->limit - size)
            return fail(ctx, LS_ETOOBIG, "data lies beyond the size limit");
        uint64_t end = (uint64_t)offset + size;
        if (size_known && end > declared)
            return fail(ctx, LS_EUNSAFE_ENTRY, "writes more than its declared %llu bytes",
                        (unsigned long long)declared);
        if (size > ctx->limit - ctx->written)
            return fail(ctx, LS_ETOOBIG, "archive writes more than the %llu-byte limit",
                        (unsigned long long)ctx->limit);
        int rc = ls_fs_pwrite_all(fd, buf, size, (off_t)offset);
        if (rc != 0)
            return fail(ctx, rc, "write failed: %s", ls_strerror(rc));
        ctx->written += size;
        if (end > end_max)
            end_max = end;
        report_progress(ctx);
    }
    /* A sparse entry may end in a hole that no block covered. */
    if (size_known && end_max < declared && ftruncate(fd, (off_t)declared) != 0)
        return fail(ctx, ls_error_from_errno(errno), "%s", strerror(errno));
    return 0;
}

static int write_regular(unpack_ctx_t *ctx, struct archive_entry *e, const entry_path_t *p)
{
    int rc;
    int fd = -1;
    const char *name = p->comp[p->count - 1];
    mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
    int parent = open_parent(ctx, p, true);
    if (parent < 0)
        return parent;
    rc = clear_slot(ctx, parent, name);
    if (rc != 0)
        goto out;
    fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = fail(ctx, ls_error_from_errno(errno), "cannot create: %s", strerror(errno));
        goto out;
    }
    rc = copy_data(ctx, e, fd);
    if (rc == 0 && close(fd) != 0)
        rc = fail(ctx, ls_error_from_errno(errno), "%s", strerror(errno));
    else if (rc != 0)
        close(fd);
out:
    close(parent);
    return rc;
}

static int write_directory(unpack_ctx_t *ctx, const entry_path_t *p)
{
    struct stat st;
    const char *name = p->comp[p->count - 1];
    int rc = 0;
    int parent = open_parent(ctx, p, true);
    if (parent < 0)
        return parent;
    if (mkdirat(parent, name, 0755) != 0) {
        if (errno != EEXIST)
            rc = fail(ctx, ls_error_from_errno(errno), "cannot create: %s", strerror(errno));
        else if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            rc = fail(ctx, LS_EUNSAFE_ENTRY, "a non-directory of that name already exists");
    }
    close(parent);
    return rc;
}

static int write_symlink(unpack_ctx_t *ctx, struct archive_entry *e, const entry_path_t *p)
{
    const char *target = archive_entry_symlink(e);
    const char *name = p->comp[p->count - 1];
    int rc;
    if (!symlink_target_is_confined(p->count - 1, target))
        return fail(ctx, LS_EUNSAFE_ENTRY, "symlink target '%s' leaves the destination",
                    target ? target : "");
    int parent = open_parent(ctx, p, true);
    if (parent < 0)
        return parent;
    rc = clear_slot(ctx, parent, name);
    if (rc == 0 && symlinkat(target, parent, name) != 0)
        rc = fail(ctx, ls_error_from_errno(errno), "cannot create symlink: %s", strerror(errno));
    close(parent);
    return rc;
}

/* Only a regular file already unpacked into the destination may be linked:
 * linking a symlink would move it to a depth where its target may escape. */
static int write_hardlink(unpack_ctx_t *ctx, const char *target, const entry_path_t *p)
{
    entry_path_t *t = malloc(sizeof *t);
    struct stat st;
    int tparent = -1;
    int parent = -1;
    int rc = t ? entry_path_split(target, t) : LS_ENOMEM;
    if (rc == LS_ENOMEM)
        return fail(ctx, rc, "out of memory");
    if (rc != 0 || t->count == 0) {
        rc = fail(ctx, LS_EUNSAFE_ENTRY, "hard link target '%s': %s", target,
                  rc != 0 ? ls_strerror(rc) : "empty");
        goto out;
    }
    tparent = open_parent(ctx, t, false);
    if (tparent < 0) {
        rc = tparent;
        goto out;
    }
    const char *tname = t->comp[t->count - 1];
    if (fstatat(tparent, tname, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
        rc = fail(ctx, LS_EUNSAFE_ENTRY, "hard link target '%s' is not a file in the archive",
                  target);
        goto out;
    }
    parent = open_parent(ctx, p, true);
    if (parent < 0) {
        rc = parent;
        goto out;
    }
    rc = clear_slot(ctx, parent, p->comp[p->count - 1]);
    if (rc == 0 && linkat(tparent, tname, parent, p->comp[p->count - 1], 0) != 0)
        rc = fail(ctx, ls_error_from_errno(errno), "cannot create hard link: %s", strerror(errno));
out:
    if (tparent >= 0)
        close(tparent);
    if (parent >= 0)
        close(parent);
    free(t);
    return rc;
}

static int check_declared_size(unpack_ctx_t *ctx, struct archive_entry *e)
{
    if (!archive_entry_size_is_set(e))
        return 0;
    la_int64_t size = archive_entry_size(e);
    if (size < 0)
        return fail(ctx, LS_EARCHIVE, "negative size");
    if ((uint64_t)size > ctx->limit)
        return fail(ctx, LS_ETOOBIG, "declared size %lld exceeds the %llu-byte limit",
                    (long long)size, (unsigned long long)ctx->limit);
    return 0;
}

static int extract_entry(unpack_ctx_t *ctx, struct archive_entry *e)
{
    entry_path_t *p = malloc(sizeof *p);
    int rc;
    if (!p)
        return fail(ctx, LS_ENOMEM, "out of memory");
    rc = entry_path_split(ctx->entry_name, p);
    if (rc != 0) {
        rc = fail(ctx, LS_EUNSAFE_ENTRY, "%s", ls_strerror(rc));
        goto out;
    }
    if (archive_entry_is_encrypted(e)) {
        rc = fail(ctx, LS_EARCHIVE, "encrypted entries are not supported");
        goto out;
    }
    rc = check_declared_size(ctx, e);
    if (rc != 0 || p->count == 0) /* "./" names the destination itself */
        goto out;
    const char *hardlink = archive_entry_hardlink(e);
    if (hardlink) {
        rc = write_hardlink(ctx, hardlink, p);
        goto out;
    }
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        rc = write_regular(ctx, e, p);
        break;
    case AE_IFDIR:
        rc = write_directory(ctx, p);
        break;
    case AE_IFLNK:
        rc = write_symlink(ctx, e, p);
        break;
    default:
        rc = fail(ctx, LS_EUNSAFE_ENTRY, "is a device, FIFO, socket or of unknown type");
    }
out:
    free(p);
    return rc;
}

static uint64_t free_space(int dirfd)
{
    struct statvfs sv;
    if (fstatvfs(dirfd, &sv) != 0)
        return UINT64_MAX;
    return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static int read_entries(unpack_ctx_t *ctx)
{
    struct archive_entry *e;
    /* bounded by the archive: each header consumes input */
    for (;;) {
        ctx->entry_name = NULL;
        int r = archive_read_next_header(ctx->a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return fail(ctx, LS_EARCHIVE, "%s", archive_error_string(ctx->a));
        ctx->entry_name = archive_entry_pathname(e);
        if (!ctx->entry_name)
            ctx->entry_name = archive_entry_pathname_utf8(e);
        if (!ctx->entry_name) {
            ctx->entry_name = "?";
            return fail(ctx, LS_EUNSAFE_ENTRY, "name cannot be decoded");
        }
        int rc = extract_entry(ctx, e);
        if (rc != 0)
            return rc;
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int libarchive_unpack(void *self, const char *archive_path, const char *dest_dir,
                             const ls_unpack_opts_t *opts, char *reason, size_t reason_len)
{
    (void)self;
    struct stat st;
    unpack_ctx_t ctx = {
        .archive_name = base_name(archive_path),
        .destfd = -1,
        .opts = opts,
        .reason = reason,
        .reason_len = reason_len,
    };
    int rc;
    if (reason && reason_len > 0)
        reason[0] = '\0';
    if (ls_archive_load() != 0)
        return fail(&ctx, LS_EARCHIVE, "libarchive (%s) cannot be loaded", LS_ARCHIVE_SONAME);
    ctx.destfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ctx.destfd < 0)
        return fail(&ctx, ls_error_from_errno(errno), "cannot open destination: %s",
                    strerror(errno));
    ctx.limit = free_space(ctx.destfd);
    if (opts && opts->max_entry_size > 0 && opts->max_entry_size < ctx.limit)
        ctx.limit = opts->max_entry_size;
    if (stat(archive_path, &st) == 0)
        ctx.archive_size = (uint64_t)st.st_size;
    ctx.a = archive_read_new();
    if (!ctx.a) {
        rc = fail(&ctx, LS_ENOMEM, "out of memory");
        goto out;
    }
    /* format_all leaves out "raw": a file that is no archive is an error */
    archive_read_support_filter_all(ctx.a);
    archive_read_support_format_all(ctx.a);
    if (archive_read_open_filename(ctx.a, archive_path, READ_BLOCK) != ARCHIVE_OK) {
        rc = fail(&ctx, LS_EARCHIVE, "%s", archive_error_string(ctx.a));
        goto out;
    }
    rc = read_entries(&ctx);
out:
    if (ctx.a)
        archive_read_free(ctx.a);
    close(ctx.destfd);
    return rc;
}

static const ls_unpacker_t libarchive_unpacker = {.unpack = libarchive_unpack, .self = NULL};

const ls_unpacker_t *ls_unpacker_libarchive(void)
{
    return &libarchive_unpacker;
}

int ls_unpack_archive(const ls_unpacker_t *u, const char *archive_path, const char *dest_dir,
                      const ls_unpack_opts_t *opts, char *reason, size_t reason_len)
{
    if (!u)
        u = ls_unpacker_libarchive();
    if (!u->unpack || !archive_path || !dest_dir)
        return LS_EINVAL;
    return u->unpack(u->self, archive_path, dest_dir, opts, reason, reason_len);
}

bool ls_unpack_is_archive_name(const char *name)
{
    static const char *const suffixes[] = {
        ".zip",  ".7z",     ".rar", ".tar",     ".tar.gz", ".tgz",    ".tar.bz2",  ".tbz",
        ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst",   ".tar.lz", ".tar.lzma",
    };
    size_t len = name ? strlen(name) : 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        /* the suffix alone (".zip") is a hidden file, not an archive */
        if (len > sl && strcasecmp(name + len - sl, suffixes[i]) == 0)
            return true;
    }
    return false;
}
