/* libFuzzer target for version.ini parsing (ls_library_parse_version): the
 * file comes from the game directory or, on download, from a peer. A parsed
 * version is 1..LS_VERSION_MAX bytes of UTF-8 on one line, trimmed, and
 * written back as `version = X` it parses to the same string. */
#include "lanspread/library.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *version = NULL, *again = NULL;
    char line[LS_VERSION_MAX + 16];
    size_t bad;
    int rc = ls_library_parse_version((const char *)data, size, &version);
    if (rc != 0) {
        if (version || (rc != LS_ECORRUPT && rc != LS_ETOOBIG && rc != LS_EUTF8 && rc != LS_ENOMEM))
            abort();
        return 0;
    }
    size_t len = strlen(version);
    if (len == 0 || len > LS_VERSION_MAX || strchr(version, '\n') ||
        isspace((unsigned char)version[0]) || isspace((unsigned char)version[len - 1]) ||
        !ls_proto_utf8_is_valid((const uint8_t *)version, len, &bad))
        abort();
    int n = snprintf(line, sizeof line, "version = %s\n", version);
    if (ls_library_parse_version(line, (size_t)n, &again) != 0 || strcmp(again, version) != 0)
        abort();
    free(again);
    free(version);
    return 0;
}
