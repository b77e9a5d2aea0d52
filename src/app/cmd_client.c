/* The CLI subcommands that drive a running daemon through its control API:
 * games, peers, status, download, update, install, uninstall, cancel,
 * rescan, set-game-dir, open. They find the daemon through STATE/api.json. */
#include "app/app_common.h"
#include "app/client_output.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/http_client.h"
#include "app/instance.h"
#include "app/limits.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define LS_CLIENT_TIMEOUT_MS 10000
/* After Ctrl-C asked for a cancel: how long to wait for the daemon to say
 * the download stopped. */
#define LS_CANCEL_WAIT_S 15

/* Ctrl-C while following an operation; counted by the handler, read by
 * the follow loop (it polls in short steps, so it notices within one). */
static volatile sig_atomic_t client_interrupts;

static void interrupt_cb(int sig)
{
    (void)sig;
    client_interrupts++;
}

typedef struct {
    const char *name;
    const char *args; /* "" or "ID" or "DIR" */
    const char *summary;
    bool can_wait; /* follows the operation's events to its end */
} ls_client_command_t;

static const ls_client_command_t client_commands[] = {
    {"games", "", "list every game: local and on other peers, with its state", false},
    {"peers", "", "list the connected peers and the known ones (remembered, added)", false},
    {"peer", "add ADDR:PORT | forget ADDR[:PORT]|ID",
     "add a peer address (dialled now and at every start: saved in the config), or forget "
     "a peer (no longer remembered nor dialled)",
     false},
    {"status", "", "show the daemon's status", false},
    {"download", "ID", "download a game from the peers, then install it", true},
    {"update", "ID", "fetch a game's latest version from the peers", true},
    {"install", "ID", "install a downloaded game", true},
    {"uninstall", "ID", "uninstall a game (its downloaded files stay)", true},
    {"cancel", "ID", "cancel a game's download (verified chunks are kept for a resume)", true},
    {"rescan", "[ID]", "rescan the game directory (or one game) and announce changes", false},
    {"set-game-dir", "DIR",
     "validate DIR, switch to it, save it in the config, rescan, re-announce", true},
    {"open", "", "open the web UI in the browser through a new one-time login link", false},
    {"limits", "", "show the bandwidth limits, or change them (saved in the config)", false},
};

/* Option codes of the limits: LS_OPT_LIMIT + their index in ls_app_limits. */
#define LS_OPT_LIMIT 256

typedef struct {
    const ls_client_command_t *cmd;
    char *state_dir;
    const char *api_url, *token, *arg;
    const char *verb; /* peer: add or forget */
    bool as_json, is_no_wait, is_print_only, is_detach;
    int timeout_s;
    json_t *limits; /* limits: the changes asked for ({} when none) */
} ls_client_options_t;

static void client_usage(const ls_client_command_t *cmd, FILE *out)
{
    fprintf(out,
            "usage: lanspread %s%s%s [options]\n\n%s.\n\n"
            "  --json          machine-readable output (JSON)\n"
            "  --state DIR     the daemon's state directory, where it wrote api.json\n"
            "                  (default: $XDG_STATE_HOME/lanspread)\n"
            "  --api URL       the daemon's API, e.g. http://127.0.0.1:7797/ (loopback)\n"
            "  --token TOKEN   the API token (default: from api.json; also\n"
            "                  $LANSPREAD_TOKEN)\n",
            cmd->name, cmd->args[0] ? " " : "", cmd->args, cmd->summary);
    if (strcmp(cmd->name, "open") == 0)
        fprintf(out, "  --print         print the link instead of starting xdg-open\n");
    for (size_t i = 0; strcmp(cmd->name, "limits") == 0 && i < ls_app_limit_count; i++)
        fprintf(out, "  --%s %s\n                  %s\n", ls_app_limits[i].option,
                ls_app_limits[i].field == LS_LIMIT_PEER_UPLOAD_SHARE ? "PERCENT" : "RATE",
                ls_app_limits[i].help);
    if (cmd->can_wait)
        fprintf(out, "  --no-wait       return once the daemon accepted the request\n"
                     "  --timeout SEC   give up waiting after SEC seconds (default 3600)\n"
                     "  --detach        Ctrl-C only stops waiting: a download goes on in\n"
                     "                  the daemon (without it, Ctrl-C on download or update\n"
                     "                  asks the daemon to cancel; verified chunks are kept)\n");
    fprintf(out, "  --help          this help\n\n"
                 "Without --state or --api the daemon is found in the default state\n"
                 "directory, else in the per-user registry ($XDG_RUNTIME_DIR/lanspread)\n"
                 "when exactly one daemon is registered there.\n\n"
                 "exit codes: 0 done, 1 the operation failed, 2 usage (also: several\n"
                 "daemons run and none was chosen), 3 no daemon running, 4 the daemon\n"
                 "refused the request (unknown game, bad state or input), 5 the daemon\n"
                 "does not support the request (an older version), 130 interrupted by\n"
                 "Ctrl-C\n");
}

