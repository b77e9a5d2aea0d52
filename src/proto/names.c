/* Message kind and wire error names as they travel on the wire, and the
 * mapping from local failures to the typed errors sent to a peer. */
#include "lanspread/error.h"
#include "lanspread/proto.h"
#include "proto/internal.h"

#include <string.h>

static const char *const kind_names[] = {
    [LS_MSG_HELLO] = "hello",
    [LS_MSG_HELLO_ACK] = "hello_ack",
    [LS_MSG_PING] = "ping",
    [LS_MSG_PONG] = "pong",
    [LS_MSG_LIST_GAMES] = "list_games",
    [LS_MSG_GAMES] = "games",
    [LS_MSG_GET_GAME] = "get_game",
    [LS_MSG_GAME] = "game",
    [LS_MSG_GET_FILE_DATA] = "get_game_file_data",
    [LS_MSG_FILE_DATA] = "file_data",
    [LS_MSG_GET_FILE_CHUNK] = "get_game_file_chunk",
    [LS_MSG_FILE_CHUNK] = "file_chunk",
    [LS_MSG_LIBRARY_DELTA] = "library_delta",
    [LS_MSG_LIBRARY_DELTA_ACK] = "library_delta_ack",
    [LS_MSG_ERROR] = "error",
    [LS_MSG_HAVE] = "have",
    [LS_MSG_HAVE_ACK] = "have_ack",
    [LS_MSG_HELLO_LIBRARY] = "hello_library",
    [LS_MSG_HELLO_LIBRARY_ACK] = "hello_library_ack",
    [LS_MSG_GET_FILE_BATCH] = "get_game_file_batch",
    [LS_MSG_FILE_BATCH] = "file_batch",
    [LS_MSG_GET_COVER] = "get_cover",
    [LS_MSG_COVER] = "cover",
    [LS_MSG_PEERS] = "peers",
    [LS_MSG_PEERS_ACK] = "peers_ack",
    [LS_MSG_GET_LIBRARY] = "get_library",
    [LS_MSG_SIGNED_LIBRARY] = "signed_library",
};

static const char *const wire_error_names[] = {
    [LS_WIRE_UNKNOWN_GAME] = "unknown_game",
    [LS_WIRE_NOT_DOWNLOADED] = "not_downloaded",
    [LS_WIRE_INVALID_PATH] = "invalid_path",
    [LS_WIRE_INVALID_REQUEST] = "invalid_request",
    [LS_WIRE_VERSION_MISMATCH] = "version_mismatch",
    [LS_WIRE_TOO_LARGE] = "too_large",
    [LS_WIRE_UNAUTHORIZED] = "unauthorized",
    [LS_WIRE_BUSY] = "busy",
    [LS_WIRE_IO] = "io",
    [LS_WIRE_INTERNAL] = "internal",
    [LS_WIRE_GIVEN] = "given",
};

#define TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

const char *ls_proto_kind_to_name(ls_msg_kind_t kind)
{
    if ((size_t)kind >= TABLE_LEN(kind_names))
        return NULL;
    return kind_names[kind];
}

int ls_proto_kind_from_name(const char *name, ls_msg_kind_t *kind)
{
    for (size_t i = 1; i < TABLE_LEN(kind_names); i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *kind = (ls_msg_kind_t)i;
            return 0;
        }
    }
    return LS_EUNKNOWN_KIND;
}

const char *ls_proto_wire_error_to_name(ls_wire_error_t code)
{
    if ((size_t)code >= TABLE_LEN(wire_error_names))
        return NULL;
    return wire_error_names[code];
}

int ls_proto_wire_error_from_name(const char *name, ls_wire_error_t *code)
{
    for (size_t i = 1; i < TABLE_LEN(wire_error_names); i++) {
        if (strcmp(name, wire_error_names[i]) == 0) {
            *code = (ls_wire_error_t)i;
            return 0;
        }
    }
    return LS_ERANGE;
}

const char *ls_msg_kind_name(ls_msg_kind_t kind)
{
    const char *name = ls_proto_kind_to_name(kind);
    return name ? name : "unknown";
}

const char *ls_wire_error_name(ls_wire_error_t code)
{
    const char *name = ls_proto_wire_error_to_name(code);
    return name ? name : "unknown";
}

ls_wire_error_t ls_wire_error_from_code(int code)
{
    switch (code) {
    case LS_EUNKNOWN_GAME:
        return LS_WIRE_UNKNOWN_GAME;
    case LS_ENOT_DOWNLOADED:
        return LS_WIRE_NOT_DOWNLOADED;
    /* A file a served game does not have is a bad path, not a server fault. */
    case LS_ENOENT:
    case LS_EPATH_ABSOLUTE:
    case LS_EPATH_DOTDOT:
    case LS_EPATH_NUL:
    case LS_EPATH_RESERVED:
    case LS_EPATH_SYMLINK:
    case LS_EPATH_INVALID:
        return LS_WIRE_INVALID_PATH;
    case LS_EINVAL:
    case LS_EJSON:
    case LS_EUTF8:
    case LS_EDUPKEY:
    case LS_ETYPE:
    case LS_EMISSING:
    case LS_EUNKNOWN_KIND:
    case LS_EUNKNOWN_FIELD:
    case LS_ERANGE:
    case LS_EINVALID_ID:
        return LS_WIRE_INVALID_REQUEST;
    case LS_EVERSION:
        return LS_WIRE_VERSION_MISMATCH;
    case LS_ETOOBIG:
    case LS_EFRAME_TOO_BIG:
        return LS_WIRE_TOO_LARGE;
    case LS_EAUTH:
        return LS_WIRE_UNAUTHORIZED;
    case LS_EBUSY:
        return LS_WIRE_BUSY;
    case LS_EIO:
    case LS_EACCES:
    case LS_ENOSPC:
    case LS_ENOTDIR:
    case LS_ECORRUPT:
        return LS_WIRE_IO;
    default:
        return LS_WIRE_INTERNAL;
    }
}
