/*
 * Writers.  Bytes collect in one buffer of an I/O unit; each full unit goes
 * out asynchronously, a bounded window of them in flight.  Nothing is
 * visible until commit: a new file (or a new version of an existing one)
 * is a new blob that commit links in one guarded omap op; an append to a
 * committed file writes past its committed size, which commit then raises.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { W_OPEN, W_DONE, W_CLOSED };

struct rs_writer {
  rs_conn *c;
  char path[4096];
  rs_split sp;
  char oid[RS_OID_MAX];
  char old[RS_OID_MAX];  /* the committed blob at open, "" if none */
  int missing;           /* for rs_dir_link_file: 0 when the directory exists */
  int inplace;           /* appending to the committed blob itself */
  uint64_t committed;    /* its committed size */
  uint64_t size;         /* bytes in the file so far */
  char *buf;             /* bytes for file positions [buf_pos, buf_pos + buf_len) */
  uint64_t buf_pos;
  size_t buf_len;
  size_t buf_cap;        /* room up to the I/O unit's end, from buf_pos */
  int recorded;          /* a pending record names this blob */
  char record[RS_RECORD_MAX]; /* its value, as this writer last saw it */
  rs_aio aio;
  rs_sha256 *hash;
  rs_hashjob *hashjob;   /* hashes large writes on a thread of its own */
  int state;
};

/* Starts the buffer afresh at the file's end. */
static void rebuffer(rs_writer *w) {
  w->buf_pos = w->size;
  w->buf_cap = rs_stripe_room(w->c, w->size);
  w->buf_len = 0;
}

static int open_append(rs_writer *w, const rs_entry *e, rs_status *st) {
  uint64_t recorded = 0;
  int rc = rs_pending_get(w->c, w->sp.dir, w->sp.base, w->oid, &recorded, w->record);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  if (rc == 0 && e->kind != RS_ENT_FILE) return rs_fail(st, -RS_ENOENT, w->path, NULL);
  w->recorded = rc == 1;
  if (!w->recorded) memcpy(w->oid, e->oid, RS_OID_MAX);
  w->inplace = strcmp(w->oid, w->old) == 0;
  if (w->inplace) {
    rs_blobinfo info;
    rc = rs_blob_info(w->c, w->oid, &info);
    if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
    w->committed = info.size;
  }
  w->size = w->recorded ? recorded : w->committed;
  if (w->size < w->committed) w->size = w->committed;
  return 0;
}

int rs_writer_open(rs_conn *c, const char *path, int append, rs_writer **out,
                   rs_status *st) {
  rs_writer *w;
  rs_entry e;
  int rc;
  *out = NULL;
  if (!rs_path_valid(path, 0)) return rs_fail(st, -RS_EINVALPATH, path, NULL);
  w = calloc(1, sizeof *w);
  if (!w) return rs_fail(st, -ENOMEM, path, NULL);
  w->c = c;
  snprintf(w->path, sizeof w->path, "%s", path);
  rs_path_split(w->path, &w->sp);
  rc = rs_dir_lookup(c, w->sp.dir, w->sp.base, &e);
  if (rc < 0) rc = rs_fail_rados(st, rc, path, "open");
  else if (e.kind == RS_ENT_DIR) rc = rs_fail(st, -RS_EISDIR, path, NULL);
  else if (!e.dir_exists) {
    rc = rs_dir_check_ancestors(c, w->sp.dir, &w->missing);
    if (rc == -RS_ENOTDIR) rc = rs_fail(st, rc, path, NULL);
    else if (rc == -RS_ENOENT) rc = 0;
    else rc = rs_fail_rados(st, rc, path, "open");
  }
  if (rc == 0) {
    if (e.kind == RS_ENT_FILE) memcpy(w->old, e.oid, RS_OID_MAX);
    if (append) rc = open_append(w, &e, st);
    else rs_blob_new(w->oid);
  }
  if (rc == 0) {
    w->buf = malloc(c->unit);
    rc = w->buf ? rs_aio_init(&w->aio, c->window) : -ENOMEM;
    if (rc < 0) rs_fail(st, rc, path, NULL);
  }
  if (rc < 0) {
    free(w->buf);
    free(w);
    return rc;
  }
  rebuffer(w);
  c->refs++;
  *out = w;
  return 0;
}

/* Sends n bytes for file positions [pos, pos + n), inside one I/O unit. */
static int send_unit(rs_writer *w, uint64_t pos, const char *data, size_t n) {
  if (!w->recorded) {
    /* Before any data lands, so that a crash leaves it findable. */
    int rc = rs_pending_set(w->c, w->sp.dir, w->sp.base, w->oid, pos, "", w->record);
    if (rc < 0) return rc;
    w->recorded = 1;
  }
  return rs_stripe_write(w->c, &w->aio, w->oid, pos, data, n);
}

/* Sends the buffered bytes out and starts the buffer at the file's end. */
static int flush(rs_writer *w) {
  int rc = w->buf_len > 0 ? send_unit(w, w->buf_pos, w->buf, w->buf_len) : 0;
  rebuffer(w);
  return rc;
}

