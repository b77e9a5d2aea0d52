/* The CLI's output: tables of games and peers, the status, and an
 * operation's progress as a bar (terminal), lines (pipe) or JSON events. */
#include "app/client_output.h"

#include "app/app_common.h"
#include "app/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *str_or(const json_t *obj, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : fallback;
}

static void print_json(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        puts(text);
    free(text);
}

/* A stopped download's verified bytes, on a line of its own (the game's
 * line keeps its shape for scripts): "  kept: 22% (42.0 MiB of 192.0 MiB),
 * the next download resumes". */
static void print_kept(const json_t *kept)
{
    char done[32], total[32];
    json_int_t d = json_integer_value(json_object_get(kept, "bytes_done"));
    json_int_t t = json_integer_value(json_object_get(kept, "bytes_total"));
    if (!kept || d <= 0 || t <= 0)
        return;
    printf("  kept: %lld%% (%s of %s), the next download resumes\n", (long long)(100 * d / t),
           ls_app_format_size((unsigned long long)d, done, sizeof done),
           ls_app_format_size((unsigned long long)t, total, sizeof total));
}

static void print_games(const json_t *doc)
{
    size_t i;
    json_t *g;
    char size[32];
    printf("%-16s %-28s %-12s %10s %5s  %s\n", "ID", "NAME", "VERSION", "SIZE", "PEERS", "STATE");
    json_array_foreach(json_object_get(doc, "games"), i, g)
    {
        const char *version = str_or(g, "version", str_or(g, "latest_version", "-"));
        const char *state = str_or(g, "state", "?");
        json_t *size_v = json_object_get(g, "size");
        printf("%-16s %-28.28s %-12.12s %10s %5lld  %s", str_or(g, "id", "?"),
               str_or(g, "name", "?"), version,
               size_v ? ls_app_format_size((unsigned long long)json_integer_value(size_v), size,
                                           sizeof size)
                      : "-",
               (long long)json_integer_value(json_object_get(g, "peer_count")), state);
        if (strcmp(state, "failed") == 0)
            printf(": %s", str_or(g, "reason", "unknown reason"));
        putchar('\n');
        print_kept(json_object_get(g, "kept"));
    }
}

/* "connected", "never", or how long ago, for people. */
static const char *last_seen_text(const json_t *p, char *buf, size_t len)
{
    json_t *seen = json_object_get(p, "last_seen");
    long long ago = (long long)time(NULL) - (long long)json_integer_value(seen);
    if (json_is_true(json_object_get(p, "connected")))
        return "connected";
    if (!json_is_integer(seen))
        return "never";
    if (ago < 120)
        snprintf(buf, len, "%lld s ago", ago < 0 ? 0 : ago);
    else if (ago < 2 * 3600)
        snprintf(buf, len, "%lld min ago", ago / 60);
    else if (ago < 2 * 86400)
        snprintf(buf, len, "%lld h ago", ago / 3600);
    else
        snprintf(buf, len, "%lld days ago", ago / 86400);
    return buf;
}

static void print_peers(const json_t *doc)
{
    size_t i;
    json_t *p;
    char seen[32];
    printf("%-14s %-20s %-24s %s\n", "PEER", "NAME", "ADDRESS", "GAMES");
    json_array_foreach(json_object_get(doc, "peers"), i, p) printf(
        "%-14.12s %-20.20s %-24s %lld\n", str_or(p, "peer_id", "?"), str_or(p, "name", "?"),
        str_or(p, "address", "?"), (long long)json_integer_value(json_object_get(p, "game_count")));
    const json_t *known = json_object_get(doc, "known");
    if (!known)
        return;
    printf("\nknown peers (remembered across restarts, dialled at start; added: saved in the "
           "config):\n%-24s %-14s %-20s %-14s %s\n",
           "ADDRESS", "PEER", "NAME", "LAST SEEN", "ADDED");
    json_array_foreach(known, i, p) printf(
        "%-24s %-14.12s %-20.20s %-14s %s\n", str_or(p, "address", "?"), str_or(p, "peer_id", "-"),
        str_or(p, "name", "-"), last_seen_text(p, seen, sizeof seen),
        json_is_true(json_object_get(p, "added")) ? "yes" : "no");
}

