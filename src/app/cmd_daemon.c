/* `lanspread daemon`: runs a peer in the foreground and prints its events as
 * readable log lines until SIGINT or SIGTERM. */
#include "app/app_common.h"
#include "app/commands.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/log.h"
#include "lanspread/peer.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void daemon_usage(FILE *out)
{
    fprintf(out,
            "usage: lanspread daemon --games DIR [options]\n\n"
            "Runs a Lanspread peer: serves DIR's games and lists other peers' games.\n\n"
            "  --games DIR         game directory (one folder per game)\n"
            "  --state DIR         state directory: identity, index (default:\n"
            "                      $XDG_STATE_HOME/lanspread)\n"
            "  --name NAME         name shown to other peers (default: host name)\n"
            "  --listen ADDR:PORT  UDP address to listen on (default 0.0.0.0:0)\n"
            "  --peer ADDR:PORT    connect to this peer (repeatable)\n"
            "  --party-key SECRET  only peers with the same secret get in\n"
            "  --party-key-file F  read the secret from a file\n"
            "  --catalog FILE      extra catalog file (repeatable)\n"
            "  --ping-ms N         ping interval (default 5000)\n"
            "  --no-mdns           no mDNS: neither announce nor look for peers\n"
            "                      (use --peer where multicast is blocked)\n"
            "  --json-events       print each event as one JSON line on stdout\n"
            "  --verbose           debug logging\n");
}

typedef struct {
    bool as_json;
} ls_daemon_output_t;

static void print_event(const ls_peer_event_t *event, void *userdata)
{
    ls_daemon_output_t *out = userdata;
    char *text = json_dumps(event->data, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return;
    if (out->as_json)
        printf("{\"event\":\"%s\",\"data\":%s}\n", ls_peer_event_name(event->kind), text);
    else
        printf("event %-18s %s\n", ls_peer_event_name(event->kind), text);
    fflush(stdout);
    free(text);
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

int ls_cmd_daemon(int argc, char **argv)
{
    static const struct option options[] = {
        {"games", required_argument, NULL, 'g'},      {"state", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},       {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},       {"party-key", required_argument, NULL, 'k'},
        {"party-key-file", required_argument, NULL, 'K'},
        {"catalog", required_argument, NULL, 'c'},    {"ping-ms", required_argument, NULL, 'i'},
        {"json-events", no_argument, NULL, 'j'},      {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {"no-mdns", no_argument, NULL, 'M'},
        /* For tests only, not in the usage: announce another protocol version. */
        {"protocol-version", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    ls_peer_config_t config = {0};
    const char *catalogs[LS_MAX_EXTRA_CATALOGS];
    size_t catalog_count = 0;
    char *state_dir = NULL, *party_key = NULL;
    ls_daemon_output_t output = {false};
    ls_catalog_t *catalog = NULL;
    ls_peer_runtime_t *peer = NULL;
    int opt, exit_code = LS_EXIT_USAGE;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'g': config.game_dir = optarg; break;
        case 's': free(state_dir); state_dir = strdup(optarg); break;
        case 'n': config.name = optarg; break;
        case 'l': config.listen = optarg; break;
        case 'p':
            if (config.static_peer_count == LS_STATIC_PEERS_MAX) {
                fprintf(stderr, "daemon: at most %d --peer\n", LS_STATIC_PEERS_MAX);
                goto out;
            }
            config.static_peers[config.static_peer_count++] = optarg;
            break;
        case 'k': free(party_key); party_key = strdup(optarg); break;
        case 'K':
            free(party_key);
            if (!(party_key = read_key_file(optarg))) {
                exit_code = LS_EXIT_FAILURE;
                goto out;
            }
            break;
        case 'c':
            if (catalog_count == LS_MAX_EXTRA_CATALOGS)
                goto out;
            catalogs[catalog_count++] = optarg;
            break;
        case 'i': config.ping_interval_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'j': output.as_json = true; break;
        case 'M': config.no_mdns = true; break;
        case 'P': config.protocol_version = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'v': ls_log_set_level(LS_LOG_DEBUG); break;
        case 'h': daemon_usage(stdout); exit_code = LS_EXIT_OK; goto out;
        default: daemon_usage(stderr); goto out;
        }
    }
    if (!config.game_dir || optind != argc) {
        fprintf(stderr, "daemon: --games DIR is required\n");
        daemon_usage(stderr);
        goto out;
    }
    exit_code = LS_EXIT_FAILURE;
    config.state_dir = state_dir = state_dir ? state_dir : ls_app_default_state_dir();
    config.party_key = party_key;
    if (ls_app_load_catalog(config.game_dir, catalogs, catalog_count, &catalog) != 0)
        goto out;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = ls_peer_start(&config, catalog, print_event, &output, &peer);
    if (rc != 0) {
        fprintf(stderr, "daemon: cannot start: %s\n", ls_strerror(rc));
        goto out;
    }
    wait_for_signal();
    ls_peer_stop(peer);
    exit_code = LS_EXIT_OK;
out:
    ls_catalog_free(catalog);
    free(state_dir);
    free(party_key);
    return exit_code;
}