/* --timeout SEC: a whole number of seconds, 1..INT_MAX, nothing else. */
static bool parse_timeout(const char *text, int *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || text[0] < '0' || text[0] > '9' || value <= 0 ||
        value > INT_MAX)
        return false;
    *out = (int)value;
    return true;
}

/* --max-upload RATE and the like, for `limits` only: checked here (a typo
 * is a usage error, not a refusal) and sent as given. */
static int add_limit(ls_client_options_t *o, int opt, const char *text)
{
    ls_peer_limits_t limits = {.max_upload = 0};
    uint32_t fields = 0;
    if (opt < LS_OPT_LIMIT || opt >= LS_OPT_LIMIT + (int)ls_app_limit_count ||
        strcmp(o->cmd->name, "limits") != 0)
        return LS_EINVAL;
    const ls_app_limit_t *lim = &ls_app_limits[opt - LS_OPT_LIMIT];
    if (ls_app_limit_parse(lim, text, &limits, &fields) != 0) {
        fprintf(stderr, "lanspread limits: --%s %s: %s\n", lim->option, text, lim->help);
        return LS_EINVAL;
    }
    if (!o->limits && !(o->limits = json_object()))
        return LS_ENOMEM;
    return json_object_set_new(o->limits, lim->json_key, json_string(text)) == 0 ? 0 : LS_ENOMEM;
}

/* Returns -1 to go on, or an exit code. */
static int parse_client_options(int argc, char **argv, ls_client_options_t *o)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"state", required_argument, NULL, 's'},
        {"api", required_argument, NULL, 'a'},
        {"token", required_argument, NULL, 't'},
        {"no-wait", no_argument, NULL, 'W'},
        {"timeout", required_argument, NULL, 'T'},
        {"detach", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"print", no_argument, NULL, 'P'},
        {"max-upload", required_argument, NULL, LS_OPT_LIMIT + 0},
        {"max-download", required_argument, NULL, LS_OPT_LIMIT + 1},
        {"peer-upload-share", required_argument, NULL, LS_OPT_LIMIT + 2},
        {"playing-upload", required_argument, NULL, LS_OPT_LIMIT + 3},
        {NULL, 0, NULL, 0},
    };
    int opt;
    o->timeout_s = 3600;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'j':
            o->as_json = true;
            break;
        case 's':
            free(o->state_dir);
            o->state_dir = strdup(optarg);
            break;
        case 'a':
            o->api_url = optarg;
            break;
        case 't':
            o->token = optarg;
            break;
        case 'W':
            o->is_no_wait = true;
            break;
        case 'D':
            o->is_detach = true;
            break;
        case 'T':
            if (!parse_timeout(optarg, &o->timeout_s)) {
                fprintf(stderr,
                        "lanspread %s: --timeout: '%s' is not a whole number of seconds "
                        "from 1 to %d\n",
                        o->cmd->name, optarg, INT_MAX);
                client_usage(o->cmd, stderr);
                return LS_EXIT_USAGE;
            }
            break;
        case 'P':
            if (strcmp(o->cmd->name, "open") != 0) {
                client_usage(o->cmd, stderr);
                return LS_EXIT_USAGE;
            }
            o->is_print_only = true;
            break;
        case 'h':
            client_usage(o->cmd, stdout);
            return LS_EXIT_OK;
        default:
            if (add_limit(o, opt, optarg) == 0)
                break;
            client_usage(o->cmd, stderr);
            return LS_EXIT_USAGE;
        }
    }
    if (strcmp(o->cmd->name, "peer") == 0) {
        o->verb = optind < argc ? argv[optind++] : "";
        if (strcmp(o->verb, "add") != 0 && strcmp(o->verb, "forget") != 0) {
            fprintf(stderr, "lanspread peer: expected add ADDR:PORT or forget ADDR|ID\n");
            client_usage(o->cmd, stderr);
            return LS_EXIT_USAGE;
        }
    }
    bool needs_arg = strcmp(o->cmd->args, "ID") == 0 || strcmp(o->cmd->args, "DIR") == 0 || o->verb;
    bool may_arg = needs_arg || o->cmd->args[0] == '[';
    if ((needs_arg && optind + 1 != argc) || (!may_arg && optind != argc) ||
        (may_arg && optind + 1 < argc) || o->timeout_s <= 0) {
        client_usage(o->cmd, stderr);
        return LS_EXIT_USAGE;
    }
    o->arg = optind < argc ? argv[optind] : NULL;
    return -1;
}

