/* Fuzzes the binary index parser (src/library/index.c) twice per input: as a
 * whole file (header, checksum) and as a bare body, since the checksum would
 * otherwise keep mutations away from the record parser. A damaged index is
 * refused without a crash, leak or outsized allocation; every file of a
 * parsed one can be looked up by path; and what parses is written back byte
 * for byte (one encoding per index, so a record that does not survive save
 * and load, which would cost a full rehash, cannot exist). */
#include "library/library_internal.h"

#include "lanspread/error.h"

#include <stdlib.h>
#include <string.h>

typedef int (*decode_fn)(const uint8_t *, size_t, ls_index_t *);
typedef int (*encode_fn)(const ls_index_t *, uint8_t **, size_t *);

static void check(const uint8_t *data, size_t size, decode_fn decode, encode_fn encode)
{
    ls_index_t index;
    uint8_t *again = NULL;
    size_t again_len = 0;
    if (decode(data, size, &index) != 0)
        return;
    for (size_t g = 0; g < index.game_count; g++)
        for (size_t f = 0; f < index.games[g].file_count; f++)
            if (!ls_game_find_file(&index.games[g], index.games[g].files[f].path))
                abort();
    int rc = encode(&index, &again, &again_len);
    if (rc == 0 && (again_len != size || memcmp(again, data, size) != 0))
        abort();
    if (rc != 0 && rc != LS_ENOMEM)
        abort();
    free(again);
    ls_index_free(&index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, ls__index_decode, ls__index_encode);
    check(data, size, ls__index_decode_body, ls__index_encode_body);
    return 0;
}
