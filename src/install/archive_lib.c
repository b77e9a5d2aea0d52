/* libarchive through dlopen: see archive_lib.h for why. */
#define LS_ARCHIVE_NO_REDIRECT
#include "install/archive_lib.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <dlfcn.h>
#include <uv.h>

ls_archive_api_t ls__archive_api;

static uv_once_t load_once = UV_ONCE_INIT;
static int load_rc = LS_EARCHIVE;

/* Fills a table first and publishes it whole: a missing symbol leaves
 * ls__archive_api all NULL, never half filled. */
static void load(void)
{
    ls_archive_api_t api = {0};
    /* RTLD_NODELETE: the library stays for the process, as a linked one would */
    void *lib = dlopen(LS_ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!lib) {
        ls_error("install", "cannot load %s: %s", LS_ARCHIVE_SONAME, dlerror());
        return;
    }
#define LS__ARCHIVE_FIND(name)                                                                     \
    *(void **)&api.name = dlsym(lib, #name);                                                       \
    if (!api.name) {                                                                               \
        ls_error("install", "%s has no %s", LS_ARCHIVE_SONAME, #name);                             \
        return;                                                                                    \
    }
    LS_ARCHIVE_FUNCTIONS(LS__ARCHIVE_FIND)
#undef LS__ARCHIVE_FIND
    ls__archive_api = api;
    load_rc = 0;
}

int ls_archive_load(void)
{
    uv_once(&load_once, load);
    return load_rc;
}
