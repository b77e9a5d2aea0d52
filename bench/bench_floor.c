/* Benchmark (not a test): the per-byte cost floor of a verified QUIC
 * transfer of this design (issue #16). Each step a single-source download
 * cannot skip is run alone over 1 GiB of file data, with the libraries and
 * calls the product uses, and its CPU seconds (getrusage of this process)
 * and wall time printed. bench_floor.sh runs the modes, adds the reference
 * tools and prints the table.
 *
 * usage: bench_floor local DIR [MiB]            (DIR on a tmpfs)
 *          steps 1-4, three times each, every run printed:
 *          SHA-256 of LS_CHUNK_SIZE chunks (ls_sha256, nettle), the
 *          download's write (fallocate, then open + pwrite + close per
 *          chunk, as src/download/sentinel.c), the file source's pread of
 *          LS_NET_READ_SIZE, and AES-128-GCM seal / open and header
 *          protection per packet through ngtcp2_crypto_gnutls, for packets
 *          of LS_NET_MAX_PAYLOAD and of a 9000-byte MTU
 *        bench_floor udp-recv PORT MiB PKT     (one transfer)
 *        bench_floor udp-send ADDR PORT MiB PKT
 *          the kernel's UDP path as src/net/endpoint.c drives it: GSO
 *          sends of up to LS_NET_GSO_BUF bytes of PKT-byte segments, and
 *          recvmmsg of LS_NET_RX_BATCH GRO slots; a small credit window
 *          (the receiver reports its byte count every CREDIT_EVERY bytes)
 *          keeps the sender from overrunning the receiver, as QUIC's flow
 *          control would.
 * Every result is one line: "RESULT<TAB>step<TAB>side<TAB>packet bytes or
 * -<TAB>CPU s per GiB of file data<TAB>wall s<TAB>note". Every step's
 * bytes are counted as file data: the packet steps send as many packets as
 * 1 GiB of file data takes at that packet size (QUIC short header, AEAD tag
 * and STREAM frame header subtracted). */
#include "lanspread/error.h"
#include "bench_clock.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"
#include "lanspread/proto.h"
#include "net/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#define GIB (1024.0 * 1024.0 * 1024.0)
#define REPS 3
/* The hash and the write take their chunks from this much memory, more than
 * the last-level cache: a chunk's body is filled packet by packet long
 * before it is hashed and written. */
#define SPAN (64 * MIB)
/* What the cipher reads is warm, as in the product: the seeder seals bytes
 * it has just read into a LS_NET_READ_SIZE buffer, the downloader opens
 * packets recvmmsg has just copied into its LS_NET_RX_BATCH slots. */
#define SEAL_SPAN LS_NET_READ_SIZE
#define OPEN_SPAN ((size_t)LS_NET_RX_BATCH * LS_NET_RX_SLOT)
/* The 9000-byte MTU row's packet: the route MTU less IPv6 + UDP headers,
 * as ls_net_path_payload sizes it. */
#define PKT_JUMBO (9000 - LS_NET_UDP_OVERHEAD)
/* QUIC short header: first byte, our connection ID, a 4-byte packet number
 * (the most ngtcp2 writes: fewest data bytes per packet). */
#define PN_LEN 4
#define SHORT_HDR (1 + LS_NET_CIDLEN + PN_LEN)
#define AEAD_TAG 16
#define AEAD_KEY 16
#define AEAD_NONCE 12
/* STREAM frame: type, stream ID, 8-byte offset, 2-byte length. */
#define STREAM_HDR 12
/* The sender keeps at most this much unreported at the receiver. */
#define CREDIT_WINDOW (8 * MIB)
#define CREDIT_EVERY (256 * 1024)
#define CTRL_MAGIC 0x4c53464cu /* "LSFL" */
#define WAIT_MS 200
#define RUN_DEADLINE_S 60.0

enum ctrl_type { CTRL_HELLO = 1, CTRL_READY, CTRL_CREDIT, CTRL_END };
typedef struct {
    uint32_t magic;
    uint32_t type;
    uint64_t value;
} ctrl_t;

typedef struct {
    double cpu, wall;
} cost_t;

static cost_t mark(void)
{
    return (cost_t){.cpu = cpu_s(), .wall = now_s()};
}

static cost_t since(cost_t t0)
{
    return (cost_t){.cpu = cpu_s() - t0.cpu, .wall = now_s() - t0.wall};
}

