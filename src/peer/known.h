/* Known peers: the peers this one has seen, remembered across restarts in
 * STATE/LS_KNOWN_PEERS_FILE, and dialled at start alongside mDNS, so a
 * network that blocks multicast still finds every peer after one contact.
 *
 * Two layers. The list (ls__known_list_t) is plain data with its file
 * format: parsed, formatted and updated without a loop, so unit tests
 * drive it directly. The object (ls__known_t) is the runtime's: it owns
 * the list, a dial target per remembered peer (backoff up to
 * LS_KNOWN_REDIAL_MAX_MS; a certificate with another id at a remembered
 * address stops its dialling) and the saves, and publishes a copy of the
 * list with the added (--peer) addresses for other threads
 * (ls__known_copy). Loop thread only, except ls__known_copy. */
#ifndef LS_PEER_KNOWN_H
#define LS_PEER_KNOWN_H

#include "link.h"

#include "lanspread/peer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The file holds at most this many bytes (LS_KNOWN_PEERS_MAX full entries
 * fit): a bigger one is not read. */
#define LS_KNOWN_FILE_MAX (LS_KNOWN_PEERS_MAX * 512)
#define LS_KNOWN_FILE_VERSION 1
/* A remembered peer that does not answer is dialled again after a backoff
 * that doubles up to this: a party's past peers cost one try a minute. */
#define LS_KNOWN_REDIAL_MAX_MS 60000
/* First dials at start are this far apart, the most recently seen first, so
 * a long list does not open every connection at once. */
#define LS_KNOWN_DIAL_SPREAD_MS 20
/* Remembered peers are first dialled this long after start: the --peer
 * targets go first, and one of them already connected is not dialled
 * again (two connections at once would race the duplicate rule). */
#define LS_KNOWN_FIRST_DIAL_MS 300
/* Changes are written this long after the first one since the last save:
 * a party's start brings links for seconds, and each save is a write and
 * two fsyncs (at 1 s, four saves per daemon in a 100-peer start, 2 % of
 * its CPU). What is lost in a crash is a few seconds of news; a clean stop
 * saves at once. */
#define LS_KNOWN_SAVE_DELAY_MS 5000

typedef struct {
    ls_known_peer_t peers[LS_KNOWN_PEERS_MAX]; /* peer_id always set; is_added unused */
    size_t count;
} ls__known_list_t;

/* The file's bytes into a list. Entries that are not well formed (peer id,
 * address, name, time) are skipped; beyond LS_KNOWN_PEERS_MAX the least
 * recently seen are dropped. LS_ECORRUPT (and an empty list) when the text
 * is not the file's JSON shape. */
int ls__known_parse(const char *text, size_t len, ls__known_list_t *out);
/* The list as the file's JSON text, the most recently seen first; caller
 * frees. NULL on ENOMEM. */
char *ls__known_format(const ls__known_list_t *list);
/* A handshake with peer_id at address: its entry is made or updated (name,
 * address, last_seen = now). Another entry at the same address is dropped
 * (a new peer took it). When the list is full, the least recently seen
 * entry makes room. Returns the entry. */
ls_known_peer_t *ls__known_list_seen(ls__known_list_t *list, const char *peer_id,
                                     const char *address, const char *name, int64_t now);
/* Drops every entry that `what` names (ls_known_peer_matches); how many. */
size_t ls__known_list_forget(ls__known_list_t *list, const char *what);
ls_known_peer_t *ls__known_list_find(ls__known_list_t *list, const char *peer_id);

/* STATE/LS_KNOWN_PEERS_FILE into a list: a missing file is an empty list;
 * an unreadable or corrupt one too, with a warning (it is rewritten at the
 * next save). Blocks: at boot, before the loop runs. */
void ls__known_load(const char *state_dir, ls__known_list_t *out);
/* Writes the list atomically (ls_fs_write_atomic). Blocks. */
int ls__known_save(const char *state_dir, const ls__known_list_t *list);

typedef struct ls__known ls__known_t;

typedef struct {
    uv_loop_t *loop;
    ls__links_t *links;
    const char *state_dir; /* copied */
    /* The runtime's --peer targets, borrowed: shown in the published list. */
    const ls__dial_target_t *added;
    const size_t *added_count;
} ls__known_config_t;

/* A restarted peer's memory sizes its party: once its first links went to
 * peers it remembered at start (all of them, or LS_PEER_LINKS_TARGET_AUTO:
 * as many as an unsized party may link), and it remembered a small party
 * (at most LS_PEER_FULL_MESH_MAX), the party is sized at once instead of at
 * MDNS_PARTY_SIZED_MS: a peer SIGKILLed among 10 came back linked to 8 and
 * waited 3 s for the ninth while its old link timed out on the others
 * (tests/netns/test_peers.sh). A memory of another party proves nothing:
 * its peers do not answer. Pure. */
bool ls__known_sizes_party(size_t remembered, size_t remembered_linked);

/* Loads the file and makes a dial target per remembered peer. */
int ls__known_new(const ls__known_config_t *config, ls__known_t **out);
/* Dials the remembered peers that are due; called by the runtime (at
 * start, on its reconnect tick, when a dial slot frees) and by its own
 * timer, armed for the next target's dial time. */
void ls__known_dial_due(ls__known_t *known);
/* A handshake completed with a new peer (its first ready link). */
void ls__known_seen(ls__known_t *known, const char *peer_id, const char *address, const char *name);
/* Its last ready link closed: last_seen becomes now. */
void ls__known_lost(ls__known_t *known, const char *peer_id);
/* Drops what `what` names (ls_known_peer_matches) from the list and stops
 * dialling it; the runtime drops matching --peer targets itself. */
size_t ls__known_forget(ls__known_t *known, const char *what);
/* The added targets changed: the published list follows. */
void ls__known_publish(ls__known_t *known);
/* Any thread: see ls_peer_known_peers. */
size_t ls__known_copy(ls__known_t *known, ls_known_peer_t *out, size_t max);
/* Shutting down: connected peers are last seen now; a pending save is
 * queued at once (the loop runs until it is written) and the timer closed. */
void ls__known_stop(ls__known_t *known);
/* After the loop ended. */
void ls__known_free(ls__known_t *known);

#endif
