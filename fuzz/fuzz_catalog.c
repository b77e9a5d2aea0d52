/* Fuzzes the catalog loader: any bytes give 0 or LS_ECATALOG, never a crash,
 * and a catalog that loads can be searched for each of its ids. */
#include "lanspread/catalog.h"
#include "lanspread/error.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_catalog_t *catalog;
    char err[256];
    if (ls_catalog_new(&catalog) != 0)
        return 0;
    int rc = ls_catalog_add_json(catalog, (const char *)data, size, "fuzz", err, sizeof err);
    if (rc != 0 && rc != LS_ECATALOG && rc != LS_ENOMEM)
        abort();
    for (size_t i = 0; i < ls_catalog_count(catalog); i++)
        if (ls_catalog_find(catalog, ls_catalog_at(catalog, i)->id) != ls_catalog_at(catalog, i))
            abort();
    ls_catalog_free(catalog);
    return 0;
}
