/* String-keyed hash map: open addressing with linear probing, hashed by
 * ls_hash_private (keyed SipHash-1-3, the hash Rust's HashMap uses against
 * the same attack). */
#include "lanspread/strmap.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slots are at most half full: short probe runs, and growth doubles. */
#define LS__STRMAP_MIN_CAP 16

static size_t home_of(const ls_strmap_t *map, const char *key)
{
    return (size_t)ls_hash_private(key, strlen(key)) & (map->cap - 1);
}

static size_t slot_of(const ls_strmap_t *map, const char *key)
{
    size_t mask = map->cap - 1;
    size_t i = home_of(map, key);
    while (map->keys[i] && strcmp(map->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

void ls_strmap_free(ls_strmap_t *map)
{
    free(map->keys);
    free(map->values);
    *map = LS_STRMAP_INIT;
}

void ls_strmap_clear(ls_strmap_t *map)
{
    if (map->keys)
        memset(map->keys, 0, map->cap * sizeof *map->keys);
    map->count = 0;
}

static int grow(ls_strmap_t *map, size_t cap)
{
    ls_strmap_t bigger = {.keys = calloc(cap, sizeof *bigger.keys),
                          .values = calloc(cap, sizeof *bigger.values),
                          .cap = cap,
                          .count = map->count};
    if (!bigger.keys || !bigger.values) {
        ls_strmap_free(&bigger);
        return LS_ENOMEM;
    }
    for (size_t i = 0; i < map->cap; i++) {
        if (!map->keys[i])
            continue;
        size_t at = slot_of(&bigger, map->keys[i]);
        bigger.keys[at] = map->keys[i];
        bigger.values[at] = map->values[i];
    }
    ls_strmap_free(map);
    *map = bigger;
    return 0;
}

int ls_strmap_reserve(ls_strmap_t *map, size_t count)
{
    size_t cap = map->cap ? map->cap : LS__STRMAP_MIN_CAP;
    while (cap / 2 < count)
        cap *= 2;
    return cap == map->cap ? 0 : grow(map, cap);
}

int ls_strmap_put(ls_strmap_t *map, const char *key, size_t value, bool replace, bool *existed)
{
    int rc = ls_strmap_reserve(map, map->count + 1);
    if (rc != 0)
        return rc;
    size_t at = slot_of(map, key);
    bool found = map->keys[at] != NULL;
    if (existed)
        *existed = found;
    if (found && !replace)
        return 0;
    map->keys[at] = key;
    map->values[at] = value;
    map->count += !found;
    return 0;
}

bool ls_strmap_get(const ls_strmap_t *map, const char *key, size_t *value)
{
    if (map->count == 0)
        return false;
    size_t at = slot_of(map, key);
    if (!map->keys[at])
        return false;
    if (value)
        *value = map->values[at];
    return true;
}

/* Backward-shift deletion: the hole left by the key is filled by the next
 * key of the run that may live there (its home slot is not between the hole
 * and itself), until the run ends; no tombstones, so lookups stay as short
 * as after a rebuild. */
bool ls_strmap_remove(ls_strmap_t *map, const char *key)
{
    if (map->count == 0)
        return false;
    size_t mask = map->cap - 1;
    size_t hole = slot_of(map, key);
    if (!map->keys[hole])
        return false;
    for (size_t j = (hole + 1) & mask; map->keys[j]; j = (j + 1) & mask) {
        size_t home = home_of(map, map->keys[j]);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            map->keys[hole] = map->keys[j];
            map->values[hole] = map->values[j];
            hole = j;
        }
    }
    map->keys[hole] = NULL;
    map->count--;
    return true;
}
