/* ls_fetch: downloads one game with the peer runtime, for the multi-host
 * tests and the benchmark. Starts ls_peer_start in-process with static
 * peers, waits until it counts them, sends GET_GAME then
 * DOWNLOAD_GAME_FILES, waits for the end of the download and of the install
 * that follows, and prints one JSON line on stdout:
 *   {"result":"finished"|"failed"|"timeout", "reason":..., "bytes":N,
 *    "download_s":T (command to finished), "transfer_s":T (begin to
 *    finished), "rate_mbit":R, "peers":[{"peer_id","bytes"}],
 *    "cpu_user_s", "cpu_sys_s", "installed":bool,
 *    "resumed_bytes":N (already verified on disk when the download began)}
 * SIGUSR1 cancels the running download (result "canceled"; its verified
 * chunks stay in the resume file for the next run). Progress goes to stderr. Every wait is bounded
 * by --timeout. Exit status: 0 finished (and installed unless --no-install), 1 failed, 2 usage. */
#include "peer_harness.h"

#include "lanspread/catalog.h"
#include "lanspread/error.h"
#include "lanspread/rate.h"
#include "lanspread/log.h"
#include "lanspread/peer.h"
#include "lanspread/planner.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    ls_peer_config_t config;
    const char *game_id;
    const char *catalog_file;
    long expect_peers; /* -1: as many as --peer */
    double timeout_s;
    bool wait_install;
} fetch_opts_t;

/* Set by SIGUSR1; the wait loop turns it into one LS_CMD_CANCEL. */
static volatile sig_atomic_t cancel_requested;

static void on_sigusr1(int sig)
{
    (void)sig;
    cancel_requested = 1;
}

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ls_fetch --games DIR --state DIR --peer ADDR:PORT... --game ID\n"
                 "                [--catalog FILE] [--expect-peers N] [--timeout SECS]\n"
                 "                [--listen ADDR:PORT] [--no-install] [--ping-ms MS]\n"
                 "                [--stall-ms MS] [--max-download RATE]\n");
}

static int parse_plan(const char *name, uint32_t *mode)
{
    if (strcmp(name, "adaptive") == 0)
        *mode = LS_PLAN_ADAPTIVE;
    else if (strcmp(name, "round-robin") == 0)
        *mode = LS_PLAN_ROUND_ROBIN;
    else
        return LS_EINVAL;
    return 0;
}

