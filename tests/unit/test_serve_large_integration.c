/* A serving peer streams a 1 GiB file in 64 MiB chunks byte-exact while its
 * memory stays small: file bytes are read only as the peer's window opens.
 * The server is a real `lanspread daemon` process so its peak RSS can be
 * read from /proc. */
#include "testutil.h"
#include "peer_harness.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"
#include "lanspread/hash.h"

#include <fcntl.h>
#include <nettle/sha2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_SIZE (1024ull * 1024 * 1024)
#define REQUEST_LEN (64ull * 1024 * 1024)
#define RSS_LIMIT_KB (64 * 1024)

/* Ended by the teardown when an assertion stops the test early. */
static pid_t daemon_pid;

static int stop_daemon(void **state)
{
    (void)state;
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
    }
    return 0;
}

static void write_big_file(const char *path)
{
    size_t block = 8u * 1024 * 1024;
    uint8_t *buf = malloc(block);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    for (uint64_t off = 0; off < FILE_SIZE; off += block) {
        ls_test_fill(buf, block, (uint32_t)(off / block) + 1);
        assert_int_equal(ls_fs_pwrite_all(fd, buf, block, (off_t)off), 0);
    }
    close(fd);
    free(buf);
}

static void sha256_of_range(const char *path, uint64_t offset, uint64_t len,
                            uint8_t out[LS_SHA256_LEN])
{
    struct sha256_ctx ctx;
    size_t block = 4u * 1024 * 1024;
    uint8_t *buf = malloc(block);
    int fd = open(path, O_RDONLY);
    sha256_init(&ctx);
    for (uint64_t done = 0; done < len; done += block) {
        size_t n = len - done < block ? (size_t)(len - done) : block;
        assert_int_equal(ls_fs_pread_all(fd, buf, n, (off_t)(offset + done)), 0);
        sha256_update(&ctx, n, buf);
    }
    sha256_digest(&ctx, LS_SHA256_LEN, out);
    close(fd);
    free(buf);
}

/* Starts the daemon, returns its pid and the port from its `ready` event. */
static pid_t start_daemon(const char *dir, int *port)
{
    const char *bin = getenv("LS_LANSPREAD_BIN");
    char games[512], state[512], line[4096];
    int pipefd[2];
    assert_non_null(bin);
    snprintf(games, sizeof games, "%s/games", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        execl(bin, bin, "daemon", "--games", games, "--state", state, "--listen", "127.0.0.1:0",
              "--json-events", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *out = fdopen(pipefd[0], "r");
    *port = 0;
    /* Bounded: the daemon prints a handful of lines before `ready`. */
    for (int i = 0; i < 100 && !*port && fgets(line, sizeof line, out); i++) {
        char *p = strstr(line, "\"event\":\"ready\"");
        char *q = p ? strstr(line, "\"port\":") : NULL;
        if (q) {
            char *end;
            long value = strtol(q + 7, &end, 10);
            *port = end != q + 7 && value > 0 && value <= 65535 ? (int)value : 0;
        }
    }
    /* Keep draining in the background is not needed: events are few. */
    assert_true(*port > 0);
    return pid;
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void one_gib_file_streams_exactly_with_small_server_memory(void **state)
{
    (void)state;
    char *dir = ls_test_mkdtemp("large");
    char path[512];
    ls_test_write_text(dir, "games/.lanspread-catalog.json",
                       "{\"games\":[{\"id\":\"big\",\"name\":\"Big Game\"}]}");
    ls_test_write_text(dir, "games/big/version.ini", "version=1\n");
    snprintf(path, sizeof path, "%s/games/big/huge.pak", dir);
    write_big_file(path);

    int port;
    pid_t pid = daemon_pid = start_daemon(dir, &port);
    ls_raw_peer_t raw;
    ls_raw_result_t result;
    char *raw_state = ls_test_mkdtemp("raw");
    assert_int_equal(ls_raw_open(&raw, raw_state), 0);
    assert_int_equal(ls_raw_connect(&raw, port), 0);
    assert_int_equal(ls_raw_handshake(&raw, NULL, &result), 0);
    assert_int_equal(result.reply.kind, LS_MSG_HELLO_ACK);
    ls_raw_result_free(&result);

    for (uint64_t off = 0; off < FILE_SIZE; off += REQUEST_LEN) {
        ls_msg_t req = {.kind = LS_MSG_GET_FILE_CHUNK};
        req.u.file_request.game_id = "big";
        req.u.file_request.path = "huge.pak";
        req.u.file_request.offset = off;
        req.u.file_request.length = REQUEST_LEN;
        assert_int_equal(ls_raw_request(&raw, &req, &result), 0);
        assert_int_equal(result.reply.kind, LS_MSG_FILE_CHUNK);
        assert_int_equal(result.body_len, REQUEST_LEN);
        uint8_t expected[LS_SHA256_LEN];
        sha256_of_range(path, off, REQUEST_LEN, expected);
        assert_memory_equal(result.body_sha256, expected, LS_SHA256_LEN);
        ls_raw_result_free(&result);
    }
    long rss = peak_rss_kb(pid);
    printf("serving peer peak RSS after 1 GiB: %ld KiB\n", rss);
    assert_true(rss > 0 && rss < RSS_LIMIT_KB);

    ls_raw_close(&raw);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    daemon_pid = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ls_test_rmtree(raw_state);
    ls_test_rmtree(dir);
    free(raw_state);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(one_gib_file_streams_exactly_with_small_server_memory,
                                  stop_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
