/* ls_serve_open: what a served path may be at the moment it is opened. */
#include "testutil.h"

#include "lanspread/error.h"
#include "lanspread/serve.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ls_serve_reply_t reply_for(char *root, const char *path, uint64_t size)
{
    ls_serve_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.game_root = root;
    reply.path = strdup(path);
    reply.file_size = size;
    reply.length = size;
    return reply;
}

static void regular_file_of_the_indexed_size_opens(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("serve");
    ls_test_write_text(root, "game.pak", "0123456789");
    ls_serve_reply_t reply = reply_for(strdup(root), "game.pak", 10);
    int fd = -1;
    assert_int_equal(ls_serve_open(&reply, &fd), 0);
    char buf[16] = "";
    assert_int_equal(read(fd, buf, sizeof buf), 10);
    assert_memory_equal(buf, "0123456789", 10);
    close(fd);
    ls_serve_reply_free(&reply);
    ls_test_rmtree(root);
    free(root);
}

static void file_whose_size_changed_is_refused(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("serve");
    ls_test_write_text(root, "game.pak", "0123456789");
    ls_serve_reply_t reply = reply_for(strdup(root), "game.pak", 4096);
    int fd = 7;
    assert_int_equal(ls_serve_open(&reply, &fd), LS_ECORRUPT);
    assert_int_equal(fd, -1);
    ls_serve_reply_free(&reply);
    ls_test_rmtree(root);
    free(root);
}

/* A FIFO with no writer would block a plain open() for ever, parking a
 * thread-pool thread; the alarm turns such a hang into a failed test. */
static void fifo_in_place_of_a_file_is_refused_at_once(void **state)
{
    (void)state;
    char *root = ls_test_mkdtemp("serve");
    char *fifo = NULL;
    assert_true(asprintf(&fifo, "%s/game.pak", root) > 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    ls_serve_reply_t reply = reply_for(strdup(root), "game.pak", 10);
    int fd = 7;
    alarm(10);
    int rc = ls_serve_open(&reply, &fd);
    alarm(0);
    assert_int_equal(rc, LS_ECORRUPT);
    assert_int_equal(fd, -1);
    ls_serve_reply_free(&reply);
    free(fifo);
    ls_test_rmtree(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(regular_file_of_the_indexed_size_opens),
        cmocka_unit_test(file_whose_size_changed_is_refused),
        cmocka_unit_test(fifo_in_place_of_a_file_is_refused_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
