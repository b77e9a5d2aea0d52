/* One table of the bandwidth limits for options, config, API and CLI. */
#include "app/limits.h"

#include "lanspread/error.h"
#include "lanspread/rate.h"

#include <string.h>

/* Percent: 1..100. */
#define LS_SHARE_MAX 100

const ls_app_limit_t ls_app_limits[LS_APP_LIMITS_N] = {
    {"max-upload", "max_upload", LS_LIMIT_MAX_UPLOAD,
     "upload limit, all downloaders together (bytes/s: 500K, 50M; 0 = none)"},
    {"max-download", "max_download", LS_LIMIT_MAX_DOWNLOAD,
     "download limit, all downloads together (0 = none)"},
    {"peer-upload-share", "peer_upload_share", LS_LIMIT_PEER_UPLOAD_SHARE,
     "percent of the upload limit one downloader may take while others wait (1-100)"},
    {"playing-upload", "playing_upload", LS_LIMIT_PLAYING_UPLOAD,
     "upload limit while a game of the library runs here (0 = no change)"},
};
const size_t ls_app_limit_count = LS_APP_LIMITS_N;

const ls_app_limit_t *ls_app_limit_find(const char *name)
{
    for (size_t i = 0; i < ls_app_limit_count; i++)
        if (strcmp(name, ls_app_limits[i].option) == 0 ||
            strcmp(name, ls_app_limits[i].json_key) == 0)
            return &ls_app_limits[i];
    return NULL;
}

static int parse_share(const char *text, uint32_t *out)
{
    char digits[8];
    size_t len = strlen(text);
    uint64_t value;
    if (len > 0 && text[len - 1] == '%')
        len--;
    if (len == 0 || len >= sizeof digits)
        return LS_EINVAL;
    memcpy(digits, text, len);
    digits[len] = '\0';
    if (ls_size_parse(digits, LS_SHARE_MAX, &value) != 0 || value == 0 ||
        strspn(digits, "0123456789") != len)
        return LS_EINVAL;
    *out = (uint32_t)value;
    return 0;
}

int ls_app_limit_parse(const ls_app_limit_t *lim, const char *text, ls_peer_limits_t *limits,
                       uint32_t *fields)
{
    uint64_t rate = 0;
    uint32_t share = 0;
    int rc = lim->field == LS_LIMIT_PEER_UPLOAD_SHARE ? parse_share(text, &share)
                                                      : ls_size_parse(text, LS_RATE_MAX, &rate);
    if (rc != 0)
        return rc;
    switch (lim->field) {
    case LS_LIMIT_MAX_UPLOAD:
        limits->max_upload = rate;
        break;
    case LS_LIMIT_MAX_DOWNLOAD:
        limits->max_download = rate;
        break;
    case LS_LIMIT_PEER_UPLOAD_SHARE:
        limits->peer_upload_share = share;
        break;
    default:
        limits->playing_upload = rate;
        break;
    }
    *fields |= lim->field;
    return 0;
}
