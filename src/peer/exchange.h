/* Requests this peer sends on a link: a fresh bidirectional stream with one
 * request frame, answered by one reply frame and, for file requests, the
 * bytes that follow it. Loop thread only. */
#ifndef LS_PEER_EXCHANGE_H
#define LS_PEER_EXCHANGE_H

#include "link.h"

#include <stddef.h>
#include <stdint.h>

/* A reply-only request. cb runs exactly once (status 0 with the reply, or
 * LS_E*), unless the start itself failed (its return value says so). */
typedef void (*ls__exchange_cb)(ls_link_t *link, int status, const ls_msg_t *reply, void *userdata);
int ls__exchange_start(ls_link_t *link, const ls_msg_t *request, ls__exchange_cb cb,
                       void *userdata);

/* A file request: the reply header, then up to max_body bytes. cb gets the
 * header (or the peer's error frame, status LS_EREMOTE) and, on success, the
 * body, which it owns: ls__reply_body_free(body, len) keeps it warm for the
 * next answer (reply_rx.h); free() is also right, but loses the warm block.
 * The handle is valid until cb has run; cb runs exactly once, with
 * LS_ECANCELED after ls__exchange_cancel. */
typedef struct ls__exchange ls__exchange_t;
typedef void (*ls__fetch_cb)(ls_link_t *link, int status, const ls_msg_t *reply, uint8_t *body,
                             size_t len, void *userdata);
int ls__exchange_fetch(ls_link_t *link, const ls_msg_t *request, size_t max_body, ls__fetch_cb cb,
                       void *userdata, ls__exchange_t **handle);
void ls__exchange_cancel(ls__exchange_t *exchange);
/* The link the request went out on (valid while the handle is): after a
 * peer's restart, a newer link to it may have replaced this one. */
ls_link_t *ls__exchange_link(const ls__exchange_t *exchange);
/* Whether a byte of its reply came (valid while the handle is). */
bool ls__exchange_has_data(const ls__exchange_t *exchange);
/* Body bytes of its reply received so far (valid while the handle is). */
size_t ls__exchange_body_len(const ls__exchange_t *exchange);
/* ls__exchange_start with a handle for ls__exchange_cancel (a request with
 * a deadline): valid until cb has run. */
int ls__exchange_ask(ls_link_t *link, const ls_msg_t *request, ls__exchange_cb cb, void *userdata,
                     ls__exchange_t **handle);

#endif