int rs_writer_write(rs_writer *w, const void *data, size_t len,
                    rs_status *st) {
  const char *p = data;
  int rc = 0, offloaded = 0;
  if (w->state != W_OPEN) return rs_fail(st, -EINVAL, w->path, "writer is finished");
  if (w->hash && len >= RS_HASH_OFFLOAD) {
    if (!w->hashjob) w->hashjob = rs_hashjob_new(w->hash);
    if (w->hashjob) {
      rs_hashjob_start(w->hashjob, data, len);
      offloaded = 1;
    }
  }
  while (len > 0 && rc == 0) {
    size_t n = w->buf_cap - w->buf_len;
    if (n > len) n = len;
    /* Hashed a unit at a time, so the unit before is already on the wire. */
    if (w->hash && !offloaded) rs_sha256_update(w->hash, p, n);
    if (w->buf_len == 0 && n == w->buf_cap) {
      /* A whole unit: librados copies it from the caller's bytes. */
      rc = send_unit(w, w->buf_pos, p, n);
      w->size += n;
      rebuffer(w);
    } else {
      memcpy(w->buf + w->buf_len, p, n);
      w->buf_len += n;
      w->size += n;
      if (w->buf_len == w->buf_cap) rc = flush(w);
    }
    p += n;
    len -= n;
  }
  if (offloaded) rs_hashjob_wait(w->hashjob); /* the bytes are the caller's */
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "write");
  return 0;
}

uint64_t rs_writer_size(const rs_writer *w) { return w->size; }

void rs_writer_hash(rs_writer *w, rs_sha256 *h) {
  rs_hashjob_free(w->hashjob);
  w->hashjob = NULL;
  w->hash = h;
}

/* Waits for every write in flight; the first failure wins. */
static int drain(rs_writer *w) {
  int rc = flush(w);
  int rc2 = rs_aio_wait_all(&w->aio);
  return rc < 0 ? rc : rc2;
}

/* A delete of the path (or its directory) claimed the record: the data is
 * being dropped, and so is whatever this writer sent after that. */
static int dropped(rs_writer *w, rs_status *st) {
  if (!w->inplace) rs_blob_remove_uncommitted(w->c, w->oid, w->size);
  return rs_fail(st, -RS_ENOENT, w->path, "uncommitted data was deleted meanwhile");
}

int rs_writer_commit(rs_writer *w, rs_status *st) {
  int rc, visible = 0;
  const char *head = NULL;
  size_t headlen = 0;
  if (w->state != W_OPEN) return rs_fail(st, -EINVAL, w->path, "writer is finished");
  w->state = W_DONE;
  if (!w->inplace && w->buf_pos == 0) {
    /* The whole file is still in the buffer: one op writes it and its size. */
    head = w->buf;
    headlen = w->buf_len;
    w->buf_len = 0;
  }
  rc = drain(w);
  if (rc == 0 && w->recorded) {
    /* Claimed, the record keeps any delete away from the data from now on. */
    rc = rs_pending_claim(w->c, w->sp.dir, w->sp.base, w->oid, w->record);
    if (rc == -ECANCELED) return dropped(w, st);
  }
  if (rc == 0) rc = rs_blob_set_size(w->c, w->oid, w->size, head, headlen, w->inplace);
  if (rc < 0) {
    rs_fail_rados(st, rc, w->path, "commit");
  } else if (w->inplace) {
    visible = 1;
  } else {
    rc = rs_file_commit(w->c, w->path, w->oid, w->old, w->missing, &visible, st);
  }
  if (!visible) {
    /* The record goes back so that writer(path, true) can go on; a writer
     * that never recorded anything takes its blob away. */
    int kept = w->recorded &&
               rs_pending_set(w->c, w->sp.dir, w->sp.base, w->oid, w->size, "", w->record) == 0;
    if (!kept && !w->inplace) rs_blob_remove_uncommitted(w->c, w->oid, w->size);
  }
  return rc < 0 ? rc : 0; /* after a link, a failed release of the old content */
}

/* Cuts an appended-to committed blob back to its committed size. */
static int truncate_back(rs_writer *w) {
  uint64_t keep = rs_chunk_count(w->c, w->committed);
  uint64_t upto = rs_chunk_count(w->c, w->size);
  char name[RS_OID_MAX];
  int rc = 0;
  if (upto > keep) rc = rs_blob_remove_chunks(w->c, w->oid, keep, upto - keep);
  if (rc < 0) return rc;
  rs_chunk_name(name, w->oid, keep - 1);
  rc = rados_trunc(w->c->io, name, w->committed - (keep - 1) * w->c->chunk);
  return rc == -ENOENT ? 0 : rc;
}

int rs_writer_cancel(rs_writer *w, rs_status *st) {
  int rc;
  if (w->state != W_OPEN) return rs_fail(st, -EINVAL, w->path, "writer is finished");
  w->state = W_DONE;
  w->buf_len = 0;
  rs_aio_wait_all(&w->aio);
  if (w->recorded) {
    /* Whoever claims the record, the data goes: a delete may be dropping it too. */
    rc = rs_pending_claim(w->c, w->sp.dir, w->sp.base, w->oid, w->record);
    if (rc < 0 && rc != -ECANCELED) return rs_fail_rados(st, rc, w->path, "cancel");
  }
  if (w->inplace)
    rc = truncate_back(w);
  else
    rc = rs_blob_remove_uncommitted(w->c, w->oid, w->size);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "cancel");
  return 0;
}

int rs_writer_close(rs_writer *w, rs_status *st) {
  int rc;
  if (w->state != W_OPEN) {
    w->state = W_CLOSED;
    return 0;
  }
  w->state = W_CLOSED;
  rc = drain(w);
  if (rc == 0)
    rc = rs_pending_set(w->c, w->sp.dir, w->sp.base, w->oid, w->size,
                        w->recorded ? w->record : "", w->record);
  if (rc == -ECANCELED) return dropped(w, st);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "close");
  w->recorded = 1;
  return 0;
}

void rs_writer_free(rs_writer *w) {
  if (!w) return;
  if (w->state == W_OPEN) rs_writer_close(w, NULL);
  rs_aio_free(&w->aio);
  rs_hashjob_free(w->hashjob);
  free(w->buf);
  rs_conn_unref(w->c);
  free(w);
}
