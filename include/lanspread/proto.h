/* Protocol v4: the messages peers exchange, their framing and their codec.
 * Every message travels as one frame: a 4-byte big-endian payload length,
 * then that many bytes of UTF-8 JSON. See docs/PROTOCOL.md. */
#ifndef LANSPREAD_PROTO_H
#define LANSPREAD_PROTO_H

#include "lanspread/hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_PROTOCOL_VERSION 5
#define LS_ALPN "lanspread/5"

/* Files are hashed, verified and transferred in chunks (the last chunk of a
 * file may be shorter). A manifest states its own `chunk_size`: a power of
 * two from LS_CHUNK_SIZE_MIN to LS_CHUNK_SIZE_MAX; a receiver uses the
 * manifest's. This peer hashes its library at LS_CHUNK_SIZE: 1 MiB, because
 * in a swarm a chunk only spreads once it is whole and verified, and 4 MiB
 * chunks (28 for a 112 MiB game) left 6-12 downloaders too few to trade
 * (docs/ARCHITECTURE.md, "Swarm test and fan-out benchmark"). */
#define LS_CHUNK_SIZE_MIN (1u * 1024u * 1024u)
#define LS_CHUNK_SIZE_MAX (4u * 1024u * 1024u)
#define LS_CHUNK_SIZE LS_CHUNK_SIZE_MIN

#define LS_FRAME_HEADER_LEN 4u
/* Checked against the length prefix before anything is allocated. */
#define LS_FRAME_MAX (16u * 1024u * 1024u)

/* Bounds on decoded values. */
#define LS_NAME_MAX 128    /* peer and game names, bytes */
#define LS_VERSION_MAX 64  /* a game's version string, bytes */
#define LS_PEER_ID_MAX 128 /* peer_id string, bytes */
#define LS_FEATURES_MAX 32 /* entries in hello.features */
#define LS_FEATURE_LEN_MAX 64
#define LS_PROOF_MAX 256    /* party_proof string, bytes */
#define LS_MESSAGE_MAX 1024 /* error message, bytes */
#define LS_SNAPSHOT_GAMES_MAX 10000
#define LS_MANIFEST_FILES_MAX 200000
#define LS_CHUNK_REQUEST_MAX (64u * 1024u * 1024u) /* get_game_file_chunk.length */
/* get_game_file_batch: at most this many ranges, and this many bytes in all
 * (one answer's body). Small enough that a responder reads a whole batch in
 * one pool job into one buffer; big enough that a folder of small files
 * costs one request per LS_BATCH_BYTES_MAX, not one per file. */
#define LS_BATCH_RANGES_MAX 256
#define LS_BATCH_BYTES_MAX (256u * 1024u)
/* A game's catalog entry (game.meta, and the catalog files that hold it). */
#define LS_DESCRIPTION_MAX 4096 /* description, bytes */
#define LS_GENRE_MAX 64         /* genre, bytes */
#define LS_PLAYERS_MAX 1024     /* max_players */
#define LS_RELEASE_YEAR_MAX 9999

/* hello.features: the sender understands game.meta, so a `game` answered to
 * it carries the serving peer's catalog entry. */
#define LS_FEATURE_GAME_META "game-meta"
/* hello.features: the sender takes part in swarm distribution: it decodes
 * `have` and may serve the verified chunks of its partial copies. `have` is
 * sent only to peers that list it. */
#define LS_FEATURE_SWARM "swarm"
/* hello.features (with LS_FEATURE_SWARM): the sender decodes the `given`
 * error, with which a super-seeding peer refuses one chunk rather than its
 * whole upload; the others get `busy` for it. */
#define LS_FEATURE_GIVEN "given"
/* hello.features (with LS_FEATURE_SWARM): the sender keeps a peer whose
 * download finished as a source when its last `have` names every chunk,
 * and takes it for a complete seeder once its library lists the game. A
 * peer that does not list it gets the empty `have` at that moment, as
 * before: it would hold the finished peer as a partial copy for the rest of
 * its download, asking the complete seeders only for chunks no partial
 * copy has. */
#define LS_FEATURE_HAVE_COMPLETE "have-complete"
/* hello.features: the sender answers get_game_file_batch. A downloader sends
 * batches only to peers that list it. */
