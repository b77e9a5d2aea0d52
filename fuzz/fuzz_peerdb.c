/* libFuzzer target for the peer database (src/peer/peerdb.c): snapshot
 * (hello), delta, have and manifest application, as a peer's frames would
 * drive it. The input is byte 0 (modes) and then a stream of frames, decoded
 * like fuzz_proto does. In "honest" mode (bit 0) the harness fixes each
 * hello's digest and each delta's from_rev and digest, so the fuzzer gets
 * past the SHA-256 checks to the application logic; otherwise they are
 * taken as sent. Frames go to the peer of the last applied hello.
 *
 * Checked after every step: a delta that applies yields exactly the library
 * of an independent model (base minus changed and removed ids, plus the
 * first of each changed id), and one refused leaves the library as it was;
 * a hello that applies is the peer's library; the game list is sorted by
 * id, each title's peer_count equals its seeders and is at least 1; partial
 * copies stay within LS_PEERDB_PARTIALS_MAX; a stored manifest reads back. */
#include "lanspread/peerdb.h"

#include "lanspread/error.h"
#include "lanspread/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MODE_HONEST 0x01
#define MODE_REMOVE_ON_PING 0x02

static bool same_game(const ls_game_summary_t *a, const ls_game_summary_t *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 &&
           strcmp(a->version, b->version) == 0 && a->size == b->size &&
           a->file_count == b->file_count;
}

static const ls_game_summary_t *find_in(const ls_game_summary_t *games, size_t count,
                                        const char *id)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(games[i].id, id) == 0)
            return &games[i];
    return NULL;
}

static bool in_list(char **ids, size_t count, const char *id)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* The library after the delta, deep copies (the base is freed when the
 * delta applies). */
static ls_game_summary_t *model_delta(const ls_library_snapshot_t *base,
                                      const ls_library_delta_t *d, size_t *count)
{
    ls_game_summary_t *out = calloc(base->game_count + d->changed_count + 1, sizeof *out);
    size_t n = 0;
    if (!out)
        abort();
    for (size_t i = 0; i < base->game_count; i++) {
        const char *id = base->games[i].id;
        if (!find_in(d->changed, d->changed_count, id) &&
            !in_list(d->removed, d->removed_count, id))
            if (ls_game_summary_copy(&out[n++], &base->games[i]) != 0)
                abort();
    }
    for (size_t c = 0; c < d->changed_count; c++)
        if (!find_in(out, n, d->changed[c].id))
            if (ls_game_summary_copy(&out[n++], &d->changed[c]) != 0)
                abort();
    *count = n;
    return out;
}

static bool library_is(const ls_library_snapshot_t *lib, const ls_game_summary_t *games,
                       size_t count)
{
    if (lib->game_count != count)
        return false;
    for (size_t i = 0; i < count; i++) {
        const ls_game_summary_t *g = find_in(lib->games, lib->game_count, games[i].id);
        if (!g || !same_game(g, &games[i]))
            return false;
    }
    return true;
}

static void check_db(ls_peerdb_t *db)
{
    ls_remote_game_t *games = NULL;
    size_t count = 0;
    if (ls_peerdb_games(db, &games, &count) != 0)
        abort();
    for (size_t i = 0; i < count; i++) {
        const char **seeders = NULL;
        size_t seeder_count = 0;
        if (i > 0 && strcmp(games[i - 1].id, games[i].id) >= 0)
            abort(); /* not sorted, or listed twice */
        if (ls_peerdb_seeders(db, games[i].id, &seeders, &seeder_count) != 0 ||
            seeder_count != games[i].peer_count || seeder_count == 0 ||
            seeder_count > ls_peerdb_count(db))
            abort();
        free(seeders);
    }
    ls_remote_games_free(games, count);
}

static void apply_hello(ls_peerdb_t *db, ls_hello_t *hello, bool is_honest, char **current)
{
    bool is_new = false;
    if (is_honest && ls_snapshot_digest(hello->library.games, hello->library.game_count,
                                        hello->library.digest) != 0)
        return;
    if (ls_peerdb_apply_hello(db, hello, "198.18.0.1:7400", 1, &is_new) != 0)
        return;
    const ls_peer_t *peer = ls_peerdb_find(db, hello->peer_id);
    if (!peer || !library_is(&peer->library, hello->library.games, hello->library.game_count) ||
        peer->partial_count > LS_PEERDB_PARTIALS_MAX)
        abort();
    free(*current);
    *current = strdup(hello->peer_id);
}

