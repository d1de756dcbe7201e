/* Chunk I/O: writes and reads of a blob's stripes, several in flight. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Bytes an I/O operation may take from file position pos on: up to the next
 * unit boundary inside the chunk, never across a chunk's end.
 */
size_t rs_stripe_room(const rs_conn *c, uint64_t pos) {
  uint32_t in = (uint32_t)(pos % c->chunk);
  uint32_t to_unit = c->unit - in % c->unit;
  uint32_t to_chunk = c->chunk - in;
  return to_unit < to_chunk ? to_unit : to_chunk;
}

/*
 * Queues the write of len bytes at file position pos, which must fit in one
 * chunk.  A write from the start of a chunk replaces it whole; a later one
 * keeps the chunk's head and cuts anything stale after its end, so a chunk
 * never holds bytes past what was written.  librados copies data before
 * this returns.
 */
int rs_stripe_write(rs_conn *c, rs_aio *aio, const char *oid, uint64_t pos,
                    const void *data, size_t len) {
  char name[RS_OID_MAX];
  uint64_t off = pos % c->chunk;
  rados_completion_t comp;
  rados_write_op_t op;
  int rc = rs_aio_slot(aio, &comp);
  if (rc < 0) return rc;
  rs_chunk_name(name, oid, pos / c->chunk);
  op = rados_create_write_op();
  if (off == 0) {
    rados_write_op_write_full(op, data, len);
  } else {
    rados_write_op_write(op, data, len, off);
    rados_write_op_truncate(op, off + len);
  }
  rc = rados_aio_write_op_operate(op, c->io, comp, name, NULL, 0);
  rados_release_write_op(op);
  if (rc < 0) rs_aio_unslot(aio);
  return rc;
}

/* Writes data at file position pos on, a window of operations in flight. */
int rs_stripe_write_all(rs_conn *c, const char *oid, uint64_t pos,
                        const char *data, size_t len) {
  rs_aio aio;
  size_t done = 0;
  int rc = rs_aio_init(&aio, c->window);
  if (rc < 0) return rc;
  while (done < len && rc == 0) {
    size_t n = rs_stripe_room(c, pos + done);
    if (n > len - done) n = len - done;
    rc = rs_stripe_write(c, &aio, oid, pos + done, data + done, n);
    done += n;
  }
  if (rc == 0) rc = rs_aio_wait_all(&aio);
  rs_aio_free(&aio);
  return rc;
}

/*
 * Reads [off, off + len) of a blob into buf, several chunks in flight.
 * Chunks are never sparse: a missing or short one was removed or cut
 * under the caller, which is -ENOENT.
 */
int rs_stripe_read(rs_conn *c, const char *oid, uint64_t off, char *buf,
                   size_t len) {
  size_t nops = 0, done = 0, cap = 0;
  struct pending_read {
    rados_completion_t comp;
    char *dst;
    size_t len;
  } *ops = NULL;
  size_t pos = 0;
  int rc = 0;
  while (pos < len || done < nops) {
    if (pos < len && nops - done < (size_t)c->window) {
      uint64_t at = off + pos;
      uint64_t index = at / c->chunk;
      uint32_t in = (uint32_t)(at % c->chunk);
      size_t n = rs_stripe_room(c, at);
      char name[RS_OID_MAX];
      if (n > len - pos) n = len - pos;
      if (nops == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        struct pending_read *g = realloc(ops, ncap * sizeof *g);
        if (!g) { rc = -ENOMEM; break; }
        ops = g;
        cap = ncap;
      }
      rs_chunk_name(name, oid, index);
      rc = rados_aio_create_completion2(NULL, NULL, &ops[nops].comp);
      if (rc < 0) break;
      ops[nops].dst = buf + pos;
      ops[nops].len = n;
      rc = rados_aio_read(c->io, name, ops[nops].comp, buf + pos, n, in);
      if (rc < 0) {
        rados_aio_release(ops[nops].comp);
        break;
      }
      nops++;
      pos += n;
      continue;
    }
    {
      struct pending_read *p = &ops[done++];
      int got;
      rados_aio_wait_for_complete(p->comp);
      got = rados_aio_get_return_value(p->comp);
      rados_aio_release(p->comp);
      if (got >= 0 && (size_t)got < p->len) got = -ENOENT;
      if (got < 0 && rc == 0) rc = got;
      if (rc < 0) pos = len; /* stop submitting, drain the rest */
    }
  }
  while (done < nops) {
    rados_aio_wait_for_complete(ops[done].comp);
    rados_aio_release(ops[done++].comp);
  }
  free(ops);
  return rc;
}