/* A positive number of milliseconds, digits only. */
static int parse_ms(const char *text, uint32_t *out)
{
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || v == 0 || v > UINT32_MAX)
        return LS_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, fetch_opts_t *o)
{
    static const struct option options[] = {
        {"games", required_argument, NULL, 'g'},
        {"state", required_argument, NULL, 's'},
        {"peer", required_argument, NULL, 'p'},
        {"game", required_argument, NULL, 'G'},
        {"catalog", required_argument, NULL, 'c'},
        {"expect-peers", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'},
        {"no-install", no_argument, NULL, 'n'},
        /* Hidden: the seed's round-robin plan, for the benchmark. */
        {"plan", required_argument, NULL, 'P'},
        {"ping-ms", required_argument, NULL, 'i'},
        {"stall-ms", required_argument, NULL, 'S'},
        {"max-download", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    *o = (fetch_opts_t){.expect_peers = -1, .timeout_s = 300, .wait_install = true};
    o->config.listen = "0.0.0.0:0";
    o->config.ping_interval_ms = 1000;
    o->config.reconnect_ms = 500;
    o->config.no_mdns = true; /* exactly the --peer seeders: tests count their shares */
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'g':
            o->config.game_dir = optarg;
            break;
        case 's':
            o->config.state_dir = optarg;
            break;
        case 'p':
            if (o->config.static_peer_count == LS_STATIC_PEERS_MAX)
                return LS_EINVAL;
            o->config.static_peers[o->config.static_peer_count++] = optarg;
            break;
        case 'G':
            o->game_id = optarg;
            break;
        case 'c':
            o->catalog_file = optarg;
            break;
        case 'e':
            o->expect_peers = strtol(optarg, NULL, 10);
            break;
        case 't':
            o->timeout_s = strtod(optarg, NULL);
            break;
        case 'l':
            o->config.listen = optarg;
            break;
        case 'n':
            o->wait_install = false;
            break;
        case 'P':
            if (parse_plan(optarg, &o->config.plan_mode) != 0)
                return LS_EINVAL;
            break;
        case 'i':
            if (parse_ms(optarg, &o->config.ping_interval_ms) != 0)
                return LS_EINVAL;
            break;
        case 'S':
            if (parse_ms(optarg, &o->config.fetch_stall_ms) != 0)
                return LS_EINVAL;
            break;
        case 'D':
            if (ls_size_parse(optarg, LS_RATE_MAX, &o->config.limits.max_download) != 0)
                return LS_EINVAL;
            break;
        default:
            return LS_EINVAL;
        }
    }
    if (!o->config.game_dir || !o->config.state_dir || !o->game_id || optind != argc ||
        o->config.static_peer_count == 0 || o->timeout_s <= 0)
        return LS_EINVAL;
    if (o->expect_peers < 0)
        o->expect_peers = (long)o->config.static_peer_count;
    return 0;
}

static int load_catalog(const char *file, ls_catalog_t **out)
{
    char err[256] = "";
    int rc = ls_catalog_load_bundled(out, err, sizeof err);
    if (rc == 0 && file)
        rc = ls_catalog_add_file(*out, file, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "ls_fetch: catalog: %s\n", err[0] ? err : ls_strerror(rc));
    return rc;
}

static int remaining_ms(double deadline)
{
    double left = deadline - now_s();
    return left > 0 ? (int)(left * 1000) + 1 : 0;
}

/* Waits for the first of two event kinds after `since`; returns its copy. */
static json_t *wait_either(ls_event_log_t *log, size_t since, ls_peer_event_kind_t a,
                           ls_peer_event_kind_t b, double deadline, ls_peer_event_kind_t *which,
                           ls_peer_runtime_t *rt, const char *game_id)
{
    size_t seen_progress = since;
    while (remaining_ms(deadline) > 0) {
        if (cancel_requested == 1) {
            cancel_requested = 2;
            fprintf(stderr, "cancel requested\n");
            ls_peer_command(rt, LS_CMD_CANCEL, game_id);
        }
        json_t *ev = ls_event_log_wait(log, since, a, NULL, NULL, 50);
        *which = a;
        if (!ev) {
            ev = ls_event_log_wait(log, since, b, NULL, NULL, 1);
            *which = b;
        }
        if (ev)
            return ev;
        /* Echo progress to stderr, at most the runtime's own rate. */
        json_t *p =
            ls_event_log_wait(log, seen_progress, LS_EVENT_DOWNLOAD_PROGRESS, NULL, NULL, 0);
        if (p) {
            fprintf(stderr, "progress %lld/%lld bytes, %.1f Mbit/s;",
                    (long long)json_integer_value(json_object_get(p, "bytes_done")),
                    (long long)json_integer_value(json_object_get(p, "bytes_total")),
                    (double)json_integer_value(json_object_get(p, "rate_bps")) * 8 / 1e6);
            size_t i;
            json_t *peer;
            json_array_foreach(json_object_get(p, "peers"), i, peer)
                fprintf(stderr, " %.6s %.0fM w%lld l%lld",
                        json_string_value(json_object_get(peer, "peer_id")),
                        (double)json_integer_value(json_object_get(peer, "rate_bps")) * 8 / 1e6,
                        (long long)json_integer_value(json_object_get(peer, "window")),
                        (long long)json_integer_value(json_object_get(peer, "latency_ms")));
            fputc('\n', stderr);
            json_decref(p);
            seen_progress = ls_event_log_mark(log);
        }
    }
    return NULL;
}

typedef struct {
    const char *result;
    char reason[512];
    double t_command, t_begin, t_finished;
    json_int_t bytes;
    json_int_t resumed_bytes;
    json_t *peers; /* from the last progress event */
    bool installed;
} fetch_result_t;

static void last_progress_peers(ls_event_log_t *log, fetch_result_t *r)
{
    uv_mutex_lock(&log->lock);
    for (size_t i = log->count; i-- > 0;) {
        if (log->events[i].kind == LS_EVENT_DOWNLOAD_PROGRESS) {
            r->peers = json_deep_copy(json_object_get(log->events[i].data, "peers"));
            break;
        }
    }
    uv_mutex_unlock(&log->lock);
}

static void run_fetch(const fetch_opts_t *o, ls_peer_runtime_t *rt, ls_event_log_t *log,
                      fetch_result_t *r)
{
    double deadline = now_s() + o->timeout_s;
    json_int_t want = o->expect_peers;
    ls_peer_event_kind_t which;
    r->result = "timeout";
    json_t *ev = ls_event_log_wait(log, 0, LS_EVENT_PEER_COUNT, ls_pred_count_is, &want,
                                   remaining_ms(deadline));
    if (!ev) {
        snprintf(r->reason, sizeof r->reason, "did not reach %ld peers", o->expect_peers);
        return;
    }
    json_decref(ev);
    size_t mark = ls_event_log_mark(log);
    r->t_command = now_s();
    ls_peer_download(rt, o->game_id, NULL, 0, 0);
    ev = wait_either(log, mark, LS_EVENT_GOT_GAME_FILES, LS_EVENT_DOWNLOAD_FAILED, deadline, &which,
                     rt, o->game_id);
    if (ev && which == LS_EVENT_GOT_GAME_FILES) {
        json_decref(ev);
        json_t *begin = ls_event_log_wait(log, mark, LS_EVENT_DOWNLOAD_BEGIN, NULL, NULL,
                                          remaining_ms(deadline));
        r->t_begin = now_s();
        if (begin) {
            r->bytes = json_integer_value(json_object_get(begin, "bytes_total"));
            r->resumed_bytes = json_integer_value(json_object_get(begin, "bytes_done"));
        }
        json_decref(begin);
        ev = wait_either(log, mark, LS_EVENT_DOWNLOAD_FINISHED, LS_EVENT_DOWNLOAD_FAILED, deadline,
                         &which, rt, o->game_id);
        r->t_finished = now_s();
    }
    if (!ev) {
        snprintf(r->reason, sizeof r->reason, "no end of download in %.0f s", o->timeout_s);
        return;
    }
    last_progress_peers(log, r);
    if (which == LS_EVENT_DOWNLOAD_FAILED) {
        r->result = json_is_true(json_object_get(ev, "canceled")) ? "canceled" : "failed";
        snprintf(r->reason, sizeof r->reason, "%s",
                 json_string_value(json_object_get(ev, "reason")));
        json_decref(ev);
        return;
    }
    json_decref(ev);
    r->result = "finished";
    if (!o->wait_install)
        return;
    ev = wait_either(log, mark, LS_EVENT_INSTALL_FINISHED, LS_EVENT_INSTALL_FAILED, deadline,
                     &which, rt, o->game_id);
    r->installed = ev && which == LS_EVENT_INSTALL_FINISHED;
    if (!r->installed) {
        r->result = "failed";
        snprintf(r->reason, sizeof r->reason, "install: %s",
                 ev ? json_string_value(json_object_get(ev, "reason")) : "no end in time");
    }
    json_decref(ev);
}

static void print_result(const fetch_opts_t *o, fetch_result_t *r)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double transfer = r->t_finished - r->t_begin, download = r->t_finished - r->t_command;
    json_t *out =
        json_pack("{s:s,s:s,s:s,s:I,s:f,s:f,s:f,s:o,s:f,s:f,s:b,s:I}", "result", r->result,
                  "reason", r->reason, "game_id", o->game_id, "bytes", r->bytes, "download_s",
                  r->t_command > 0 ? download : 0.0, "transfer_s", r->t_begin > 0 ? transfer : 0.0,
                  "rate_mbit", transfer > 0 ? (double)r->bytes * 8 / transfer / 1e6 : 0.0, "peers",
                  r->peers ? r->peers : json_array(), "cpu_user_s",
                  (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, "cpu_sys_s",
                  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, "installed", r->installed,
                  "resumed_bytes", r->resumed_bytes);
    r->peers = NULL;
    char *text = json_dumps(out, JSON_COMPACT);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(out);
}

int main(int argc, char **argv)
{
    fetch_opts_t o;
    ls_catalog_t *catalog = NULL;
    ls_peer_runtime_t *rt = NULL;
    ls_event_log_t log;
    fetch_result_t r = {0};
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, on_sigusr1);
    if (load_catalog(o.catalog_file, &catalog) != 0)
        return 1;
    ls_event_log_init(&log);
    int rc = ls_peer_start(&o.config, catalog, ls_event_log_sink, &log, &rt);
    if (rc != 0) {
        fprintf(stderr, "ls_fetch: cannot start: %s\n", ls_strerror(rc));
        r.result = "failed";
        snprintf(r.reason, sizeof r.reason, "cannot start: %s", ls_strerror(rc));
    } else {
        run_fetch(&o, rt, &log, &r);
    }
    ls_peer_stop(rt);
    print_result(&o, &r);
    ls_event_log_free(&log);
    ls_catalog_free(catalog);
    bool ok = strcmp(r.result, "finished") == 0 && (r.installed || !o.wait_install);
    return ok ? 0 : 1;
}
