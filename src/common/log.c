/* Logging with a replaceable sink, safe to call from any thread. */
#include "lanspread/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static ls_log_sink_cb log_sink;
static void *log_sink_userdata;
static ls_log_level_t log_min_level = LS_LOG_INFO;

const char *ls_log_level_name(ls_log_level_t level)
{
    switch (level) {
    case LS_LOG_DEBUG:
        return "debug";
    case LS_LOG_INFO:
        return "info";
    case LS_LOG_WARN:
        return "warn";
    case LS_LOG_ERROR:
        return "error";
    }
    return "?";
}

void ls_log_set_sink(ls_log_sink_cb sink, void *userdata)
{
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_sink_userdata = userdata;
    pthread_mutex_unlock(&log_lock);
}

void ls_log_set_level(ls_log_level_t min_level)
{
    pthread_mutex_lock(&log_lock);
    log_min_level = min_level;
    pthread_mutex_unlock(&log_lock);
}

static void stderr_sink(ls_log_level_t level, const char *module, const char *message)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    localtime_r(&now.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %-9s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            now.tv_nsec / 1000000, ls_log_level_name(level), module, message);
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

bool ls_text_has_control(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (is_control(*c))
            return true;
    return false;
}

void ls_text_neutralize(char *s)
{
    for (unsigned char *c = (unsigned char *)s; *c; c++)
        if (is_control(*c))
            *c = '?';
}

void ls_log(ls_log_level_t level, const char *module, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    pthread_mutex_lock(&log_lock);
    if (level < log_min_level) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* Messages carry what peers send (names, error texts, mDNS names). */
    ls_text_neutralize(message);
    if (log_sink)
        log_sink(level, module, message, log_sink_userdata);
    else
        stderr_sink(level, module, message);
    pthread_mutex_unlock(&log_lock);
}
