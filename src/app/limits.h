/* Bandwidth limits at the edges: the daemon's options, the config file,
 * the API's JSON and the CLI all name them the same way and read their
 * values with one parser. An option name ("max-upload") is also its config
 * key; the JSON key is the same with '_' ("max_upload"). Rates are
 * lanspread/rate.h's ("50M" = 50 MiB/s, 0 = unlimited); the share is a
 * whole percent 1..100, with an optional '%'. */
#ifndef LS_APP_LIMITS_H
#define LS_APP_LIMITS_H

#include "lanspread/peer.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *option;   /* "max-upload": option and config key */
    const char *json_key; /* "max_upload" */
    uint32_t field;       /* LS_LIMIT_* */
    const char *help;
} ls_app_limit_t;

/* The limits: upload, download, per-peer share, playing upload. */
#define LS_APP_LIMITS_N 4
/* Longest value text accepted ("1099511627776" and then some). */
#define LS_APP_LIMIT_TEXT_MAX 32

extern const ls_app_limit_t ls_app_limits[LS_APP_LIMITS_N];
extern const size_t ls_app_limit_count;

/* The limit named option (or JSON key); NULL: none. */
const ls_app_limit_t *ls_app_limit_find(const char *name);

/* Reads text as the value of limit `lim` into *limits and adds its field
 * to *fields. LS_EINVAL for a malformed or out-of-range value. */
int ls_app_limit_parse(const ls_app_limit_t *lim, const char *text, ls_peer_limits_t *limits,
                       uint32_t *fields);

#endif
