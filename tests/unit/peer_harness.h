/* Test harness for the peer runtime: an event log that a runtime's sink
 * fills and a test waits on, and a raw peer that speaks QUIC and the frame
 * protocol directly, so tests can send what a well-behaved peer never would. */
#ifndef LS_PEER_HARNESS_H
#define LS_PEER_HARNESS_H

#include "lanspread/identity.h"
#include "lanspread/net.h"
#include "lanspread/party.h"
#include "lanspread/peer.h"
#include "lanspread/proto.h"

#include "lanspread/catalog.h"

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

typedef struct {
    ls_peer_event_kind_t kind;
    json_t *data;
} ls_logged_event_t;

typedef struct {
    uv_mutex_t lock;
    uv_cond_t cond;
    ls_logged_event_t *events;
    size_t count;
    size_t cap;
} ls_event_log_t;

void ls_event_log_init(ls_event_log_t *log);
void ls_event_log_free(ls_event_log_t *log);
/* An ls_peer_event_cb: userdata is the log. */
void ls_event_log_sink(const ls_peer_event_t *event, void *userdata);
size_t ls_event_log_mark(ls_event_log_t *log);

typedef bool (*ls_event_pred)(const json_t *data, const void *arg);
/* Waits until an event of `kind` at index >= since satisfies pred (NULL: any).
 * Returns a deep copy of its data (caller json_decref) or NULL on timeout. */
json_t *ls_event_log_wait(ls_event_log_t *log, size_t since, ls_peer_event_kind_t kind,
                          ls_event_pred pred, const void *arg, int timeout_ms);
/* Index of the first event of `kind` at index >= since that satisfies pred
 * (NULL: any), without waiting; SIZE_MAX when there is none yet. */
size_t ls_event_log_index_of(ls_event_log_t *log, size_t since, ls_peer_event_kind_t kind,
                             ls_event_pred pred, const void *arg);
/* Predicates. */
bool ls_pred_games_include(const json_t *data, const void *game_id);
bool ls_pred_count_is(const json_t *data, const void *count);

/* A raw QUIC peer on its own loop, driven by the test thread. */
#define LS_RAW_PEER_LISTS_MAX 4
typedef struct ls_raw_peer {
    uv_loop_t loop;
    ls_identity_t *identity;
    ls_net_endpoint_t *ep;
    ls_net_conn_t *conn;
    char remote_peer_id[LS_PEER_ID_HEX_LEN + 1];
    bool is_established;
    bool is_closed;
    int close_status;
    int incoming_hellos; /* hello requests the other side sent us */
    int incoming_pings;  /* ping requests the other side sent us */
    /* `peers` requests the other side sent us, and the entries of the
     * first LS_RAW_PEER_LISTS_MAX of them */
    int incoming_peer_lists;
    size_t incoming_peer_entries[LS_RAW_PEER_LISTS_MAX];
    /* When set, a get_game the other side sends is answered with this
     * manifest (whatever game it asks for) and other requests are left
     * unanswered (a stalling seeder); when NULL they are reset. */
    const ls_game_manifest_t *serve_manifest;
    int incoming_get_games; /* get_game requests the other side sent us */
    bool is_not_reading;    /* replies are never consumed: our window stays shut */
    /* When set, called once when a reply's last byte comes in, before
     * anything is sent back: a request made there goes out in the same
     * packet as the stream's end (then it is cleared) */
    void (*on_reply_end)(struct ls_raw_peer *rp);
    void *on_reply_end_arg;
    /* get_library requests the other side sent us; when is_silent_relay is
     * set they are left unanswered (a relay that never replies), else reset */
    int incoming_get_libraries;
    bool is_silent_relay;
    /* When set, a get_library is answered with it (whatever owner it asks for) */
    const ls_signed_library_t *serve_library;
    /* Chunk requests (get_game_file_chunk) the other side sent us; when
     * chunk_error is set (an ls_wire_error_t) each is answered with an
     * error frame of that code, else left unanswered with serve_manifest */
    int incoming_chunk_requests;
    int chunk_error;
    /* `have` requests the other side sent us; the chunks set in the first
     * LS_RAW_PEER_LISTS_MAX of them; the last one's chunk_count and set
     * chunks */
    int incoming_haves;
    uint32_t have_set[LS_RAW_PEER_LISTS_MAX];
    uint32_t last_have_chunks;
    uint32_t last_have_set;
} ls_raw_peer_t;

