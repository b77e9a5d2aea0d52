/* Helpers shared by the subcommands: default paths and the catalog set. */
#ifndef LS_APP_COMMON_H
#define LS_APP_COMMON_H

#include "lanspread/catalog.h"

#include <stddef.h>

#define LS_MAX_EXTRA_CATALOGS 8

/* $XDG_STATE_HOME/lanspread, or ~/.local/state/lanspread. Caller frees. */
char *ls_app_default_state_dir(void);

/* The bundled catalog, then GAME_DIR/.lanspread-catalog.json if present,
 * then each extra file in order (later ones override earlier ids).
 * On error prints the reason to stderr. Caller frees the catalog. */
int ls_app_load_catalog(const char *game_dir, const char *const *extra, size_t extra_count,
                        ls_catalog_t **out);

/* "1.5 MiB" style; writes into buf. */
const char *ls_app_format_size(unsigned long long bytes, char *buf, size_t len);

#endif
