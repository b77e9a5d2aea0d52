/* The config file (src/app/config.c): what the daemon writes reads back as
 * exactly the value it wrote, whatever the directory's name; nothing can
 * inject a line; faults name their line; the file keeps its mode. */
#include "testutil.h"

#include "app/config.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* parse TEXT and expect exactly one argument, ARG */
static void expect_one(const char *text, const char *arg)
{
    char **args = NULL;
    int count = 0, bad_line = -1;
    assert_int_equal(ls_config_parse_args(text, strlen(text), &args, &count, &bad_line), 0);
    assert_int_equal(count, 1);
    assert_string_equal(args[0], arg);
    ls_config_free_args(args, count);
}

static void expect_refused(const char *text, size_t len, int line)
{
    char **args = NULL;
    int count = 0, bad_line = -1;
    assert_int_equal(ls_config_parse_args(text, len, &args, &count, &bad_line), LS_ECONFIG);
    assert_int_equal(bad_line, line);
    assert_null(args);
}

static void written_values_read_back_exactly(void **state)
{
    static const char *values[] = {
        "/srv/games",           " /odd dir ", "true", "false", "# not a comment",
        "a \"quoted\" \\ name", "\\",         "\"",   "",      "ünïcødé",
    };
    char line[512], want[600];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        assert_int_equal(ls_config_format_line("games", values[i], line, sizeof line), 0);
        snprintf(want, sizeof want, "--games=%s", values[i]);
        expect_one(line, want);
    }
}

static void control_characters_and_bad_keys_are_refused(void **state)
{
    char line[256];
    assert_int_equal(ls_config_format_line("games", "/x\nhttp = 0.0.0.0:7797", line, sizeof line),
                     LS_EINVAL);
    assert_int_equal(ls_config_format_line("games", "/x\r", line, sizeof line), LS_EINVAL);
    assert_int_equal(ls_config_format_line("games", "/x\x1b[2J", line, sizeof line), LS_EINVAL);
    assert_int_equal(ls_config_format_line("ga=mes", "/x", line, sizeof line), LS_EINVAL);
    assert_int_equal(ls_config_format_line("", "/x", line, sizeof line), LS_EINVAL);
    assert_int_equal(ls_config_format_line("games", "/a/long/dir", line, 12), LS_ETOOBIG);
    expect_refused("games = /x\x1b[2J\n", strlen("games = /x\x1b[2J\n"), 1);
    expect_refused("# c\n\nverbose = true\ngames = \"/x\n",
                   strlen("# c\n\nverbose = true\ngames = \"/x\n"), 4);
    expect_refused("games = \"a\"b\"\n", strlen("games = \"a\"b\"\n"), 1);
    expect_refused("games = \"a\\n\"\n", strlen("games = \"a\\n\"\n"), 1);
    expect_refused("games = /x\0http = 0.0.0.0:1\n", 29, 0);
}

static void unquoted_values_keep_their_old_meaning(void **state)
{
    expect_one("  games =  /srv/games  \n", "--games=/srv/games");
    expect_one("verbose = true\n", "--verbose");
    expect_one("# comment\n\n\tgames\t=\t/srv\r\n", "--games=/srv");
}

static void set_keeps_other_lines_and_the_mode(void **state)
{
    char *dir = ls_test_mkdtemp("config");
    char *path = ls_path_join(dir, "config");
    char **args = NULL;
    int count = 0;
    struct stat st;
    ls_test_write_text(dir, "config", "# mine\nname = box\ngames = /old\n");
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(ls_config_set(path, "games", "true"), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(ls_config_load_args(path, true, &args, &count), 0);
    assert_int_equal(count, 2);
    assert_string_equal(args[0], "--name=box");
    assert_string_equal(args[1], "--games=true"); /* a directory named true, not a flag */
    ls_config_free_args(args, count);
    assert_int_equal(ls_config_set(path, "games", "/x\nhttp = 0.0.0.0:7797"), LS_EINVAL);
    size_t len;
    char *text = ls_test_read_file(dir, "config", &len);
    assert_null(strstr(text, "http"));
    free(text);
    free(path);
    ls_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(written_values_read_back_exactly),
        cmocka_unit_test(control_characters_and_bad_keys_are_refused),
        cmocka_unit_test(unquoted_values_keep_their_old_meaning),
        cmocka_unit_test(set_keeps_other_lines_and_the_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