/* "50.0 MiB/s", or "unlimited" for 0. */
static const char *rate_text(const json_t *value, char *buf, size_t len)
{
    json_int_t rate = json_integer_value(value);
    if (rate <= 0)
        return "unlimited";
    snprintf(buf, len, "%.1f MiB/s", (double)rate / (1024.0 * 1024.0));
    return buf;
}

static void print_limits(const json_t *doc)
{
    char a[32], b[32], c[32], d[32];
    json_int_t playing_rate = json_integer_value(json_object_get(doc, "playing_upload"));
    printf("max upload:        %s\n", rate_text(json_object_get(doc, "max_upload"), a, sizeof a));
    printf("max download:      %s\n", rate_text(json_object_get(doc, "max_download"), b, sizeof b));
    printf("peer upload share: %lld %%\n",
           (long long)json_integer_value(json_object_get(doc, "peer_upload_share")));
    printf("playing upload:    %s\n",
           playing_rate ? rate_text(json_object_get(doc, "playing_upload"), c, sizeof c)
                        : "no change");
    printf("upload now:        %s%s%s\n", rate_text(json_object_get(doc, "upload"), d, sizeof d),
           json_is_string(json_object_get(doc, "playing")) ? ", playing " : "",
           str_or(doc, "playing", ""));
}

static void print_status(const json_t *doc)
{
    printf("peer id:      %s\n", str_or(doc, "peer_id", "-"));
    printf("ready:        %s\n", json_is_true(json_object_get(doc, "ready")) ? "yes" : "no");
    printf("game dir:     %s\n", str_or(doc, "game_dir", "-"));
    printf("web UI:       %s\n", str_or(doc, "http", "-"));
    printf("peers:        %lld\n",
           (long long)json_integer_value(json_object_get(doc, "peer_count")));
    printf("local games:  %lld\n",
           (long long)json_integer_value(json_object_get(doc, "local_games")));
    printf("remote games: %lld\n",
           (long long)json_integer_value(json_object_get(doc, "remote_games")));
    const json_t *uploads = json_object_get(doc, "uploads");
    double rate = (double)json_integer_value(json_object_get(uploads, "rate_bps"));
    printf("uploading:    %.1f MiB/s\n", rate / (1024.0 * 1024.0));
    const json_t *playing = json_object_get(doc, "playing");
    if (json_is_object(playing))
        printf("playing:      %s (uploads slowed down)\n", str_or(playing, "game_id", "?"));
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(uploads, "games"), i, g)
        printf("  %-20s %.1f MiB/s to %lld peers, %.1f MiB in all\n", str_or(g, "game_id", "?"),
               (double)json_integer_value(json_object_get(g, "rate_bps")) / (1024.0 * 1024.0),
               (long long)json_integer_value(json_object_get(g, "peers")),
               (double)json_integer_value(json_object_get(g, "bytes")) / (1024.0 * 1024.0));
}

void ls_client_print_document(const char *what, const json_t *doc, bool as_json)
{
    if (as_json)
        print_json(doc);
    else if (strcmp(what, "games") == 0)
        print_games(doc);
    else if (strcmp(what, "peers") == 0)
        print_peers(doc);
    else if (strcmp(what, "limits") == 0)
        print_limits(doc);
    else
        print_status(doc);
}

void ls_client_print_accepted(const char *action, const json_t *doc, bool as_json)
{
    if (as_json)
        print_json(doc);
    else
        printf("%s: accepted\n", action);
}

/* --- following an operation ------------------------------------------------ */

