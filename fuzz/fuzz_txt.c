/* Fuzzes the mDNS TXT record decoder (network input): any bytes are refused
 * or decoded without a crash, and a decoded record survives re-encoding. */
#include "lanspread/discovery.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_discovery_txt_t txt, again;
    uint8_t buf[LS_DISCOVERY_TXT_MAX];
    size_t len = 0;
    int rc = ls_discovery_txt_parse(data, size, &txt);

    if (rc == LS_EVERSION && txt.protocol_version == LS_PROTOCOL_VERSION)
        abort();
    if (rc != 0)
        return 0;
    if (strlen(txt.peer_id) != LS_SHA256_HEX_LEN || strlen(txt.digest) != LS_SHA256_HEX_LEN)
        abort();
    if (ls_discovery_txt_encode(&txt, buf, sizeof(buf), &len) != 0 ||
        ls_discovery_txt_parse(buf, len, &again) != 0 || memcmp(&txt, &again, sizeof(txt)) != 0)
        abort();
    return 0;
}