static void print_result(const char *step, const char *side, size_t pkt, double cpu, double wall,
                         uint64_t bytes, const char *note)
{
    char pkt_s[32] = "-";
    if (pkt)
        snprintf(pkt_s, sizeof(pkt_s), "%zu", pkt);
    printf("RESULT\t%s\t%s\t%s\t%.3f\t%.3f\t%s\n", step, side, pkt_s, cpu * GIB / (double)bytes,
           wall, note);
    fflush(stdout);
}

/* ---- local steps ---- */

typedef struct {
    const char *dir;
    char path[4096];
    uint64_t total;
    uint8_t *span;
} local_t;

typedef int (*step_fn)(local_t *l, size_t pkt, cost_t *out);

static int step_sha(local_t *l, size_t pkt, cost_t *out)
{
    uint8_t digest[LS_SHA256_LEN];
    uint64_t sink = 0;
    (void)pkt;
    cost_t t0 = mark();
    for (uint64_t off = 0; off < l->total; off += LS_CHUNK_SIZE) {
        ls_sha256(l->span + off % SPAN, LS_CHUNK_SIZE, digest);
        sink += digest[0];
    }
    *out = since(t0);
    return sink == UINT64_MAX ? LS_EIO : 0; /* keeps the digests live */
}

/* As sentinel.c: the file is pre-sized with fallocate, then every chunk is
 * written by its own open + pwrite + close. */
static int step_write(local_t *l, size_t pkt, cost_t *out)
{
    int rc = 0;
    (void)pkt;
    (void)unlink(l->path); /* the last run's pages are freed before the clock */
    cost_t t0 = mark();
    int fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || fallocate(fd, 0, 0, (off_t)l->total) != 0) {
        fprintf(stderr, "bench_floor: %s: %s\n", l->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return LS_EIO;
    }
    close(fd);
    for (uint64_t off = 0; off < l->total && rc == 0; off += LS_CHUNK_SIZE) {
        fd = open(l->path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return LS_EIO;
        rc = ls_fs_pwrite_all(fd, l->span + off % SPAN, LS_CHUNK_SIZE, (off_t)off);
        close(fd);
    }
    *out = since(t0);
    return rc;
}

/* As the file source: reads of LS_NET_READ_SIZE from the page cache. */
static int step_pread(local_t *l, size_t pkt, cost_t *out)
{
    static uint8_t buf[LS_NET_READ_SIZE];
    (void)pkt;
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LS_EIO;
    cost_t t0 = mark();
    uint64_t off = 0;
    while (off < l->total) {
        ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);
        if (n <= 0)
            break;
        off += (uint64_t)n;
    }
    *out = since(t0);
    close(fd);
    return off == l->total ? 0 : LS_EIO;
}

/* ngtcp2_crypto_gnutls's objects for AES-128-GCM and its header protection
 * (AES-128-CBC with a zero IV as one ECB block, as ngtcp2's gnutls backend
 * makes them for the TLS_AES_128_GCM_SHA256 suite). */
typedef struct {
    ngtcp2_crypto_aead aead;
    ngtcp2_crypto_aead_ctx enc, dec;
    ngtcp2_crypto_cipher hp;
    ngtcp2_crypto_cipher_ctx hp_ctx;
    gnutls_cipher_hd_t hp_hd;
    uint8_t iv[AEAD_NONCE];
} crypto_t;

static crypto_t crypto;

static int crypto_init(void)
{
    uint8_t key[AEAD_KEY], hp_key[AEAD_KEY], zero_iv[16] = {0};
    if (getrandom(key, sizeof(key), 0) != sizeof(key) ||
        getrandom(hp_key, sizeof(hp_key), 0) != sizeof(hp_key) ||
        getrandom(crypto.iv, sizeof(crypto.iv), 0) != sizeof(crypto.iv))
        return LS_EIO;
    crypto.aead = (ngtcp2_crypto_aead){
        .native_handle = (void *)(intptr_t)GNUTLS_CIPHER_AES_128_GCM,
        .max_overhead = AEAD_TAG,
    };
    crypto.hp =
        (ngtcp2_crypto_cipher){.native_handle = (void *)(intptr_t)GNUTLS_CIPHER_AES_128_CBC};
    if (ngtcp2_crypto_aead_ctx_encrypt_init(&crypto.enc, &crypto.aead, key, AEAD_NONCE) != 0 ||
        ngtcp2_crypto_aead_ctx_decrypt_init(&crypto.dec, &crypto.aead, key, AEAD_NONCE) != 0)
        return LS_EIO;
    gnutls_datum_t k = {.data = hp_key, .size = sizeof(hp_key)};
    gnutls_datum_t iv = {.data = zero_iv, .size = sizeof(zero_iv)};
    if (gnutls_cipher_init(&crypto.hp_hd, GNUTLS_CIPHER_AES_128_CBC, &k, &iv) != 0)
        return LS_EIO;
    crypto.hp_ctx.native_handle = crypto.hp_hd;
    return 0;
}

