/* Benchmark (not a test): the same bytes over loopback through the lanspread
 * QUIC transport and through a plain TCP socket, in one run. Each receiver
 * and sender is its own process, so the CPU seconds (getrusage) of each side
 * are its own. Prints the throughput of each, their ratio, and CPU time.
 *
 * usage: bench_quic_vs_tcp [MiB]   (default 1024) */
#include "lanspread/error.h"
#include "bench_clock.h"
#include "lanspread/identity.h"
#include "lanspread/log.h"
#include "lanspread/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#define PATTERN_LEN (MIB + 4093)

typedef struct {
    double seconds; /* receiver: first byte to last byte */
    double cpu;     /* this process, during the transfer */
    uint64_t bytes;
} result_t;

static uint64_t total_bytes;
static uint8_t *pattern;

static void write_result(int fd, const result_t *r)
{
    if (write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
        _exit(3);
}

static int read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* ---- QUIC ---- */

typedef struct {
    uv_loop_t loop;
    ls_net_endpoint_t *ep;
    result_t r;
    double t0, cpu0;
    uint64_t sent;
    bool is_done;
} quic_side_t;

static void q_recv_read(ls_net_stream_t *s, const uint8_t *data, size_t len, bool is_fin)
{
    quic_side_t *q = ls_net_stream_user_data(s);
    (void)data;
    if (q->r.bytes == 0 && len > 0) {
        q->t0 = now_s();
        q->cpu0 = cpu_s();
    }
    q->r.bytes += len;
    ls_net_stream_consume(s, len);
    if (is_fin) {
        q->r.seconds = now_s() - q->t0;
        q->r.cpu = cpu_s() - q->cpu0;
        ls_net_stream_shutdown(s);
    }
}

static void q_stream_close(ls_net_stream_t *s, int status, uint64_t app_error)
{
    quic_side_t *q = ls_net_stream_user_data(s);
    (void)app_error;
    (void)status; /* the peer may close the connection before our FIN is acked */
    q->is_done = true;
    ls_net_conn_close(ls_net_stream_conn(s), LS_NET_APP_NO_ERROR, "done");
}

static const ls_net_stream_callbacks_t q_recv_cbs = {.read_cb = q_recv_read,
                                                     .close_cb = q_stream_close};
static const ls_net_stream_callbacks_t q_send_cbs = {.read_cb = NULL, .close_cb = q_stream_close};

static void q_stream_cb(ls_net_conn_t *c, ls_net_stream_t *s)
{
    ls_net_stream_set_callbacks(s, &q_recv_cbs, ls_net_endpoint_user_data(ls_net_conn_endpoint(c)));
}

static int q_pull(ls_net_stream_t *s, uint8_t *buf, size_t cap, size_t *len, bool *is_eof)
{
    quic_side_t *q = ls_net_stream_user_data(s);
    uint64_t left = total_bytes - q->sent;
    size_t n = left < cap ? (size_t)left : cap;

    for (size_t done = 0; done < n;) {
        size_t at = (size_t)((q->sent + done) % PATTERN_LEN);
        size_t run = PATTERN_LEN - at < n - done ? PATTERN_LEN - at : n - done;
        memcpy(buf + done, pattern + at, run);
        done += run;
    }
    q->sent += n;
    *len = n;
    *is_eof = q->sent == total_bytes;
    return 0;
}

static int q_established(ls_net_conn_t *c, const char *peer_id)
{
    quic_side_t *q = ls_net_endpoint_user_data(ls_net_conn_endpoint(c));
    ls_net_stream_t *s;
    (void)peer_id;
    if (ls_net_conn_user_data(c) != q) /* the receiver side just accepts */
        return 0;
    q->t0 = now_s();
    q->cpu0 = cpu_s();
    if (ls_net_stream_open(c, &q_send_cbs, q, &s) != 0 ||
        ls_net_stream_set_source(s, q_pull, q) != 0)
        return 1;
    return 0;
}

static void q_closed(ls_net_conn_t *c, int status, uint64_t app_error, const char *reason)
{
    quic_side_t *q = ls_net_endpoint_user_data(ls_net_conn_endpoint(c));
    (void)app_error;
    if (!q->is_done && status != 0)
        fprintf(stderr, "quic connection closed: %s %s\n", ls_strerror(status), reason);
    q->is_done = true;
    ls_net_endpoint_close(q->ep, NULL);
}

static int quic_side(const char *state_dir, bool is_sender, struct sockaddr_in *addr, int out_fd)
{
    quic_side_t q;
    ls_identity_t *id = NULL;
    ls_net_config_t cfg = {0};
    struct sockaddr_in bind_addr = {.sin_family = AF_INET};
    struct sockaddr_storage local;

    memset(&q, 0, sizeof(q));
    uv_loop_init(&q.loop);
    if (ls_identity_load_or_create(state_dir, &id) != 0)
        return 1;
    bind_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cfg.bind_addr = (struct sockaddr *)&bind_addr;
    cfg.identity = id;
    cfg.cb.established_cb = q_established;
    cfg.cb.closed_cb = q_closed;
    cfg.cb.stream_cb = q_stream_cb;
    cfg.user_data = &q;
    if (ls_net_endpoint_create(&q.loop, &cfg, &q.ep) != 0)
        return 1;
    if (is_sender) {
        ls_net_conn_t *c;
        if (ls_net_connect(q.ep, (struct sockaddr *)addr, &q, &c) != 0)
            return 1;
    } else {
        ls_net_endpoint_local_addr(q.ep, &local);
        if (write(out_fd, &((struct sockaddr_in *)&local)->sin_port, sizeof(in_port_t)) !=
            (ssize_t)sizeof(in_port_t))
            return 1;
    }
    uv_run(&q.loop, UV_RUN_DEFAULT);
    if (is_sender) {
        q.r.seconds = now_s() - q.t0;
        q.r.cpu = cpu_s() - q.cpu0;
        q.r.bytes = q.sent;
    }
    write_result(out_fd, &q.r);
    uv_loop_close(&q.loop);
    ls_identity_free(id);
    return 0;
}

/* ---- TCP ---- */

static int tcp_receiver(int out_fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;
    result_t r = {0};
    static uint8_t buf[1 << 20];

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &len) != 0)
        return 1;
    if (write(out_fd, &addr.sin_port, sizeof(in_port_t)) != (ssize_t)sizeof(in_port_t))
        return 1;
    fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return 1;
    double t0 = 0, c0 = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (r.bytes == 0) {
            t0 = now_s();
            c0 = cpu_s();
        }
        r.bytes += (uint64_t)n;
    }
    r.seconds = now_s() - t0;
    r.cpu = cpu_s() - c0;
    close(fd);
    close(lfd);
    write_result(out_fd, &r);
    return 0;
}

