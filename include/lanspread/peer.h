/* The peer runtime: one thread running one libuv loop that owns the library,
 * the QUIC endpoint, the PeerGameDB and every long-lived task (server,
 * mDNS discovery, ping service, local game monitor). Other threads talk to it only
 * through commands (a thread-safe queue woken by uv_async) and events (a sink
 * called on the runtime thread with a typed ls_peer_event_t); they never
 * touch the loop's state. Both carry structs: JSON is made only at the
 * edges (ls_peer_event_json). */
#ifndef LANSPREAD_PEER_H
#define LANSPREAD_PEER_H

#include "lanspread/catalog.h"
#include "lanspread/identity.h"
#include "lanspread/install.h"
#include "lanspread/library.h"
#include "lanspread/party.h"
#include "lanspread/peerdb.h"
#include "lanspread/proto.h"
#include "lanspread/unpack.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_STATIC_PEERS_MAX 32
/* The daemon's QUIC port (UDP) when no --listen is given: fixed, so firewall
 * rules and the addresses other peers remember keep working across restarts. */
#define LS_PEER_DEFAULT_PORT 7400
#define LS_PEER_DEFAULT_LISTEN "0.0.0.0:7400"
/* With listen_fallback, a taken port gives way to the next this many ports,
 * then to any free one. */
#define LS_PEER_PORT_FALLBACKS 8
/* Peers remembered in STATE/LS_KNOWN_PEERS_FILE (src/peer/known.c): at most
 * this many, the least recently seen dropped first. */
#define LS_KNOWN_PEERS_MAX 256
#define LS_KNOWN_PEERS_FILE "peers.json"
/* Links target by default (ls_peer_config_t.links_target 0): a full mesh
 * while at most LS_PEER_FULL_MESH_MAX other peers are known (services the
 * mDNS browser saw, dial targets from mDNS and `peers`; bounded until
 * mDNS has heard the party), then LS_PEER_LINKS_TARGET_AUTO links chosen
 * by rank, the others' libraries learnt by relay. At 100 peers a full mesh took about twice the
 * time and CPU to converge of the bound; at 30 it was the faster one (docs/ARCHITECTURE.md, *Ninth
 * round*). The target is a floor: the links others dial to us come on top (at 100 peers a target
 * of 5 gave 8.0 links a peer, 8 gave 13.8), and each link is a handshake, a hello and the
 * relay's first exchanges (docs/ARCHITECTURE.md, *Fewer links per peer*). */
#define LS_PEER_FULL_MESH_MAX 32
#define LS_PEER_LINKS_TARGET_AUTO 5
/* links_target for a full mesh at any size. */
#define LS_PEER_LINKS_FULL_MESH UINT32_MAX
#define LS_UPLOAD_INTERVAL_MS 1000
/* LIST_GAMES events come at most once per interval: the first change after
 * a quiet interval at once, the changes within it coalesced into one event
 * at its end. A peer re-announcing a big library in a loop costs one game
 * list per interval, not one per message. While peers heard of (mDNS)
 * still lack a library in the PeerGameDB, more are coming: the interval is
 * LS_GAMES_EMIT_MAX_MS. Else it follows what the last list cost the
 * runtime's thread (CPU time, the list built and handed to the event
 * callback): LS_GAMES_EMIT_COST_FACTOR times that, within
 * [LS_GAMES_EMIT_MIN_MS, LS_GAMES_EMIT_MAX_MS], so lists take at most about
 * 1/LS_GAMES_EMIT_COST_FACTOR of the thread, and the change that completes
 * the party's libraries is listed soon after it came. */
#define LS_GAMES_EMIT_MIN_MS 50
#define LS_GAMES_EMIT_MAX_MS 500
#define LS_GAMES_EMIT_COST_FACTOR 20

/* Bandwidth limits, in bytes per second (lanspread/rate.h: "50M" is
 * 50 MiB/s); 0 = unlimited. See docs/ARCHITECTURE.md, "Bandwidth limits". */
typedef struct {
    uint64_t max_upload;        /* what this peer serves, all downloaders together */
    uint64_t max_download;      /* what this peer's downloads request, all together */
    uint32_t peer_upload_share; /* percent (1..100) of the upload limit one downloader may
                                   take while another one wants bytes; 0: 100 */
    uint64_t playing_upload;    /* the upload limit while a game of the library runs
                                   here (the lower of it and max_upload); 0: no change */
} ls_peer_limits_t;

/* The daemon's --playing-upload unless told otherwise: a trickle that a
 * game's own traffic does not notice, enough to keep downloaders going. */
