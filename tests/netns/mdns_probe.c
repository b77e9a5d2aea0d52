/* mdns_probe: runs ls_discovery on a libuv loop for the netns test bed and
 * prints one machine-readable line per event on stdout:
 *   ready id=<peer_id> ms=<t>
 *   found id=<peer_id> pv=<n> rev=<n> dg=<hex> addr=<ip:port> if=<name> ms=<t>
 *   lost id=<peer_id> ms=<t>
 *   update rev=<n> ms=<t>
 *   exit ms=<t>
 * --stop-after-found N stops from inside the N-th found callback.
 * ms counts from start. SIGUSR1 bumps our rev by one and re-publishes the TXT
 * record; SIGTERM/SIGINT stop cleanly (mDNS goodbye). Logs go to stderr. */
#include "lanspread/discovery.h"
#include "lanspread/error.h"
#include "lanspread/hash.h"
#include "lanspread/log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
    uv_loop_t *loop;
    ls_discovery_t *discovery;
    uv_timer_t deadline;
    uv_signal_t sig_usr1, sig_term, sig_int;
    uint64_t started_ms;
    uint64_t rev;
    unsigned long stop_after_found; /* 0: never */
    unsigned long found_count;
    char digest[LS_SHA256_HEX_LEN + 1];
} probe_t;

static uint64_t elapsed(const probe_t *p)
{
    return uv_now(p->loop) - p->started_ms;
}

static void shutdown_probe(probe_t *p);

static void found_cb(const ls_discovered_peer_t *peer, void *userdata)
{
    probe_t *p = userdata;
    uv_update_time(p->loop);
    printf("found id=%s pv=%u rev=%llu dg=%s addr=%s if=%s ms=%llu\n", peer->peer_id,
           (unsigned)peer->protocol_version, (unsigned long long)peer->library_rev, peer->digest,
           peer->address, peer->interface, (unsigned long long)elapsed(p));
    fflush(stdout);
    /* Exercises ls_discovery_stop() from inside a discovery callback. */
    if (p->stop_after_found && ++p->found_count == p->stop_after_found)
        shutdown_probe(p);
}

static void lost_cb(const char *peer_id, void *userdata)
{
    probe_t *p = userdata;
    uv_update_time(p->loop);
    printf("lost id=%s ms=%llu\n", peer_id, (unsigned long long)elapsed(p));
    fflush(stdout);
}

static void shutdown_probe(probe_t *p)
{
    printf("exit ms=%llu\n", (unsigned long long)elapsed(p));
    fflush(stdout);
    ls_discovery_stop(p->discovery);
    p->discovery = NULL;
    uv_close((uv_handle_t *)&p->deadline, NULL);
    uv_close((uv_handle_t *)&p->sig_usr1, NULL);
    uv_close((uv_handle_t *)&p->sig_term, NULL);
    uv_close((uv_handle_t *)&p->sig_int, NULL);
}

static void deadline_cb(uv_timer_t *t)
{
    shutdown_probe(t->data);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    probe_t *p = s->data;
    uint8_t hash[LS_SHA256_LEN];

    if (signum != SIGUSR1) {
        shutdown_probe(p);
        return;
    }
    p->rev++;
    ls_sha256(&p->rev, sizeof(p->rev), hash);
    ls_hex_encode(hash, sizeof(hash), p->digest);
    int rc = ls_discovery_update(p->discovery, p->rev, p->digest);
    printf("update rev=%llu rc=%d ms=%llu\n", (unsigned long long)p->rev, rc,
           (unsigned long long)elapsed(p));
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mdns_probe --name NAME [--port N] [--peer-id HEX64] [--rev N]\n"
            "                  [--pv N] [--iface NAME] [--seconds N] [--stop-after-found N]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"peer-id", required_argument, NULL, 'i'},
                                         {"rev", required_argument, NULL, 'r'},
                                         {"pv", required_argument, NULL, 'v'},
                                         {"iface", required_argument, NULL, 'f'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"stop-after-found", required_argument, NULL, 'x'},
                                         {NULL, 0, NULL, 0}};
    probe_t p = {0};
    ls_discovery_config_t cfg = {.port = 4000, .found_cb = found_cb, .lost_cb = lost_cb};
    const char *iface = NULL;
    char peer_id[LS_SHA256_HEX_LEN + 1] = "";
    uint8_t hash[LS_SHA256_LEN];
    unsigned long seconds = 30;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            cfg.instance_name = optarg;
            break;
        case 'p':
            cfg.port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'i':
            snprintf(peer_id, sizeof(peer_id), "%s", optarg);
            break;
        case 'r':
            p.rev = strtoull(optarg, NULL, 10);
            break;
        case 'v':
            cfg.protocol_version = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            iface = optarg;
            break;
        case 's':
            seconds = strtoul(optarg, NULL, 10);
            break;
        case 'x':
            p.stop_after_found = strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (!cfg.instance_name) {
        usage();
        return 2;
    }
    if (!peer_id[0]) { /* stable per name, so runs are reproducible */
        ls_sha256(cfg.instance_name, strlen(cfg.instance_name), hash);
        ls_hex_encode(hash, sizeof(hash), peer_id);
    }
    ls_sha256(&p.rev, sizeof(p.rev), hash);
    ls_hex_encode(hash, sizeof(hash), p.digest);
    cfg.peer_id = peer_id;
    cfg.library_rev = p.rev;
    cfg.digest = p.digest;
    cfg.interfaces = iface ? &iface : NULL;
    cfg.interface_count = iface ? 1 : 0;
    cfg.userdata = &p;

    p.loop = uv_default_loop();
    p.started_ms = uv_now(p.loop);
    rc = ls_discovery_start(p.loop, &cfg, &p.discovery);
    if (rc < 0) {
        fprintf(stderr, "mdns_probe: %s\n", ls_strerror(rc));
        uv_run(p.loop, UV_RUN_DEFAULT);
        uv_loop_close(p.loop);
        return 1;
    }
    printf("ready id=%s ms=%llu\n", peer_id, (unsigned long long)elapsed(&p));
    fflush(stdout);
    uv_timer_init(p.loop, &p.deadline);
    p.deadline.data = &p;
    uv_timer_start(&p.deadline, deadline_cb, seconds * 1000, 0);
    uv_signal_t *sigs[] = {&p.sig_usr1, &p.sig_term, &p.sig_int};
    int signums[] = {SIGUSR1, SIGTERM, SIGINT};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(p.loop, sigs[i]);
        sigs[i]->data = &p;
        uv_signal_start(sigs[i], signal_cb, signums[i]);
    }
    uv_run(p.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(p.loop);
    return rc == 0 ? 0 : 1;
}
