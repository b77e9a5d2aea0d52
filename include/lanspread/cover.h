/* Cover images: what counts as a game's cover, and how its type is told.
 *
 * A game's cover is the first of LS_COVER_NAMES that is a regular file at
 * the top of its folder, at most LS_COVER_MAX bytes, whose first bytes are
 * the signature of a PNG, JPEG or WebP image: the type comes from those
 * bytes, never from the extension alone. It stays an ordinary game file
 * (in the manifest, downloaded with the game); the scan also records it as
 * the game's cover, announced to peers with its SHA-256 and size.
 * Pure functions and one blocking probe; any thread. */
#ifndef LANSPREAD_COVER_H
#define LANSPREAD_COVER_H

#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LS_COVER_NONE = 0,
    LS_COVER_PNG,
    LS_COVER_JPEG,
    LS_COVER_WEBP,
} ls_cover_type_t;

/* The file names a cover may have, in the order they are looked for. */
#define LS_COVER_NAME_COUNT 3
extern const char *const ls_cover_names[LS_COVER_NAME_COUNT];

/* Bytes a signature needs (WebP: "RIFF", 4 bytes of size, "WEBP"). */
#define LS_COVER_SNIFF_LEN 12

/* The image type of data by its signature; LS_COVER_NONE when unknown. */
ls_cover_type_t ls_cover_sniff(const uint8_t *data, size_t len);
/* Whether s starts with 64 lowercase hex digits: how cover hashes are
 * written (the wire, file names, the API). */
bool ls_cover_hash_is_valid(const char *s);
/* "image/png", ...; NULL for LS_COVER_NONE. */
const char *ls_cover_mime(ls_cover_type_t type);
/* "png", "jpg", "webp"; NULL for LS_COVER_NONE. */
const char *ls_cover_ext(ls_cover_type_t type);

/* Looks for a cover in the game folder open at rootfd (blocking: a few
 * fstatat and one read of LS_COVER_SNIFF_LEN bytes). Returns 1 with its
 * name index and type, 0 when the folder has none, or LS_E* with *reason
 * (a static string) when a candidate is refused: not a regular file, empty,
 * above LS_COVER_MAX, or not an image by its first bytes. */
int ls_cover_probe(int rootfd, unsigned *name_index, ls_cover_type_t *type, const char **reason);

#endif
