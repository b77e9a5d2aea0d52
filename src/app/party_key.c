/* `lanspread party-key new` and the daemon's party-key input: deriving the
 * text it was given, with the warnings a user should see. */
#include "app/party_key.h"
#include "app/commands.h"

#include "lanspread/error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void party_key_usage(FILE *out)
{
    fprintf(out,
            "usage: lanspread party-key new\n\n"
            "Prints a new random party key (%d bits, base32 groups) alone on the last\n"
            "line. Give it to every peer of a closed party, e.g. in a file:\n"
            "  lanspread party-key new | tail -n 1 > party.key\n"
            "  lanspread daemon --party-key-file party.key ...\n"
            "or in the environment (%s). Any other text is taken as a\n"
            "passphrase and stretched with Argon2id.\n",
            LS_PARTY_KEY_RANDOM_BITS, LS_PARTY_KEY_ENV);
}

int ls_cmd_party_key(int argc, char **argv)
{
    char key[LS_PARTY_KEY_TEXT_LEN];
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        party_key_usage(stdout);
        return LS_EXIT_OK;
    }
    if (argc != 2 || strcmp(argv[1], "new") != 0) {
        party_key_usage(stderr);
        return LS_EXIT_USAGE;
    }
    int rc = ls_party_key_generate(key);
    if (rc != 0) {
        fprintf(stderr, "party-key: no random bytes: %s\n", ls_strerror(rc));
        return LS_EXIT_FAILURE;
    }
    printf("# A new party key (%d random bits). Every peer of the party needs it:\n"
           "# lanspread daemon --party-key-file FILE (FILE holding the line below)\n%s\n",
           LS_PARTY_KEY_RANDOM_BITS, key);
    explicit_bzero(key, sizeof key);
    return fflush(stdout) == 0 ? LS_EXIT_OK : LS_EXIT_FAILURE;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int ls_app_party_key_derive(const char *text, size_t len, ls_party_key_t *out)
{
    ls_party_key_form_t form = LS_PARTY_KEY_PASSPHRASE;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = ls_party_key_derive(text, len, out, &form);
    if (rc == LS_EINVAL && form == LS_PARTY_KEY_GENERATED)
        fprintf(stderr, "daemon: the party key looks like one `lanspread party-key new` made, "
                        "but its check letters do not match: a typo?\n");
    else if (rc == LS_EINVAL)
        fprintf(stderr, "daemon: the party key is empty, too long or holds a NUL byte\n");
    else if (rc != 0)
        fprintf(stderr, "daemon: cannot derive the party key: %s\n", ls_strerror(rc));
    if (rc != 0 || form != LS_PARTY_KEY_PASSPHRASE)
        return rc;
    fprintf(stderr, "daemon: party passphrase stretched with Argon2id in %.2f s\n",
            seconds_since(&start));
    if (len < LS_PARTY_PASSPHRASE_MIN)
        fprintf(stderr,
                "daemon: warning: the party passphrase is short (%zu bytes, under %d): a "
                "stranger can guess it from one proof; `lanspread party-key new` makes a "
                "strong key\n",
                len, LS_PARTY_PASSPHRASE_MIN);
    return 0;
}

bool ls_app_party_key_on_command_line(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--party-key") == 0 || strncmp(argv[i], "--party-key=", 12) == 0)
            return true;
    }
    return false;
}
