/* `lanspread daemon`: runs a peer in the foreground, serves the web UI and
 * control API (unless --no-http), and logs its events as human lines (or
 * prints each as JSON with --json-events) until SIGINT or SIGTERM. One
 * daemon per state directory (instance.h); its URL is printed once the
 * port is bound. */
#include "app/api_state.h"
#include "app/app_common.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/limits.h"
#include "app/event_log.h"
#include "app/http_server.h"
#include "app/instance.h"
#include "app/party_key.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/peer.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void daemon_usage(FILE *out)
{
    fprintf(out,
            "usage: lanspread daemon --games DIR [options]\n\n"
            "Runs a Lanspread peer: serves DIR's games and lists other peers' games.\n\n"
            "  --games DIR         game directory (one folder per game)\n"
            "  --state DIR         state directory: identity, index (default:\n"
            "                      $XDG_STATE_HOME/lanspread)\n"
            "  --name NAME         name shown to other peers (default: host name)\n"
            "  --listen ADDR:PORT  UDP address to listen on (default %s; when its port\n"
            "                      is taken, the next free one of the %d after it, then any)\n"
            "  --peer ADDR:PORT    connect to this peer (repeatable)\n"
            "  --party-key KEY     only peers with the same key get in (every local user\n"
            "                      sees it in the process list: prefer the file or\n"
            "                      $" LS_PARTY_KEY_ENV "); `lanspread party-key new` makes one\n"
            "  --party-key-file F  read the key from a file\n"
            "  --catalog FILE      extra catalog file (repeatable); the game directory's\n"
            "                      .lanspread-catalog.json overrides it, re-read on rescans\n"
            "  --ping-ms N         ping interval (default 5000)\n"
            "  --json-events       print each event as one JSON line on stdout (without\n"
            "                      it: a log line for each notable event on stderr)\n"
            "  --http ADDR:PORT    web UI and control API address (default %s);\n"
            "                      other than loopback requires --http-token\n"
            "  --http-token TOKEN  API token (default: a random one per run)\n"
            "  --http-token-file F read the API token from a file\n"
            "  --no-http           no web UI and no control API\n"
            "  --no-mdns           no mDNS discovery: only the --peer addresses\n"
            "  --config FILE       config file (default $XDG_CONFIG_HOME/lanspread/config):\n"
            "                      `option = value` lines, any option above\n"
            "  --log-file FILE     append log lines to FILE instead of stderr\n"
            "                      (the systemd unit: $XDG_STATE_HOME/lanspread/daemon.log)\n"
            "  --verbose           debug logging\n"
            "  --help              this help\n",
            LS_PEER_DEFAULT_LISTEN, LS_PEER_PORT_FALLBACKS, LS_HTTP_DEFAULT_LISTEN);
    fprintf(out, "\nBandwidth (also live: `lanspread limits`, saved in the config):\n");
    for (size_t i = 0; i < ls_app_limit_count; i++)
        fprintf(out, "  --%s %s\n      %s\n", ls_app_limits[i].option,
                ls_app_limits[i].field == LS_LIMIT_PEER_UPLOAD_SHARE ? "PERCENT" : "RATE",
                ls_app_limits[i].help);
    fprintf(out, "  (RATE in bytes/s with K, M, G = KiB, MiB, GiB; --playing-upload\n"
                 "  defaults to 1M, --peer-upload-share to 100)\n\n"
                 "The API address and token are written to STATE/api.json (mode 0600)\n"
                 "for the CLI commands (lanspread games, download, ...), and the daemon is\n"
                 "registered in $XDG_RUNTIME_DIR/lanspread so they find it without --state.\n"
                 "One daemon per state directory: a second one exits with \"already running\".\n");
}

typedef struct {
    bool as_json;
    ls_event_log_t log;      /* without as_json */
    const char *config_path; /* where a new game directory is saved */
    ls_api_state_t *state;
    _Atomic(ls_peer_runtime_t *) peer; /* set once the runtime started */
} ls_daemon_output_t;