#define LS_PLAYING_UPLOAD_DEFAULT (1024u * 1024u)

/* LS_CMD_SET_LIMITS: which fields of its limits to change. */
#define LS_LIMIT_MAX_UPLOAD (1u << 0)
#define LS_LIMIT_MAX_DOWNLOAD (1u << 1)
#define LS_LIMIT_PEER_UPLOAD_SHARE (1u << 2)
#define LS_LIMIT_PLAYING_UPLOAD (1u << 3)

typedef struct {
    const char *game_dir;
    const char *state_dir;
    const char *name;     /* shown to other peers; default: host name */
    const char *listen;   /* "ADDR:PORT"; default "0.0.0.0:0" */
    bool listen_fallback; /* listen's port taken: try the next LS_PEER_PORT_FALLBACKS ports,
                             then any free one (the daemon's default port does) */
    const char *static_peers[LS_STATIC_PEERS_MAX]; /* "ADDR:PORT" to connect to */
    size_t static_peer_count;
    const ls_party_key_t *party_key; /* ls_party_key_derive's; NULL: anyone on the LAN may join */
    uint32_t ping_interval_ms;       /* default 5000 */
    uint32_t ping_misses_max;        /* pings missed before a peer is pruned; default 3 */
    uint32_t reconnect_ms;           /* retry interval for static peers; default 2000 */
    uint32_t protocol_version;       /* 0: LS_PROTOCOL_VERSION (tests announce others) */
    uint32_t monitor_settle_ms;    /* quiet time before a changed game is rescanned; default 300 */
    bool no_mdns;                  /* false: announce and find peers over mDNS */
    const ls_unpacker_t *unpacker; /* installs unpack with it; NULL: libarchive */
    uint32_t plan_mode;            /* an ls_plan_mode_t (planner.h); 0: adaptive. Round
                                      robin is there to benchmark the seed's plan. */
    uint32_t fetch_stall_ms;       /* a chunk request unanswered this long is given up and
                                      asked of another peer; default 60000 */
    uint32_t hello_deadline_ms;    /* an inbound connection that sends no hello this long is
                                      closed; default LS_HELLO_DEADLINE_MS (10 s) */
    uint32_t serve_stall_ms;       /* a transfer we serve whose receiver reads nothing this
                                      long is reset; default LS_SERVE_STALL_MS (30 s) */
    uint32_t serve_wait_ms;        /* a chunk request over the upload limit waits this long
                                      for a slot before `busy`; default LS_SERVE_WAIT_MS */
    uint32_t serve_total_max;      /* test switch: bodies served at once in all; default
                                      LS_SERVE_TOTAL_MAX (96) */
    bool no_swarm;                 /* test switch: no partial copies announced, served or
                                      fetched from (only complete seeders, in file order) */
    bool no_peer_exchange;         /* test switch: no `peers` sent or taken (LS_FEATURE_PEERS
                                      not listed), as a peer before issue #17 */
    bool no_relay; /* test switch: no signed library asked for or passed on (LS_FEATURE_RELAY
                      not listed) */
    /* Links target (at most 64): peers mDNS, `peers` or the known list
     * tell of are dialled only while fewer than this many links exist,
     * those of smallest SHA-256(our id || theirs) first; relayed peers are
     * gossiped on, and a download dials the seeders it needs on demand.
     * 0 (the default): LS_PEER_LINKS_TARGET_AUTO links until mDNS has
     * heard the party (3 s after it starts), then a full mesh while at
     * most LS_PEER_FULL_MESH_MAX other peers are known, the bound beyond;
     * LS_PEER_LINKS_FULL_MESH: a full mesh however many there are. */
    uint32_t links_target;
    ls_peer_limits_t limits; /* all 0: no limits, and none while playing */
    /* Test hook: called on a worker thread when a download's commit
     * begins (every chunk verified and in place, version.ini not yet
     * written); the commit waits until it returns. NULL: none. */
    void (*test_commit_hook)(const char *game_id, void *arg);
    void *test_commit_arg;
} ls_peer_config_t;

/* The seed's PeerEvent set. Each kind carries the payload named after it
 * (ls_peer_event_t.u); ls_peer_event_json gives the JSON object the
 * application shows (docs/API.md, "Event stream"), whose keys are listed
 * here. */
