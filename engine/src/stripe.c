/*
 * Chunk I/O: writes and reads of a blob's stripes, several in flight.  The
 * stripe size is the blob's own (recorded on chunk 0), never the
 * connection's: any client reads and appends with the layout of the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Bytes an I/O operation may take from file position pos on: up to the next
 * unit boundary inside the chunk, never across a chunk's end.
 */
size_t rs_stripe_room(uint32_t stripe, uint64_t pos) {
  uint32_t unit = rs_unit(stripe);
  uint32_t in = (uint32_t)(pos % stripe);
  uint32_t to_unit = unit - in % unit;
  uint32_t to_chunk = stripe - in;
  return to_unit < to_chunk ? to_unit : to_chunk;
}

/*
 * Queues the write of len bytes at file position pos, which must fit in one
 * chunk.  A write from the start of a chunk replaces it whole (chunk 0 also
 * gets the stripe record, so that even uncommitted data carries its
 * layout); a later one keeps the chunk's head and cuts anything stale after
 * its end, so a chunk never holds bytes past what was written.  librados
 * copies data before this returns.
 *
 * A write into a chunk that must be there already -- past a chunk's start
 * (its head was written before: ops on one object apply in the order they
 * were sent), or into one of the first `existing` chunks (a committed blob
 * appended to) -- asserts that it is: a chunk removed meanwhile (the blob
 * dropped by a delete, a replacement or fsck) fails it with -ENOENT.
 * Without the assert the write would create the chunk again with zeros
 * before off, and a reader that found the blob before the drop would read
 * those zeros as the file's bytes (I1), and nobody would own the chunk (I4).
 */
int rs_stripe_write(rs_aio *aio, const char *oid, uint32_t stripe,
                    uint64_t existing, uint64_t pos, const void *data,
                    size_t len) {
  char name[RS_OID_MAX];
  uint64_t off = pos % stripe, index = pos / stripe;
  rados_completion_t comp;
  rados_write_op_t op;
  int rc = rs_aio_slot(aio, &comp);
  if (rc < 0) return rc;
  rs_chunk_name(name, oid, index);
  op = rados_create_write_op();
  if (off > 0 || index < existing) rados_write_op_assert_exists(op);
  if (off == 0) {
    rados_write_op_write_full(op, data, len);
    if (index == 0) {
      char val[16];
      snprintf(val, sizeof val, "%" PRIu32, stripe);
      rados_write_op_setxattr(op, RS_STRIPE_XATTR, val, strlen(val));
    }
  } else {
    rados_write_op_write(op, data, len, off);
    rados_write_op_truncate(op, off + len);
  }
  rc = rados_aio_write_op_operate(op, aio->c->io, comp, name, NULL, 0);
  rados_release_write_op(op);
  if (rc < 0) rs_aio_unslot(aio);
  return rc;
}

/* Writes data at file position pos on, a window of operations in flight. */
int rs_stripe_write_all(rs_conn *c, const char *oid, uint32_t stripe,
                        uint64_t pos, const char *data, size_t len) {
  rs_aio aio;
  size_t done = 0;
  int rc = rs_aio_init(&aio, c, c->window);
  if (rc < 0) return rc;
  aio.renew = 1;
  while (done < len && rc == 0) {
    size_t n = rs_stripe_room(stripe, pos + done);
    if (n > len - done) n = len - done;
    rc = rs_stripe_write(&aio, oid, stripe, 0, pos + done, data + done, n);
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
int rs_stripe_read(rs_conn *c, const char *oid, uint32_t stripe, uint64_t off,
                   char *buf, size_t len) {
  size_t nops = 0, done = 0, cap = 0;
  struct pending_read {
    rados_completion_t comp;
    size_t len;
  } *ops = NULL;
  size_t pos = 0;
  int rc = 0;
  while (pos < len || done < nops) {
    if (pos < len && nops - done < (size_t)c->window) {
      uint64_t at = off + pos;
      size_t n = rs_stripe_room(stripe, at);
      char name[RS_OID_MAX];
      if (n > len - pos) n = len - pos;
      if (nops == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        struct pending_read *g = realloc(ops, ncap * sizeof *g);
        if (!g) { rc = -ENOMEM; break; }
        ops = g;
        cap = ncap;
      }
      rs_chunk_name(name, oid, at / stripe);
      rc = rs_comp_new(c, &ops[nops].comp);
      if (rc < 0) break;
      ops[nops].len = n;
      rc = rados_aio_read(c->io, name, ops[nops].comp, buf + pos, n, at % stripe);
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
      int got = rs_comp_wait(c, p->comp, NULL);
      if (got >= 0) rs_deadline_renew(c);
      if (got >= 0 && (size_t)got < p->len) got = -ENOENT;
      if (got < 0 && rc == 0) rc = got;
      if (rc < 0) pos = len; /* stop submitting, drain the rest */
    }
  }
  while (done < nops) rs_comp_wait(c, ops[done++].comp, NULL);
  free(ops);
  return rc;
}
