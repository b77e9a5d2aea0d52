/* Growing arrays: the one doubling step every table of this project uses
 * (a realloc to twice the capacity, `first` items the first time).
 *
 * ls_array_grow returns the grown block (the caller stores it and the new
 * *cap), or NULL when memory ran out, with items and *cap unchanged, so
 * the caller's table stays valid. Any thread; no shared state. */
#ifndef LS_ARRAY_H
#define LS_ARRAY_H

#include <stddef.h>

void *ls_array_grow(void *items, size_t *cap, size_t item_size, size_t first);

#endif