typedef enum {
    LS_EVENT_LOCAL_LIBRARY = 1, /* u.local_library: {rev, digest, games:[local games with
                                   catalog text]} */
    LS_EVENT_LIST_GAMES,        /* u.list_games: {games:[{id,name,latest_version,size,
                                   peer_count,peers,description,genre}]} */
    LS_EVENT_PEER_DISCOVERED,   /* u.peer: {peer_id, name, address, game_count, relayed} */
    LS_EVENT_PEER_LOST,         /* u.peer: {peer_id, name, reason} */
    LS_EVENT_PEER_COUNT,        /* u.peer_count: {count} */
    LS_EVENT_GOT_GAME_FILES,    /* u.game_files: {game_id, version, file_count, size,
                                   peers:[ids]}: the file lists of a DOWNLOAD are in; the
                                   transfer starts */
    LS_EVENT_DOWNLOAD_BEGIN,    /* u.download_begin: {game_id, version, bytes_total,
                                   bytes_done, peers} */
    LS_EVENT_DOWNLOAD_PROGRESS, /* u.download_progress: {game_id, bytes_done, bytes_total,
                                   rate_bps, from_seeders, from_downloaders, peers:[...]} */
    LS_EVENT_DOWNLOAD_FINISHED, /* u.download_finished: {game_id, version} */
    LS_EVENT_DOWNLOAD_FAILED,   /* u.download_failed: {game_id, reason, canceled?} */
    LS_EVENT_INSTALL_BEGIN,     /* u.install: {game_id, op, reason}; op is install or update */
    LS_EVENT_INSTALL_PROGRESS,  /* u.install_progress: {game_id, op, done, total} archive
                                   bytes */
    LS_EVENT_INSTALL_FINISHED,  /* u.install */
    LS_EVENT_INSTALL_FAILED,    /* u.install: {game_id, op?, reason} */
    LS_EVENT_UNINSTALL_BEGIN,   /* u.install, op uninstall */
    LS_EVENT_UNINSTALL_FINISHED,
    LS_EVENT_UNINSTALL_FAILED,
    LS_EVENT_RUNTIME_FAILURE,  /* u.failure: {what, reason, game_dir?} */
    LS_EVENT_READY,            /* u.ready: {peer_id, port, rev, mdns}: listening, library
                                  announced */
    LS_EVENT_GAME_DIR_CHANGED, /* u.game_dir: {game_dir}: SET_GAME_DIR done, full rescan
                                  started */
    LS_EVENT_UPLOAD_PROGRESS,  /* u.upload: {rate_bps, games:[{game_id, bytes, rate_bps,
                                  peers}]}: what this peer serves, every LS_UPLOAD_INTERVAL_MS
                                  while it does, and once with rate 0 when it stopped */
    LS_EVENT_LIMITS,           /* u.limits: {max_upload, max_download, peer_upload_share,
                                  playing_upload, upload, playing}: the limits in force, at
                                  start and whenever they or `playing` change; upload is
                                  the upload limit applied now, playing the id of the
                                  library game running here (null: none) */
} ls_peer_event_kind_t;

/* Event payloads. Every pointer in them is borrowed from the runtime: valid
 * during the sink call only (copy what you keep). */
typedef struct {
    uint64_t rev;
    const char *digest;
    const ls_local_game_t *games; /* sorted by id; empty catalog text shows as null */
    size_t game_count;
} ls_peer_ev_local_library_t;

typedef struct {
    const char *id;
    const char *name;
    const char *latest_version;
    uint64_t size;            /* as announced by a peer with the latest version */
    size_t peer_count;        /* peers announcing the latest version */
    const char *const *peers; /* their peer ids (seeders) */
    size_t peer_id_count;
    const char *description; /* this peer's catalog text; NULL: unknown or empty */
    const char *genre;
    const char *cover; /* SHA-256 hex of the cover a peer with the latest version announces;
                          NULL: none */
} ls_peer_ev_remote_game_t;

typedef struct {
    const ls_peer_ev_remote_game_t *games;
    size_t game_count;
} ls_peer_ev_list_games_t;

typedef struct {
    const char *peer_id;
    const char *name;
    const char *address; /* DISCOVERED */
    uint64_t game_count; /* DISCOVERED: games in its hello */
    /* DISCOVERED: its library came signed through another peer's link
     * (issue #17, LS_FEATURE_RELAY), not over a link of ours */
    bool is_relayed;
    const char *reason; /* LOST */
} ls_peer_ev_peer_t;

typedef struct {
    size_t count;
} ls_peer_ev_peer_count_t;

typedef struct {
    const char *game_id;
    const char *version;
    uint64_t file_count;      /* selected regular files */
    uint64_t size;            /* their bytes */
    const char *const *peers; /* the seeders' ids */
    size_t peer_count;
} ls_peer_ev_game_files_t;