typedef struct {
    bool has_reply;
    int decode_status;
    ls_msg_t reply;
    uint64_t body_len;
    uint8_t body_sha256[LS_SHA256_LEN];
    int close_status;
    bool is_done; /* the stream closed */
    /* the stream of ls_raw_send_unfinished until it closed (to reset it) */
    ls_net_stream_t *stream;
} ls_raw_result_t;

int ls_raw_open(ls_raw_peer_t *rp, const char *state_dir);
/* The same with these transport limits (e.g. a small receive window). */
int ls_raw_open_limited(ls_raw_peer_t *rp, const char *state_dir, const ls_net_limits_t *limits);
/* Connects to 127.0.0.1:port and waits for the QUIC handshake (10 s max). */
int ls_raw_connect(ls_raw_peer_t *rp, int port);
/* Sends raw bytes on a new stream, FIN, and collects the reply (30 s max). */
int ls_raw_exchange(ls_raw_peer_t *rp, const void *bytes, size_t len, ls_raw_result_t *out);
int ls_raw_request(ls_raw_peer_t *rp, const ls_msg_t *msg, ls_raw_result_t *out);
/* Sends raw bytes on a new stream without FIN and returns at once; *out
 * (which must outlive the stream) fills in as the reply comes, and
 * out->is_done once the stream closed. */
int ls_raw_send_unfinished(ls_raw_peer_t *rp, const void *bytes, size_t len, ls_raw_result_t *out);
/* A whole request frame sent that way: the reply is read (or, with
 * rp->is_not_reading, left unread: its window stays shut) as the loop runs. */
int ls_raw_request_async(ls_raw_peer_t *rp, const ls_msg_t *msg, ls_raw_result_t *out);
/* A correct hello (with the raw peer's own id) and its reply. */
int ls_raw_handshake(ls_raw_peer_t *rp, const ls_party_key_t *party_key, ls_raw_result_t *out);
/* The same, advertising these features instead of "chunk-sha256" alone. */
int ls_raw_handshake_with(ls_raw_peer_t *rp, const ls_party_key_t *party_key, char **features,
                          size_t feature_count, ls_raw_result_t *out);
/* The same, announcing these games in the hello's library snapshot (its
 * digest computed here), so that the other side takes us for a seeder. */
int ls_raw_handshake_library(ls_raw_peer_t *rp, const ls_party_key_t *party_key, char **features,
                             size_t feature_count, ls_game_summary_t *games, size_t game_count,
                             ls_raw_result_t *out);
/* The party proof for the current connection: ours (is_ours) or the one
 * the other side must send us. party_key (here and in the handshakes) is
 * ls_party_key_derive's, derived before connecting, as a peer does at its
 * start: a passphrase's Argon2 between a connect and its hello took longer
 * than the harness's hello deadline on a loaded machine. */
int ls_raw_party_proof(ls_raw_peer_t *rp, const ls_party_key_t *party_key, bool is_ours,
                       char proof[LS_SHA256_HEX_LEN + 1]);
/* A hello (with an empty library) carrying exactly this proof (NULL: none). */
int ls_raw_hello_with_proof(ls_raw_peer_t *rp, const char *proof, ls_raw_result_t *out);
/* Runs the loop for ms milliseconds (to let the other side act). */
void ls_raw_run_for(ls_raw_peer_t *rp, int ms);
void ls_raw_result_free(ls_raw_result_t *r);
void ls_raw_close(ls_raw_peer_t *rp);

/* A swarm of runtimes on loopback for the download tests: up to
 * LS_SWARM_MAX peers, each with its own scratch directory and event log,
 * sharing one catalog and one captured log. Use ls_swarm_setup and
 * ls_swarm_teardown as the cmocka setup/teardown; the state is an ls_swarm_t. */
