/* Fuzzes the resume-file parser: a corrupt or hostile file is refused
 * without a crash or leak, and a parsed one encodes back to the same bytes
 * (one encoding per state, so nothing unchecked slips through; a record of
 * the older LSRESUM1 format encodes to a stable current one). Each input
 * is tried as is and with its trailing checksum recomputed, so the fuzzer
 * reaches the body checks behind the checksum. */
#include "lanspread/download.h"

#include "lanspread/error.h"
#include "lanspread/hash.h"

#include <stdlib.h>
#include <string.h>

/* A record of the older format (no byte counts) is written back in the
 * current one: that encoding must then be stable. */
static void check_upgraded(const uint8_t *again, size_t again_len)
{
    ls_resume_t resume;
    uint8_t *twice = NULL;
    size_t twice_len = 0;
    if (ls_resume_parse(again, again_len, &resume) != 0 ||
        ls_resume_encode(&resume, &twice, &twice_len) != 0)
        abort();
    if (twice_len != again_len || memcmp(twice, again, again_len) != 0)
        abort();
    free(twice);
    ls_resume_free(&resume);
}

static void check(const uint8_t *data, size_t size)
{
    static const char v1[] = "LSRESUM1";
    ls_resume_t resume;
    uint8_t *again = NULL;
    size_t again_len = 0;
    if (ls_resume_parse(data, size, &resume) != 0)
        return;
    (void)ls_resume_count(&resume);
    if (ls_resume_encode(&resume, &again, &again_len) != 0)
        abort();
    if (memcmp(data, v1, sizeof v1 - 1) == 0)
        check_upgraded(again, again_len);
    else if (again_len != size || memcmp(again, data, size) != 0)
        abort();
    free(again);
    ls_resume_free(&resume);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size < LS_SHA256_LEN || size > LS_RESUME_FILE_MAX)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    ls_sha256(fixed, size - LS_SHA256_LEN, fixed + size - LS_SHA256_LEN);
    check(fixed, size);
    free(fixed);
    return 0;
}
