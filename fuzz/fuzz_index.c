/* Fuzzes the on-disk index parser: a corrupt index is refused without a
 * crash or leak, and every file of a parsed one can be looked up by path. */
#include "library/library_internal.h"

#include "lanspread/error.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_index_t index;
    if (ls_index_parse((const char *)data, size, &index) != 0)
        return 0;
    for (size_t g = 0; g < index.game_count; g++)
        for (size_t f = 0; f < index.games[g].file_count; f++)
            if (!ls_game_find_file(&index.games[g], index.games[g].files[f].path))
                abort();
    ls_index_free(&index);
    return 0;
}
