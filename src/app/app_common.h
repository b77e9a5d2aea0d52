/* Helpers shared by the subcommands: default paths and the catalog set. */
#ifndef LS_APP_COMMON_H
#define LS_APP_COMMON_H

#include "lanspread/catalog.h"

#include <stddef.h>

#define LS_MAX_EXTRA_CATALOGS 8

/* $XDG_STATE_HOME/lanspread, or ~/.local/state/lanspread. Caller frees. */
char *ls_app_default_state_dir(void);

/* The base catalog: the bundled one, then each extra (--catalog) file in
 * order, later ones overriding earlier ids. The game directory's own
 * catalog is not part of it: the library reads that one on every scan and
 * lets it override the base. On error prints the reason to stderr. Caller
 * frees the catalog. */
int ls_app_load_catalog(const char *const *extra, size_t extra_count, ls_catalog_t **out);

/* "1.5 MiB" style; writes into buf. */
const char *ls_app_format_size(unsigned long long bytes, char *buf, size_t len);

#endif
