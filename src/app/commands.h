/* Subcommands of the lanspread executable. Each gets argv starting at its
 * own name and returns the process exit code. */
#ifndef LS_APP_COMMANDS_H
#define LS_APP_COMMANDS_H

#define LS_VERSION_STRING "0.1.0"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} ls_command_t;

/* Exit codes shared by all subcommands. */
enum {
    LS_EXIT_OK = 0,
    LS_EXIT_FAILURE = 1, /* the operation ran and failed */
    LS_EXIT_USAGE = 2,
    LS_EXIT_NO_DAEMON = 3,     /* no daemon answers */
    LS_EXIT_REFUSED = 4,       /* the daemon refused: unknown game, bad state or input */
    LS_EXIT_UNSUPPORTED = 5,   /* the daemon cannot do this yet */
    LS_EXIT_INTERRUPTED = 130, /* Ctrl-C (128 + SIGINT, as shells report it) */
};

int ls_cmd_scan(int argc, char **argv);
int ls_cmd_demo_library(int argc, char **argv);
int ls_cmd_daemon(int argc, char **argv);
/* games, peers, status, download, ...: argv[0] names the subcommand. */
int ls_cmd_client(int argc, char **argv);

#endif
