/* The control API's view of the peer: the latest state built from runtime
 * events (local library, remote games, peers, operations in progress) so
 * GET requests are answered at once, and a bounded ring of recent events
 * that Server-Sent Events clients read at their own pace. Thread-safe: the
 * runtime thread applies events, HTTP threads read. */
#ifndef LS_APP_API_STATE_H
#define LS_APP_API_STATE_H

#include "lanspread/peer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Recent events kept for slow SSE clients: at most LS_API_EVENT_RING of
 * them and LS_API_EVENT_RING_BYTES of text in all, oldest dropped first. An
 * event whose text exceeds LS_API_EVENT_BYTES_MAX is kept as a `resync`
 * (re-read the documents). Game lists are never streamed: local-library and
 * list-games are folded into the documents and streamed as one small
 * `games-changed` event, so a peer announcing 10,000 games costs a few
 * bytes of ring, not megabytes per announce. */
#define LS_API_EVENT_RING 512
#define LS_API_EVENT_RING_BYTES (1024u * 1024u)
#define LS_API_EVENT_BYTES_MAX (64u * 1024u)

typedef struct ls_api_state ls_api_state_t;

/* Free with ls_api_state_free(). Catalog text (names, descriptions,
 * genres) comes from the runtime's events, never from a catalog read here,
 * so it follows the runtime's catalog reloads. */
int ls_api_state_new(const char *game_dir, ls_api_state_t **out);
void ls_api_state_free(ls_api_state_t *st);

/* Records one runtime event (any thread; called on the runtime's). The
 * documents served are JSON, so the event is folded as its JSON
 * (ls_peer_event_json), which is also what the SSE ring streams (game
 * lists as `games-changed`), except the remote game list (list-games): a
 * peer fills it (LS_SNAPSHOT_GAMES_MAX titles), so it is copied from the
 * typed event into one compact list, never made a JSON tree; the copy it
 * replaces is freed when its last reader lets go. */
void ls_api_state_apply(ls_api_state_t *st, const ls_peer_event_t *event);
/* The same for an event given as JSON (tests, tools). The local library's
 * list is kept by reference: the caller must not change the data
 * afterwards. */
void ls_api_state_apply_json(ls_api_state_t *st, ls_peer_event_kind_t kind, const json_t *data);

/* Notes that the user asked for `op` ("download", "update", "install",
 * "uninstall") so the state shows "requested" until the runtime answers.
 * Check and note are one step under the lock: LS_EBUSY (nothing noted, and
 * *running names the operation, a static string) while the game has an
 * operation requested or running, so two clicks cannot start two. */
int ls_api_state_request(ls_api_state_t *st, const char *game_id, const char *op,
                         const char **running);
/* The operation ("download", "update", "install", "uninstall", a static
 * string) the game has requested or running, or NULL. Only a look: a caller
 * about to start one uses ls_api_state_request, which checks and notes in
 * one step. */
const char *ls_api_state_running(ls_api_state_t *st, const char *game_id);
/* True while any game has an operation requested or running. */
bool ls_api_state_is_busy(ls_api_state_t *st);
void ls_api_state_set_http(ls_api_state_t *st, const char *url);

/* New JSON documents; the caller owns (json_decref) them. Built outside
 * the lock from references to the stored lists (O(games), with lookups by
 * id through an index), so a big library never holds the runtime thread's
 * next event waiting. */
/* GET /api/games's list as text (compact, keys sorted): `head`, the array
 * of games, `tail`, so a caller wraps it in a document without copying it.
 * Encoded one game at a time: no tree of the whole list is built. The
 * caller frees it; NULL on ENOMEM. */
char *ls_api_state_games_text(ls_api_state_t *st, const char *head, const char *tail);
/* The same, with decorate(game, arg) called on each game's view before it
 * is encoded (the HTTP side adds what the state does not hold: "kept"). */
typedef void (*ls_api_game_decorate_fn)(json_t *game, void *arg);
char *ls_api_state_games_text_with(ls_api_state_t *st, const char *head, const char *tail,
                                   ls_api_game_decorate_fn decorate, void *arg);
/* {"games":[...]}, the same text parsed (tests and tools). */
json_t *ls_api_state_games(ls_api_state_t *st);
json_t *ls_api_state_game(ls_api_state_t *st, const char *game_id); /* NULL: unknown */
json_t *ls_api_state_peers(ls_api_state_t *st);
/* The local library's games by id, a shared reference: read it, never
 * change it, json_decref it. A folder of the game directory missing from it
 * is not in the catalog. */
json_t *ls_api_state_local_index(ls_api_state_t *st);
json_t *ls_api_state_status(ls_api_state_t *st);
/* The last limits event's data; NULL before the runtime sent one. */
json_t *ls_api_state_limits(ls_api_state_t *st);

/* Bytes of event text the ring holds now (at most LS_API_EVENT_RING_BYTES). */
size_t ls_api_state_ring_bytes(ls_api_state_t *st);

/* The sequence number of the newest event; a new SSE client starts there. */
uint64_t ls_api_state_cursor(ls_api_state_t *st);

/* Waits up to timeout_ms for the event after *cursor. Returns 1 with the
 * SSE-formatted text in *out (caller frees) and advances *cursor, 0 on
 * timeout, -1 once the state is closing. A client that fell behind the ring
 * gets a "resync" event and continues from the newest. */
int ls_api_state_next_event(ls_api_state_t *st, uint64_t *cursor, int timeout_ms, char **out);

/* Wakes every waiting SSE client so it ends its stream. */
void ls_api_state_close(ls_api_state_t *st);

#endif
