/* A source over a byte range of a file: two buffers filled in turn by
 * uv_fs_read on the thread pool, so the loop thread only hands on bytes that
 * are already in memory and the disk is read as the peer's window opens.
 * The bytes are lent, not copied: each read gets a fresh reference-counted
 * buffer, and the stream's chunks hold it until the peer acknowledged them
 * (ngtcp2 retransmits from those bytes), so it may outlive the source. */
#include "net_internal.h"

#include "lanspread/error.h"
#include "lanspread/log.h"

#include <stdlib.h>
#include <unistd.h>

/* per buffer; a served stream holds two */
#define READ_SIZE LS_NET_READ_SIZE
/* What is read before the peer takes any byte: a receiver that never opens
 * its window (a stranger holding streams) pins this much, not READ_SIZE. */
#define FIRST_READ_SIZE (32 * 1024)

struct file_buf {
    struct ls_net_buf *buf; /* our reference (NULL: none yet, or handed on) */
    size_t len;             /* bytes read into buf */
    size_t pos;             /* bytes already handed to the stream */
    bool is_ready;
};

struct ls_net_file_source {
    uv_loop_t *loop;
    int fd;
    uint64_t next_read; /* file offset of the next read */
    uint64_t end;       /* offset + len */
    uint64_t left;      /* bytes not yet handed to the stream */
    struct file_buf bufs[2];
    int cur;  /* the buffer the stream takes bytes from */
    int fill; /* the buffer the next read fills */
    uv_fs_t req;
    bool is_reading;
    bool is_waiting; /* the stream asked while nothing was ready */
    bool is_freed;   /* the owner let go while a read was in flight */
    bool has_pulled; /* the stream took bytes: the peer's window is open */
    uint64_t pulled; /* bytes the stream took */
    size_t buf_size; /* each buffer: READ_SIZE, or less for a shorter range */
    int error;
    ls_net_stream_t *stream;
    uint32_t *open_fds;  /* decremented when fd closes (NULL: not counted) */
    ls_net_gate_cb gate; /* paces the body (NULL: as fast as the window allows) */
    void *gate_data;
};

static void destroy(ls_net_file_source_t *src)
{
    if (src->fd >= 0) {
        close(src->fd); /* only now: no read is in flight on it */
        if (src->open_fds)
            (*src->open_fds)--;
    }
    ls_net_buf_release(src->bufs[0].buf);
    ls_net_buf_release(src->bufs[1].buf);
    free(src);
}

static void read_cb(uv_fs_t *req);

/* Starts the next read when a buffer is free and bytes remain; one read at a
 * time keeps the file read in order. */
static void read_ahead(ls_net_file_source_t *src)
{
    struct file_buf *b = &src->bufs[src->fill];
    uint64_t want = src->end - src->next_read;
    uv_buf_t iov;

    if (src->is_reading || src->error || b->is_ready || want == 0)
        return;
    /* Until the peer reads, one small buffer; then reads grow with what it
     * took (twice that, from FIRST_READ_SIZE up to buf_size): a receiver
     * that opens a tiny window and stops (a stranger holding streams) pins
     * two small buffers, not two of READ_SIZE; a real one reaches READ_SIZE
     * within a few reads. */
    uint64_t earned = 2 * src->pulled;
    size_t size = src->buf_size < FIRST_READ_SIZE ? src->buf_size
                  : earned >= src->buf_size       ? src->buf_size
                  : earned > FIRST_READ_SIZE      ? (size_t)earned
                                                  : FIRST_READ_SIZE;
    if (!src->has_pulled && src->bufs[src->fill ^ 1].is_ready)
        return; /* the first buffer is read; the second waits for the peer */
    /* always another buffer (a recycled one when ls_net_buf_new has it):
     * the last one is lent to the stream (the source let go of it when its
     * last byte was handed on) */
    if (!(b->buf = ls_net_buf_new(size))) {
        src->error = LS_ENOMEM;
        return;
    }
    iov = uv_buf_init((char *)b->buf->data, want < size ? (unsigned)want : (unsigned)size);
    src->req.data = src;
    if (uv_fs_read(src->loop, &src->req, src->fd, &iov, 1, (int64_t)src->next_read, read_cb) != 0) {
        src->error = LS_EIO;
        return;
    }
    src->is_reading = true;
}

