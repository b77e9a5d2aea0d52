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
} ls_peer_t;

/* One title across all peers. */
typedef struct {
    char *id;
    char *name;
    char *latest_version;
    uint64_t size;     /* as announced by a peer with the latest version */
    size_t peer_count; /* peers announcing the latest version */
} ls_remote_game_t;

typedef struct ls_peerdb ls_peerdb_t;

int ls_peerdb_new(ls_peerdb_t **out);
void ls_peerdb_free(ls_peerdb_t *db);

/* Applies a verified hello or hello_ack: creates the peer or replaces what
 * was known of it. The snapshot's digest is recomputed from its games and
 * must match (LS_ECORRUPT otherwise; nothing changes). *is_new tells whether
 * the peer was unknown. */
int ls_peerdb_apply_hello(ls_peerdb_t *db, const ls_hello_t *hello, const char *address,
                          uint64_t now_ms, bool *is_new);

/* Applies a library_delta. LS_ESTATE when the peer's known rev is not
 * from_rev or the resulting digest does not match delta->digest: the
 * library is left unchanged and the caller re-handshakes. LS_ENOENT for an
 * unknown peer. */
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

int ls_peerdb_touch(ls_peerdb_t *db, const char *peer_id, uint64_t now_ms);
int ls_peerdb_remove(ls_peerdb_t *db, const char *peer_id);

size_t ls_peerdb_count(const ls_peerdb_t *db);
const ls_peer_t *ls_peerdb_find(const ls_peerdb_t *db, const char *peer_id);

/* Every title any peer announces, sorted by id, with its latest version.
 * *out owned by the caller: ls_remote_games_free(). */
int ls_peerdb_games(const ls_peerdb_t *db, ls_remote_game_t **out, size_t *count);
void ls_remote_games_free(ls_remote_game_t *games, size_t count);

/* The peers that announce game_id at its latest version, in peerdb order.
 * *peer_ids is an array of borrowed pointers (valid until the db changes);
 * the caller frees only the array. */
int ls_peerdb_seeders(const ls_peerdb_t *db, const char *game_id, const char ***peer_ids,
                      size_t *count);

/* Orders version strings as people read them: runs of digits compare as
 * numbers ("1.10" > "1.9", "20240501" > "20231231"), the rest bytewise. */
int ls_version_compare(const char *a, const char *b);

#endif
