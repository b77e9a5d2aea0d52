/* libFuzzer target for the intent log decoder: any input must be decoded or
 * refused without a crash or leak, and whatever decodes must survive an
 * encode/decode round trip unchanged. */
#include "lanspread/error.h"
#include "lanspread/install.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_intent_t intent;
    ls_intent_t again;
    char detail[128];
    char *json = NULL;
    size_t len = 0;
    if (ls_intent_decode((const char *)data, size, &intent, detail, sizeof detail) != 0)
        return 0;
    if (ls_intent_encode(&intent, &json, &len) != 0)
        __builtin_trap();
    if (ls_intent_decode(json, len, &again, NULL, 0) != 0 ||
        memcmp(&intent, &again, sizeof intent) != 0)
        __builtin_trap();
    free(json);
    return 0;
}