static int stdout_cb(const char *buffer, size_t size, void *data)
{
    return fwrite(buffer, 1, size, data) == size ? 0 : -1;
}

/* --json-events: every event, whole, for scripts and tests; written as it
 * is encoded (a 10,000-game list is never one tree or one string). */
static void print_event_json(const ls_peer_event_t *event)
{
    printf("{\"event\":\"%s\",\"data\":", ls_peer_event_name(event->kind));
    if (ls_peer_event_json_dump(event, stdout_cb, stdout) != 0)
        fputs("null", stdout); /* not encoded (out of memory): the line stays JSON */
    fputs("}\n", stdout);
    fflush(stdout);
}

/* The runtime switched: the next start uses the new directory too. One
 * small file written at a user's request, so it is done right here. */
static void save_game_dir(const ls_daemon_output_t *out, const char *dir)
{
    int rc = dir && out->config_path ? ls_config_set(out->config_path, "games", dir) : 0;
    if (rc != 0)
        ls_warn("daemon", "cannot save the game directory in %s: %s", out->config_path,
                ls_strerror(rc));
    else if (dir && out->config_path)
        ls_info("daemon", "game directory %s saved in %s", dir, out->config_path);
}

/* Every event is logged (or printed as JSON), folded into the API state
 * and streamed; the state makes its JSON (this is the edge). */
static void daemon_event_cb(const ls_peer_event_t *event, void *userdata)
{
    ls_daemon_output_t *out = userdata;
    if (out->as_json)
        print_event_json(event);
    else
        ls_event_log(&out->log, event);
    if (event->kind == LS_EVENT_GAME_DIR_CHANGED)
        save_game_dir(out, event->u.game_dir.game_dir);
    if (out->state)
        ls_api_state_apply(out->state, event);
}

static char *read_key_file(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int rc = ls_fs_read_file(path, 4096, &text, &len);
    if (rc != 0) {
        fprintf(stderr, "daemon: party key file %s: %s\n", path, ls_strerror(rc));
        return NULL;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    /* The secret is used as a C string: a NUL inside would silently cut it
     * (everything after it would not count). */
    if (memchr(text, '\0', len)) {
        fprintf(stderr, "daemon: %s holds a NUL byte: not a usable secret\n", path);
        free(text);
        return NULL;
    }
    if (len == 0) {
        fprintf(stderr, "daemon: party key file %s is empty\n", path);
        free(text);
        return NULL;
    }
    return text;
}

/* Blocks the termination signals in every thread, then waits for one here. */
static void wait_for_signal(void)
{
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigwait(&set, &sig);
    ls_info("daemon", "signal %d: shutting down", sig);
}

typedef struct {
    ls_peer_config_t peer;
    const char *catalogs[LS_MAX_EXTRA_CATALOGS];
    size_t catalog_count;
    char *state_dir, *party_key, *http_token, *config_path;
    ls_party_key_t derived_key; /* of party_key */
    const char *http_listen;
    const char *log_file;
    bool is_http_off, as_json;
} ls_daemon_options_t;

static void free_options(ls_daemon_options_t *o)
{
    free(o->state_dir);
    free(o->party_key);
    explicit_bzero(&o->derived_key, sizeof o->derived_key);
    free(o->http_token);
    free(o->config_path);
}

/* The config file named by --config (or the default one), found before the
 * options are parsed because its lines come first. */
static char *find_config_path(int argc, char **argv, bool *must_exist)
{
    *must_exist = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--config=", 9) == 0)
            return strdup(argv[i] + 9);
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return strdup(argv[i + 1]);
    }
    *must_exist = false;
    return ls_config_default_path();
}

/* Option codes of the limits: LS_OPT_LIMIT + their index in ls_app_limits
 * (above every character code). */
#define LS_OPT_LIMIT 256

/* Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, ls_daemon_options_t *o)
{
    static const struct option options[] = {
        {"games", required_argument, NULL, 'g'},
        {"state", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},
        {"party-key", required_argument, NULL, 'k'},
        {"party-key-file", required_argument, NULL, 'K'},
        {"catalog", required_argument, NULL, 'c'},
        {"ping-ms", required_argument, NULL, 'i'},
        {"json-events", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},
        {"http", required_argument, NULL, 'H'},
        {"no-http", no_argument, NULL, 'N'},
        {"http-token", required_argument, NULL, 't'},
        {"http-token-file", required_argument, NULL, 'T'},
        {"no-mdns", no_argument, NULL, 'M'},
        /* For tests only, not in the usage: announce another protocol version. */
        {"protocol-version", required_argument, NULL, 'P'},
        /* For tests and benchmarks only: today's behaviour without the swarm. */
        {"no-swarm", no_argument, NULL, 'W'},
        /* For tests and benchmarks only: a peer from before peer exchange. */
        {"no-peer-exchange", no_argument, NULL, 'X'},
        /* For tests and benchmarks only: a peer from before library relays. */
        {"no-relay", no_argument, NULL, 'Y'},
        /* For benchmarks only: dial peers mDNS or `peers` tell of only while
         * fewer than N links exist (libraries of the others come by relay;
         * no on-demand dial for downloads yet). */
        {"links-target", required_argument, NULL, 'Z'},
        /* For tests only: the redial interval of static and remembered
         * peers (the runtime's reconnect tick; default 2000). */
        {"reconnect-ms", required_argument, NULL, 'R'},
        {"log-file", required_argument, NULL, 'L'},
        {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"max-upload", required_argument, NULL, LS_OPT_LIMIT + 0},
        {"max-download", required_argument, NULL, LS_OPT_LIMIT + 1},
        {"peer-upload-share", required_argument, NULL, LS_OPT_LIMIT + 2},
        {"playing-upload", required_argument, NULL, LS_OPT_LIMIT + 3},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    o->peer.limits.playing_upload = LS_PLAYING_UPLOAD_DEFAULT;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'g':
            o->peer.game_dir = optarg;
            break;
        case 's':
            free(o->state_dir);
            o->state_dir = strdup(optarg);
            break;
        case 'n':
            o->peer.name = optarg;
            break;
        case 'l':
            o->peer.listen = optarg;
            break;
        case 'p':
            if (o->peer.static_peer_count == LS_STATIC_PEERS_MAX) {
                fprintf(stderr, "daemon: at most %d --peer\n", LS_STATIC_PEERS_MAX);
                return LS_EXIT_USAGE;
            }
            o->peer.static_peers[o->peer.static_peer_count++] = optarg;
            break;
        case 'k':
            free(o->party_key);
            o->party_key = strdup(optarg);
            break;
        case 'K':
            free(o->party_key);
            if (!(o->party_key = read_key_file(optarg)))
                return LS_EXIT_FAILURE;
            break;
        case 'c':
            if (o->catalog_count == LS_MAX_EXTRA_CATALOGS)
                return LS_EXIT_USAGE;
            o->catalogs[o->catalog_count++] = optarg;
            break;
        case 'i':
            o->peer.ping_interval_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            o->peer.reconnect_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'j':
            o->as_json = true;
            break;
        case 'v':
            ls_log_set_level(LS_LOG_DEBUG);
            break;
        case 'H':
            o->http_listen = optarg;
            o->is_http_off = false;
            break;
        case 'N':
            o->is_http_off = true;
            break;
        case 't':
            free(o->http_token);
            o->http_token = strdup(optarg);
            break;
        case 'T':
            free(o->http_token);
            if (!(o->http_token = read_key_file(optarg)))
                return LS_EXIT_FAILURE;
            break;
        case 'M':
            o->peer.no_mdns = true;
            break;
        case 'P':
            o->peer.protocol_version = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'W':
            o->peer.no_swarm = true;
            break;
        case 'X':
            o->peer.no_peer_exchange = true;
            break;
        case 'Y':
            o->peer.no_relay = true;
            break;
        case 'Z':
            o->peer.links_target = strcmp(optarg, "full") == 0
                                       ? LS_PEER_LINKS_FULL_MESH
                                       : (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'L':
            o->log_file = optarg;
            break;
        case 'C':
            break; /* read before parsing */
        case 'h':
            daemon_usage(stdout);
            return LS_EXIT_OK;
        default:
            if (opt >= LS_OPT_LIMIT && opt < LS_OPT_LIMIT + (int)ls_app_limit_count) {
                uint32_t fields = 0;
                const ls_app_limit_t *lim = &ls_app_limits[opt - LS_OPT_LIMIT];
                if (ls_app_limit_parse(lim, optarg, &o->peer.limits, &fields) == 0)
                    break;
                fprintf(stderr, "daemon: --%s %s: %s\n", lim->option, optarg, lim->help);
            }
            daemon_usage(stderr);
            return LS_EXIT_USAGE;
        }
    }
    if (!o->peer.game_dir || optind != argc) {
        fprintf(stderr, "daemon: --games DIR is required (or `games = DIR` in %s)\n",
                o->config_path);
        daemon_usage(stderr);
        return LS_EXIT_USAGE;
    }
    return -1;
}