#define LS_FEATURE_BATCH "batch"
/* hello.features: the sender decodes the `cover` fields of a game summary
 * and answers get_cover. Summaries carry covers only to peers that list it
 * (ls_snapshot_strip_covers for the others). */
#define LS_FEATURE_COVER "cover"

/* A game's cover image: at most this many bytes (so one chunk: its chunk
 * hash is the SHA-256 of the whole file). Larger ones are not covers. */
#define LS_COVER_MAX (256u * 1024u)

/* hello.features: the sender takes `peers` (peer exchange, issue #17): the
 * addresses of the peers it is linked to, so one found peer gives the rest.
 * `peers` is sent only to peers that list it. */
#define LS_FEATURE_PEERS "peers"
/* A `peers` message lists at most this many peers (the mDNS dial targets a
 * runtime keeps, LS_MDNS_TARGETS_MAX, are no more). */
#define LS_PEERS_MAX 256
/* "a.b.c.d:port": IPv4 only, like mDNS (the family discovery advertises). */
#define LS_PEER_ADDRESS_MAX 22 /* with its NUL */

/* hello.features: the sender answers get_library with the signed libraries
 * it holds (its own, and other peers' it verified), so a library reaches
 * peers its owner has no link to (issue #17). get_library is sent only to
 * peers that list it. */
#define LS_FEATURE_RELAY "relay"
/* A signed library's key: the owner's DER SubjectPublicKeyInfo (Ed25519:
 * 44 bytes; an ECDSA P-256 one of an earlier version's identity: 91), at
 * most this many bytes; its signature (Ed25519: 64 bytes; DER ECDSA: at
 * most 72 for P-256) at most LS_LIBSIG_SIG_MAX. Both travel as lowercase
 * hex. */
#define LS_LIBSIG_SPKI_MAX 512
#define LS_LIBSIG_SIG_MAX 256

/* A `have` covers at most this many chunks (4 TiB of LS_CHUNK_SIZE chunks),
 * so its bitmap is at most 128 KiB, 256 KiB as hex: the frame stays far
 * below the request frame a responder reads. */
#define LS_HAVE_CHUNKS_MAX (1u << 20)
/* Bytes of a `have` bitmap for n chunks: chunk i is bit (i % 8) of byte
 * i / 8, least significant bit first. */
#define LS_HAVE_BITMAP_LEN(n) (((size_t)(n) + 7u) / 8u)
/* A downloader sends at most one `have` per game per peer in an interval
 * (ls_have_interval_ms), and only when its bitmap differs from the last one
 * sent to that peer: LS_HAVE_INTERVAL_MS, or longer for a bitmap over
 * LS_HAVE_HEX_PER_MS hex digits per millisecond of it, so that announcing
 * stays under 256 kB/s per peer and game however big the game (a 50 GiB
 * game of 1 MiB chunks: 50 ms). 20 ms, not 50: at 200 Mbit/s a 1 MiB
 * chunk takes 42 ms, and one not announced is one nobody asks us for. */
#define LS_HAVE_INTERVAL_MS 20
#define LS_HAVE_HEX_PER_MS 256

static inline uint64_t ls_have_interval_ms(uint64_t chunk_count)
{
    uint64_t ms = 2u * LS_HAVE_BITMAP_LEN(chunk_count) / LS_HAVE_HEX_PER_MS;
    return ms > LS_HAVE_INTERVAL_MS ? ms : LS_HAVE_INTERVAL_MS;
}

/* One game as a peer announces it. */
typedef struct {
    char *id;
    char *name;
    char *version;
    uint64_t size;       /* bytes of the files it serves */
    uint64_t file_count; /* regular files it serves */
    /* Its cover image (LS_FEATURE_COVER): SHA-256 hex of the file, NULL when
     * it has none (a pointer: most games have none, and a PeerGameDB holds
     * a summary per game per peer); cover_size 1..LS_COVER_MAX bytes, 0 when
     * none. Not part of the snapshot digest: peers that do not list the
     * feature get the same digest for the summaries without it. */
    char *cover;
    uint64_t cover_size;
} ls_game_summary_t;

/* The library a peer announces: carried whole in Hello/HelloAck. */
typedef struct {
    uint64_t library_rev;
    char digest[LS_SHA256_HEX_LEN + 1]; /* ls_snapshot_digest() of games */
    ls_game_summary_t *games;
    size_t game_count;
} ls_library_snapshot_t;

