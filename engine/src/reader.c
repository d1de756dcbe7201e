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
  size_t cap;     /* bytes buf holds room for */
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
  uint32_t stripe;      /* the blob's */
  uint64_t size;
  uint64_t first;       /* the offset it was opened at */
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
  if (s->cap < rs_unit(r->stripe)) { /* a restart may meet a larger stripe */
    free(s->buf);
    s->cap = 0;
    if (!(s->buf = malloc(rs_unit(r->stripe)))) return -ENOMEM;
    s->cap = rs_unit(r->stripe);
  }
  n = rs_stripe_room(r->stripe, r->next_pos);
  if (n > r->size - r->next_pos) n = (size_t)(r->size - r->next_pos);
  s->start = r->next_pos;
  s->want = n;
  rs_chunk_name(name, r->oid, s->start / r->stripe);
  rc = rs_comp_new(r->c, &s->comp);
  if (rc < 0) return rc;
  rc = rados_aio_read(r->c->io, name, s->comp, s->buf, n, s->start % r->stripe);
  if (rc < 0) {
    rados_aio_release(s->comp);
    return rc;
  }
  r->next_pos += n;
  s->busy = 1;
  s->ready = 0;
  return 0;
}

static int await(rs_conn *c, struct slot *s) {
  int got = rs_comp_wait(c, s->comp, NULL);
  s->busy = 0;
  if (got < 0) return got;
  /* Chunks are never sparse: a short one was removed or cut under us. */
  if ((size_t)got < s->want) return -ENOENT;
  s->ready = 1;
  return 0;
}

/* The blob path names now, with its records. */
static int find_blob(rs_conn *c, const char *path, rs_entry *e,
                     rs_blobinfo *info, rs_status *st) {
  int rc = -EAGAIN, tries;
  for (tries = 0; tries < RS_RETRIES; tries++) {
    if ((rc = rs_resolve(c, path, e, st)) < 0) return rc;
    if (e->kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
    if (e->kind != RS_ENT_FILE) return rs_fail(st, -RS_EISDIR, path, NULL);
    rc = rs_blob_info(c, e->oid, info, 0);
    if (rc == 0 && info->m.bad) return rs_fail(st, -EIO, path, "unreadable size or stripe record of");
    if (rc == 0 && info->m.has_size && !rs_blob_intact(info))
      return rs_fail(st, -EIO, path, "data damaged (chunk 0 is shorter than its records say) of");
    if (rc == 0 && info->m.has_size) return 0;
    if (rc < 0 && rc != -ENOENT) return rs_fail_rados(st, rc, path, "open");
  }
  return rs_fail(st, -EIO, path, "file kept changing, or its data is damaged (see fsck), while opening");
}

/* Points the reader at the blob its path names now, reads asked ahead. */
static int aim(rs_reader *r, rs_status *st) {
  rs_entry e;
  rs_blobinfo info;
  int rc = find_blob(r->c, r->path, &e, &info, st), i;
  if (rc < 0) return rc;
  if (r->first > info.m.size)
    return rs_fail(st, -RS_EINVALOFFSET, r->path, "invalid offset %llu (size %llu) for path",
                   (unsigned long long)r->first, (unsigned long long)info.m.size);
  memcpy(r->oid, e.oid, RS_OID_MAX);
  r->stripe = info.m.stripe;
  r->size = info.m.size;
  r->pos = r->next_pos = r->first;
  r->head = 0;
  for (i = 0, rc = 0; i < r->nslots && rc == 0; i++) rc = submit(r, &r->ring[i]);
  return rc < 0 ? rs_fail_rados(st, rc, r->path, "read") : 0;
}

/*
 * The path was replaced while the reader was being opened: it starts over
 * on the new content.
 */
static int restart(rs_reader *r, rs_status *st) {
  int i;
  for (i = 0; i < r->nslots; i++) {
    if (r->ring[i].busy) await(r->c, &r->ring[i]);
    r->ring[i].ready = 0;
  }
  return aim(r, st);
}

int rs_reader_open(rs_conn *c, const char *path, uint64_t offset,
                   rs_reader **out, rs_status *st) {
  rs_reader *r;
  int rc, tries;
  *out = NULL;
  if (!rs_path_valid(path, 0)) return rs_fail(st, -RS_EINVALPATH, path, NULL);
  rs_deadline_start(c);
  r = calloc(1, sizeof *r);
  if (r) r->ring = calloc((size_t)c->window, sizeof *r->ring);
  if (!r || !r->ring) {
    if (r) free(r->ring);
    free(r);
    return rs_fail(st, -ENOMEM, path, NULL);
  }
  r->c = c;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->first = offset;
  r->nslots = c->window;
  rs_conn_hold(c);
  rc = aim(r, st);
  /* The first bytes are waited for here: a path replaced meanwhile is
   * looked up again, so that size() and the bytes are of one version. */
  for (tries = 0; rc == 0 && r->ring[0].busy && tries < RS_RETRIES; tries++) {
    int got = await(c, &r->ring[0]);
    if (got != -ENOENT) {
      rc = got < 0 ? rs_fail_rados(st, got, path, "read") : 0;
      break;
    }
    rc = restart(r, st);
  }
  if (rc == 0 && r->ring[0].busy)
    rc = rs_fail(st, -EIO, path, "file kept changing, or its data is damaged (see fsck), while opening");
  if (rc < 0) {
    rs_reader_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* The blob went away under the reader: not_found only if the path did. */
static int lost_blob(rs_reader *r, rs_status *st) {
  rs_entry e;
  int rc = rs_resolve(r->c, r->path, &e, NULL);
  if (rc == 0 && e.kind == RS_ENT_NONE)
    return rs_fail(st, -RS_ENOENT, r->path, "file deleted while reading, at offset %llu",
                   (unsigned long long)r->pos);
  if (rc == 0 && e.kind == RS_ENT_FILE && strcmp(e.oid, r->oid) == 0)
    return rs_fail(st, -EIO, r->path, "data missing (damaged, see fsck) at offset %llu of",
                   (unsigned long long)r->pos);
  return rs_fail(st, -EIO, r->path, "file replaced while reading, at offset %llu",
                 (unsigned long long)r->pos);
}

long rs_reader_read(rs_reader *r, const char **data, size_t max,
                    rs_status *st) {
  struct slot *s = &r->ring[r->head];
  uint64_t start, end;
  size_t n;
  int rc;
  if (r->pos >= r->size) return 0;
  rs_deadline_start(r->c);
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
    rc = await(r->c, s);
    if (rc == -ENOENT) return lost_blob(r, st);
    if (rc == -ETIMEDOUT) return rs_fail(st, rc, r->path, "timed out reading at offset %llu of",
                                         (unsigned long long)r->pos);
    if (rc < 0)
      return rs_fail(st, rc, r->path, "read failed (%s) at offset %llu of", strerror(-rc),
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
    if (r->ring[i].busy) await(r->c, &r->ring[i]);
    free(r->ring[i].buf);
  }
  free(r->ring);
  rs_conn_unref(r->c);
  free(r);
}
