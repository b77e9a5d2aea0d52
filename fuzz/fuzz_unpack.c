/* libFuzzer target for the unpacker (src/install/unpack.c) on hostile
 * archives: the input is written as an archive file and unpacked by the
 * real libarchive path into a fresh directory. Whatever libarchive makes of
 * the bytes (tar, zip, 7z, rar, cpio, compressed or not), nothing may be
 * created or changed outside that directory. Checked after each run:
 *  - the scratch tree around the destination holds exactly what the harness
 *    put there, and the victim file is unchanged and not linked elsewhere;
 *  - every symlink inside the destination stays inside it, lexically and,
 *    where it resolves, by realpath();
 *  - no entry but regular files, directories and symlinks exists;
 *  - a regular file's hard links are all inside the destination.
 * The scratch tree lives in /dev/shm when it exists (fast), else $TMPDIR. */
#include "lanspread/unpack.h"

#include "lanspread/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VICTIM_TEXT "outside the destination: never touched\n"
#define ENTRY_LIMIT (1u << 20) /* max_entry_size: bombs stop early */
#define LINKS_MAX 4096         /* inodes tracked per run */

static char base[PATH_MAX], dest[PATH_MAX], dest_real[PATH_MAX], archive[PATH_MAX],
    outside[PATH_MAX], victim[PATH_MAX];
static ino_t victim_ino;

typedef struct {
    ino_t ino;
    nlink_t nlink;
    unsigned seen;
} link_count_t;

static link_count_t links[LINKS_MAX];
static size_t link_count;

static void must(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_unpack: %s (%s)\n", what, strerror(errno));
        abort();
    }
}

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_base(void)
{
    nftw(base, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_once(void)
{
    struct stat st;
    const char *tmp = getenv("TMPDIR");
    const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp ? tmp : "/tmp");
    snprintf(base, sizeof base, "%s/fuzz_unpack.XXXXXX", root);
    must(mkdtemp(base) != NULL, "mkdtemp");
    snprintf(dest, sizeof dest, "%s/dest", base);
    snprintf(archive, sizeof archive, "%s/archive", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    snprintf(victim, sizeof victim, "%s/victim", outside);
    must(mkdir(outside, 0755) == 0, "mkdir outside");
    FILE *f = fopen(victim, "w");
    must(f && fputs(VICTIM_TEXT, f) >= 0 && fclose(f) == 0, "victim");
    must(stat(victim, &st) == 0, "stat victim");
    victim_ino = st.st_ino;
    atexit(remove_base);
}

/* The path `target` of a symlink at depth `depth` below dest, resolved by
 * name only: it must never climb above dest. */
static bool lexically_inside(const char *target, size_t depth)
{
    if (target[0] == '/')
        return false;
    long level = (long)depth;
    const char *p = target;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            level--;
        else if (n > 0 && !(n == 1 && p[0] == '.'))
            level++;
        if (level < 0)
            return false;
        p += n + (p[n] == '/');
    }
    return true;
}

static void count_link(const struct stat *st)
{
    for (size_t i = 0; i < link_count; i++)
        if (links[i].ino == st->st_ino) {
            links[i].seen++;
            return;
        }
    if (link_count < LINKS_MAX)
        links[link_count++] = (link_count_t){.ino = st->st_ino, .nlink = st->st_nlink, .seen = 1};
}

static void check_entry(const char *path, const struct stat *st, int level)
{
    char target[PATH_MAX], resolved[PATH_MAX];
    size_t dest_len = strlen(dest_real);
    if (S_ISLNK(st->st_mode)) {
        ssize_t n = readlink(path, target, sizeof target - 1);
        must(n >= 0, "readlink");
        target[n] = '\0';
        /* the link sits in a directory `level - 1` levels below dest */
        must(lexically_inside(target, (size_t)(level - 1)), "a symlink leaves the destination");
        if (realpath(path, resolved))
            must(strncmp(resolved, dest_real, dest_len) == 0 &&
                     (resolved[dest_len] == '/' || resolved[dest_len] == '\0'),
                 "a symlink resolves outside the destination");
        return;
    }
    must(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode), "a device, FIFO or socket was made");
    if (S_ISREG(st->st_mode)) {
        must(st->st_ino != victim_ino, "the victim is linked into the destination");
        count_link(st);
    }
}

static int check_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (ftw->level > 0)
        check_entry(path, st, ftw->level);
    return 0;
}

static void check_outside(void)
{
    char buf[sizeof VICTIM_TEXT + 8];
    struct stat st;
    DIR *d = opendir(base);
    size_t names = 0;
    must(d != NULL, "opendir base");
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        names++;
        must(strcmp(e->d_name, "dest") == 0 || strcmp(e->d_name, "archive") == 0 ||
                 strcmp(e->d_name, "outside") == 0,
             "something was created next to the destination");
    }
    closedir(d);
    must(names == 3, "the scratch tree changed");
    d = opendir(outside);
    must(d != NULL, "opendir outside");
    names = 0;
    for (struct dirent *e; (e = readdir(d));)
        names += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    must(names == 1, "something was created outside the destination");
    must(lstat(victim, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
             st.st_ino == victim_ino,
         "the victim was replaced or linked");
    int fd = open(victim, O_RDONLY | O_NOFOLLOW);
    must(fd >= 0, "open victim");
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    must(n == (ssize_t)strlen(VICTIM_TEXT) && memcmp(buf, VICTIM_TEXT, (size_t)n) == 0,
         "the victim was written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool is_ready;
    char reason[512];
    if (!is_ready) {
        setup_once();
        is_ready = true;
    }
    must(mkdir(dest, 0755) == 0, "mkdir dest");
    must(realpath(dest, dest_real) != NULL, "realpath dest");
    int fd = open(archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    must(fd >= 0 && (size == 0 || write(fd, data, size) == (ssize_t)size) && close(fd) == 0,
         "write archive");
    ls_unpack_opts_t opts = {.max_entry_size = ENTRY_LIMIT};
    int rc = ls_unpack_archive(NULL, archive, dest, &opts, reason, sizeof reason);
    must(rc <= 0 && memchr(reason, '\0', sizeof reason) != NULL, "a result out of range");
    link_count = 0;
    nftw(dest, check_cb, 16, FTW_PHYS);
    for (size_t i = 0; i < link_count; i++)
        must(links[i].nlink == links[i].seen, "a file is hard-linked from outside the destination");
    check_outside();
    nftw(dest, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
