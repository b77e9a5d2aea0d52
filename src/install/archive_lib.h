/* libarchive, loaded on first use. The daemon links it through dlopen, not
 * at start: Debian's libarchive pulls in libxml2 (its xar reader), and with
 * it ICU and libstdc++, about 2 MiB of resident library pages in every
 * process (issue #17: RSS of a daemon at a party), while only unpacking an
 * install and writing the demo library need it. Include this header after
 * <archive.h> and <archive_entry.h>: each archive_* function used by
 * Lanspread then calls through the table ls_archive_load() filled.
 * ls_archive_load() must have returned 0 before any of them is called; it
 * is thread-safe and loads once per process. */
#ifndef LS_INSTALL_ARCHIVE_LIB_H
#define LS_INSTALL_ARCHIVE_LIB_H

#include <archive.h>
#include <archive_entry.h>

/* The shared object's name: its soname, stable since libarchive 3.0. */
#define LS_ARCHIVE_SONAME "libarchive.so.13"

/* Every libarchive function Lanspread calls (a new one goes here and
 * below). */
#define LS_ARCHIVE_FUNCTIONS(X)                                                                    \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_free)                                                                          \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_is_encrypted)                                                                  \
    X(archive_entry_new)                                                                           \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_pathname_utf8)                                                                 \
    X(archive_entry_perm)                                                                          \
    X(archive_entry_set_filetype)                                                                  \
    X(archive_entry_set_mtime)                                                                     \
    X(archive_entry_set_pathname)                                                                  \
    X(archive_entry_set_perm)                                                                      \
    X(archive_entry_set_size)                                                                      \
    X(archive_entry_size)                                                                          \
    X(archive_entry_size_is_set)                                                                   \
    X(archive_entry_symlink)                                                                       \
    X(archive_error_string)                                                                        \
    X(archive_filter_bytes)                                                                        \
    X(archive_read_data_block)                                                                     \
    X(archive_read_free)                                                                           \
    X(archive_read_new)                                                                            \
    X(archive_read_next_header)                                                                    \
    X(archive_read_open_filename)                                                                  \
    X(archive_read_support_filter_all)                                                             \
    X(archive_read_support_format_all)                                                             \
    X(archive_write_add_filter_gzip)                                                               \
    X(archive_write_close)                                                                         \
    X(archive_write_data)                                                                          \
    X(archive_write_free)                                                                          \
    X(archive_write_header)                                                                        \
    X(archive_write_new)                                                                           \
    X(archive_write_open_filename)                                                                 \
    X(archive_write_set_filter_option)                                                             \
    X(archive_write_set_format_option)                                                             \
    X(archive_write_set_format_pax_restricted)                                                     \
    X(archive_write_set_format_zip)

typedef struct {
#define LS__ARCHIVE_MEMBER(name) __typeof__(name) *name;
    LS_ARCHIVE_FUNCTIONS(LS__ARCHIVE_MEMBER)
#undef LS__ARCHIVE_MEMBER
} ls_archive_api_t;

/* 0 once libarchive is loaded and every function found; LS_EARCHIVE
 * (with one log line per process) when it is not installed or lacks one. */
int ls_archive_load(void);
/* The table ls_archive_load() filled (all NULL before). */
extern ls_archive_api_t ls__archive_api;

/* archive_lib.c names the functions themselves */
#ifndef LS_ARCHIVE_NO_REDIRECT
#define archive_entry_filetype (ls__archive_api.archive_entry_filetype)
#define archive_entry_free (ls__archive_api.archive_entry_free)
#define archive_entry_hardlink (ls__archive_api.archive_entry_hardlink)
#define archive_entry_is_encrypted (ls__archive_api.archive_entry_is_encrypted)
#define archive_entry_new (ls__archive_api.archive_entry_new)
#define archive_entry_pathname (ls__archive_api.archive_entry_pathname)
#define archive_entry_pathname_utf8 (ls__archive_api.archive_entry_pathname_utf8)
#define archive_entry_perm (ls__archive_api.archive_entry_perm)
#define archive_entry_set_filetype (ls__archive_api.archive_entry_set_filetype)
#define archive_entry_set_mtime (ls__archive_api.archive_entry_set_mtime)
#define archive_entry_set_pathname (ls__archive_api.archive_entry_set_pathname)
#define archive_entry_set_perm (ls__archive_api.archive_entry_set_perm)
#define archive_entry_set_size (ls__archive_api.archive_entry_set_size)
#define archive_entry_size (ls__archive_api.archive_entry_size)
#define archive_entry_size_is_set (ls__archive_api.archive_entry_size_is_set)
#define archive_entry_symlink (ls__archive_api.archive_entry_symlink)
#define archive_error_string (ls__archive_api.archive_error_string)
#define archive_filter_bytes (ls__archive_api.archive_filter_bytes)
#define archive_read_data_block (ls__archive_api.archive_read_data_block)
#define archive_read_free (ls__archive_api.archive_read_free)
#define archive_read_new (ls__archive_api.archive_read_new)
#define archive_read_next_header (ls__archive_api.archive_read_next_header)
#define archive_read_open_filename (ls__archive_api.archive_read_open_filename)
#define archive_read_support_filter_all (ls__archive_api.archive_read_support_filter_all)
#define archive_read_support_format_all (ls__archive_api.archive_read_support_format_all)
#define archive_write_add_filter_gzip (ls__archive_api.archive_write_add_filter_gzip)
#define archive_write_close (ls__archive_api.archive_write_close)
#define archive_write_data (ls__archive_api.archive_write_data)
#define archive_write_free (ls__archive_api.archive_write_free)
#define archive_write_header (ls__archive_api.archive_write_header)
#define archive_write_new (ls__archive_api.archive_write_new)
#define archive_write_open_filename (ls__archive_api.archive_write_open_filename)
#define archive_write_set_filter_option (ls__archive_api.archive_write_set_filter_option)
#define archive_write_set_format_option (ls__archive_api.archive_write_set_format_option)
#define archive_write_set_format_pax_restricted                                                    \
    (ls__archive_api.archive_write_set_format_pax_restricted)
#define archive_write_set_format_zip (ls__archive_api.archive_write_set_format_zip)
#endif

#endif
