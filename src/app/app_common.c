/* Default paths, catalog loading and formatting shared by the subcommands. */
#include "app/app_common.h"

#include "lanspread/error.h"
#include "lanspread/fsutil.h"

#include <stdio.h>
#include <stdlib.h>

char *ls_app_default_state_dir(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        return ls_strdup_printf("%s/lanspread", xdg);
    return ls_strdup_printf("%s/.local/state/lanspread", home && *home ? home : "/tmp");
}

int ls_app_load_catalog(const char *const *extra, size_t extra_count, ls_catalog_t **out)
{
    char err[512];
    int rc = ls_catalog_load_bundled(out, err, sizeof err);

    for (size_t i = 0; rc == 0 && i < extra_count; i++)
        rc = ls_catalog_add_file(*out, extra[i], err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "lanspread: catalog: %s\n", err);
        ls_catalog_free(*out);
        *out = NULL;
    }
    return rc;
}

const char *ls_app_format_size(unsigned long long bytes, char *buf, size_t len)
{
    return ls_format_size(bytes, buf, len);
}