static void apply_delta(ls_peerdb_t *db, ls_library_delta_t *delta, bool is_honest,
                        const char *current)
{
    const ls_peer_t *peer = ls_peerdb_find(db, current);
    size_t model_count = 0;
    char before[LS_SHA256_HEX_LEN + 1];
    if (!peer)
        return;
    uint64_t rev_before = peer->library.library_rev;
    memcpy(before, peer->library.digest, sizeof before);
    ls_game_summary_t *model = model_delta(&peer->library, delta, &model_count);
    if (is_honest) {
        delta->from_rev = rev_before;
        delta->to_rev = delta->to_rev > rev_before ? delta->to_rev : rev_before + 1;
        if (ls_snapshot_digest(model, model_count, delta->digest) != 0)
            abort();
    }
    int rc = ls_peerdb_apply_delta(db, current, delta);
    peer = ls_peerdb_find(db, current);
    if (rc == 0 && (!library_is(&peer->library, model, model_count) ||
                    peer->library.library_rev != delta->to_rev))
        abort(); /* applied, but not what the delta says */
    if (rc != 0 &&
        (peer->library.library_rev != rev_before || strcmp(peer->library.digest, before) != 0))
        abort(); /* refused, yet changed */
    if (is_honest && rc != 0 && rc != LS_ENOMEM)
        abort(); /* a consistent delta must apply */
    for (size_t i = 0; i < model_count; i++)
        ls_game_summary_free(&model[i]);
    free(model);
}

static void apply_have(ls_peerdb_t *db, const ls_have_t *have, const char *current)
{
    if (!current || ls_peerdb_set_partial(db, current, have) != 0)
        return;
    const ls_peer_partial_t *p = ls_peerdb_partial(db, current, have->game_id);
    const ls_peer_t *peer = ls_peerdb_find(db, current);
    if (peer->partial_count > LS_PEERDB_PARTIALS_MAX)
        abort();
    if (p && (p->chunk_count != have->chunk_count ||
              memcmp(p->bitmap, have->bitmap, LS_HAVE_BITMAP_LEN(have->chunk_count)) != 0))
        abort();
    if (have->chunk_count == 0 && p)
        abort(); /* a withdrawn copy stays */
}

static void apply_manifest(ls_peerdb_t *db, const ls_game_manifest_t *m, const char *current)
{
    if (!current || ls_peerdb_set_manifest(db, current, m) != 0)
        return;
    const ls_game_manifest_t *got = ls_peerdb_manifest(db, current, m->game_id);
    if (!got || strcmp(got->version, m->version) != 0 || got->file_count != m->file_count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_peerdb_t *db = NULL;
    char *current = NULL;
    if (size < 1 || ls_peerdb_new(&db) != 0)
        return 0;
    uint8_t mode = data[0];
    size_t pos = 1;
    while (pos < size) {
        uint32_t payload_len = 0;
        if (ls_frame_parse_header(data + pos, size - pos, &payload_len) != 0)
            break;
        pos += LS_FRAME_HEADER_LEN;
        size_t avail = size - pos < payload_len ? size - pos : payload_len;
        ls_msg_t msg;
        if (avail > 0 && ls_msg_decode(data + pos, avail, &msg, NULL, 0) == 0) {
            switch (msg.kind) {
            case LS_MSG_HELLO:
            case LS_MSG_HELLO_ACK:
                apply_hello(db, &msg.u.hello, mode & MODE_HONEST, &current);
                break;
            case LS_MSG_LIBRARY_DELTA:
                if (current)
                    apply_delta(db, &msg.u.delta, mode & MODE_HONEST, current);
                break;
            case LS_MSG_HAVE:
                apply_have(db, &msg.u.have, current);
                break;
            case LS_MSG_GAME:
                apply_manifest(db, &msg.u.game, current);
                break;
            case LS_MSG_PING:
                if (current && (mode & MODE_REMOVE_ON_PING) && ls_peerdb_remove(db, current) == 0) {
                    free(current);
                    current = NULL;
                }
                break;
            default:
                break;
            }
            ls_msg_free(&msg);
            check_db(db);
        }
        pos += avail;
    }
    free(current);
    ls_peerdb_free(db);
    return 0;
}
