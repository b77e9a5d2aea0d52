/* Internal state of the peer runtime, shared by its files: runtime.c (thread,
 * commands, events, library), link.c (connections and the handshake),
 * exchange.c (requests this peer sends), server.c (requests it answers). */
#ifndef LS_PEER_RUNTIME_INTERNAL_H
#define LS_PEER_RUNTIME_INTERNAL_H

#include "framer.h"
#include "monitor.h"

#include "lanspread/discovery.h"
#include "lanspread/identity.h"
#include "lanspread/install.h"
#include "lanspread/library.h"
#include "lanspread/net.h"
#include "lanspread/peer.h"
#include "lanspread/peerdb.h"
#include "lanspread/proto.h"

#include <uv.h>

typedef struct ls_link ls_link_t;
typedef struct ls_download ls_download_t;
typedef struct ls_mdns_peer ls_mdns_peer_t;

/* A queued command: a deep copy of an ls_peer_command_t. */
typedef struct ls__rt_command {
    struct ls__rt_command *next;
    ls_peer_command_kind_t kind;
    char *game_id;
    char **files; /* NULL: every file */
    size_t file_count;
    uint32_t flags;
    char *path;
} ls__rt_command_t;

/* A dial target: a --peer address or a peer mDNS resolved. Failed attempts
 * (unreachable, refused, no hello_ack in time) are retried with a backoff
 * that doubles from reconnect_ms to LS_REDIAL_MAX_MS and starts afresh once
 * a handshake completes. */
typedef struct {
    char address[LS_ADDRESS_MAX];
    struct sockaddr_storage sockaddr;
    ls_link_t *link; /* the outbound link to it, if any */
    bool is_ignored; /* answered version_mismatch: never retried */
    char peer_id[LS_PEER_ID_HEX_LEN + 1]; /* learnt from the first handshake ("" until then) */
    uint64_t next_dial_ms;
    uint32_t backoff_ms; /* 0: not dialled yet (reconnect_ms) */
} ls_static_peer_t;

#define LS_REDIAL_MAX_MS 10000
/* How long a dialler waits for hello_ack. The acceptor holds a hello that
 * arrives before its first scan has ended and answers it then, so this
 * covers a slow first scan, not just a round trip. */
#define LS_HELLO_ACK_TIMEOUT_MS 30000

struct ls_peer_runtime {
    /* configuration, copied */
    char *game_dir;
    char *state_dir;
    char *name;
    char *listen;
    char *party_key;
    uint32_t ping_interval_ms;
    uint32_t ping_misses_max;
    uint32_t reconnect_ms;
    uint32_t protocol_version;
    uint32_t plan_mode;
    uint32_t fetch_stall_ms;
    const ls_catalog_t *catalog; /* the base; the library adds the game directory's */
    ls_peer_event_cb sink;
    void *sink_userdata;

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
    uv_timer_t ping_timer;
    uv_timer_t reconnect_timer;
    ls_identity_t *identity;
    char peer_id[LS_PEER_ID_HEX_LEN + 1];
    int listen_port;
    ls_library_t *library;
    ls_library_snapshot_t announced; /* what peers were last told */
    ls_monitor_t *monitor;
    const ls_unpacker_t *unpacker;
    ls_install_runner_t *installs;
    ls_download_t *downloads;
    uint32_t monitor_settle_ms;
    bool rescan_pending; /* a full scan is due once the running one ends */
    /* Single-game rescans asked for while a scan ran, done one by one
     * afterwards: widening them into a full scan would sweep up busy games. */
    char **rescan_queue;
    size_t rescan_queue_count;
    bool is_scanning;       /* a library scan runs: the library stays open */
    bool is_game_dir_job;   /* a new game directory is being checked */
    char *pending_game_dir; /* checked; swapped in when the scan ends */
    ls_net_endpoint_t *endpoint;
    ls_peerdb_t *peerdb;
    ls_link_t *links;
    ls_static_peer_t static_peers[LS_STATIC_PEERS_MAX];
    size_t static_peer_count;
    bool is_library_ready; /* the first scan ended: rt->announced is valid */
    bool is_mdns_enabled;
    ls_discovery_t *discovery;  /* NULL: mDNS off or not started */
    ls_mdns_peer_t *mdns_peers; /* peers mDNS resolved: dial targets */
    bool is_shutting_down;
};

struct ls_link {
    ls_link_t *next;
    ls_peer_runtime_t *rt;
    ls_net_conn_t *conn;
    bool is_outbound;
    bool is_ready; /* a handshake completed on this connection */
    bool is_closing;
    char peer_id[LS_PEER_ID_HEX_LEN + 1]; /* from the certificate */
    char address[LS_ADDRESS_MAX];         /* where the peer listens */
    ls_static_peer_t *static_peer;        /* outbound to a static or mDNS peer */
    bool wants_game_meta;                 /* its hello listed LS_FEATURE_GAME_META */
    unsigned ping_misses;
    bool is_ping_outstanding;
    uint64_t last_data_ms; /* when a reply byte last arrived on any of our requests */
    uint64_t started_ms;   /* connect or accept */
    uint64_t ready_ms;     /* first handshake completed */
    uint64_t hello_sent_ms;                /* outbound: our hello awaits its hello_ack (0: none) */
    struct ls_serve_stream *pending_hello; /* inbound hello held until the first scan ends */
};