/* The key from the environment when no option gave one; it leaves the
 * environment, so nothing this process starts inherits it. A key given on
 * the command line keeps working, with a warning. Returns -1 to go on. */
static int take_party_key(int argc, char **argv, ls_daemon_options_t *o)
{
    const char *env = getenv(LS_PARTY_KEY_ENV);
    if (ls_app_party_key_on_command_line(argc, argv))
        fprintf(stderr, "daemon: warning: --party-key on the command line is visible to every "
                        "local user (ps); use --party-key-file or $" LS_PARTY_KEY_ENV "\n");
    if (!o->party_key && env && *env && !(o->party_key = strdup(env)))
        return LS_EXIT_FAILURE;
    if (env)
        unsetenv(LS_PARTY_KEY_ENV);
    return -1;
}

/* argv with the config file's options inserted after the command name. */
static char **merge_config(int argc, char **argv, char **extra, int extra_count, int *merged_argc)
{
    char **merged = calloc((size_t)(argc + extra_count + 1), sizeof *merged);
    if (!merged)
        return NULL;
    merged[0] = argv[0];
    for (int i = 0; i < extra_count; i++)
        merged[1 + i] = extra[i];
    for (int i = 1; i < argc; i++)
        merged[extra_count + i] = argv[i];
    *merged_argc = argc + extra_count;
    return merged;
}

/* Without --listen the daemon takes the fixed default port, so other peers'
 * remembered addresses and firewall rules keep working; when that port is
 * taken it listens on another one rather than not at all, and says so. */
static void use_default_listen(ls_daemon_options_t *o)
{
    if (o->peer.listen)
        return;
    o->peer.listen = LS_PEER_DEFAULT_LISTEN;
    o->peer.listen_fallback = true;
}

static void say_port_fallback(const ls_daemon_options_t *o, const ls_peer_runtime_t *peer)
{
    if (!o->peer.listen_fallback || ls_peer_listen_port(peer) == LS_PEER_DEFAULT_PORT)
        return;
    ls_warn("daemon",
            "UDP port %d is in use (%s): another program or daemon listens there; listening "
            "on UDP port %d instead (peers that remember port %d and firewall rules for it "
            "miss this one; pass --listen ADDR:PORT, make run: RUN_LISTEN=ADDR:PORT)",
            LS_PEER_DEFAULT_PORT, o->peer.listen, ls_peer_listen_port(peer), LS_PEER_DEFAULT_PORT);
}

/* Says what to do when a port is taken; `make run` passes its RUN_ and
 * RUN2_ variables through to these options. */
static void say_port_in_use(const char *what, const char *addr, const char *option,
                            const char *make_var)
{
    const char *colon = strrchr(addr, ':');
    fprintf(stderr,
            "daemon: %s port %s is in use (%s): another program or daemon listens there; "
            "pass %s ADDR:PORT (make run: %s=ADDR:PORT)\n",
            what, colon ? colon + 1 : addr, addr, option, make_var);
}