/* The phases an operation shows progress for. */
typedef enum { PHASE_DOWNLOAD, PHASE_INSTALL, PHASE_COUNT } ls_phase_t;

static const char *const phase_names[PHASE_COUNT] = {"download", "install"};

typedef struct {
    const char *action, *game_id;
    bool as_json, is_tty;
    bool is_bar_shown;          /* a terminal line is open: end it first */
    int last_step[PHASE_COUNT]; /* highest step printed to a pipe */
    long long last_draw_ms;     /* terminal redraws are rate-limited */
    int last_draw_percent;
} ls_follow_t;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One updating line on the terminal: redrawn when the percentage changed
 * and LS_CLIENT_REDRAW_MS passed (or at 100 %), never more. */
static void draw_bar(ls_follow_t *f, ls_phase_t phase, int percent, long long done, long long total,
                     double rate)
{
    char a[32], b[32], r[32], bar[31];
    long long now = now_ms();
    if (f->is_bar_shown && percent != 100 &&
        (percent == f->last_draw_percent || now - f->last_draw_ms < LS_CLIENT_REDRAW_MS))
        return;
    int fill = percent * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%-8s %s [%s] %3d%% %s/%s", phase_names[phase], f->game_id, bar, percent,
            ls_app_format_size((unsigned long long)done, a, sizeof a),
            ls_app_format_size((unsigned long long)total, b, sizeof b));
    if (rate > 0)
        fprintf(stderr, " %s/s", ls_app_format_size((unsigned long long)rate, r, sizeof r));
    fputs("\033[K", stderr); /* clears what a longer earlier line left */
    fflush(stderr);
    f->is_bar_shown = true;
    f->last_draw_ms = now;
    f->last_draw_percent = percent;
}

static void show_progress(ls_follow_t *f, ls_phase_t phase, long long done, long long total,
                          double rate)
{
    char a[32], b[32];
    int percent = total > 0 && done > 0 ? (int)(done >= total ? 100 : 100 * done / total) : 0;
    int step = percent / LS_CLIENT_PIPE_STEP;
    if (f->is_tty) {
        draw_bar(f, phase, percent, done, total, rate);
    } else if (step > f->last_step[phase]) {
        /* only forward: a phase prints at most 100 / LS_CLIENT_PIPE_STEP lines */
        printf("%s %s: %d%% (%s of %s)\n", phase_names[phase], f->game_id,
               step * LS_CLIENT_PIPE_STEP,
               ls_app_format_size((unsigned long long)done, a, sizeof a),
               ls_app_format_size((unsigned long long)total, b, sizeof b));
        fflush(stdout);
        f->last_step[phase] = step;
    }
}

static bool is_for_game(const json_t *data, const char *game_id)
{
    const char *id = json_string_value(json_object_get(data, "game_id"));
    if (!id)
        id = json_string_value(json_object_get(data, "id"));
    return id && strcmp(id, game_id) == 0;
}

/* The event that ends the operation successfully. */
static const char *success_event(const char *action)
{
    if (strcmp(action, "uninstall") == 0)
        return "uninstall-finished";
    return "install-finished"; /* a download or update installs when it finishes */
}

/* set-game-dir: the runtime's answer names no game, only the directory. */
static int on_game_dir_event(ls_follow_t *f, const char *event, const json_t *data)
{
    const char *what = str_or(data, "what", "");
    if (strcmp(event, "game-dir-changed") == 0) {
        if (!f->as_json)
            printf("game directory is now %s\n", str_or(data, "game_dir", "?"));
        return LS_EXIT_OK;
    }
    if (strcmp(event, "runtime-failure") == 0 && strcmp(what, "set game directory") == 0) {
        fprintf(stderr, "lanspread: %s\n", str_or(data, "reason", "refused"));
        return LS_EXIT_FAILURE;
    }
    return -1;
}