#define LS_SWARM_MAX 5
#define LS_SWARM_WAIT_MS 10000
/* READY comes after the first scan, which hashes the whole game (640 MiB
 * in some tests): a bound for a loaded CI machine, not a timing claim. */
#define LS_SWARM_READY_WAIT_MS 60000
/* The runtimes' hello deadline here: shorter than the product's 10 s, so
 * the silent-connection test is quick, but not 2 s: a raw peer's hello
 * comes from the test thread, which a loaded machine holds for seconds
 * (connect-to-hello 1.4-5 s was seen while the party key was derived
 * between them), and an inbound link past it is closed as a stranger. */
#define LS_SWARM_HELLO_DEADLINE_MS 5000
#define LS_SWARM_PING_INTERVAL_MS 500 /* the runtimes' ping interval here */

typedef struct {
    char *dir; /* games under dir/games, state under dir/state */
    ls_event_log_t events;
    ls_peer_runtime_t *rt;
    ls_catalog_t *catalog; /* NULL: the swarm's; freed by the teardown */
} ls_test_peer_t;

typedef struct {
    ls_catalog_t *catalog;
    ls_test_peer_t peers[LS_SWARM_MAX];
    uint32_t serve_stall_ms;  /* for the peers started next (0: the default) */
    uint32_t serve_wait_ms;   /* for the peers started next (0: the default) */
    uint32_t serve_total_max; /* for the peers started next (0: the default) */
    uint32_t links_target;    /* for the peers started next (0: a full mesh) */
    uint32_t reconnect_ms;    /* for the peers started next (0: 300; the fetcher's tick too) */
    void (*commit_hook)(const char *game_id, void *arg); /* for the peers started next */
    void *commit_arg;
    uv_mutex_t log_lock;
    char log[262144];
} ls_swarm_t;

int ls_swarm_setup(void **state);
int ls_swarm_teardown(void **state);
/* How many times needle occurs in the captured log. */
size_t ls_swarm_log_count(ls_swarm_t *f, const char *needle);
/* Creates peer i's scratch directory and event log. */
ls_test_peer_t *ls_swarm_make_peer(ls_swarm_t *f, int i);
/* Gives peer i its own base catalog: the swarm's plus the entries of json. */
void ls_swarm_extend_catalog(ls_swarm_t *f, int i, const char *json);
/* Writes games/<id>/<id>.pak (size pseudo-random bytes) and version.ini. */
void ls_swarm_add_game(ls_test_peer_t *p, const char *id, size_t size);
/* Starts peer i with static peers targets[0..n) (indexes into the swarm),
 * without waiting: the test thread may keep a raw peer alive meanwhile. */
void ls_swarm_launch_peer(ls_swarm_t *f, int i, const int *targets, size_t n, const char *party_key,
                          uint32_t protocol_version);
/* The same, and waits for READY. */
void ls_swarm_start_peer(ls_swarm_t *f, int i, const int *targets, size_t n, const char *party_key,
                         uint32_t protocol_version);
/* Starts peers 0..seeders-1 (each with game alpha of `size` bytes, unless
 * size is 0: the caller added games) and a downloader (index `seeders`)
 * connected to all of them; waits until it counts them all. */
int ls_swarm_start(ls_swarm_t *f, int seeders, size_t size);
/* Waits (bounded) for DOWNLOAD_FINISHED or DOWNLOAD_FAILED at index >= since;
 * fails the test on timeout. */
json_t *ls_swarm_wait_download_end(ls_swarm_t *f, ls_test_peer_t *p, size_t since, int timeout_ms,
                                   bool *finished);
/* Fails the test unless relpath has the same SHA-256 under peers a and b. */
void ls_swarm_assert_same_file(ls_swarm_t *f, int a, int b, const char *relpath);
/* Fails the test (printing the reason and the log) unless ev is a finish. */
void ls_swarm_expect_finished(ls_swarm_t *f, json_t *ev, bool finished);

#endif