static void make_nonce(uint64_t pn, uint8_t nonce[AEAD_NONCE])
{
    memcpy(nonce, crypto.iv, AEAD_NONCE);
    for (int i = 0; i < 8; i++)
        nonce[AEAD_NONCE - 1 - i] ^= (uint8_t)(pn >> (8 * i));
}

static uint64_t packets_for(uint64_t total, size_t pkt)
{
    size_t data = pkt - SHORT_HDR - AEAD_TAG - STREAM_HDR;
    return (total + data - 1) / data;
}

/* Seal: plaintext from a read buffer into the packet (ngtcp2 encrypts a
 * packet it has just written; its copy of stream data into the packet is not
 * counted here: this is the cipher alone). */
static int step_seal(local_t *l, size_t pkt, cost_t *out)
{
    static uint8_t buf[LS_NET_MAX_PAYLOAD_BIG];
    uint8_t nonce[AEAD_NONCE];
    size_t pt = pkt - SHORT_HDR - AEAD_TAG;
    uint64_t n = packets_for(l->total, pkt), pos = 0;
    memset(buf, 0x40, SHORT_HDR);
    cost_t t0 = mark();
    for (uint64_t pn = 0; pn < n; pn++) {
        if (pos + pt > SEAL_SPAN)
            pos = 0;
        make_nonce(pn, nonce);
        if (ngtcp2_crypto_encrypt(buf + SHORT_HDR, &crypto.aead, &crypto.enc, l->span + pos, pt,
                                  nonce, AEAD_NONCE, buf, SHORT_HDR) != 0)
            return LS_EIO;
        pos += pt;
    }
    *out = since(t0);
    return 0;
}

/* Packets sealed once for step_open: a ring of OPEN_SPAN bytes it cycles
 * over. */
static uint8_t *ring;
static size_t ring_pkt;
static uint64_t ring_n;

static int make_ring(local_t *l, size_t pkt)
{
    uint8_t nonce[AEAD_NONCE];
    size_t pt = pkt - SHORT_HDR - AEAD_TAG;
    free(ring);
    ring_pkt = pkt;
    ring_n = OPEN_SPAN / pkt;
    ring = malloc(ring_n * pkt);
    if (!ring)
        return LS_ENOMEM;
    for (uint64_t i = 0; i < ring_n; i++) {
        uint8_t *p = ring + i * pkt;
        memset(p, 0x40, SHORT_HDR);
        make_nonce(i, nonce);
        if (ngtcp2_crypto_encrypt(p + SHORT_HDR, &crypto.aead, &crypto.enc, l->span + i * pt, pt,
                                  nonce, AEAD_NONCE, p, SHORT_HDR) != 0)
            return LS_EIO;
    }
    return 0;
}

/* Open: out of place, as ngtcp2 decrypts a received packet into its own
 * buffer; every tag must check. */
static int step_open(local_t *l, size_t pkt, cost_t *out)
{
    static uint8_t buf[LS_NET_MAX_PAYLOAD_BIG];
    uint8_t nonce[AEAD_NONCE];
    uint64_t n = packets_for(l->total, pkt);
    if (ring_pkt != pkt && make_ring(l, pkt) != 0)
        return LS_EIO;
    cost_t t0 = mark();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r = i % ring_n;
        const uint8_t *p = ring + r * pkt;
        make_nonce(r, nonce);
        if (ngtcp2_crypto_decrypt(buf, &crypto.aead, &crypto.dec, p + SHORT_HDR, pkt - SHORT_HDR,
                                  nonce, AEAD_NONCE, p, SHORT_HDR) != 0) {
            fprintf(stderr, "bench_floor: packet %llu did not authenticate\n",
                    (unsigned long long)i);
            return LS_EIO;
        }
    }
    *out = since(t0);
    return 0;
}

/* Header protection: one mask per packet, from the sample after the packet
 * number (the same on both sides). */