typedef struct {
    const char *game_id;
    const char *version;
    uint64_t bytes_total;
    uint64_t bytes_done; /* > 0 on a resume */
    size_t peer_count;   /* seeders; "peers" in JSON */
} ls_peer_ev_download_begin_t;

/* One source of a download ("peers" of download-progress). */
typedef struct {
    const char *peer_id;
    uint64_t bytes; /* verified bytes from it */
    uint64_t rate_bps;
    bool is_active;  /* "active" */
    bool is_partial; /* "partial": it serves a partial copy */
    uint32_t window;
    uint32_t latency_ms;
} ls_peer_ev_source_t;

typedef struct {
    const char *game_id;
    uint64_t bytes_done;
    uint64_t bytes_total;
    uint64_t rate_bps;
    uint64_t from_seeders;     /* verified bytes from complete seeders */
    uint64_t from_downloaders; /* and from other downloaders' partial copies */
    const ls_peer_ev_source_t *peers;
    size_t peer_count;
} ls_peer_ev_download_progress_t;

typedef struct {
    const char *game_id;
    const char *version;
} ls_peer_ev_download_finished_t;

typedef struct {
    const char *game_id;
    const char *reason;
    bool has_canceled; /* false: no "canceled" key (the download never started) */
    bool is_canceled;  /* "canceled": ended by CANCEL */
} ls_peer_ev_download_failed_t;

/* INSTALL_* and UNINSTALL_* but progress. */
typedef struct {
    const char *game_id;
    ls_install_op_t op; /* 0: none (no "op" key): a failure before any operation ran, an
                           install or uninstall refused while a download runs */
    const char *reason; /* FAILED; NULL (JSON null) otherwise */
} ls_peer_ev_install_t;

typedef struct {
    const char *game_id;
    ls_install_op_t op;
    uint64_t done; /* archive bytes */
    uint64_t total;
} ls_peer_ev_install_progress_t;

typedef struct {
    const char *what;
    const char *reason;
    const char *game_dir; /* a refused SET_GAME_DIR; NULL: no "game_dir" key */
} ls_peer_ev_failure_t;

typedef struct {
    const char *peer_id;
    int port;
    uint64_t rev;
    bool has_mdns; /* "mdns": mDNS discovery runs */
} ls_peer_ev_ready_t;

typedef struct {
    const char *game_dir;
} ls_peer_ev_game_dir_t;

typedef struct {
    const char *game_id;
    uint64_t bytes; /* served since the runtime started */
    uint64_t rate_bps;
    uint32_t peers; /* transfers of it running now */
} ls_peer_ev_upload_game_t;

typedef struct {
    uint64_t rate_bps;
    const ls_peer_ev_upload_game_t *games;
    size_t game_count;
} ls_peer_ev_upload_t;

typedef struct {
    ls_peer_limits_t limits; /* as set (peer_upload_share 1..100) */
    uint64_t upload;         /* the upload limit applied now (0: none) */
    const char *playing;     /* NULL: no game of the library runs here */
} ls_peer_ev_limits_t;

typedef struct {
    ls_peer_event_kind_t kind;
    union {
        ls_peer_ev_local_library_t local_library;
        ls_peer_ev_list_games_t list_games;
        ls_peer_ev_peer_t peer;
        ls_peer_ev_peer_count_t peer_count;
        ls_peer_ev_game_files_t game_files;
        ls_peer_ev_download_begin_t download_begin;
        ls_peer_ev_download_progress_t download_progress;
        ls_peer_ev_download_finished_t download_finished;
        ls_peer_ev_download_failed_t download_failed;
        ls_peer_ev_install_t install;
        ls_peer_ev_install_progress_t install_progress;
        ls_peer_ev_failure_t failure;
        ls_peer_ev_ready_t ready;
        ls_peer_ev_game_dir_t game_dir;
        ls_peer_ev_upload_t upload;
        ls_peer_ev_limits_t limits;
    } u;
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
    LS_CMD_CANCEL,      /* game_id: stop its download, keep verified chunks */
    LS_CMD_ADD_PEER,    /* peer: "ADDR:PORT" dialled from now on like a --peer (at most
                           LS_STATIC_PEERS_MAX; more: RUNTIME_FAILURE {what:"add peer"}) */
    LS_CMD_FORGET_PEER, /* peer: what ls_known_peer_matches takes: no longer dialled nor
                           remembered (a connection to it stays; seen again, it is
                           remembered again) */
    LS_CMD_SET_LIMITS,  /* limits, limit_fields: change those limits now; answers LIMITS */
    LS_CMD_FETCH_COVER, /* game_id, cover: bring that cover into the cover cache (sent by
                           ls_peer_cover, which waits for it; no event) */
} ls_peer_command_kind_t;