/* One entry of a game's manifest. Directories have no chunks. */
typedef struct {
    char *path; /* relative to the game root, '/'-separated */
    uint64_t size;
    bool is_dir;
    uint8_t (*chunk_sha256)[LS_SHA256_LEN];
    size_t chunk_count; /* == ceil(size / the manifest's chunk_size) for files */
} ls_file_desc_t;

typedef enum {
    LS_MSG_HELLO = 1,
    LS_MSG_HELLO_ACK,
    LS_MSG_PING,
    LS_MSG_PONG,
    LS_MSG_LIST_GAMES,
    LS_MSG_GAMES,
    LS_MSG_GET_GAME,
    LS_MSG_GAME,
    LS_MSG_GET_FILE_DATA,
    LS_MSG_FILE_DATA,
    LS_MSG_GET_FILE_CHUNK,
    LS_MSG_FILE_CHUNK,
    LS_MSG_LIBRARY_DELTA,
    LS_MSG_LIBRARY_DELTA_ACK,
    LS_MSG_ERROR,
    LS_MSG_HAVE,     /* request, only to peers that list LS_FEATURE_SWARM */
    LS_MSG_HAVE_ACK, /* its reply: no field besides kind */
    /* The dialler's library, sent once the acceptor's hello_ack proved the
     * party key (its hello left the library out); u.games. */
    LS_MSG_HELLO_LIBRARY,
    LS_MSG_HELLO_LIBRARY_ACK, /* its reply: no field besides kind */
    LS_MSG_GET_FILE_BATCH,    /* request, only to peers that list LS_FEATURE_BATCH */
    LS_MSG_FILE_BATCH,        /* its answer: the ranges' bytes back to back */
    LS_MSG_GET_COVER,         /* request, only to peers that list LS_FEATURE_COVER */
    LS_MSG_COVER,             /* its answer: u.file_header, then the cover's bytes */

    LS_MSG_PEERS,     /* request, only to peers that list LS_FEATURE_PEERS; u.peer_list */
    LS_MSG_PEERS_ACK, /* its reply: no field besides kind */
    /* request, only to peers that list LS_FEATURE_RELAY; u.library_request */
    LS_MSG_GET_LIBRARY,
    LS_MSG_SIGNED_LIBRARY, /* its answer; u.signed_library */
} ls_msg_kind_t;

/* Typed errors a peer answers with. */
typedef enum {
    LS_WIRE_UNKNOWN_GAME = 1,
    LS_WIRE_NOT_DOWNLOADED,
    LS_WIRE_INVALID_PATH,
    LS_WIRE_INVALID_REQUEST,
    LS_WIRE_VERSION_MISMATCH,
    LS_WIRE_TOO_LARGE,
    LS_WIRE_UNAUTHORIZED,
    LS_WIRE_BUSY,
    LS_WIRE_IO,
    LS_WIRE_INTERNAL,
    /* a complete copy sends (or just sent) this chunk to another swarm
     * peer: only to a requester whose hello listed LS_FEATURE_GIVEN */
    LS_WIRE_GIVEN,
} ls_wire_error_t;

typedef struct {
    uint32_t protocol_version;
    char *peer_id;
    char *name;
    uint16_t listen_port;
    char **features;
    size_t feature_count;
    char *party_proof; /* NULL when absent */
    /* hello only: `library` is left out and follows in hello_library, after
     * the acceptor proved the party key (see PROTOCOL.md, Party key). */
    bool is_library_deferred;
    ls_library_snapshot_t library; /* empty when is_library_deferred */
} ls_hello_t;                      /* also HelloAck */

/* The serving peer's catalog entry for a game: what a downloader needs to
 * list a game its own catalog lacks. */
typedef struct {
    char *name;            /* 1..LS_NAME_MAX bytes */
    char *description;     /* NULL when absent; ..LS_DESCRIPTION_MAX bytes */
    char *genre;           /* NULL when absent; ..LS_GENRE_MAX bytes */
    uint32_t max_players;  /* 0..LS_PLAYERS_MAX; 0 when unknown */
    uint32_t release_year; /* 0..LS_RELEASE_YEAR_MAX; 0 when unknown */
} ls_game_meta_t;