static int step_hp(local_t *l, size_t pkt, cost_t *out)
{
    uint8_t mask[NGTCP2_HP_SAMPLELEN];
    uint64_t n = packets_for(l->total, pkt), sink = 0;
    if (ring_pkt != pkt && make_ring(l, pkt) != 0)
        return LS_EIO;
    cost_t t0 = mark();
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *p = ring + (i % ring_n) * pkt;
        if (ngtcp2_crypto_hp_mask(mask, &crypto.hp, &crypto.hp_ctx, p + 1 + LS_NET_CIDLEN + 4) != 0)
            return LS_EIO;
        sink += mask[0];
    }
    *out = since(t0);
    return sink == UINT64_MAX ? LS_EIO : 0;
}

/* Every run is printed: bench_floor.sh takes the median and the spread. */
static int run_step(local_t *l, const char *name, const char *side, step_fn fn, size_t pkt,
                    const char *note)
{
    for (int r = 0; r < REPS; r++) {
        cost_t c;
        int rc = fn(l, pkt, &c);
        if (rc != 0) {
            fprintf(stderr, "bench_floor: step %s failed (%d)\n", name, rc);
            return rc;
        }
        print_result(name, side, pkt, c.cpu, c.wall, l->total, note);
    }
    return 0;
}

static int run_local(const char *dir, uint64_t total)
{
    local_t l = {.dir = dir, .total = total};
    int rc = LS_EIO;
    snprintf(l.path, sizeof(l.path), "%s/floor-%d.bin", dir, (int)getpid());
    l.span = malloc(SPAN);
    if (!l.span || crypto_init() != 0)
        goto out;
    /* incompressible, and every page touched before any clock runs */
    for (size_t off = 0; off < SPAN; off += 256) {
        if (getrandom(l.span + off, 256, 0) != 256)
            goto out;
    }
    rc = run_step(&l, "sha256", "downloader", step_sha, 0, "ls_sha256 per 1 MiB chunk");
    if (rc == 0)
        rc = run_step(&l, "write", "downloader", step_write, 0,
                      "fallocate + open/pwrite/close per 1 MiB chunk");
    if (rc == 0)
        rc = run_step(&l, "pread", "seeder", step_pread, 0, "256 KiB reads, page cache");
    size_t pkts[] = {LS_NET_MAX_PAYLOAD, PKT_JUMBO};
    for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]) && rc == 0; i++) {
        rc = run_step(&l, "aes128gcm-seal", "seeder", step_seal, pkts[i], "ngtcp2_crypto_encrypt");
        if (rc == 0)
            rc = run_step(&l, "aes128gcm-open", "downloader", step_open, pkts[i],
                          "ngtcp2_crypto_decrypt");
        if (rc == 0)
            rc = run_step(&l, "header-protection", "each side", step_hp, pkts[i],
                          "ngtcp2_crypto_hp_mask");
    }
out:
    (void)unlink(l.path);
    free(l.span);
    free(ring);
    return rc;
}

/* ---- UDP ---- */

static int udp_socket(void)
{
    int size = LS_NET_SOCK_BUF, one = 1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    (void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
    int pmtu = IP_PMTUDISC_DO;
    (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    return fd;
}

static bool wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, ms) > 0;
}

static bool is_ctrl(const uint8_t *p, size_t len, uint32_t type, uint64_t *value)
{
    ctrl_t c;
    if (len != sizeof(c))
        return false;
    memcpy(&c, p, sizeof(c));
    if (c.magic != CTRL_MAGIC || c.type != type)
        return false;
    if (value)
        *value = c.value;
    return true;
}

static void send_ctrl(int fd, const struct sockaddr_in *to, uint32_t type, uint64_t value)
{
    ctrl_t c = {.magic = CTRL_MAGIC, .type = type, .value = value};
    (void)sendto(fd, &c, sizeof(c), MSG_DONTWAIT, (const struct sockaddr *)to, sizeof(*to));
}

