/* String-keyed hash map: open addressing with linear probing, keyed
 * SipHash-1-3 (the hash Rust's HashMap uses against the same attack). */
#include "lanspread/strmap.h"

#include "lanspread/error.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Slots are at most half full: short probe runs, and growth doubles. */
#define LS__STRMAP_MIN_CAP 16

static uint64_t ls__strmap_key[2];
static pthread_once_t ls__strmap_once = PTHREAD_ONCE_INIT;

/* One random key per process. Should the kernel refuse (it never blocks
 * once booted), the clock still makes the key unknown to a remote peer. */
static void ls__strmap_seed(void)
{
    if (getrandom(ls__strmap_key, sizeof ls__strmap_key, 0) == (ssize_t)sizeof ls__strmap_key)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ls__strmap_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u;
    ls__strmap_key[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t siphash13(const char *text, size_t len)
{
    const uint8_t *in = (const uint8_t *)text;
    uint64_t v[4] = {
        0x736f6d6570736575u ^ ls__strmap_key[0], 0x646f72616e646f6du ^ ls__strmap_key[1],
        0x6c7967656e657261u ^ ls__strmap_key[0], 0x7465646279746573u ^ ls__strmap_key[1]};
    uint64_t last = (uint64_t)len << 56;
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = 0;
        for (int b = 0; b < 8; b++)
            m |= (uint64_t)in[i + b] << (8 * b);
        v[3] ^= m;
        sipround(v);
        v[0] ^= m;
    }
    for (size_t b = 0; b < len % 8; b++)
        last |= (uint64_t)in[whole + b] << (8 * b);
    v[3] ^= last;
    sipround(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sipround(v);
    sipround(v);
    sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static size_t home_of(const ls_strmap_t *map, const char *key)
{
    return (size_t)siphash13(key, strlen(key)) & (map->cap - 1);
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
    pthread_once(&ls__strmap_once, ls__strmap_seed);
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
