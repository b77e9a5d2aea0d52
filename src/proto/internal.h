/* Shared by the protocol codec's files only: the context that names the
 * field a failure is about, UTF-8 validation, the name tables and the
 * semantic checks both the encoder and the decoder apply. */
#ifndef LANSPREAD_PROTO_INTERNAL_H
#define LANSPREAD_PROTO_INTERNAL_H

#include "lanspread/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest integer a JSON field can carry: jansson holds integers as signed
 * 64-bit, so uint64_t fields are limited to this on the wire. */
#define LS_PROTO_INT_MAX ((uint64_t)INT64_MAX)

typedef struct {
    char *detail; /* caller's buffer, may be NULL */
    size_t detail_len;
    char path[192]; /* dotted path of the field being looked at */
    size_t path_len;
} ls_proto_ctx_t;

void ls_proto_ctx_init(ls_proto_ctx_t *ctx, char *detail, size_t detail_len);

/* Appends ".key" (or "[index]") to the current path; returns a mark that
 * ls_proto_path_pop() restores. A path that does not fit is truncated. */
size_t ls_proto_path_push(ls_proto_ctx_t *ctx, const char *key);
size_t ls_proto_path_push_index(ls_proto_ctx_t *ctx, size_t index);
void ls_proto_path_pop(ls_proto_ctx_t *ctx, size_t mark);

/* Writes "<path>.<field>: <message>" into the detail buffer and returns
 * code. field may be NULL when the path already names it. */
int ls_proto_fail(ls_proto_ctx_t *ctx, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Name tables: NULL for values outside the enums. */
const char *ls_proto_kind_to_name(ls_msg_kind_t kind);
int ls_proto_kind_from_name(const char *name, ls_msg_kind_t *kind);
const char *ls_proto_wire_error_to_name(ls_wire_error_t code);
int ls_proto_wire_error_from_name(const char *name, ls_wire_error_t *code);

/* Bounds, ids, paths, digests, counts and uniqueness of a whole message:
 * the decoder runs it after parsing, the encoder before building JSON, so
 * the encoder produces exactly what the decoder accepts. */
int ls_proto_validate(ls_proto_ctx_t *ctx, const ls_msg_t *msg);

/* Number of chunks a file of `size` bytes is split into at `chunk_size`
 * (one that ls_proto_chunk_size_ok accepts). */
uint64_t ls_proto_chunk_count(uint64_t size, uint32_t chunk_size);

/* Whether a manifest may state this chunk_size: a power of two from
 * LS_CHUNK_SIZE_MIN to LS_CHUNK_SIZE_MAX. */
bool ls_proto_chunk_size_ok(uint32_t chunk_size);

#endif
