#include "lanspread/array.h"

#include <stdint.h>
#include <stdlib.h>

void *ls_array_grow(void *items, size_t *cap, size_t item_size, size_t first)
{
    size_t want = *cap ? *cap * 2 : first;
    void *grown = NULL;
    if (want > *cap && item_size != 0 && want <= SIZE_MAX / item_size)
        grown = realloc(items, want * item_size);
    if (grown)
        *cap = want;
    return grown;
}
