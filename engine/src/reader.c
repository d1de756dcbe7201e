/*
 * Readers.  A ring of I/O-unit buffers is kept filled ahead of the caller
 * with asynchronous reads, so a stream runs with a window of reads in flight.
 * The size is taken at open: later appends are not seen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct slot {
  char *buf;
  rados_completion_t comp;
  uint64_t start; /* file position of buf[0] */
  size_t want;    /* bytes it holds */
  int busy;      /* a read is in flight */
  int ready;      /* buf holds its bytes */
};

struct rs_reader {
  rs_conn *c;
  char path[4096];
  char oid[RS_OID_MAX];
  uint64_t size;
  uint64_t pos;         /* next byte to hand out */
  uint64_t next_pos;    /* next file position to ask for */
  struct slot *ring;
  int nslots;
  int head;             /* slot holding pos */
};

static int submit(rs_reader *r, struct slot *s) {
  char name[RS_OID_MAX];
  size_t n;
  int rc;
  if (r->next_pos >= r->size) return 0;
  if (!s->buf && !(s->buf = malloc(r->c->unit))) return -ENOMEM;
  n = rs_stripe_room(r->c, r->next_pos);
  if (n > r->size - r->next_pos) n = (size_t)(r->size - r->next_pos);
  s->start = r->next_pos;
  s->want = n;
  rs_chunk_name(name, r->oid, s->start / r->c->chunk);
  rc = rados_aio_create_completion2(NULL, NULL, &s->comp);
  if (rc < 0) return rc;
  rc = rados_aio_read(r->c->io, name, s->comp, s->buf, n, s->start % r->c->chunk);
  if (rc < 0) {
    rados_aio_release(s->comp);
    return rc;
  }
  r->next_pos += n;
  s->busy = 1;
  s->ready = 0;
  return 0;
}

static int await(struct slot *s) {
  int got;
  rados_aio_wait_for_complete(s->comp);
  got = rados_aio_get_return_value(s->comp);
  rados_aio_release(s->comp);
  s->busy = 0;
  if (got < 0) return got;
  /* Chunks are never sparse: a short one was removed or cut under us. */
  if ((size_t)got < s->want) return -ENOENT;
  s->ready = 1;
  return 0;
}

int rs_reader_open(rs_conn *c, const char *path, uint64_t offset,
                   rs_reader **out, rs_status *st) {
  rs_reader *r;
  rs_entry e;
  rs_blobinfo info;
  int rc, i;
  *out = NULL;
  if (!rs_path_valid(path, 0)) return rs_fail(st, -RS_EINVALPATH, path, NULL);
  if ((rc = rs_resolve(c, path, &e, st)) < 0) return rc;
  if (e.kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
  if (e.kind != RS_ENT_FILE) return rs_fail(st, -RS_EISDIR, path, NULL);
  rc = rs_blob_info(c, e.oid, &info);
  if (rc < 0) return rs_fail_rados(st, rc, path, "open");
  if (offset > info.size)
    return rs_fail(st, -RS_EINVALOFFSET, path, "invalid offset %llu (size %llu) for path",
                   (unsigned long long)offset, (unsigned long long)info.size);
  r = calloc(1, sizeof *r);
  if (r) r->ring = calloc((size_t)c->window, sizeof *r->ring);
  if (!r || !r->ring) {
    free(r);
    return rs_fail(st, -ENOMEM, path, NULL);
  }
  r->c = c;
  snprintf(r->path, sizeof r->path, "%s", path);
  memcpy(r->oid, e.oid, RS_OID_MAX);
  r->size = info.size;
  r->pos = offset;
  r->next_pos = offset;
  r->nslots = c->window;
  c->refs++;
  for (i = 0, rc = 0; i < r->nslots && rc == 0; i++) rc = submit(r, &r->ring[i]);
  if (rc < 0) {
    rs_reader_free(r);
    return rs_fail_rados(st, rc, path, "read");
  }
  *out = r;
  return 0;
}

long rs_reader_read(rs_reader *r, const char **data, size_t max,
                    rs_status *st) {
  struct slot *s = &r->ring[r->head];
  uint64_t start, end;
  size_t n;
  int rc;
  if (r->pos >= r->size) return 0;
  start = s->start;
  end = start + s->want;
  if (s->ready && r->pos >= end) {
    /* The caller is done with these bytes: reuse the slot further ahead. */
    s->ready = 0;
    rc = submit(r, s);
    if (rc < 0) return rs_fail_rados(st, rc, r->path, "read");
    r->head = (r->head + 1) % r->nslots;
    s = &r->ring[r->head];
    start = s->start;
    end = start + s->want;
  }
  if (!s->ready) {
    if (!s->busy) return rs_fail(st, -EIO, r->path, "reader lost its place");
    rc = await(s);
    if (rc < 0)
      return rs_fail(st, rc == -ENOENT ? -RS_ENOENT : rc, r->path,
                     rc == -ENOENT ? "file changed while reading, offset %llu of"
                                   : "read failed at offset %llu of",
                     (unsigned long long)r->pos);
  }
  n = (size_t)(end - r->pos);
  if (n > max) n = max;
  *data = s->buf + (r->pos - start);
  r->pos += n;
  return (long)n;
}

uint64_t rs_reader_size(const rs_reader *r) { return r->size; }

void rs_reader_free(rs_reader *r) {
  int i;
  if (!r) return;
  for (i = 0; i < r->nslots; i++) {
    if (r->ring[i].busy) await(&r->ring[i]);
    free(r->ring[i].buf);
  }
  free(r->ring);
  rs_conn_unref(r->c);
  free(r);
}