static int tcp_sender(struct sockaddr_in *addr, int out_fd)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    result_t r = {0};
    double t0, c0;

    if (connect(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0)
        return 1;
    t0 = now_s();
    c0 = cpu_s();
    while (r.bytes < total_bytes) {
        size_t at = (size_t)(r.bytes % PATTERN_LEN);
        size_t n = PATTERN_LEN - at;
        if (n > total_bytes - r.bytes)
            n = (size_t)(total_bytes - r.bytes);
        ssize_t w = write(fd, pattern + at, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 1;
        r.bytes += (uint64_t)w;
    }
    close(fd);
    r.seconds = now_s() - t0;
    r.cpu = cpu_s() - c0;
    write_result(out_fd, &r);
    return 0;
}

/* ---- driver ---- */

typedef struct {
    result_t recv, send;
} pair_t;

static pid_t spawn(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

typedef struct {
    bool is_quic;
    const char *dir;
    struct sockaddr_in addr;
    int fd;
} job_t;

static int run_receiver(void *arg)
{
    job_t *j = arg;
    return j->is_quic ? quic_side(j->dir, false, NULL, j->fd) : tcp_receiver(j->fd);
}

static int run_sender(void *arg)
{
    job_t *j = arg;
    return j->is_quic ? quic_side(j->dir, true, &j->addr, j->fd) : tcp_sender(&j->addr, j->fd);
}

static int run_pair(bool is_quic, const char *dir_recv, const char *dir_send, pair_t *out)
{
    int rp[2], sp[2];
    job_t rj = {is_quic, dir_recv, {0}, 0}, sj = {is_quic, dir_send, {0}, 0};
    in_port_t port;
    pid_t rpid, spid;
    int st1, st2;

    if (pipe(rp) != 0 || pipe(sp) != 0)
        return 1;
    rj.fd = rp[1];
    rpid = spawn(run_receiver, &rj);
    if (read_all(rp[0], &port, sizeof(port)) != 0)
        return 1;
    sj.fd = sp[1];
    sj.addr.sin_family = AF_INET;
    sj.addr.sin_port = port;
    sj.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    spid = spawn(run_sender, &sj);
    if (read_all(sp[0], &out->send, sizeof(out->send)) != 0 ||
        read_all(rp[0], &out->recv, sizeof(out->recv)) != 0)
        return 1;
    waitpid(rpid, &st1, 0);
    waitpid(spid, &st2, 0);
    close(rp[0]);
    close(rp[1]);
    close(sp[0]);
    close(sp[1]);
    return 0;
}

static void print_pair(const char *name, const pair_t *p)
{
    printf("%-5s %8.1f MiB in %6.3f s = %8.1f MiB/s   cpu: sender %6.3f s, receiver %6.3f s%s\n",
           name, (double)p->recv.bytes / MIB, p->recv.seconds,
           (double)p->recv.bytes / MIB / p->recv.seconds, p->send.cpu, p->recv.cpu,
           p->recv.bytes == total_bytes ? "" : "   (INCOMPLETE)");
}

int main(int argc, char **argv)
{
    char tmpl_a[] = "/tmp/lsbench-a-XXXXXX", tmpl_b[] = "/tmp/lsbench-b-XXXXXX";
    pair_t tcp, quic;

    total_bytes = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) * MIB;
    pattern = malloc(PATTERN_LEN);
    if (!pattern || !mkdtemp(tmpl_a) || !mkdtemp(tmpl_b))
        return 1;
    for (size_t i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (uint8_t)(i * 2654435761u >> 13);
    ls_log_set_level(getenv("LS_BENCH_DEBUG") ? LS_LOG_DEBUG : LS_LOG_WARN);

    if (run_pair(false, NULL, NULL, &tcp) != 0 || run_pair(true, tmpl_a, tmpl_b, &quic) != 0) {
        fprintf(stderr, "benchmark failed\n");
        return 1;
    }
    printf("%llu MiB over 127.0.0.1, one stream each\n", (unsigned long long)(total_bytes / MIB));
    print_pair("tcp", &tcp);
    print_pair("quic", &quic);
    printf("quic/tcp throughput ratio: %.3f\n",
           (tcp.recv.seconds / quic.recv.seconds) *
               ((double)quic.recv.bytes / (double)tcp.recv.bytes));
    printf("cpu per GiB: tcp %.2f s, quic %.2f s (sender + receiver)\n",
           (tcp.send.cpu + tcp.recv.cpu) / ((double)tcp.recv.bytes / (1024.0 * MIB)),
           (quic.send.cpu + quic.recv.cpu) / ((double)quic.recv.bytes / (1024.0 * MIB)));
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", tmpl_a, tmpl_b);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s %s\n", tmpl_a, tmpl_b);
    free(pattern);
    return 0;
}