static int start_http(const ls_daemon_options_t *o, ls_api_state_t *state, ls_peer_runtime_t *peer,
                      ls_http_server_t **http)
{
    ls_http_config_t hc = {.listen = o->http_listen ? o->http_listen : LS_HTTP_DEFAULT_LISTEN,
                           .token = o->http_token,
                           .config_path = o->config_path,
                           .state_dir = o->state_dir};
    int rc = ls_http_start(&hc, state, peer, http);
    if (rc == LS_EADDRINUSE && !o->http_listen) {
        /* the default port is taken (another daemon?): run without the UI
         * rather than not at all; an explicit --http must work or fail */
        fprintf(stderr, "daemon: %s is in use: no web UI (choose one with --http ADDR:PORT)\n",
                hc.listen);
        return 0;
    }
    if (rc == LS_ETOKEN)
        fprintf(stderr, "daemon: --http %s is not loopback: set --http-token (16+ chars)\n",
                hc.listen);
    else if (rc == LS_EADDRINUSE)
        say_port_in_use("HTTP", hc.listen, "--http", "RUN_HTTP");
    else if (rc != 0)
        fprintf(stderr, "daemon: cannot serve HTTP on %s: %s\n", hc.listen, ls_strerror(rc));
    if (rc != 0)
        return rc;
    rc = ls_endpoint_write(o->state_dir, ls_http_url(*http), ls_http_token(*http));
    if (rc != 0)
        fprintf(stderr, "daemon: cannot write %s/%s: %s\n", o->state_dir, LS_ENDPOINT_FILE,
                ls_strerror(rc));
    return rc;
}

/* Printed once everything listens, so the address works when it shows.
 * The page needs a login link (http_login.h); `lanspread open` makes more
 * once this one is spent. */
static void print_banner(ls_peer_runtime_t *peer, ls_http_server_t *http)
{
    char *login = http ? ls_http_login_url(http) : NULL;
    if (http)
        fprintf(stderr,
                "\n  Lanspread web UI: %s   (pid %ld, peer on UDP port %d; Ctrl-C stops)\n"
                "  Log in with: %s\n"
                "  (works once, for %u minutes; `lanspread open` makes a new link)\n\n",
                ls_http_url(http), (long)getpid(), ls_peer_listen_port(peer),
                login ? login : "(no link: run `lanspread open`)", LS_HTTP_LOGIN_TTL_MS / 60000u);
    else
        fprintf(stderr, "daemon: running without web UI (pid %ld, peer on UDP port %d)\n",
                (long)getpid(), ls_peer_listen_port(peer));
    free(login);
}

/* A second daemon on the same state directory would share its identity,
 * index and api.json: refused, naming the one that runs. */
static int claim_state_dir(const ls_daemon_options_t *o, ls_instance_t *inst)
{
    long owner = 0;
    int rc = ls_instance_claim(o->state_dir, inst, &owner);
    if (rc == LS_EBUSY)
        fprintf(stderr,
                "daemon: already running (pid %ld) with state directory %s; stop it first, or "
                "pass --state DIR for another peer\n",
                owner, o->state_dir);
    else if (rc != 0)
        fprintf(stderr, "daemon: cannot lock %s/%s: %s\n", o->state_dir, LS_INSTANCE_LOCK_FILE,
                ls_strerror(rc));
    return rc;
}

static void file_log_sink(ls_log_level_t level, const char *module, const char *message,
                          void *userdata)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    localtime_r(&now.tv_sec, &tm);
    fprintf(userdata, "%04d-%02d-%02d %02d:%02d:%02d.%03ld %-5s %-9s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
            ls_log_level_name(level), module, message);
    fflush(userdata);
}

/* --log-file: its directory is made (XDG state dirs may not exist yet). */
static FILE *open_log_file(const char *path)
{
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir) {
        *slash = '\0';
        ls_fs_mkdir_p(dir, 0700);
    }
    free(dir);
    FILE *f = fopen(path, "ae");
    if (!f)
        fprintf(stderr, "daemon: cannot open log file %s: %s\n", path, strerror(errno));
    else
        ls_log_set_sink(file_log_sink, f);
    return f;
}