/* Progress events: -1 when `event` is none. */
static int on_progress_event(ls_follow_t *f, const char *event, const json_t *data)
{
    if (strcmp(event, "download-progress") == 0) {
        if (!f->as_json)
            show_progress(f, PHASE_DOWNLOAD,
                          json_integer_value(json_object_get(data, "bytes_done")),
                          json_integer_value(json_object_get(data, "bytes_total")),
                          json_number_value(json_object_get(data, "rate_bps")));
        return 0;
    }
    if (strcmp(event, "install-progress") == 0) {
        if (!f->as_json)
            show_progress(f, PHASE_INSTALL, json_integer_value(json_object_get(data, "done")),
                          json_integer_value(json_object_get(data, "total")), 0);
        return 0;
    }
    return -1;
}

/* -1: go on; otherwise the exit code. */
static int on_event(ls_follow_t *f, const char *event, const json_t *data)
{
    if (strcmp(f->action, "set-game-dir") == 0)
        return on_game_dir_event(f, event, data);
    if (!is_for_game(data, f->game_id) || on_progress_event(f, event, data) == 0)
        return -1;
    if (!f->as_json && strcmp(event, "request") != 0) {
        printf("%s%s %s\n", f->is_bar_shown ? "\n" : "", event, f->game_id);
        f->is_bar_shown = false;
    }
    bool is_canceled = json_is_true(json_object_get(data, "canceled"));
    if (strcmp(f->action, "cancel") == 0 && strcmp(event, "download-failed") == 0)
        return is_canceled ? LS_EXIT_OK : LS_EXIT_FAILURE;
    if (strcmp(f->action, "cancel") == 0 && strcmp(event, "download-finished") == 0) {
        fprintf(stderr, "lanspread: the download of %s finished before it could be canceled\n",
                f->game_id);
        return LS_EXIT_FAILURE;
    }
    if (strstr(event, "-failed")) {
        fprintf(stderr, "lanspread: %s: %s\n", event,
                str_or(data, "reason", str_or(data, "error", "unknown reason")));
        return LS_EXIT_FAILURE;
    }
    return strcmp(event, success_event(f->action)) == 0 ? LS_EXIT_OK : -1;
}

/* Step between looks at *interrupts while no event comes. */
#define FOLLOW_POLL_MS 250

int ls_client_follow(ls_httpc_stream_t *stream, const char *action, const char *game_id,
                     bool as_json, int timeout_s, volatile sig_atomic_t *interrupts)
{
    ls_follow_t f = {.action = action,
                     .game_id = game_id,
                     .as_json = as_json,
                     .is_tty = isatty(STDERR_FILENO) && !as_json,
                     .last_step = {0, 0},
                     .last_draw_percent = -1};
    time_t deadline = time(NULL) + timeout_s;
    int code = -1;
    while (code < 0 && time(NULL) < deadline) {
        char *event = NULL, *text = NULL;
        if (*interrupts) {
            code = LS_CLIENT_INTERRUPTED;
            break;
        }
        int rc = ls_httpc_stream_next(stream, FOLLOW_POLL_MS, &event, &text);
        if (rc < 0) {
            fprintf(stderr, "%slanspread: the daemon closed the event stream\n",
                    f.is_bar_shown ? "\n" : "");
            return LS_EXIT_FAILURE;
        }
        json_t *data = rc == 1 ? json_loads(text, 0, NULL) : NULL;
        if (data && strcmp(event, "snapshot") != 0) {
            if (as_json)
                printf("{\"event\":\"%s\",\"data\":%s}\n", event, text);
            code = on_event(&f, event, data);
            fflush(stdout);
        }
        json_decref(data);
        free(event);
        free(text);
    }
    if (f.is_bar_shown)
        fputc('\n', stderr);
    if (code == -1) {
        fprintf(stderr, "lanspread: %s %s: no result after %d s\n", action, game_id, timeout_s);
        code = LS_EXIT_FAILURE;
    }
    return code;
}