typedef struct {
    char *game_id;
    char *version;
    uint32_t chunk_size; /* a power of two, LS_CHUNK_SIZE_MIN..LS_CHUNK_SIZE_MAX */
    ls_file_desc_t *files;
    size_t file_count;
    ls_game_meta_t *meta; /* NULL when not sent (see LS_FEATURE_GAME_META) */
} ls_game_manifest_t;

typedef struct {
    uint64_t from_rev;
    uint64_t to_rev;
    char digest[LS_SHA256_HEX_LEN + 1]; /* digest of the library after the delta */
    ls_game_summary_t *changed;
    size_t changed_count;
    char **removed; /* game ids */
    size_t removed_count;
} ls_library_delta_t;

/* The chunks of one download the sender holds verified and written, and
 * serves. chunk_count 0 (bitmap NULL) withdraws its partial copy of the
 * game: the download was canceled, or finished and the game now comes with
 * the sender's library. */
typedef struct {
    char *game_id;
    char *version;                           /* the manifest's version */
    char manifest_id[LS_SHA256_HEX_LEN + 1]; /* hex of ls_resume_manifest_id() */
    uint32_t chunk_count;                    /* 0..LS_HAVE_CHUNKS_MAX */
    uint8_t *bitmap; /* LS_HAVE_BITMAP_LEN(chunk_count) bytes, NULL when 0; spare bits 0 */
} ls_have_t;

/* One entry of `peers`: a peer the sender has a ready link to, or (with
 * library_rev) one whose signed library it holds by relay, and the address
 * that peer listens on. */
typedef struct {
    char peer_id[LS_SHA256_HEX_LEN + 1];
    char address[LS_PEER_ADDRESS_MAX]; /* "a.b.c.d:port", port 1..65535 */
    uint64_t library_rev; /* 0: linked (field absent); else the relayed library's rev */
} ls_peer_addr_t;

typedef struct {
    ls_peer_addr_t *peers; /* 0..LS_PEERS_MAX */
    size_t count;
} ls_peer_list_t;

/* A peer's library as its owner signed it (see lanspread/libsig.h): any
 * peer may pass it on verbatim, and a receiver believes it only once the
 * signature verifies under a key whose SHA-256 is peer_id. */
typedef struct {
    char peer_id[LS_SHA256_HEX_LEN + 1]; /* the owner */
    char *name;                          /* the owner's display name, 0..LS_NAME_MAX bytes */
    char *spki;      /* lowercase hex of the owner's DER SPKI, 2..2*LS_LIBSIG_SPKI_MAX digits */
    char *signature; /* lowercase hex, 2..2*LS_LIBSIG_SIG_MAX digits */
    ls_library_snapshot_t library; /* no covers: they are not signed */
} ls_signed_library_t;

/* One range of a get_game_file_batch. */
typedef struct {
    char *path;
    uint64_t offset;
    uint64_t length; /* 1..LS_BATCH_BYTES_MAX */
} ls_file_range_t;

typedef struct {
    ls_msg_kind_t kind;
    union {
        ls_hello_t hello;            /* HELLO, HELLO_ACK */
        uint64_t nonce;              /* PING, PONG */
        ls_library_snapshot_t games; /* GAMES (answer to LIST_GAMES), HELLO_LIBRARY */
        char *game_id;               /* GET_GAME */
        ls_game_manifest_t game;     /* GAME */
        struct {
            char *game_id;
            char *path;
            uint64_t offset; /* GET_FILE_CHUNK only */
            uint64_t length; /* GET_FILE_CHUNK only */
        } file_request;      /* GET_FILE_DATA, GET_FILE_CHUNK */
        struct {
            char *game_id;
            ls_file_range_t *ranges; /* 1..LS_BATCH_RANGES_MAX, LS_BATCH_BYTES_MAX in all */
            size_t range_count;
        } batch_request; /* GET_FILE_BATCH */
        struct {
            char *game_id;
            char sha256[LS_SHA256_HEX_LEN + 1]; /* the cover the summary announced */
        } cover_request;                        /* GET_COVER */
        struct {
            uint64_t offset;      /* 0 for FILE_DATA and FILE_BATCH */
            uint64_t length;      /* raw bytes that follow the frame on the stream */
        } file_header;            /* FILE_DATA, FILE_CHUNK, FILE_BATCH, COVER */
        ls_library_delta_t delta; /* LIBRARY_DELTA */
        uint64_t acked_rev;       /* LIBRARY_DELTA_ACK */
        struct {
            ls_wire_error_t code;
            char *message;
        } error;                  /* ERROR */
        ls_have_t have;           /* HAVE */
        ls_peer_list_t peer_list; /* PEERS */
        struct {
            char peer_id[LS_SHA256_HEX_LEN + 1];
        } library_request;                  /* GET_LIBRARY */
        ls_signed_library_t signed_library; /* SIGNED_LIBRARY */
    } u;
} ls_msg_t;

