/* libFuzzer target for signed libraries (issue #17): the input is one
 * signed_library payload as a relay would send it. Whatever it holds, the
 * store takes it only when it verifies, keeps what it took, and refuses the
 * same or an older revision afterwards without verifying again: a relay can
 * neither forge nor roll back. Anything else aborts. */
#include "lanspread/error.h"
#include "lanspread/libsig.h"
#include "lanspread/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_msg_t msg;
    ls_libsig_store_t *store = NULL;
    if (size == 0 || ls_msg_decode(data, size, &msg, NULL, 0) != 0)
        return 0;
    if (msg.kind != LS_MSG_SIGNED_LIBRARY || ls_libsig_store_new(&store) != 0) {
        ls_msg_free(&msg);
        return 0;
    }
    ls_signed_library_t *sl = &msg.u.signed_library;
    int verdict = ls_libsig_verify(sl);
    int rc = ls_libsig_store_offer(store, sl);
    if (rc == 1) {
        const ls_signed_library_t *held = ls_libsig_store_find(store, sl->peer_id);
        if (verdict != 0 || !held || held->library.library_rev != sl->library.library_rev ||
            ls_libsig_verify(held) != 0)
            abort(); /* took what does not verify, or not what it was given */
        /* a replay, and the same revision with other games, are refused */
        if (ls_libsig_store_offer(store, sl) != 0)
            abort();
        if (sl->library.game_count > 0) {
            sl->library.games[0].size ^= 1;
            if (ls_libsig_store_offer(store, sl) != 0 || ls_libsig_verify(sl) == 0)
                abort();
        }
    } else if (rc == 0 || verdict == 0 || ls_libsig_store_count(store) != 0) {
        abort(); /* an empty store refused a valid one, or took a bad one */
    }
    ls_libsig_store_free(store);
    ls_msg_free(&msg);
    return 0;
}
