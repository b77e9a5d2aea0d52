/* PeerGameDB: what this peer knows about the others — per peer its identity,
 * its announced library and the file lists fetched from it — and, across
 * peers, the latest version of each title and who serves it.
 * Owned and used by the runtime's loop thread only. */
#ifndef LANSPREAD_PEERDB_H
#define LANSPREAD_PEERDB_H

#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_ADDRESS_MAX 64
/* Partial copies recorded per peer: with bitmaps bounded by
 * LS_HAVE_CHUNKS_MAX, a peer can make us hold at most this many times
 * LS_HAVE_BITMAP_LEN(LS_HAVE_CHUNKS_MAX) bytes (8 MiB). */
#define LS_PEERDB_PARTIALS_MAX 64
/* Games recorded per peer: a hello's snapshot is capped at
 * LS_SNAPSHOT_GAMES_MAX by the decoder, and a library_delta may not grow a
 * library past it either (LS_ELIMIT). Every operation costs at most
 * O(N log N) in the N games of all peers (hash maps by peer id and game id). */
#define LS_PEERDB_GAMES_MAX LS_SNAPSHOT_GAMES_MAX

/* A peer's partial copy of one game, from its last `have`: the chunks of
 * the download of one exact manifest it holds verified, written, and
 * serves. */
typedef struct {
    char *game_id;
    char *version;
    char manifest_id[LS_SHA256_HEX_LEN + 1]; /* hex, as in ls_have_t */
    uint32_t chunk_count;                    /* 1..LS_HAVE_CHUNKS_MAX */
    uint8_t *bitmap; /* owned; LS_HAVE_BITMAP_LEN(chunk_count) bytes, layout of ls_have_t */
} ls_peer_partial_t;

typedef struct {
    char *peer_id;
    char *name;
    char address[LS_ADDRESS_MAX]; /* "ip:port" it listens on */
    char **features;
    size_t feature_count;
    ls_library_snapshot_t library; /* the last applied snapshot or delta result */
    /* Rev and digest heard outside a handshake (mDNS TXT); a difference from
     * library means a re-sync is due. */
    uint64_t advertised_rev;
    char advertised_digest[LS_SHA256_HEX_LEN + 1];
    uint64_t last_seen_ms;
    ls_game_manifest_t *manifests; /* file lists fetched with get_game */
    size_t manifest_count;
    ls_peer_partial_t *partials; /* at most one per game, LS_PEERDB_PARTIALS_MAX */
    size_t partial_count;
} ls_peer_t;

/* One title across all peers. */
typedef struct {
    char *id;
    char *name;
    char *latest_version;
    uint64_t size;                     /* as announced by a peer with the latest version */
    size_t peer_count;                 /* peers announcing the latest version */
    char cover[LS_SHA256_HEX_LEN + 1]; /* that peer's cover ("" when none) */
} ls_remote_game_t;

typedef struct ls_peerdb ls_peerdb_t;

int ls_peerdb_new(ls_peerdb_t **out);
void ls_peerdb_free(ls_peerdb_t *db);

/* Applies a verified hello or hello_ack: creates the peer or replaces what
 * was known of it. The snapshot's digest is recomputed from its games and
 * must match (LS_ECORRUPT otherwise; nothing changes); more than
 * LS_PEERDB_GAMES_MAX games is LS_ELIMIT. *is_new tells whether
 * the peer was unknown. A known peer keeps its partial copies, except those
 * of a game the snapshot now lists complete at the same version. */
int ls_peerdb_apply_hello(ls_peerdb_t *db, const ls_hello_t *hello, const char *address,
                          uint64_t now_ms, bool *is_new);

/* Applies a library_delta. LS_ESTATE when the peer's known rev is not
 * from_rev or the resulting digest does not match delta->digest: the
 * library is left unchanged and the caller re-handshakes. LS_ELIMIT when
 * the result would list more than LS_PEERDB_GAMES_MAX games (unchanged too;
 * a re-handshake would not help). LS_ENOENT for an unknown peer. A partial copy of a game the delta
 * now lists complete at the same version is dropped: the peer seeds it. */
int ls_peerdb_apply_delta(ls_peerdb_t *db, const char *peer_id, const ls_library_delta_t *delta);

/* Records a rev and digest heard outside a handshake (mDNS TXT) without a
 * snapshot. Returns 1 when they differ from the applied library (a re-sync is
 * due), 0 when not, LS_ENOENT for an unknown peer. */
int ls_peerdb_update_peer_library(ls_peerdb_t *db, const char *peer_id, uint64_t rev,
                                  const char *digest);

/* Stores a copy of a game's manifest fetched from the peer. */
int ls_peerdb_set_manifest(ls_peerdb_t *db, const char *peer_id,
                           const ls_game_manifest_t *manifest);
const ls_game_manifest_t *ls_peerdb_manifest(const ls_peerdb_t *db, const char *peer_id,
                                             const char *game_id);

/* Records a decoded `have` from the peer: replaces its partial copy of
 * have->game_id; chunk_count 0 removes it (0). A have (chunks or none) for
 * a version the peer's library already lists complete is not recorded: 1,
 * the peer seeds it (a `have` and the delta that lists the game travel on
 * separate streams, so the delta may come first).
 * LS_ENOENT for an unknown peer, LS_ELIMIT when the peer already has
 * LS_PEERDB_PARTIALS_MAX partial copies of other games, LS_EINVAL for a
 * have that would not validate (count above the maximum, no bitmap). A
 * failure changes nothing. */
int ls_peerdb_set_partial(ls_peerdb_t *db, const char *peer_id, const ls_have_t *have);

/* The peer's partial copy of game_id, borrowed (valid until the db
 * changes); NULL when none. */
const ls_peer_partial_t *ls_peerdb_partial(const ls_peerdb_t *db, const char *peer_id,
                                           const char *game_id);

/* The peers holding a partial copy of game_id for exactly the manifest
 * manifest_id_hex, in peerdb order. Like ls_peerdb_seeders: the caller frees
 * only the array; the strings are borrowed. */
int ls_peerdb_partials(const ls_peerdb_t *db, const char *game_id, const char *manifest_id_hex,
                       const char ***peer_ids, size_t *count);

int ls_peerdb_touch(ls_peerdb_t *db, const char *peer_id, uint64_t now_ms);
/* Forgets the peer with its manifests and partial copies. */
int ls_peerdb_remove(ls_peerdb_t *db, const char *peer_id);

size_t ls_peerdb_count(const ls_peerdb_t *db);
const ls_peer_t *ls_peerdb_find(const ls_peerdb_t *db, const char *peer_id);

/* Every title any peer announces, sorted by id, with its latest version.
 * *out owned by the caller: ls_remote_games_free(). Not const: the first
 * read after a change rebuilds the title index (O(N log N)); later reads
 * cost O(titles). */
int ls_peerdb_games(ls_peerdb_t *db, ls_remote_game_t **out, size_t *count);
void ls_remote_games_free(ls_remote_game_t *games, size_t count);

/* The peers that announce game_id at its latest version, in peerdb order:
 * O(seeders) once the title index is fresh (see ls_peerdb_games).
 * *peer_ids is an array of borrowed pointers (valid until the db changes);
 * the caller frees only the array. */
int ls_peerdb_seeders(ls_peerdb_t *db, const char *game_id, const char ***peer_ids, size_t *count);

/* Orders version strings as people read them: runs of digits compare as
 * numbers ("1.10" > "1.9", "20240501" > "20231231"), the rest bytewise. */
int ls_version_compare(const char *a, const char *b);

#endif
