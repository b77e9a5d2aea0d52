/* The fetcher: runs this peer's downloads, one lifecycle per game — file
 * lists from the seeders (QUERYING), resume check and pre-sizing on the pool
 * (PREPARING), chunk requests fed by the planner over the peers' links,
 * each chunk verified and written on the pool (FETCHING), version.ini
 * committed last (COMMITTING), the game published to the library from the
 * verified manifest, then the install (the runtime's, through ended). Loop
 * thread only. */
#ifndef LS_PEER_FETCH_H
#define LS_PEER_FETCH_H

#include "events.h"
#include "link.h"
#include "shaper.h"

#include "lanspread/library.h"
#include "lanspread/peerdb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ls__fetcher ls__fetcher_t;

typedef struct {
    /* A download ended (ok: committed and published). The runtime releases
     * the game's monitor, rescans it and, on success, installs it. */
    void (*ended)(const char *game_id, bool ok, bool has_local, void *userdata);
    /* The library adopted a finished game: announce the new library. */
    void (*published)(void *userdata);
    /* Another operation (an install) holds the game. */
    bool (*is_busy)(const char *game_id, void *userdata);
    /* A seeder the download needs has no ready link: dial it if its
     * address is known (a relayed peer). True while a dial is under way. */
    bool (*need_link)(const char *peer_id, void *userdata);
    void *userdata;
} ls__fetcher_hooks_t;

typedef struct {
    uv_loop_t *loop;
    ls__links_t *links;  /* borrowed */
    ls_peerdb_t *peerdb; /* borrowed */
    const ls__events_t *events;
    const char *state_dir; /* resume files; copied */
    uint32_t plan_mode;    /* an ls_plan_mode_t */
    uint32_t fetch_stall_ms;
    ls__fetcher_hooks_t hooks;
    /* borrowed; NULL: no download limit. Each chunk request is admitted
     * by it and charged its length (ls__fetcher_pump_all when it admits
     * again). */
    ls__shaper_t *shaper;
    /* ls_peer_config_t's test_commit_hook; NULL: none. */
    void (*commit_hook)(const char *game_id, void *arg);
    void *commit_arg;
} ls__fetcher_config_t;

int ls__fetcher_new(const ls__fetcher_config_t *config, ls__fetcher_t **out);
/* After the loop ended (every download is gone by then). */
void ls__fetcher_free(ls__fetcher_t *fetcher);
/* Where games are written and published; swapped only while no download
 * runs (a game directory change is refused meanwhile). */
void ls__fetcher_set_library(ls__fetcher_t *fetcher, ls_library_t *library);

/* Swarm on (the default) or off (a test switch: fetch only from complete
 * seeders, in file order, and serve no partial copy). */
void ls__fetcher_set_swarm(ls__fetcher_t *fetcher, bool is_on);
/* Serving a partial copy: 0 when (game, path, offset, length) is exactly
 * one chunk of a running download that is verified and written (*game_root,
 * caller frees, and *file_size say where to read it); LS_ENOT_DOWNLOADED
 * when the download runs but that chunk is not one; LS_ENOENT when no
 * download of the game runs (or the swarm is off). */
/* Whether a request sent at sent_ms is given up at now (pure): once
 * stall_ms pass with no reply byte on its connection since the later of
 * sent_ms and link_data_ms (the connection's last reply byte, any stream)
 * — but a request that got no byte of its own counts from sent_ms alone:
 * other replies on the link (a swarm peer's `have` acknowledgements come
 * every 20 ms) do not keep a request the peer never answers alive. */
bool ls__fetch_is_stalled(uint64_t now, uint64_t sent_ms, bool has_own_data, uint64_t link_data_ms,
                          uint32_t stall_ms);
int ls__fetcher_partial_chunk(ls__fetcher_t *fetcher, const char *game_id, const char *path,
                              uint64_t offset, uint64_t length, char **game_root,
                              uint64_t *file_size);

/* A peer's `have`: its partial copy of a game, or (chunk_count 0) that it
 * no longer offers one. A running download of that very manifest gives it
 * the chunks it holds. is_seeder: its library already lists that version
 * complete (the `have` came after the delta): one that holds every chunk
 * is a complete seeder at once. */
void ls__fetcher_have(ls__fetcher_t *fetcher, const char *peer_id, const ls_have_t *have,
                      bool is_seeder);

/* LS_CMD_DOWNLOAD. Failures are DOWNLOAD_FAILED events. */
void ls__fetcher_start(ls__fetcher_t *fetcher, const char *game_id, const char *const *files,
                       size_t file_count, uint32_t flags);
void ls__fetcher_cancel(ls__fetcher_t *fetcher, const char *game_id);
bool ls__fetcher_is_active(ls__fetcher_t *fetcher, const char *game_id);
bool ls__fetcher_any_active(const ls__fetcher_t *fetcher);
/* A peer's last link closed: its requests go to the others. */
void ls__fetcher_peer_lost(ls__fetcher_t *fetcher, const char *peer_id);
/* The peer set or a peer's library changed: a peer that now offers the
 * version being downloaded (it appeared, or came back) is asked for its
 * file list and, when that matches, given work. */
void ls__fetcher_peers_changed(ls__fetcher_t *fetcher);
/* Periodic: gives up stalled chunk requests and re-plans, so time-based
 * decisions (endgame duplicates, a peer back) are taken even when no answer
 * arrives. */
void ls__fetcher_tick(ls__fetcher_t *fetcher);
/* Sends what the planners have for the peers: the download limit admits
 * requests again. */
void ls__fetcher_pump_all(ls__fetcher_t *fetcher);
/* Shutting down: every download ends (its verified chunks kept). */
void ls__fetcher_shutdown(ls__fetcher_t *fetcher);

#endif