static int run_udp_recv(uint16_t port, uint64_t total, size_t pkt)
{
    static uint8_t rx[LS_NET_RX_BATCH][LS_NET_RX_SLOT];
    struct mmsghdr msgs[LS_NET_RX_BATCH];
    struct iovec iov[LS_NET_RX_BATCH];
    struct sockaddr_in peer = {0}, from[LS_NET_RX_BATCH];
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
    uint64_t wire = packets_for(total, pkt) * pkt, got = 0, reported = 0, dgrams = 0, pkts = 0;
    bool is_started = false, is_end = false;
    cost_t t0 = {0}, last = {0};
    int fd = udp_socket(), rc = LS_EIO;

    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
        fprintf(stderr, "bench_floor: udp-recv bind: %s\n", strerror(errno));
        goto out;
    }
    double deadline = now_s() + RUN_DEADLINE_S;
    /* the sender's hello: its address, and the start */
    while (!is_started && now_s() < deadline) {
        uint8_t b[64];
        socklen_t fl = sizeof(peer);
        if (!wait_fd(fd, POLLIN, WAIT_MS))
            continue;
        ssize_t n = recvfrom(fd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&peer, &fl);
        if (n > 0 && is_ctrl(b, (size_t)n, CTRL_HELLO, NULL)) {
            is_started = true;
            t0 = mark();
            send_ctrl(fd, &peer, CTRL_READY, 0);
        }
    }
    if (!is_started) {
        fprintf(stderr, "bench_floor: udp-recv: no sender\n");
        goto out;
    }
    while (got < wire && !is_end && now_s() < deadline) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctrl[LS_NET_RX_BATCH];
        if (!wait_fd(fd, POLLIN, 10 * WAIT_MS))
            break; /* the sender is gone */
        memset(ctrl, 0, sizeof(ctrl));
        for (int i = 0; i < LS_NET_RX_BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = rx[i], .iov_len = LS_NET_RX_SLOT};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
                                                   .msg_namelen = sizeof(from[i]),
                                                   .msg_iov = &iov[i],
                                                   .msg_iovlen = 1,
                                                   .msg_control = ctrl[i].buf,
                                                   .msg_controllen = sizeof(ctrl[i].buf)}};
        }
        int n = recvmmsg(fd, msgs, LS_NET_RX_BATCH, MSG_DONTWAIT, NULL);
        for (int i = 0; i < n; i++) {
            size_t len = msgs[i].msg_len, seg = len;
            struct msghdr *m = &msgs[i].msg_hdr;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
                if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
                    int s;
                    memcpy(&s, CMSG_DATA(cm), sizeof(s));
                    seg = s > 0 ? (size_t)s : len;
                }
            }
            if (is_ctrl(rx[i], len, CTRL_END, NULL)) {
                is_end = true;
                break;
            }
            if (is_ctrl(rx[i], len, CTRL_HELLO, NULL))
                continue;
            got += len;
            dgrams++;
            pkts += (len + seg - 1) / seg;
        }
        if (n > 0)
            last = since(t0);
        if (got - reported >= CREDIT_EVERY || got >= wire) {
            send_ctrl(fd, &peer, CTRL_CREDIT, got);
            reported = got;
        }
    }
    char note[160];
    double lost = wire ? 100.0 * (double)(wire - (got < wire ? got : wire)) / (double)wire : 0;
    snprintf(note, sizeof(note), "%.2f packets per recvmmsg datagram, %.2f %% lost",
             dgrams ? (double)pkts / (double)dgrams : 0.0, lost);
    /* per GiB of file data received */
    uint64_t data = (uint64_t)((double)total * (double)got / (double)wire);
    if (data == 0) {
        fprintf(stderr, "bench_floor: udp-recv: nothing received\n");
        goto out;
    }
    print_result("udp-recv", "downloader", pkt, last.cpu, last.wall, data, note);
    rc = lost > 5.0 ? LS_EIO : 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static ssize_t send_batch(int fd, const struct sockaddr_in *to, const uint8_t *buf, size_t len,
                          size_t seg)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctrl;
    struct msghdr msg = {
        .msg_name = (void *)to, .msg_namelen = sizeof(*to), .msg_iov = &iov, .msg_iovlen = 1};
    uint16_t seg16 = (uint16_t)seg;
    if (len > seg) {
        memset(&ctrl, 0, sizeof(ctrl));
        msg.msg_control = ctrl.buf;
        msg.msg_controllen = sizeof(ctrl.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        memcpy(CMSG_DATA(cm), &seg16, sizeof(seg16));
    }
    return sendmsg(fd, &msg, MSG_DONTWAIT);
}

/* Reads every credit report waiting; returns the highest byte count. */
static uint64_t drain_credit(int fd, uint64_t acked)
{
    for (int i = 0; i < 1024; i++) {
        uint8_t b[64];
        uint64_t v;
        ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
        if (n <= 0)
            break;
        if (is_ctrl(b, (size_t)n, CTRL_CREDIT, &v) && v > acked)
            acked = v;
    }
    return acked;
}

