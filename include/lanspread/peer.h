/* The peer runtime: one thread running one libuv loop that owns the library,
 * the QUIC endpoint, the PeerGameDB and every long-lived task (server,
 * mDNS discovery, ping service, local game monitor). Other threads talk to it only
 * through commands (a thread-safe queue woken by uv_async) and events (a sink
 * called on the runtime thread); they never touch the loop's state. */
#ifndef LANSPREAD_PEER_H
#define LANSPREAD_PEER_H

#include "lanspread/catalog.h"
#include "lanspread/unpack.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_STATIC_PEERS_MAX 32
#define LS_UPLOAD_INTERVAL_MS 1000

typedef struct {
    const char *game_dir;
    const char *state_dir;
    const char *name;                              /* shown to other peers; default: host name */
    const char *listen;                            /* "ADDR:PORT"; default "0.0.0.0:0" */
    const char *static_peers[LS_STATIC_PEERS_MAX]; /* "ADDR:PORT" to connect to */
    size_t static_peer_count;
    const char *party_key;         /* NULL: anyone on the LAN may join */
    uint32_t ping_interval_ms;     /* default 5000 */
    uint32_t ping_misses_max;      /* pings missed before a peer is pruned; default 3 */
    uint32_t reconnect_ms;         /* retry interval for static peers; default 2000 */
    uint32_t protocol_version;     /* 0: LS_PROTOCOL_VERSION (tests announce others) */
    uint32_t monitor_settle_ms;    /* quiet time before a changed game is rescanned; default 300 */
    bool no_mdns;                  /* false: announce and find peers over mDNS */
    const ls_unpacker_t *unpacker; /* installs unpack with it; NULL: libarchive */
    uint32_t plan_mode;            /* an ls_plan_mode_t (planner.h); 0: adaptive. Round
                                      robin is there to benchmark the seed's plan. */
    uint32_t fetch_stall_ms;       /* a chunk request unanswered this long is given up and
                                      asked of another peer; default 60000 */
    uint32_t hello_deadline_ms;    /* an inbound connection that sends no hello this long is
                                      closed; default LS_HELLO_DEADLINE_MS (10 s) */
    bool no_swarm;                 /* test switch: no partial copies announced, served or
                                      fetched from (only complete seeders, in file order) */
} ls_peer_config_t;

/* The seed's PeerEvent set. */
typedef enum {
    LS_EVENT_LOCAL_LIBRARY = 1, /* {rev, digest, games:[local games with catalog text]} */
    LS_EVENT_LIST_GAMES,        /* {games:[{id,name,latest_version,size,peer_count,...}]} */
    LS_EVENT_PEER_DISCOVERED,   /* {peer_id, name, address} */
    LS_EVENT_PEER_LOST,         /* {peer_id, name, reason} */
    LS_EVENT_PEER_COUNT,        /* {count} */
    LS_EVENT_GOT_GAME_FILES,    /* {game_id, version, file_count, size, peers:[ids]}: the file
                                   lists of a DOWNLOAD are in; the transfer starts */
    LS_EVENT_DOWNLOAD_BEGIN,
    LS_EVENT_DOWNLOAD_PROGRESS,
    LS_EVENT_DOWNLOAD_FINISHED,
    LS_EVENT_DOWNLOAD_FAILED,
    LS_EVENT_INSTALL_BEGIN,    /* {game_id, op}; op is install, update or uninstall */
    LS_EVENT_INSTALL_PROGRESS, /* {game_id, op, done, total} archive bytes */
    LS_EVENT_INSTALL_FINISHED,
    LS_EVENT_INSTALL_FAILED,
    LS_EVENT_UNINSTALL_BEGIN,
    LS_EVENT_UNINSTALL_FINISHED,
    LS_EVENT_UNINSTALL_FAILED,
    LS_EVENT_RUNTIME_FAILURE,  /* {what, reason} */
    LS_EVENT_READY,            /* {peer_id, port, rev, mdns}: listening, library announced */
    LS_EVENT_GAME_DIR_CHANGED, /* {game_dir}: SET_GAME_DIR done, full rescan started */
    LS_EVENT_UPLOAD_PROGRESS,  /* {rate_bps, games:[{game_id, bytes, rate_bps, peers}]}: what
                                  this peer serves, every LS_UPLOAD_INTERVAL_MS while it does,
                                  and once with rate 0 when it stopped */
} ls_peer_event_kind_t;

