/* Serving: the streams other peers open to us, one request frame in and one
 * reply out. The handshake and library deltas are the link's business (this
 * only carries them); file requests are answered from the library through
 * the transport's file source. Loop thread only. */
#ifndef LS_PEER_SERVER_H
#define LS_PEER_SERVER_H

#include "link.h"

#include "lanspread/library.h"

#include <uv.h>

typedef struct ls__server ls__server_t;

int ls__server_new(uv_loop_t *loop, ls__server_t **out);
/* After the loop ended (every stream is gone by then). */
void ls__server_free(ls__server_t *server);
/* The library answered from; swapped when the game directory changes. */
void ls__server_set_library(ls__server_t *server, ls_library_t *library);
/* The links' stream hook: a request stream the peer opened on link. */
void ls__server_accept_stream(ls__server_t *server, ls_link_t *link, ls_net_stream_t *stream);
/* The first scan ended (the links have a library now): answers the hellos
 * held until then. */
void ls__server_answer_held_hellos(ls__server_t *server);

#endif
