/* ls_identity: makes (or loads) the peer identity of each state directory
 * given and prints "<dir> <peer_id>" per line, so a netns test can choose
 * which peers play which part by their ids (link ranks, docs/ARCHITECTURE.md
 * "Which links, and on demand") before any daemon starts. Exit 1 on error. */
#include "lanspread/error.h"
#include "lanspread/identity.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    int status = 0;
    for (int i = 1; i < argc; i++) {
        ls_identity_t *id = NULL;
        int rc = ls_identity_load_or_create(argv[i], &id);
        if (rc != 0) {
            fprintf(stderr, "ls_identity: %s: %s\n", argv[i], ls_strerror(rc));
            status = 1;
            continue;
        }
        printf("%s %s\n", argv[i], ls_identity_peer_id(id));
        ls_identity_free(id);
    }
    return status;
}