/* Framing. Reads the length prefix of the frame at buf. Returns LS_EAGAIN
 * when fewer than LS_FRAME_HEADER_LEN bytes are there, LS_EFRAME_TOO_BIG when
 * the announced payload exceeds LS_FRAME_MAX, LS_EJSON for a zero length. */
int ls_frame_parse_header(const uint8_t *buf, size_t len, uint32_t *payload_len);

/* Decodes one frame's JSON payload into *out, strictly: wrong types, missing
 * or unknown fields, unknown kinds, duplicate keys, invalid UTF-8, values out
 * of bounds and unsafe paths each give their own LS_E* code. On failure *out
 * is left empty (nothing to free) and, when detail is non-NULL, a message
 * naming the field is written there. On success free with ls_msg_free(). */
int ls_msg_decode(const uint8_t *payload, size_t len, ls_msg_t *out, char *detail,
                  size_t detail_len);

/* Encodes msg as one complete frame (header included). *frame is owned by
 * the caller (free()). */
int ls_msg_encode(const ls_msg_t *msg, uint8_t **frame, size_t *frame_len);

/* Frees what a decoded or caller-built message owns (not msg itself). */
void ls_msg_free(ls_msg_t *msg);

const char *ls_msg_kind_name(ls_msg_kind_t kind);

/* Parses a `peers` entry's address, "a.b.c.d:port" in its one spelling
 * (dotted decimal without leading zeros, port 1..65535 without leading
 * zeros): 0 with the address and port in network byte order, LS_EINVAL
 * otherwise. Pure. */
int ls_peer_addr_parse(const char *address, uint32_t *ipv4, uint16_t *port);
const char *ls_wire_error_name(ls_wire_error_t code);
/* Maps a local LS_E* failure to the typed error sent to a peer. */
ls_wire_error_t ls_wire_error_from_code(int code);

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF), the rule every string on the wire follows; the library uses it
 * to keep names the protocol cannot carry out of manifests and the index.
 * On failure *bad_offset is the offset of the first bad byte. */
bool ls_proto_utf8_is_valid(const uint8_t *data, size_t len, size_t *bad_offset);

/* The digest of a list of announced games: SHA-256 over the canonical
 * encoding (games sorted by id; each field as "<decimal length>:<bytes>",
 * in the order id, name, version, size, file_count; numbers in decimal).
 * Order of `games` does not matter. Writes 64 hex digits and a NUL. */
int ls_snapshot_digest(const ls_game_summary_t *games, size_t count,
                       char out[LS_SHA256_HEX_LEN + 1]);

/* Clears (and frees) the cover fields of every summary: what a peer that
 * does not list LS_FEATURE_COVER is sent (its decoder refuses fields it
 * does not know). */
void ls_snapshot_strip_covers(ls_game_summary_t *games, size_t count);

/* Deep copies; destination owned by the caller. */
int ls_game_summary_copy(ls_game_summary_t *dst, const ls_game_summary_t *src);
int ls_snapshot_copy(ls_library_snapshot_t *dst, const ls_library_snapshot_t *src);
int ls_hello_copy(ls_hello_t *dst, const ls_hello_t *src);
int ls_manifest_copy(ls_game_manifest_t *dst, const ls_game_manifest_t *src);
int ls_game_meta_copy(ls_game_meta_t *dst, const ls_game_meta_t *src);

void ls_game_summary_free(ls_game_summary_t *game);
void ls_snapshot_free(ls_library_snapshot_t *snap);
void ls_file_desc_free(ls_file_desc_t *file);
void ls_manifest_free(ls_game_manifest_t *manifest);
void ls_game_meta_free(ls_game_meta_t *meta); /* its fields, not meta itself */

#endif