static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int run_daemon(ls_daemon_options_t *o)
{
    ls_daemon_output_t output = {.as_json = o->as_json, .config_path = o->config_path};
    ls_instance_t instance = LS_INSTANCE_INIT;
    ls_catalog_t *catalog = NULL;
    ls_peer_runtime_t *peer = NULL;
    ls_http_server_t *http = NULL;
    FILE *log = NULL;
    int rc, exit_code = LS_EXIT_FAILURE;

    if (o->log_file && !(log = open_log_file(o->log_file)))
        return LS_EXIT_FAILURE;

    o->peer.state_dir = o->state_dir = o->state_dir ? o->state_dir : ls_app_default_state_dir();
    if (o->party_key) {
        if (ls_app_party_key_derive(o->party_key, strlen(o->party_key), &o->derived_key) != 0)
            goto out;
        o->peer.party_key = &o->derived_key;
    }
    if (ls_app_load_catalog(o->catalogs, o->catalog_count, &catalog) != 0)
        goto out;
    if ((rc = ls_fs_mkdir_p(o->state_dir, 0700)) != 0) {
        fprintf(stderr, "daemon: state directory %s: %s\n", o->state_dir, ls_strerror(rc));
        goto out;
    }
    if (claim_state_dir(o, &instance) != 0)
        goto out;
    if (!o->is_http_off && ls_api_state_new(o->peer.game_dir, &output.state) != 0)
        goto out;
    block_signals();
    use_default_listen(o);
    if ((rc = ls_peer_start(&o->peer, catalog, daemon_event_cb, &output, &peer)) != 0) {
        if (rc == LS_EADDRINUSE)
            say_port_in_use("UDP", o->peer.listen ? o->peer.listen : "?", "--listen", "RUN_LISTEN");
        else
            fprintf(stderr, "daemon: cannot start: %s\n", ls_strerror(rc));
        goto out;
    }
    say_port_fallback(o, peer);
    atomic_store(&output.peer, peer);
    if (!o->is_http_off && start_http(o, output.state, peer, &http) != 0)
        goto out;
    if (http && (rc = ls_instance_register(&instance, o->state_dir)) != 0)
        ls_warn("daemon", "not registered for the CLI (it needs --state %s): %s", o->state_dir,
                ls_strerror(rc));
    print_banner(peer, http);
    wait_for_signal();
    exit_code = LS_EXIT_OK;
out:
    ls_instance_unregister(&instance); /* before api.json, which it points at */
    if (http) {
        ls_endpoint_remove(o->state_dir);
        ls_http_stop(http);
    }
    if (peer)
        ls_peer_stop(peer);
    ls_instance_release(&instance); /* last: the ports are free for the next daemon */
    ls_api_state_free(output.state);
    ls_catalog_free(catalog);
    if (log) {
        ls_log_set_sink(NULL, NULL);
        fclose(log);
    }
    return exit_code;
}

int ls_cmd_daemon(int argc, char **argv)
{
    ls_daemon_options_t o = {0};
    char **extra = NULL, **merged = NULL;
    int extra_count = 0, merged_argc = 0, exit_code = LS_EXIT_FAILURE;
    bool must_exist;

    o.config_path = find_config_path(argc, argv, &must_exist);
    if (!o.config_path || ls_config_load_args(o.config_path, must_exist, &extra, &extra_count) != 0)
        goto out;
    if (!(merged = merge_config(argc, argv, extra, extra_count, &merged_argc)))
        goto out;
    exit_code = parse_options(merged_argc, merged, &o);
    if (exit_code < 0)
        exit_code = take_party_key(argc, argv, &o);
    if (exit_code < 0)
        exit_code = run_daemon(&o);
out:
    free(merged);
    ls_config_free_args(extra, extra_count);
    free_options(&o);
    return exit_code;
}