/* The daemon's address and token: --api and --token (or $LANSPREAD_TOKEN),
 * else the daemon ls_instance_locate picks: --state's, the default state
 * directory's, or the only registered one. Returns -1 to go on, or an exit
 * code after saying why. */
static int find_daemon(ls_client_options_t *o, ls_httpc_target_t *t, ls_endpoint_t *e)
{
    const char *url = o->api_url, *token = o->token ? o->token : getenv("LANSPREAD_TOKEN");
    char why[2048] = "";
    if (url && !token && !o->state_dir) {
        fprintf(stderr,
                "lanspread: --api %s needs the daemon's token: pass --token TOKEN or set "
                "$LANSPREAD_TOKEN (the daemon wrote it to STATE/%s), or name the daemon with "
                "--state DIR instead\n",
                url, LS_ENDPOINT_FILE);
        return LS_EXIT_USAGE;
    }
    if (!url || !token) {
        char *dir = NULL;
        int rc = ls_instance_locate(o->state_dir, e, &dir, why, sizeof why);
        if (rc == LS_EBUSY) {
            fprintf(stderr, "lanspread: %s\n", why);
            return LS_EXIT_USAGE;
        }
        if (rc != 0) {
            fprintf(stderr, "lanspread: no running daemon found (%s)\n", why);
            return LS_EXIT_NO_DAEMON;
        }
        free(o->state_dir);
        o->state_dir = dir;
        url = url ? url : e->url;
        token = token ? token : e->token;
    }
    if (ls_httpc_target(url, token, t) != 0) {
        fprintf(stderr, "lanspread: %s is not a loopback http://ADDR:PORT/ address\n", url);
        return LS_EXIT_USAGE;
    }
    return -1;
}

static int exit_for_status(int status)
{
    if (status >= 200 && status < 300)
        return LS_EXIT_OK;
    if (status == 501)
        return LS_EXIT_UNSUPPORTED;
    return status >= 400 && status < 500 ? LS_EXIT_REFUSED : LS_EXIT_FAILURE;
}

