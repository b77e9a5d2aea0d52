/* The shaper: this peer's bandwidth limits, on the loop thread.
 *
 * Upload: every body byte served passes ls__shaper_upload_grant (the file
 * source's gate, see net.h). Bytes go while the upload bucket holds
 * tokens; when it is empty the stream is told "nothing ready" and resumed
 * from a timer once the bucket refills: the loop never sleeps. With a
 * per-peer share below 100 %, a downloader ("lane", one per link) that
 * competes with another one for bytes gets at most that share of the
 * limit; alone it gets the whole limit. The share only divides a limit:
 * without one (upload 0 = unlimited) the network's congestion control
 * shares the link.
 *
 * Download: the fetcher asks ls__shaper_download_admits before each
 * request and charges the request's length; while the download bucket is
 * in debt no request goes out, and download_ready is called once it is
 * not. The sender's reply is never slowed: the rate holds on average, over
 * the time of a few requests (LS_CHUNK_SIZE each).
 *
 * Threads: loop thread only. Lifetime: ls__shaper_close_handles when the
 * runtime shuts down (no timer fires afterwards), ls__shaper_free after
 * the loop ended. */
#ifndef LS_PEER_SHAPER_H
#define LS_PEER_SHAPER_H

#include "lanspread/net.h"
#include "lanspread/rate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Grants smaller than this wait for the bucket to refill (unless the
 * stream asked for less): a slow limit sends fewer, fuller packets. */
#define LS_SHAPER_QUANTUM (8u * 1024u)
/* A lane that asked for bytes this recently competes for the upload. */
#define LS_SHAPER_LANE_ACTIVE_MS 500
/* A lane idle this long is forgotten (its table slot reused). */
#define LS_SHAPER_LANE_IDLE_MS 5000
/* Lanes tracked at once; more (only with more links than that serving at
 * once) are not held to the share. */
#define LS_SHAPER_LANES_MAX 256
#define LS_SHAPER_SHARE_FULL 100

typedef struct ls__shaper ls__shaper_t;

int ls__shaper_new(uv_loop_t *loop, void (*download_ready)(void *userdata), void *userdata,
                   ls__shaper_t **out);
/* The upload limit in bytes/s (0: unlimited) and the share of it one lane
 * may take while another lane competes (1..LS_SHAPER_SHARE_FULL). Waiting
 * streams are resumed at once. */
void ls__shaper_set_upload(ls__shaper_t *sh, uint64_t rate, uint32_t share_pct);
void ls__shaper_set_download(ls__shaper_t *sh, uint64_t rate);

/* The gate of a served body: how many of want bytes stream s of `lane`
 * (its link) may send now; 0: s is resumed later (ls_net_stream_resume). */
size_t ls__shaper_upload_grant(ls__shaper_t *sh, const void *lane, ls_net_stream_t *s, size_t want);
/* Bytes sent without the gate (a batch body queued whole): paid for by
 * the next grants. */
void ls__shaper_upload_charge(ls__shaper_t *sh, const void *lane, uint64_t n);
/* s is closing: it is not resumed any more. */
void ls__shaper_forget(ls__shaper_t *sh, ls_net_stream_t *s);

/* True when a download request may go now; false: download_ready is
 * called once one may. */
bool ls__shaper_download_admits(ls__shaper_t *sh);
void ls__shaper_download_charge(ls__shaper_t *sh, uint64_t n);

void ls__shaper_close_handles(ls__shaper_t *sh);
void ls__shaper_free(ls__shaper_t *sh);

#endif
