/* The runtime's own state: seen only by runtime.c, which wires the objects
 * together (links, server, fetcher, mDNS, monitor, library, installs), and
 * by gamedir.c, which swaps the library and the install runner when the
 * game directory changes. Every other file of src/peer has its own object
 * and header (link.h, exchange.h, server.h, fetch.h, mdns.h, monitor.h,
 * known.h, framer.h, events.h). */
#ifndef LS_PEER_RUNTIME_INTERNAL_H
#define LS_PEER_RUNTIME_INTERNAL_H

#include "covers.h"
#include "events.h"
#include "fetch.h"
#include "known.h"
#include "link.h"
#include "relay.h"
#include "mdns.h"
#include "monitor.h"
#include "playing.h"
#include "server.h"
#include "shaper.h"

#include "lanspread/identity.h"
#include "lanspread/install.h"
#include "lanspread/library.h"
#include "lanspread/net.h"
#include "lanspread/peer.h"
#include "lanspread/peerdb.h"
#include "lanspread/proto.h"

#include <uv.h>

/* A queued command: a deep copy of an ls_peer_command_t. */
typedef struct ls__rt_command {
    struct ls__rt_command *next;
    ls_peer_command_kind_t kind;
    char *game_id;
    char **files; /* NULL: every file */
    size_t file_count;
    uint32_t flags;
    char *path;
    char *peer;              /* ADD_PEER, FORGET_PEER */
    ls_peer_limits_t limits; /* SET_LIMITS */
    uint32_t limit_fields;
    char cover[LS_SHA256_HEX_LEN + 1]; /* FETCH_COVER */
} ls__rt_command_t;

struct ls_peer_runtime {
    /* configuration, copied */
    char *game_dir;
    char *state_dir;
    char *name;
    char *listen;
    bool listen_fallback; /* a taken port gives way (LS_PEER_PORT_FALLBACKS) */
    ls_party_key_t party_key;
    bool has_party_key;
    uint32_t ping_interval_ms;
    uint32_t ping_misses_max;
    uint32_t reconnect_ms;
    uint32_t protocol_version;
    uint32_t plan_mode;
    uint32_t fetch_stall_ms;
    void (*commit_hook)(const char *game_id, void *arg); /* test hook (ls_peer_config_t) */
    void *commit_arg;
    uint32_t hello_deadline_ms;
    uint32_t serve_stall_ms;
    uint32_t serve_wait_ms;
    uint32_t serve_total_max;
    ls_peer_limits_t limits; /* as set; changed by LS_CMD_SET_LIMITS */
    const ls_catalog_t *catalog;
    ls__events_t events;

    /* threads */
    uv_thread_t thread;
    uv_sem_t started;
    int start_status;
    uv_mutex_t queue_lock;
    ls__rt_command_t *queue_head;
    ls__rt_command_t *queue_tail;

    /* loop-owned state */
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t reconnect_timer;
    uv_timer_t upload_timer; /* upload-progress every LS_UPLOAD_INTERVAL_MS */
    uv_timer_t games_timer;  /* a coalesced game list is due (games_interval_ms) */
    uint64_t games_emitted_ms;
    uint64_t games_interval_ms; /* the short interval, once the party is listed (games_changed) */
    bool has_emitted_games;
    bool was_uploading;
    ls_identity_t *identity;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    int listen_port;
    ls_net_endpoint_t *endpoint;
    ls_peerdb_t *peerdb;
    ls__links_t *links;
    ls__relay_t *relay; /* signed libraries passed on (LS_FEATURE_RELAY) */
    ls__server_t *server;
    ls__fetcher_t *fetcher;
    ls__mdns_t *mdns;       /* NULL: mDNS off or not started */
    ls__shaper_t *shaper;   /* the limits, applied to serving and fetching */
    ls__playing_t *playing; /* NULL until the first scan ended */
    ls__dial_target_t static_peers[LS_STATIC_PEERS_MAX]; /* --peer and ADD_PEER */
    size_t static_peer_count;
    ls__known_t *known;   /* remembered peers */
    ls__covers_t *covers; /* the cover cache: any thread */
    bool is_mdns_enabled;
    bool is_swarm;         /* partial copies announced, served and fetched from */
    bool is_peer_exchange; /* LS_FEATURE_PEERS: peers told and learnt over links */
    bool is_relay;         /* LS_FEATURE_RELAY: libraries learnt through links */
    uint32_t links_target; /* benchmark switch: see ls_peer_config_t */
    bool is_shutting_down;

    /* the library and its publisher */
    ls_library_t *library;
    ls_library_snapshot_t announced; /* what peers were last told */
    bool is_library_ready;           /* the first scan ended: announced is valid */
    ls_monitor_t *monitor;
    uint32_t monitor_settle_ms;
    const ls_unpacker_t *unpacker;
    ls_install_runner_t *installs;
    bool rescan_pending; /* a full scan is due once the running one ends */
    /* Single-game rescans asked for while a scan ran, done one by one
     * afterwards: widening them into a full scan would sweep up busy games. */
    char **rescan_queue;
    size_t rescan_queue_count;
    bool is_scanning; /* a library scan runs: the library stays open */
    /* Install/uninstall ends (finished or failed) held until the rescan
     * they asked for has published the game's new state, so that no reader
     * sees an install finished while the library still says otherwise. */
    struct ls__held_install *held_installs;
    bool is_game_dir_job;   /* a new game directory is being checked */
    char *pending_game_dir; /* checked; swapped in when the scan ends */
};

/* runtime.c, for gamedir.c */
void ls_rt_emit(ls_peer_runtime_t *rt, const ls_peer_event_t *event);
void ls_rt_emit_failure(ls_peer_runtime_t *rt, const char *what, int code);
/* Rescans one game (NULL: all); while a scan runs, the request is queued. */
void ls_rt_rescan(ls_peer_runtime_t *rt, const char *game_id);
void ls_rt_start_monitor(ls_peer_runtime_t *rt);
void ls_rt_install_event_cb(const ls_install_event_t *ev, void *userdata);
/* The library, or the library pointer, changed: every object that reads it
 * gets the new one. */
void ls_rt_use_library(ls_peer_runtime_t *rt, ls_library_t *library);

/* How long after a game list the next may go (LS_GAMES_EMIT_*), given what
 * the list cost the runtime's thread, in ns of CPU time. Pure. */
uint64_t ls__games_emit_interval_ms(uint64_t cost_ns);
/* Which interval a change of the peers' libraries waits: while fewer peers
 * have a library (`listed`) than the party's size as heard (`party_size`:
 * mDNS, presence), more are coming and it is LS_GAMES_EMIT_MAX_MS; else
 * `short_ms` (ls__games_emit_interval_ms of the last list). Pure. */
uint64_t ls__games_wait_ms(size_t listed, size_t party_size, uint64_t short_ms);

/* gamedir.c: LS_CMD_SET_GAME_DIR. */
void ls_rt_set_game_dir(ls_peer_runtime_t *rt, const char *dir);
/* Called when a library scan ended: swaps in a pending game directory.
 * True when it did (a full scan of the new directory is then running). */
bool ls_rt_game_dir_scan_ended(ls_peer_runtime_t *rt);

#endif