/* One request; prints the daemon's error message on failure. */
static int call(const ls_httpc_target_t *t, const char *method, const char *path, const char *body,
                json_t **doc)
{
    char *text = NULL;
    int status = 0;
    int rc = ls_httpc_request(t, method, path, body, LS_CLIENT_TIMEOUT_MS, &status, &text);
    *doc = NULL;
    if (rc != 0) {
        fprintf(stderr, "lanspread: daemon at %s: %s\n", t->host, ls_strerror(rc));
        return rc == LS_ENODAEMON ? LS_EXIT_NO_DAEMON : LS_EXIT_FAILURE;
    }
    *doc = json_loads(text, 0, NULL);
    free(text);
    int code = exit_for_status(status);
    if (code != LS_EXIT_OK) {
        const char *msg = json_string_value(json_object_get(*doc, "error"));
        fprintf(stderr, "lanspread: %s\n", msg ? msg : "request refused");
    }
    return code;
}

static int run_read(const ls_client_options_t *o, const ls_httpc_target_t *t)
{
    char path[64];
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/api/%s", o->cmd->name);
    int code = call(t, "GET", path, NULL, &doc);
    if (code == LS_EXIT_OK)
        ls_client_print_document(o->cmd->name, doc, o->as_json);
    json_decref(doc);
    return code;
}

/* The connected peers, then every known one (remembered or added). */
static int run_peers(const ls_client_options_t *o, const ls_httpc_target_t *t)
{
    json_t *doc = NULL, *known = NULL;
    int code = call(t, "GET", "/api/peers", NULL, &doc);
    if (code == LS_EXIT_OK)
        code = call(t, "GET", "/api/known-peers", NULL, &known);
    if (code == LS_EXIT_OK) {
        json_object_set(doc, "known", json_object_get(known, "peers"));
        ls_client_print_document("peers", doc, o->as_json);
    }
    json_decref(known);
    json_decref(doc);
    return code;
}

static int run_simple_post(const ls_client_options_t *o, const ls_httpc_target_t *t,
                           const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *doc = NULL;
    int code = text ? call(t, "POST", path, text, &doc) : LS_EXIT_FAILURE;
    if (code == LS_EXIT_OK)
        ls_client_print_accepted(o->cmd->name, doc, o->as_json);
    json_decref(doc);
    free(text);
    return code;
}

/* Ctrl-C while following: a download (or update) is canceled unless
 * --detach; anything else goes on in the daemon. Either way the user is told
 * which, and the exit code is LS_EXIT_INTERRUPTED. */
static int on_interrupt(const ls_client_options_t *o, const ls_httpc_target_t *t,
                        ls_httpc_stream_t *stream)
{
    const char *name = o->cmd->name;
    bool is_download = strcmp(name, "download") == 0 || strcmp(name, "update") == 0;
    char path[256];
    json_t *doc = NULL;
    fputs(isatty(STDERR_FILENO) ? "\n" : "", stderr);
    if (!is_download || o->is_detach) {
        fprintf(stderr, "lanspread: interrupted: the %s of %s goes on in the daemon%s\n", name,
                o->arg ? o->arg : "the game directory",
                is_download ? " ('lanspread cancel ID' stops it)" : "");
        return LS_EXIT_INTERRUPTED;
    }
    fprintf(stderr,
            "lanspread: interrupted: asking the daemon to cancel the download of %s "
            "(Ctrl-C again stops waiting)\n",
            o->arg);
    snprintf(path, sizeof path, "/api/games/%s/cancel", o->arg);
    client_interrupts = 0;
    int code = call(t, "POST", path, "{}", &doc);
    json_decref(doc);
    if (code == LS_EXIT_OK)
        code = ls_client_follow(stream, "cancel", o->arg, o->as_json, LS_CANCEL_WAIT_S,
                                &client_interrupts);
    if (code == LS_EXIT_OK)
        fprintf(stderr,
                "lanspread: the download of %s is canceled (verified chunks are kept "
                "for a resume)\n",
                o->arg);
    else if (code == LS_CLIENT_INTERRUPTED)
        fprintf(stderr, "lanspread: stopped waiting for the cancel of %s\n", o->arg);
    else
        fprintf(stderr, "lanspread: %s was not canceled; what runs goes on in the daemon\n",
                o->arg);
    return LS_EXIT_INTERRUPTED;
}

