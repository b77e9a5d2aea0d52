/* A hash map from C strings to indexes, for lookups by an id a peer chose
 * (peer ids, game ids): O(1) on average whatever the ids are, because the
 * hash is keyed with a per-process random key (SipHash-1-3), so a peer cannot
 * pick ids that collide and turn each lookup into a scan.
 * Keys are borrowed: the caller keeps each key's string alive, unchanged,
 * while it is in the map (a map usually indexes an array that owns them).
 * Not thread-safe; a map is owned by one thread. */
#ifndef LANSPREAD_STRMAP_H
#define LANSPREAD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char **keys; /* NULL: free slot */
    size_t *values;
    size_t cap; /* slots, a power of two; 0 before the first insert */
    size_t count;
} ls_strmap_t;

/* An empty map; no allocation until the first insert. */
#define LS_STRMAP_INIT ((ls_strmap_t){.keys = NULL, .values = NULL, .cap = 0, .count = 0})

void ls_strmap_free(ls_strmap_t *map);
/* Forgets every key, keeping the slots for a rebuild. */
void ls_strmap_clear(ls_strmap_t *map);
/* Makes room for `count` keys in all, so that many inserts allocate once. */
int ls_strmap_reserve(ls_strmap_t *map, size_t count);
/* Maps key to value. An equal key already there keeps its value unless
 * `replace`, in which case the entry takes this key pointer and value.
 * *existed (may be NULL) tells whether it was there. 0 or LS_ENOMEM. */
int ls_strmap_put(ls_strmap_t *map, const char *key, size_t value, bool replace, bool *existed);
/* True, with *value (may be NULL) set, when key is in the map. */
bool ls_strmap_get(const ls_strmap_t *map, const char *key, size_t *value);
/* Forgets key (its string may go once this returns); false when it was not
 * there. O(1) on average: the keys after it in its probe run move back, so
 * an owner that swap-removes from its array updates one moved value
 * instead of rebuilding the map. */
bool ls_strmap_remove(ls_strmap_t *map, const char *key);

#endif
