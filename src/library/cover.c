/* Cover detection: documented names, a size bound and image signatures. */
#include "lanspread/cover.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const ls_cover_names[LS_COVER_NAME_COUNT] = {"cover.png", "cover.jpg", "cover.webp"};

static const uint8_t png_magic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t jpeg_magic[] = {0xff, 0xd8, 0xff};

ls_cover_type_t ls_cover_sniff(const uint8_t *data, size_t len)
{
    if (len >= sizeof png_magic && memcmp(data, png_magic, sizeof png_magic) == 0)
        return LS_COVER_PNG;
    if (len >= sizeof jpeg_magic && memcmp(data, jpeg_magic, sizeof jpeg_magic) == 0)
        return LS_COVER_JPEG;
    if (len >= LS_COVER_SNIFF_LEN && memcmp(data, "RIFF", 4) == 0 &&
        memcmp(data + 8, "WEBP", 4) == 0)
        return LS_COVER_WEBP;
    return LS_COVER_NONE;
}

bool ls_cover_hash_is_valid(const char *s)
{
    for (size_t i = 0; i < LS_SHA256_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static const struct {
    const char *mime;
    const char *ext;
} cover_kinds[] = {
    [LS_COVER_PNG] = {"image/png", "png"},
    [LS_COVER_JPEG] = {"image/jpeg", "jpg"},
    [LS_COVER_WEBP] = {"image/webp", "webp"},
};

const char *ls_cover_mime(ls_cover_type_t type)
{
    bool known = type > LS_COVER_NONE && type <= LS_COVER_WEBP;
    return known ? cover_kinds[type].mime : NULL;
}

const char *ls_cover_ext(ls_cover_type_t type)
{
    bool known = type > LS_COVER_NONE && type <= LS_COVER_WEBP;
    return known ? cover_kinds[type].ext : NULL;
}

int ls_cover_probe(int rootfd, unsigned *name_index, ls_cover_type_t *type, const char **reason)
{
    struct stat st;
    uint8_t head[LS_COVER_SNIFF_LEN];
    unsigned i = 0;
    int rc = 0, fd = -1;
    *type = LS_COVER_NONE;
    *reason = NULL;
    while (i < LS_COVER_NAME_COUNT &&
           fstatat(rootfd, ls_cover_names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
        i++;
    if (i == LS_COVER_NAME_COUNT)
        return 0;
    *name_index = i;
    if (!S_ISREG(st.st_mode)) {
        *reason = "not a regular file; no cover";
        return LS_EINVAL;
    }
    if (st.st_size == 0 || (uint64_t)st.st_size > LS_COVER_MAX) {
        *reason = st.st_size ? "larger than LS_COVER_MAX (256 KiB); no cover" : "empty; no cover";
        return LS_ETOOBIG;
    }
    /* O_NONBLOCK: a FIFO swapped in after the fstatat must not block. */
    fd = openat(rootfd, ls_cover_names[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *reason = "cannot be opened; no cover";
        return ls_error_from_errno(errno);
    }
    size_t want = (uint64_t)st.st_size < sizeof head ? (size_t)st.st_size : sizeof head;
    rc = ls_fs_pread_all(fd, head, want, 0);
    close(fd);
    if (rc != 0) {
        *reason = "cannot be read; no cover";
        return rc;
    }
    *type = ls_cover_sniff(head, want);
    if (*type == LS_COVER_NONE) {
        *reason = "not a PNG, JPEG or WebP image by its first bytes; no cover";
        return LS_ECORRUPT;
    }
    return 1;
}