static int run_udp_send(const char *addr, uint16_t port, uint64_t total, size_t pkt)
{
    static uint8_t buf[LS_NET_GSO_BUF];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    size_t per_batch = (LS_NET_GSO_BUF / pkt) * pkt;
    uint64_t wire = packets_for(total, pkt) * pkt, sent = 0, acked = 0, lost = 0, calls = 0;
    bool is_ready = false;
    int fd = udp_socket(), rc = LS_EIO;

    if (fd < 0 || inet_pton(AF_INET, addr, &to.sin_addr) != 1) {
        fprintf(stderr, "bench_floor: udp-send: bad address %s\n", addr);
        goto out;
    }
    memset(buf, 0x5a, sizeof(buf));
    double deadline = now_s() + RUN_DEADLINE_S;
    while (!is_ready && now_s() < deadline) {
        uint8_t b[64];
        send_ctrl(fd, &to, CTRL_HELLO, 0);
        if (!wait_fd(fd, POLLIN, WAIT_MS / 2))
            continue;
        ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
        is_ready = n > 0 && is_ctrl(b, (size_t)n, CTRL_READY, NULL);
    }
    if (!is_ready) {
        fprintf(stderr, "bench_floor: udp-send: no receiver at %s:%u\n", addr, port);
        goto out;
    }
    cost_t t0 = mark();
    while (sent < wire && now_s() < deadline) {
        acked = drain_credit(fd, acked);
        if (sent - lost > acked + CREDIT_WINDOW) {
            if (!wait_fd(fd, POLLIN, WAIT_MS))
                lost = sent - acked; /* what never arrived will not be reported */
            continue;
        }
        size_t len = wire - sent < per_batch ? (size_t)(wire - sent) : per_batch;
        ssize_t n = send_batch(fd, &to, buf, len, pkt);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) {
                (void)wait_fd(fd, POLLOUT, WAIT_MS);
                continue;
            }
            fprintf(stderr, "bench_floor: udp-send: %s\n", strerror(errno));
            goto out;
        }
        sent += len;
        calls++;
    }
    cost_t c = since(t0);
    /* the receiver's last report, then its end */
    for (int i = 0; i < 10 && acked + lost < sent; i++) {
        if (wait_fd(fd, POLLIN, WAIT_MS))
            acked = drain_credit(fd, acked);
    }
    for (int i = 0; i < 3; i++)
        send_ctrl(fd, &to, CTRL_END, 0);
    char note[160];
    snprintf(note, sizeof(note), "%.1f packets per sendmsg",
             calls ? (double)sent / pkt / calls : 0);
    print_result("udp-send", "seeder", pkt, c.cpu, c.wall, total, note);
    rc = sent == wire ? 0 : LS_EIO;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static uint64_t parse_u64(const char *s, uint64_t max)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return *end || v == 0 || v > max ? 0 : (uint64_t)v;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int rc = LS_EINVAL;
    if (strcmp(mode, "local") == 0 && (argc == 3 || argc == 4)) {
        uint64_t mib = argc == 4 ? parse_u64(argv[3], 65536) : 1024;
        if (mib)
            rc = run_local(argv[2], mib * MIB);
    } else if (strcmp(mode, "udp-recv") == 0 && argc == 5) {
        uint64_t port = parse_u64(argv[2], 65535), mib = parse_u64(argv[3], 65536);
        uint64_t pkt = parse_u64(argv[4], LS_NET_MAX_PAYLOAD_BIG);
        if (port && mib && pkt > SHORT_HDR + AEAD_TAG + STREAM_HDR)
            rc = run_udp_recv((uint16_t)port, mib * MIB, (size_t)pkt);
    } else if (strcmp(mode, "udp-send") == 0 && argc == 6) {
        uint64_t port = parse_u64(argv[3], 65535), mib = parse_u64(argv[4], 65536);
        uint64_t pkt = parse_u64(argv[5], LS_NET_MAX_PAYLOAD_BIG);
        if (port && mib && pkt > SHORT_HDR + AEAD_TAG + STREAM_HDR)
            rc = run_udp_send(argv[2], (uint16_t)port, mib * MIB, (size_t)pkt);
    }
    if (rc == LS_EINVAL)
        fprintf(stderr, "usage: bench_floor local DIR [MiB] | udp-recv PORT MiB PKT | "
                        "udp-send ADDR PORT MiB PKT\n");
    return rc == 0 ? 0 : 1;
}
