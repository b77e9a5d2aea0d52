/* The app's side of the party key: `lanspread party-key new`, and turning
 * the key text the daemon was given (--party-key, --party-key-file, the
 * config file or LANSPREAD_PARTY_KEY) into a derived key, with the warnings
 * a user should see. Main thread, before the peer starts. */
#ifndef LS_APP_PARTY_KEY_H
#define LS_APP_PARTY_KEY_H

#include "lanspread/party.h"

#include <stdbool.h>
#include <stddef.h>

/* The environment variable the daemon reads a party key from when no option
 * gives one; it is removed from the environment once read. */
#define LS_PARTY_KEY_ENV "LANSPREAD_PARTY_KEY"

/* `lanspread party-key new`: prints a fresh key alone on its last line. */
int ls_cmd_party_key(int argc, char **argv);

/* Derives text (len bytes) into *out, printing to stderr why not (a NUL
 * inside, a generated key with a typo) or a warning for a short passphrase.
 * 0 or a negative LS_E* code. */
int ls_app_party_key_derive(const char *text, size_t len, ls_party_key_t *out);

/* Whether argv (the real command line, not the config file's lines) gives
 * the key itself with --party-key, which every local user can read in the
 * process list. */
bool ls_app_party_key_on_command_line(int argc, char **argv);

#endif