/* POST the action with the event stream already open, so no event of the
 * operation can be missed, then follow it to its end. */
static int run_action(const ls_client_options_t *o, const ls_httpc_target_t *t, const char *path,
                      const char *body)
{
    ls_httpc_stream_t stream = {.fd = -1};
    struct sigaction on_int = {.sa_handler = interrupt_cb}, old_int;
    json_t *doc = NULL;
    int code;
    bool is_waiting = o->cmd->can_wait && !o->is_no_wait;
    if (is_waiting && ls_httpc_stream_open(t, "/api/events", LS_CLIENT_TIMEOUT_MS, &stream) != 0) {
        fprintf(stderr, "lanspread: cannot follow the daemon's events at %s\n", t->host);
        return LS_EXIT_NO_DAEMON;
    }
    /* Caught from before the request on, so a Ctrl-C while it is sent still
     * cancels what it started; no SA_RESTART: it cuts a wait short. */
    sigemptyset(&on_int.sa_mask);
    if (is_waiting)
        sigaction(SIGINT, &on_int, &old_int);
    code = call(t, "POST", path, body, &doc);
    if (code == LS_EXIT_OK && !is_waiting)
        ls_client_print_accepted(o->cmd->name, doc, o->as_json);
    if (code == LS_EXIT_OK && is_waiting)
        code = ls_client_follow(&stream, o->cmd->name, o->arg, o->as_json, o->timeout_s,
                                &client_interrupts);
    if (code == LS_CLIENT_INTERRUPTED)
        code = on_interrupt(o, t, &stream);
    if (is_waiting)
        sigaction(SIGINT, &old_int, NULL);
    ls_httpc_stream_close(&stream);
    json_decref(doc);
    return code;
}

/* xdg-open URL, only in a graphical session (elsewhere it may start a text
 * browser in this terminal). True when it reported success. */
static bool open_in_browser(const char *url)
{
    char *argv[] = {"xdg-open", (char *)url, NULL};
    pid_t pid;
    int status = 0;
    if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))
        return false;
    if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) != 0)
        return false;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Asks the daemon for a one-time login link (the token stays out of any
 * URL) and opens it, or prints it alone on stdout. */
static int run_open(const ls_client_options_t *o, const ls_httpc_target_t *t)
{
    json_t *doc = NULL;
    int code = call(t, "POST", "/api/login-url", "{}", &doc);
    const char *url = json_string_value(json_object_get(doc, "url"));
    if (code == LS_EXIT_OK && !url) {
        fprintf(stderr, "lanspread: the daemon sent no login link\n");
        code = LS_EXIT_FAILURE;
    }
    if (code != LS_EXIT_OK)
        goto out;
    bool is_opened = !o->is_print_only && open_in_browser(url);
    if (o->as_json) {
        json_object_set_new(doc, "opened", json_boolean(is_opened));
        ls_client_print_document("open", doc, true);
    } else if (is_opened) {
        fprintf(stderr, "lanspread: opened the web UI in the browser\n");
    } else {
        printf("%s\n", url);
    }
out:
    json_decref(doc);
    return code;
}

/* After a change: how often, and how far apart, the limits are read back
 * until they show it. */
#define LS_LIMITS_READ_TRIES 20
#define LS_LIMITS_READ_PAUSE_US 50000

/* Whether every limit asked for shows in doc. */
static bool limits_match(const json_t *asked, const json_t *doc)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)asked, key, value)
    {
        ls_peer_limits_t want = {.max_upload = 0};
        uint32_t fields = 0;
        const ls_app_limit_t *lim = ls_app_limit_find(key);
        if (!lim || ls_app_limit_parse(lim, json_string_value(value), &want, &fields) != 0)
            return false;
        json_int_t now = json_integer_value(json_object_get(doc, key));
        json_int_t wanted = fields == LS_LIMIT_MAX_UPLOAD     ? (json_int_t)want.max_upload
                            : fields == LS_LIMIT_MAX_DOWNLOAD ? (json_int_t)want.max_download
                            : fields == LS_LIMIT_PLAYING_UPLOAD
                                ? (json_int_t)want.playing_upload
                                : (json_int_t)want.peer_upload_share;
        if (now != wanted)
            return false;
    }
    return true;
}