/* LS_CMD_DOWNLOAD flags. */
#define LS_DOWNLOAD_FRESH (1u << 0) /* ignore verified chunks kept from an earlier attempt */

/* A command, copied whole by ls_peer_submit (the caller keeps its strings). */
typedef struct {
    ls_peer_command_kind_t kind;
    const char *game_id;      /* DOWNLOAD, INSTALL, UNINSTALL, CANCEL, RESCAN (NULL: all) */
    const char *const *files; /* DOWNLOAD: paths to fetch (version.ini always is); NULL: all */
    size_t file_count;
    uint32_t flags;          /* DOWNLOAD: LS_DOWNLOAD_* */
    const char *path;        /* SET_GAME_DIR */
    const char *peer;        /* ADD_PEER, FORGET_PEER */
    ls_peer_limits_t limits; /* SET_LIMITS: the new values of limit_fields */
    uint32_t limit_fields;   /* SET_LIMITS: LS_LIMIT_* */
    const char *cover;       /* FETCH_COVER: the cover's SHA-256, 64 lowercase hex digits */
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

/* A peer this one knows: remembered (seen once: kept in STATE/peers.json,
 * dialled at every start alongside mDNS) or added (--peer, `peer =` in the
 * config, ADD_PEER), or both. */
typedef struct {
    char peer_id[LS_PEER_ID_HEX_LEN + 1]; /* "": an added address not reached yet */
    char address[LS_ADDRESS_MAX];         /* "ADDR:PORT" it listens on */
    char name[LS_NAME_MAX + 1];           /* "": never reached */
    int64_t last_seen;                    /* Unix seconds of its last handshake or loss; 0: never */
    bool is_connected;
    bool is_added; /* a --peer / config / ADD_PEER address */
} ls_known_peer_t;

/* Copies up to max known peers (the most recently seen first) into out; any
 * thread. Returns how many there are in all. */
size_t ls_peer_known_peers(ls_peer_runtime_t *peer, ls_known_peer_t *out, size_t max);

/* Whether `what` names this peer: its "ADDR:PORT", its ADDR (any port), its
 * peer id or a prefix of it of at least LS_KNOWN_ID_PREFIX_MIN hex digits
 * (the CLI's tables show 12). */
#define LS_KNOWN_ID_PREFIX_MIN 8
bool ls_known_peer_matches(const ls_known_peer_t *peer, const char *what);

/* A game's cover image (lanspread/cover.h), as ls_peer_cover gives it. */
typedef struct {
    uint8_t *data; /* the caller's to free() */
    size_t len;
    int type; /* an ls_cover_type_t */
} ls_peer_cover_t;

/* The cover with SHA-256 sha256 of game_id (the `cover` of the games list):
 * from the cover cache, else copied from the local library or fetched from
 * a peer that announces it, and cached (see src/peer/covers.h). Any thread
 * but the runtime's; blocks up to timeout_ms. 0, LS_ENOENT (no source has
 * it), LS_ETIMEDOUT, LS_EBUSY (too many fetches running), LS_EINVAL. */
int ls_peer_cover(ls_peer_runtime_t *peer, const char *game_id, const char *sha256,
                  uint32_t timeout_ms, ls_peer_cover_t *out);

/* "IPv4:PORT" or "[IPv6]:PORT" with a port from 1 to 65535. */
bool ls_peer_address_is_valid(const char *text);

/* The event's name as the application shows it ("download-progress"). */
const char *ls_peer_event_name(ls_peer_event_kind_t kind);

/* The JSON edge of the event API: the event's payload as the object the
 * CLI, the control API and the web UI show (docs/API.md). Any thread; a new
 * reference (caller json_decref), NULL on ENOMEM or an event missing a
 * string it must carry. */
json_t *ls_peer_event_json(const ls_peer_event_t *event);
/* The same object as text (compact, keys sorted: what json_dumps gives
 * for ls_peer_event_json with JSON_COMPACT | JSON_SORT_KEYS), handed to
 * `cb` piece by piece like json_dump_callback. A game list is encoded one
 * game at a time: a peer announcing LS_SNAPSHOT_GAMES_MAX games costs one
 * game's tree, never the whole list's (about 1.7 KiB a game). 0, or -1
 * when cb failed or memory ran out. */
int ls_peer_event_json_dump(const ls_peer_event_t *event, json_dump_callback_t cb, void *data);

#endif