static void read_cb(uv_fs_t *req)
{
    ls_net_file_source_t *src = req->data;
    ssize_t n = req->result;
    struct file_buf *b = &src->bufs[src->fill];

    uv_fs_req_cleanup(req);
    src->is_reading = false;
    if (src->is_freed) {
        destroy(src);
        return;
    }
    if (n <= 0) {
        src->error = n < 0 ? ls_error_from_errno((int)-n) : LS_ECORRUPT;
        ls_warn("net", "file source: %s", n < 0 ? uv_strerror((int)n) : "file ends early");
    } else {
        b->len = (size_t)n;
        b->pos = 0;
        b->is_ready = true;
        src->next_read += (uint64_t)n;
        src->fill ^= 1;
        read_ahead(src);
    }
    if (src->is_waiting && src->stream) {
        src->is_waiting = false;
        ls_net_stream_resume(src->stream);
    }
}

static int file_lend(ls_net_stream_t *s, size_t cap, const uint8_t **data, struct ls_net_buf **ref,
                     size_t *len, bool *is_eof)
{
    ls_net_file_source_t *src = ls_net_stream_source_data(s);
    struct file_buf *b = &src->bufs[src->cur];
    size_t n;

    *len = 0;
    *is_eof = src->left == 0;
    if (src->error)
        return src->error;
    if (src->left == 0)
        return 0;
    if (!b->is_ready) {
        src->is_waiting = true; /* read_cb resumes the stream */
        read_ahead(src);
        return src->error;
    }
    n = b->len - b->pos < cap ? b->len - b->pos : cap;
    if (src->gate && (n = src->gate(s, n, src->gate_data)) == 0)
        return 0; /* the gate resumes the stream */
    *data = b->buf->data + b->pos;
    *ref = b->buf;
    b->buf->refs++;
    b->pos += n;
    src->left -= n;
    src->pulled += n;
    if (!src->has_pulled) {
        src->has_pulled = true;
        read_ahead(src); /* the other buffer, now that the window is open */
    }
    if (b->pos == b->len) {
        ls_net_buf_release(b->buf); /* the stream's chunks hold it now */
        b->buf = NULL;
        b->is_ready = false;
        src->cur ^= 1;
        read_ahead(src);
    }
    *len = n;
    *is_eof = src->left == 0;
    return 0;
}

int ls_net_file_source_new(uv_loop_t *loop, int fd, uint64_t offset, uint64_t len,
                           ls_net_file_source_t **out)
{
    ls_net_file_source_t *src;

    *out = NULL;
    if (!loop || fd < 0 || offset > UINT64_MAX - len || offset + len > (uint64_t)INT64_MAX)
        return LS_EINVAL;
    src = calloc(1, sizeof(*src));
    if (!src)
        return LS_ENOMEM;
    src->loop = loop;
    src->fd = fd;
    src->next_read = offset;
    src->end = offset + len;
    src->left = len;
    src->buf_size = len < READ_SIZE ? (size_t)(len ? len : 1) : READ_SIZE;
    *out = src;
    return 0;
}

int ls_net_stream_send_file(ls_net_stream_t *s, ls_net_file_source_t *src)
{
    int rc;

    if (src->stream)
        return LS_ESTATE;
    rc = ls_net_stream_set_lender(s, file_lend, src);
    if (rc != 0)
        return rc;
    src->stream = s;
    read_ahead(src);
    return 0;
}

void ls_net_file_source_count_fd(ls_net_file_source_t *src, uint32_t *open_fds)
{
    src->open_fds = open_fds;
}

void ls_net_file_source_set_gate(ls_net_file_source_t *src, ls_net_gate_cb gate, void *gate_data)
{
    src->gate = gate;
    src->gate_data = gate_data;
}

void ls_net_file_source_free(ls_net_file_source_t *src)
{
    if (!src)
        return;
    if (src->is_reading) {
        src->is_freed = true; /* read_cb frees it */
        return;
    }
    destroy(src);
}
