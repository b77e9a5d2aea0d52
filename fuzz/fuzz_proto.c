/* libFuzzer target for the protocol codec. The input is read as a stream of
 * frames, the way a peer's bytes arrive: each header is parsed and bounded,
 * each payload decoded. A decoded message must re-encode, decode again to
 * the same kind, and re-encode to the same bytes; anything else is a codec
 * bug and aborts. */
#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_reencodes(const ls_msg_t *msg)
{
    uint8_t *frame = NULL, *again_frame = NULL;
    size_t frame_len = 0, again_len = 0;
    uint32_t payload_len = 0;
    ls_msg_t again;

    if (ls_msg_encode(msg, &frame, &frame_len) != 0)
        abort();
    if (ls_frame_parse_header(frame, frame_len, &payload_len) != 0 ||
        payload_len != frame_len - LS_FRAME_HEADER_LEN)
        abort();
    if (ls_msg_decode(frame + LS_FRAME_HEADER_LEN, payload_len, &again, NULL, 0) != 0)
        abort();
    if (again.kind != msg->kind)
        abort();
    /* The encoding is canonical: a second trip gives the same bytes. */
    if (ls_msg_encode(&again, &again_frame, &again_len) != 0 || again_len != frame_len ||
        memcmp(frame, again_frame, frame_len) != 0)
        abort();
    ls_msg_free(&again);
    free(frame);
    free(again_frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    /* Every iteration consumes at least a header, so the loop is bounded. */
    while (pos < size) {
        uint32_t payload_len = 0;
        int rc = ls_frame_parse_header(data + pos, size - pos, &payload_len);
        if (rc != 0)
            break;
        pos += LS_FRAME_HEADER_LEN;
        /* A short last frame is decoded as far as it goes: the decoder must
         * cope with any prefix of a payload too. */
        size_t avail = size - pos < payload_len ? size - pos : payload_len;
        ls_msg_t msg;
        char detail[128];
        if (avail > 0 && ls_msg_decode(data + pos, avail, &msg, detail, sizeof detail) == 0) {
            check_reencodes(&msg);
            ls_msg_free(&msg);
        }
        pos += avail;
    }
    return 0;
}