/* Changes the limits asked for, then shows those in force. */
static int run_limits(const ls_client_options_t *o, const ls_httpc_target_t *t)
{
    json_t *doc = NULL;
    char *text = o->limits ? json_dumps(o->limits, JSON_COMPACT) : NULL;
    int code = o->limits && !text ? LS_EXIT_FAILURE : LS_EXIT_OK;
    if (text)
        code = call(t, "POST", "/api/limits", text, &doc);
    free(text);
    json_decref(doc);
    doc = NULL;
    /* the runtime applies the change on its thread: the document shows it
     * once the limits event is in (a few milliseconds) */
    for (int tries = 0; code == LS_EXIT_OK && tries < LS_LIMITS_READ_TRIES; tries++) {
        json_decref(doc);
        code = call(t, "GET", "/api/limits", NULL, &doc);
        if (code != LS_EXIT_OK || !o->limits || limits_match(o->limits, doc))
            break;
        usleep(LS_LIMITS_READ_PAUSE_US);
    }
    if (code == LS_EXIT_OK)
        ls_client_print_document("limits", doc, o->as_json);
    json_decref(doc);
    return code;
}

static int run_client(ls_client_options_t *o)
{
    ls_httpc_target_t t;
    ls_endpoint_t endpoint = {.pid = 0};
    int code = find_daemon(o, &t, &endpoint);
    if (code >= 0)
        goto out;
    const char *name = o->cmd->name;
    if (strcmp(name, "games") == 0 || strcmp(name, "status") == 0) {
        code = run_read(o, &t);
    } else if (strcmp(name, "peers") == 0) {
        code = run_peers(o, &t);
    } else if (strcmp(name, "peer") == 0) {
        bool is_add = strcmp(o->verb, "add") == 0;
        json_t *body = json_pack("{s:s}", is_add ? "address" : "peer", o->arg);
        code = run_simple_post(o, &t, is_add ? "/api/known-peers/add" : "/api/known-peers/forget",
                               body);
        json_decref(body);
    } else if (strcmp(name, "open") == 0) {
        code = run_open(o, &t);
    } else if (strcmp(name, "limits") == 0) {
        code = run_limits(o, &t);
    } else if (strcmp(name, "rescan") == 0) {
        json_t *body = json_pack("{s:s?}", "game_id", o->arg);
        code = run_simple_post(o, &t, "/api/rescan", body);
        json_decref(body);
    } else if (strcmp(name, "set-game-dir") == 0) {
        char *abs = o->arg[0] == '/' ? strdup(o->arg) : realpath(o->arg, NULL);
        json_t *body = json_pack("{s:s}", "path", abs ? abs : o->arg);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        code = text ? run_action(o, &t, "/api/game-dir", text) : LS_EXIT_FAILURE;
        free(text);
        json_decref(body);
        free(abs);
    } else if (strlen(o->arg) > 128) {
        code = LS_EXIT_USAGE;
    } else {
        char path[256];
        snprintf(path, sizeof path, "/api/games/%s/%s", o->arg, name);
        code = run_action(o, &t, path, "{}");
    }
out:
    ls_endpoint_clear(&endpoint);
    return code;
}

int ls_cmd_client(int argc, char **argv)
{
    ls_client_options_t o = {0};
    int code = LS_EXIT_USAGE;
    for (size_t i = 0; i < sizeof client_commands / sizeof client_commands[0]; i++)
        if (strcmp(argv[0], client_commands[i].name) == 0)
            o.cmd = &client_commands[i];
    if (!o.cmd)
        return LS_EXIT_USAGE;
    code = parse_client_options(argc, argv, &o);
    if (code < 0)
        code = run_client(&o);
    free(o.state_dir);
    json_decref(o.limits);
    return code;
}
