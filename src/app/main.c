/* The `lanspread` executable: dispatches to one subcommand. */
#include "app/commands.h"
#include "app/party_key.h"

#include "lanspread/proto.h"

#include <stdio.h>
#include <string.h>

static const ls_command_t commands[] = {
    {"scan", "print the local library (--json for scripts)", ls_cmd_scan},
    {"demo-library", "create a demo game library", ls_cmd_demo_library},
    {"daemon", "run a peer (and its web UI) in the foreground", ls_cmd_daemon},
    {"games", "list games with their state (from the running daemon)", ls_cmd_client},
    {"peers", "list the connected and the known peers (last seen)", ls_cmd_client},
    {"peer", "add ADDR:PORT, or forget ADDR|ID (saved in the config)", ls_cmd_client},
    {"status", "show the daemon's status", ls_cmd_client},
    {"download", "download a game from the peers, then install it", ls_cmd_client},
    {"update", "fetch a game's latest version", ls_cmd_client},
    {"install", "install a downloaded game", ls_cmd_client},
    {"uninstall", "uninstall a game", ls_cmd_client},
    {"cancel", "cancel a game's download", ls_cmd_client},
    {"rescan", "rescan the game directory", ls_cmd_client},
    {"set-game-dir", "change the game directory (saved in the config)", ls_cmd_client},
    {"open", "open the web UI in the browser (one-time login link)", ls_cmd_client},
    {"limits", "show or change the bandwidth limits (saved in the config)", ls_cmd_client},
    {"party-key", "make a key for a closed party (party-key new)", ls_cmd_party_key},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: lanspread <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n  --help         this help\n  --version      version and protocol\n"
                 "\n'lanspread <command> --help' lists a command's options.\n"
                 "\nexit codes: 0 done, 1 failed, 2 usage, 3 no daemon running, 4 refused by\n"
                 "the daemon, 5 not supported by the daemon, 130 interrupted (Ctrl-C)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lanspread %s (protocol %d)\n", LS_VERSION_STRING, LS_PROTOCOL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lanspread: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
