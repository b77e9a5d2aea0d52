/* Logging: one line per event, to stderr or to a sink a program installs. */
#ifndef LANSPREAD_LOG_H
#define LANSPREAD_LOG_H

#include <stdbool.h>

typedef enum { LS_LOG_DEBUG = 0, LS_LOG_INFO, LS_LOG_WARN, LS_LOG_ERROR } ls_log_level_t;

/* Receives every message at or above the set level; called under a lock,
 * from whichever thread logged. `message` is only valid during the call. */
typedef void (*ls_log_sink_cb)(ls_log_level_t level, const char *module, const char *message,
                               void *userdata);

/* NULL restores the default sink (stderr). */
void ls_log_set_sink(ls_log_sink_cb sink, void *userdata);
void ls_log_set_level(ls_log_level_t min_level);
const char *ls_log_level_name(ls_log_level_t level);

void ls_log(ls_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ls_debug(mod, ...) ls_log(LS_LOG_DEBUG, mod, __VA_ARGS__)
#define ls_info(mod, ...) ls_log(LS_LOG_INFO, mod, __VA_ARGS__)
#define ls_warn(mod, ...) ls_log(LS_LOG_WARN, mod, __VA_ARGS__)
#define ls_error(mod, ...) ls_log(LS_LOG_ERROR, mod, __VA_ARGS__)

/* Text that came from elsewhere (a peer, a file, a user) in log lines and
 * one-line files: a control byte is a newline that forges a line or an
 * escape that drives a terminal. */
bool ls_text_has_control(const char *s);
/* Turns every control byte of s into '?', in place. */
void ls_text_neutralize(char *s);

#endif