typedef struct {
    ls_peer_event_kind_t kind;
    const json_t *data; /* borrowed: valid during the call only */
} ls_peer_event_t;

/* Called on the runtime thread; must not block. */
typedef void (*ls_peer_event_cb)(const ls_peer_event_t *event, void *userdata);

typedef enum {
    LS_CMD_LIST_GAMES = 1, /* answers LOCAL_LIBRARY and LIST_GAMES */
    LS_CMD_DOWNLOAD,       /* game_id, files: the whole lifecycle of a download, one path
                            * for a first download, an update and a resume: the file lists
                            * from the peers holding the latest version (GOT_GAME_FILES),
                            * the transfer (DOWNLOAD_BEGIN/PROGRESS), the commit
                            * (DOWNLOAD_FINISHED, the game published as downloaded), then
                            * install, or update when it is installed (INSTALL_*).
                            * Failures: DOWNLOAD_FAILED {game_id, reason} */
    LS_CMD_INSTALL,        /* game_id: install, or update an installed game */
    LS_CMD_UNINSTALL,      /* game_id */
    LS_CMD_SET_GAME_DIR,   /* path: absolute directory; checked (exists, writable),
                            * refused while a download or install runs; then
                            * GAME_DIR_CHANGED, rescan, library_delta to peers.
                            * Refusals: RUNTIME_FAILURE {what:"set game directory"} */
    LS_CMD_GET_PEER_COUNT, /* answers PEER_COUNT */
    LS_CMD_RESCAN,         /* game_id or NULL: rescan and announce changes */
    LS_CMD_SHUTDOWN,
    LS_CMD_CANCEL, /* game_id: stop its download, keep verified chunks */
} ls_peer_command_kind_t;

/* LS_CMD_DOWNLOAD flags. */
#define LS_DOWNLOAD_FRESH (1u << 0) /* ignore verified chunks kept from an earlier attempt */

/* A command, copied whole by ls_peer_submit (the caller keeps its strings). */
typedef struct {
    ls_peer_command_kind_t kind;
    const char *game_id;      /* DOWNLOAD, INSTALL, UNINSTALL, CANCEL, RESCAN (NULL: all) */
    const char *const *files; /* DOWNLOAD: paths to fetch (version.ini always is); NULL: all */
    size_t file_count;
    uint32_t flags;   /* DOWNLOAD: LS_DOWNLOAD_* */
    const char *path; /* SET_GAME_DIR */
} ls_peer_command_t;

typedef struct ls_peer_runtime ls_peer_runtime_t;

/* Boots the runtime on its own thread: loads (or creates) the identity, runs
 * install recovery on every game, opens and scans the library, then listens
 * and connects to the static peers.
 * The catalog is the base one (bundled and --catalog files), borrowed: it
 * must outlive the runtime. The library extends it with the game
 * directory's LS_LOCAL_CATALOG_FILE, re-read on rescans, on the monitor's
 * events and after SET_GAME_DIR; a game downloaded from a peer brings that
 * peer's entry into it. Returns once the
 * thread runs; failures after that arrive as RUNTIME_FAILURE events.
 * Stop with ls_peer_stop(), which also frees the handle. */
int ls_peer_start(const ls_peer_config_t *config, const ls_catalog_t *catalog,
                  ls_peer_event_cb sink, void *userdata, ls_peer_runtime_t **out);

/* Queues a command (any thread); everything it points to is copied.
 * LS_EINVAL for a command that names no game where it needs one, LS_ENOMEM. */
int ls_peer_submit(ls_peer_runtime_t *peer, const ls_peer_command_t *cmd);

/* Shorthands for ls_peer_submit. */
int ls_peer_download(ls_peer_runtime_t *peer, const char *game_id, const char *const *files,
                     size_t file_count, uint32_t flags);
int ls_peer_command(ls_peer_runtime_t *peer, ls_peer_command_kind_t kind, const char *game_id);
int ls_peer_set_game_dir(ls_peer_runtime_t *peer, const char *path);

/* Shuts the runtime down (closing every connection), joins its thread and
 * frees the handle. */
void ls_peer_stop(ls_peer_runtime_t *peer);

/* This peer's id (64 hex digits) and bound "ADDR:PORT"; valid after
 * ls_peer_start returned 0 and until ls_peer_stop. */
const char *ls_peer_id(const ls_peer_runtime_t *peer);
int ls_peer_listen_port(const ls_peer_runtime_t *peer);

const char *ls_peer_event_name(ls_peer_event_kind_t kind);

#endif
