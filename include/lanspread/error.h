/* Error codes shared by every Lanspread module.
 * Functions return 0 on success or one of these negative codes. */
#ifndef LANSPREAD_ERROR_H
#define LANSPREAD_ERROR_H

enum ls_error {
    LS_OK = 0,
    /* system */
    LS_ENOMEM = -1,
    LS_EIO = -2,
    LS_EINVAL = -3,
    LS_ENOENT = -4,
    LS_EEXIST = -5,
    LS_ENOSPC = -6,
    LS_EACCES = -7,
    LS_ETOOBIG = -8,
    LS_EAGAIN = -9,
    LS_ECORRUPT = -10,
    LS_EBUSY = -11,
    LS_ECANCELED = -12,
    LS_ETIMEDOUT = -13,
    LS_ENOTDIR = -14,
    /* protocol decoding */
    LS_EFRAME_TOO_BIG = -20,
    LS_EJSON = -21,
    LS_EUTF8 = -22,
    LS_EDUPKEY = -23,
    LS_ETYPE = -24,
    LS_EMISSING = -25,
    LS_EUNKNOWN_KIND = -26,
    LS_EUNKNOWN_FIELD = -27,
    LS_ERANGE = -28,
    LS_EVERSION = -29,
    /* paths inside a game root */
    LS_EPATH_ABSOLUTE = -30,
    LS_EPATH_DOTDOT = -31,
    LS_EPATH_NUL = -32,
    LS_EPATH_RESERVED = -33,
    LS_EPATH_SYMLINK = -34,
    LS_EPATH_INVALID = -35,
    /* library */
    LS_EUNKNOWN_GAME = -40,
    LS_ENOT_DOWNLOADED = -41,
    LS_ECATALOG = -42,
    LS_EINVALID_ID = -43,
    /* install */
    LS_EUNSAFE_ENTRY = -50,
    LS_EARCHIVE = -51,
    LS_EINTENT = -52,
    LS_ENOT_INSTALLED = -53,
    LS_EINSTALLED = -54,
    LS_ENOT_OWNED = -55,
    LS_EINCONSISTENT = -56,
    /* peers */
    LS_EAUTH = -60,
    LS_EPEER_GONE = -61,
    LS_EREMOTE = -62,
    LS_ESTATE = -63,
    /* transport */
    LS_EREFUSED = -64,
    LS_EUNREACHABLE = -65,
    LS_ETLS = -66,
    LS_EQUIC = -67,
    LS_ELIMIT = -68,
    /* discovery */
    LS_EMDNS = -70,
    LS_ETXT = -71,
    /* downloads */
    LS_ERETRIES = -75,
    LS_ENOPEERS = -76,
    LS_ERESUME = -77,
    LS_EINCOMPLETE = -78,
    LS_ECHUNK = -79,
    /* local control API and CLI */
    LS_EHTTP = -80,
    LS_ENODAEMON = -81,
    LS_ETOKEN = -82,
    LS_ECONFIG = -83,
    LS_EHTTP_STATUS = -84,
    LS_EADDRINUSE = -85, /* a listen address another process holds */
};

/* A static, human-readable description of a code; never NULL. */
const char *ls_strerror(int code);

/* Maps an errno value to the closest LS_E* code. */
int ls_error_from_errno(int errnum);

#endif
