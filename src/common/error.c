/* Error codes to messages, and errno to error codes. */
#include "lanspread/error.h"

#include <errno.h>

const char *ls_strerror(int code)
{
    switch (code) {
    case LS_OK:
        return "success";
    case LS_ENOMEM:
        return "out of memory";
    case LS_EIO:
        return "input/output error";
    case LS_EINVAL:
        return "invalid argument";
    case LS_ENOENT:
        return "not found";
    case LS_EEXIST:
        return "already exists";
    case LS_ENOSPC:
        return "no space left on device";
    case LS_EACCES:
        return "permission denied";
    case LS_ETOOBIG:
        return "too large";
    case LS_EAGAIN:
        return "incomplete, more data needed";
    case LS_ECORRUPT:
        return "corrupt data";
    case LS_EBUSY:
        return "busy: another operation is running";
    case LS_ECANCELED:
        return "canceled";
    case LS_ETIMEDOUT:
        return "timed out";
    case LS_ENOTDIR:
        return "not a directory";
    case LS_EFRAME_TOO_BIG:
        return "frame exceeds the maximum frame size";
    case LS_EJSON:
        return "malformed JSON";
    case LS_EUTF8:
        return "invalid UTF-8";
    case LS_EDUPKEY:
        return "duplicate key";
    case LS_ETYPE:
        return "field has the wrong type";
    case LS_EMISSING:
        return "required field is missing";
    case LS_EUNKNOWN_KIND:
        return "unknown message kind";
    case LS_EUNKNOWN_FIELD:
        return "unknown field";
    case LS_ERANGE:
        return "value out of range";
    case LS_EVERSION:
        return "protocol version mismatch";
    case LS_EPATH_ABSOLUTE:
        return "path is absolute";
    case LS_EPATH_DOTDOT:
        return "path contains '..'";
    case LS_EPATH_NUL:
        return "path contains a NUL byte";
    case LS_EPATH_RESERVED:
        return "path names a reserved entry";
    case LS_EPATH_SYMLINK:
        return "path leaves the game root through a symlink";
    case LS_EPATH_INVALID:
        return "invalid path";
    case LS_EUNKNOWN_GAME:
        return "unknown game";
    case LS_ENOT_DOWNLOADED:
        return "game is not downloaded";
    case LS_ECATALOG:
        return "invalid catalog";
    case LS_EINVALID_ID:
        return "invalid game id";
    case LS_EUNSAFE_ENTRY:
        return "archive entry is unsafe";
    case LS_EARCHIVE:
        return "archive cannot be read";
    case LS_EINTENT:
        return "intent log is corrupt";
    case LS_ENOT_INSTALLED:
        return "game is not installed";
    case LS_EINSTALLED:
        return "game is already installed";
    case LS_ENOT_OWNED:
        return "a reserved folder not created by Lanspread is in the way";
    case LS_EINCONSISTENT:
        return "game folder is in a state recovery cannot resolve";
    case LS_EAUTH:
        return "peer authentication failed";
    case LS_EPEER_GONE:
        return "peer went away";
    case LS_EREMOTE:
        return "peer answered with an error";
    case LS_ESTATE:
        return "operation not valid in the current state";
    case LS_EREFUSED:
        return "peer refused the connection";
    case LS_EUNREACHABLE:
        return "peer unreachable: nothing answered at that address";
    case LS_ETLS:
        return "TLS handshake failed";
    case LS_EQUIC:
        return "QUIC protocol error";
    case LS_ELIMIT:
        return "connection or stream limit reached";
    case LS_EMDNS:
        return "mDNS responder failed";
    case LS_ETXT:
        return "malformed mDNS TXT record";
    case LS_ERETRIES:
        return "a chunk failed on every try (the file may have changed on every seeder)";
    case LS_ENOPEERS:
        return "no peer left to download from";
    case LS_ERESUME:
        return "resume file does not match this download";
    case LS_EINCOMPLETE:
        return "download is incomplete: chunks are missing";
    case LS_ECHUNK:
        return "chunk does not match the manifest";
    case LS_EHTTP:
        return "malformed HTTP exchange with the daemon";
    case LS_ENODAEMON:
        return "no running daemon found";
    case LS_ETOKEN:
        return "API token missing or refused";
    case LS_ECONFIG:
        return "invalid configuration file";
    case LS_EHTTP_STATUS:
        return "the daemon refused the request";
    case LS_EADDRINUSE:
        return "address already in use";
    default:
        return "unknown error";
    }
}

int ls_error_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return LS_OK;
    case ENOMEM:
        return LS_ENOMEM;
    case ENOENT:
        return LS_ENOENT;
    case EEXIST:
        return LS_EEXIST;
    case ENOSPC:
    case EDQUOT:
        return LS_ENOSPC;
    case EACCES:
    case EPERM:
    case EROFS:
        return LS_EACCES;
    case EFBIG:
    case ENAMETOOLONG:
        return LS_ETOOBIG;
    case ENOTDIR:
        return LS_ENOTDIR;
    case EINVAL:
        return LS_EINVAL;
    case EBUSY:
        return LS_EBUSY;
    case ELOOP:
        return LS_EPATH_SYMLINK;
    case EADDRINUSE:
        return LS_EADDRINUSE;
    default:
        return LS_EIO;
    }
}