/* runtime.c */
void ls_rt_emit(ls_peer_runtime_t *rt, ls_peer_event_kind_t kind, json_t *data);
void ls_rt_emit_games(ls_peer_runtime_t *rt);
void ls_rt_emit_peer_count(ls_peer_runtime_t *rt);
uint64_t ls_rt_now_ms(ls_peer_runtime_t *rt);
/* "IPv4:PORT" or "[IPv6]:PORT" into a socket address; LS_EINVAL otherwise. */
int ls_rt_parse_address(const char *text, bool allow_port_zero, struct sockaddr_storage *out);
void ls_rt_emit_failure(ls_peer_runtime_t *rt, const char *what, int code);
void ls_rt_emit_local_library(ls_peer_runtime_t *rt);
/* The library published a change: library_delta to peers, TXT record,
 * local-library event. */
void ls_rt_library_changed(ls_peer_runtime_t *rt);
/* Rescans one game (NULL: all); while a scan runs, the request is queued. */
void ls_rt_rescan(ls_peer_runtime_t *rt, const char *game_id);
void ls_rt_start_monitor(ls_peer_runtime_t *rt);
void ls_rt_install_event_cb(const ls_install_event_t *ev, void *userdata);

/* gamedir.c: LS_CMD_SET_GAME_DIR. */
void ls_rt_set_game_dir(ls_peer_runtime_t *rt, const char *dir);
/* Called when a library scan ended: swaps in a pending game directory.
 * True when it did (a full scan of the new directory is then running). */
bool ls_rt_game_dir_scan_ended(ls_peer_runtime_t *rt);

bool ls_rt_game_busy(ls_peer_runtime_t *rt, const char *game_id);
/* A download ended: release the monitor, rescan, and install on success. */
void ls_rt_download_ended(ls_peer_runtime_t *rt, const char *game_id, bool ok, bool has_local);

/* download.c */
void ls_download_start(ls_peer_runtime_t *rt, const char *game_id, const char *const *files,
                       size_t file_count, uint32_t flags);
void ls_download_cancel(ls_peer_runtime_t *rt, const char *game_id);
bool ls_download_is_active(ls_peer_runtime_t *rt, const char *game_id);
void ls_download_peer_lost(ls_peer_runtime_t *rt, const char *peer_id);
void ls_download_shutdown(ls_peer_runtime_t *rt);
/* Periodic (reconnect timer): gives up stalled chunk requests and re-plans,
 * so time-based decisions (endgame duplicates, a peer back) are taken even
 * when no answer arrives. */
void ls_download_tick(ls_peer_runtime_t *rt);

/* link.c */
ls_link_t *ls_link_find_ready(ls_peer_runtime_t *rt, const char *peer_id);
/* Any connection to peer_id that is not closing (ready or in its handshake). */
bool ls_link_exists(ls_peer_runtime_t *rt, const char *peer_id);
int ls_link_connect(ls_peer_runtime_t *rt, ls_static_peer_t *target);
/* Dials target when it has no connection and its backoff allows (from the
 * reconnect timer). */
void ls_link_dial_if_due(ls_peer_runtime_t *rt, ls_static_peer_t *target);
/* From the reconnect timer: closes outbound links whose hello_ack is late,
 * so their targets are dialled again. */
void ls_link_tick(ls_peer_runtime_t *rt);
void ls_link_close(ls_link_t *link, uint64_t app_error, const char *reason);
int ls_link_send_hello(ls_link_t *link);
void ls_link_handshake_done(ls_link_t *link, const ls_hello_t *hello);
void ls_link_broadcast_delta(ls_peer_runtime_t *rt, const ls_library_delta_t *delta);
int ls_link_make_hello(ls_link_t *link, ls_msg_kind_t kind, ls_msg_t *out);
int ls_link_check_hello(ls_link_t *link, const ls_hello_t *hello);
extern const ls_net_callbacks_t ls_link_net_callbacks;

/* mdns.c: LAN discovery. start publishes and browses (0 when disabled);
 * update re-publishes the TXT record after rt->announced changed; tick dials
 * resolved peers that have no connection (from the reconnect timer); free
 * runs after the loop ended. */
int ls_mdns_start(ls_peer_runtime_t *rt);
void ls_mdns_update(ls_peer_runtime_t *rt);
void ls_mdns_tick(ls_peer_runtime_t *rt);
void ls_mdns_stop(ls_peer_runtime_t *rt);
void ls_mdns_free(ls_peer_runtime_t *rt);

/* exchange.c: one request on a fresh stream, one reply back. */
typedef void (*ls_exchange_cb)(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata);
int ls_exchange_start(ls_link_t *link, const ls_msg_t *request, ls_exchange_cb cb, void *userdata);

/* A file request: the reply header, then up to max_body bytes. cb gets the
 * header (or the peer's error frame, status LS_EREMOTE) and, on success, the
 * body, which it owns (free()). The handle is valid until cb has run; cb runs
 * exactly once, with LS_ECANCELED after ls_exchange_cancel. */
typedef struct ls_exchange ls_exchange_t;
typedef void (*ls_fetch_cb)(ls_link_t *link, int status, const ls_msg_t *reply, uint8_t *body,
                            size_t len, void *userdata);
int ls_exchange_fetch(ls_link_t *link, const ls_msg_t *request, size_t max_body, ls_fetch_cb cb,
                      void *userdata, ls_exchange_t **handle);
void ls_exchange_cancel(ls_exchange_t *exchange);

/* server.c: a stream the peer opened to us. */
void ls_server_accept_stream(ls_link_t *link, ls_net_stream_t *stream);
/* The first scan ended: answers the hellos held until then. */
void ls_server_answer_held_hellos(ls_peer_runtime_t *rt);

#endif
