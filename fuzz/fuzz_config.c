/* libFuzzer target for the config file parser (src/app/config.c): the file
 * is edited by people and rewritten by the daemon. Every argument it yields
 * is "--key" or "--key=value" with a key of LS_CONFIG_KEY_CHARS and no
 * control character; at most LS_CONFIG_LINES_MAX of them. And the writer:
 * the input read as a value, written by ls_config_format_line, parses back
 * to exactly that value (or is refused for a control character). */
#include "app/config.h"

#include "lanspread/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static void check_args(const uint8_t *data, size_t size)
{
    char **args = NULL;
    int count = 0, bad_line = 0;
    int rc = ls_config_parse_args((const char *)data, size, &args, &count, &bad_line);
    if (rc != 0) {
        if (args || count != 0 || (rc != LS_ECONFIG && rc != LS_ETOOBIG && rc != LS_ENOMEM))
            abort();
        return;
    }
    if (count > LS_CONFIG_LINES_MAX || bad_line != 0)
        abort();
    for (int i = 0; i < count; i++) {
        const char *arg = args[i];
        size_t key_len = strcspn(arg + 2, "=");
        if (strncmp(arg, "--", 2) != 0 || key_len == 0 ||
            strspn(arg + 2, LS_CONFIG_KEY_CHARS) != key_len || has_control(arg))
            abort();
    }
    ls_config_free_args(args, count);
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1), *line = malloc(2 * size + 32), *want = malloc(size + 16);
    char **args = NULL;
    int count = 0, bad_line = 0;
    if (!value || !line || !want)
        goto out;
    memcpy(value, data, size);
    value[size] = '\0'; /* a NUL inside ends the value, as in a C string */
    int rc = ls_config_format_line("games", value, line, 2 * size + 32);
    if (rc != 0) {
        if (rc != LS_EINVAL || !has_control(value))
            abort();
        goto out;
    }
    if (ls_config_parse_args(line, strlen(line), &args, &count, &bad_line) != 0 || count != 1)
        abort();
    memcpy(want, "--games=", 8);
    memcpy(want + 8, value, strlen(value) + 1);
    if (strcmp(args[0], want) != 0)
        abort();
    ls_config_free_args(args, count);
out:
    free(value);
    free(line);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_args(data, size);
    check_round_trip(data, size);
    return 0;
}
