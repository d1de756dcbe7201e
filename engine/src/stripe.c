/* Chunk I/O: writes and reads of a blob's stripes, several in flight. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Queues the write of len bytes at offset off of chunk index.  A write from
 * the start of a chunk replaces it whole; a later one keeps the chunk's head
 * and cuts anything stale after the new end, so a chunk never holds bytes
 * past the file's end.  librados copies data before this returns.
 */
int rs_stripe_write(rs_conn *c, rs_aio *aio, const char *oid, uint64_t index,
                    uint32_t off, const void *data, size_t len) {
  char name[RS_OID_MAX];
  rados_completion_t comp;
  rados_write_op_t op;
  int rc = rs_aio_slot(aio, &comp);
  if (rc < 0) return rc;
  rs_chunk_name(name, oid, index);
  op = rados_create_write_op();
  if (off == 0) {
    rados_write_op_write_full(op, data, len);
  } else {
    rados_write_op_write(op, data, len, off);
    rados_write_op_truncate(op, (uint64_t)off + len);
  }
  rc = rados_aio_write_op_operate(op, c->io, comp, name, NULL, 0);
  rados_release_write_op(op);
  if (rc < 0) rs_aio_unslot(aio);
  return rc;
}

/* Writes data as the chunks from index `first` on, waiting for all. */
int rs_stripe_write_all(rs_conn *c, const char *oid, uint64_t first,
                        const char *data, size_t len) {
  rs_aio aio;
  size_t off;
  uint64_t index = first;
  int rc = rs_aio_init(&aio, c->window);
  if (rc < 0) return rc;
  for (off = 0; off < len && rc == 0; off += c->chunk, index++) {
    size_t n = len - off < c->chunk ? len - off : c->chunk;
    rc = rs_stripe_write(c, &aio, oid, index, 0, data + off, n);
  }
  if (rc == 0) rc = rs_aio_wait_all(&aio);
  rs_aio_free(&aio);
  return rc;
}

/*
 * Reads [off, off + len) of a blob into buf, several chunks in flight.
 * Ranges a chunk does not hold (sparse or past its end) read as zeros.
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
      size_t n = c->chunk - in;
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
      if (got == -ENOENT) got = 0;
      if (got < 0 && rc == 0) rc = got;
      if (got >= 0 && (size_t)got < p->len) memset(p->dst + got, 0, p->len - (size_t)got);
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
