/*
 * Blobs: a file's bytes striped over objects "<blob id>-<n>".  Chunk 0
 * always exists once a file is committed and carries its size.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "internal.h"

void rs_uuid(char out[37]) {
  uuid_t u;
  uuid_generate_random(u);
  uuid_unparse_lower(u, out);
}

void rs_blob_new(char oid[RS_OID_MAX]) {
  char u[37];
  rs_uuid(u);
  snprintf(oid, RS_OID_MAX, RS_BLOB_PREFIX "%s", u);
}

void rs_chunk_name(char *out, const char *oid, uint64_t index) {
  snprintf(out, RS_OID_MAX, "%s-%" PRIu64, oid, index);
}

/* Chunks a file of size bytes occupies; an empty file still has chunk 0. */
uint64_t rs_chunk_count(const rs_conn *c, uint64_t size) {
  uint64_t n = (size + c->chunk - 1) / c->chunk;
  return n ? n : 1;
}

/* The decimal value of a size xattr; -EINVAL when it is not one. */
int rs_parse_size(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (len == 0 || len > 20) return -EINVAL;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 0;
}

/* Size, mtime and move intent of a blob, from chunk 0, in one read. */
int rs_blob_info(rs_conn *c, const char *oid, rs_blobinfo *info) {
  char chunk0[RS_OID_MAX];
  rados_read_op_t op = rados_create_read_op();
  rados_xattrs_iter_t it = NULL;
  uint64_t psize = 0;
  int prval = 0, sval = 0, rc;
  memset(info, 0, sizeof *info);
  rs_chunk_name(chunk0, oid, 0);
  rados_read_op_stat(op, &psize, &info->mtime, &sval);
  rados_read_op_getxattrs(op, &it, &prval);
  rc = rados_read_op_operate(op, c->io, chunk0, 0);
  if (rc == 0 && prval < 0) rc = prval;
  if (rc == 0) {
    const char *name, *val;
    size_t len;
    while (rados_getxattrs_next(it, &name, &val, &len) == 0 && name) {
      if (strcmp(name, RS_SIZE_XATTR) == 0)
        info->has_size = rs_parse_size(val, len, &info->size) == 0;
      else if (strcmp(name, RS_MOVE_XATTR) == 0 && len < sizeof info->intent)
        memcpy(info->intent, val, len);
    }
  }
  if (it) rados_getxattrs_end(it);
  rados_release_read_op(op);
  return rc;
}

/* Size, mtime and whether a move is recorded, of many blobs at once. */
typedef struct stat_op {
  rados_read_op_t op;
  rados_completion_t comp;
  rados_xattrs_iter_t it;
  uint64_t psize;
  int sval, xval;
} stat_op;

static void stat_finish(stat_op *o, rs_blobstat *out) {
  const char *name, *val;
  size_t len;
  out->rc = rs_aio_wait(o->comp);
  if (out->rc == 0 && o->xval < 0) out->rc = o->xval;
  while (out->rc == 0 && rados_getxattrs_next(o->it, &name, &val, &len) == 0 && name) {
    if (strcmp(name, RS_SIZE_XATTR) == 0) rs_parse_size(val, len, &out->size);
    else if (strcmp(name, RS_MOVE_XATTR) == 0) out->has_intent = 1;
  }
  if (o->it) rados_getxattrs_end(o->it);
  rados_release_read_op(o->op);
  o->op = NULL;
}

/*
 * Fills out[i] for each blob oids[i] (NULL entries are skipped), with up to
 * RS_STAT_WINDOW reads in flight; each out[i].rc tells how that one went.
 */
int rs_blob_stat_many(rs_conn *c, const char *const *oids, size_t n,
                      rs_blobstat *out) {
  stat_op ring[RS_STAT_WINDOW];
  size_t i, done = 0;
  memset(ring, 0, sizeof ring);
  memset(out, 0, n * sizeof *out);
  for (i = 0; i <= n; i++) {
    /* Reap what must make room, and everything at the end. */
    while (done < i && (i == n || i - done >= RS_STAT_WINDOW)) {
      stat_op *o = &ring[done % RS_STAT_WINDOW];
      if (o->op) stat_finish(o, &out[done]);
      done++;
    }
    if (i < n && oids[i]) {
      char chunk0[RS_OID_MAX];
      stat_op *o = &ring[i % RS_STAT_WINDOW];
      int rc;
      o->op = rados_create_read_op();
      rados_read_op_stat(o->op, &o->psize, &out[i].mtime, &o->sval);
      rados_read_op_getxattrs(o->op, &o->it, &o->xval);
      rs_chunk_name(chunk0, oids[i], 0);
      rc = rs_aio_read(c, &o->op, chunk0, &o->comp);
      if (rc < 0) out[i].rc = rc;
    }
  }
  return 0;
}

/*
 * Drops many blobs whose names were unlinked (paths[i] for oids[i]): their
 * chunks go with a window of removes in flight, chunk 0 last.  A blob with
 * a recorded move goes through rs_blob_drop, which may keep it.
 */
int rs_blob_drop_many(rs_conn *c, const char *const *oids,
                      const char *const *paths, size_t n) {
  rs_blobstat *st = calloc(n ? n : 1, sizeof *st);
  rs_aio aio;
  size_t i;
  uint64_t k;
  int rc, pass;
  if (!st) return -ENOMEM;
  rs_blob_stat_many(c, oids, n, st);
  rc = rs_aio_init(&aio, c->window * 2);
  aio.ok_enoent = 1;
  for (pass = 0; pass < 2 && rc == 0; pass++) { /* chunks >= 1, then chunk 0 */
    for (i = 0; i < n && rc == 0; i++) {
      uint64_t from = pass == 0 ? 1 : 0;
      uint64_t upto = pass == 0 ? rs_chunk_count(c, st[i].size) : 1;
      if (!oids[i] || st[i].rc == -ENOENT) continue;
      if (st[i].rc < 0) {
        rc = st[i].rc;
        break;
      }
      if (st[i].has_intent) {
        if (pass == 0) rc = rs_blob_drop(c, oids[i], paths[i]);
        continue;
      }
      for (k = from; k < upto && rc == 0; k++) {
        char name[RS_OID_MAX];
        rados_completion_t comp;
        rc = rs_aio_slot(&aio, &comp);
        if (rc < 0) break;
        rs_chunk_name(name, oids[i], k);
        rc = rados_aio_remove(c->io, name, comp);
        if (rc < 0) rs_aio_unslot(&aio);
      }
    }
    if (rc == 0) rc = rs_aio_wait_all(&aio);
  }
  rs_aio_free(&aio);
  free(st);
  return rc;
}

/* Removes count chunks from index `from`, several in flight. */
int rs_blob_remove_chunks(rs_conn *c, const char *oid, uint64_t from,
                          uint64_t count) {
  rs_aio aio;
  uint64_t i;
  int rc = rs_aio_init(&aio, c->window * 2);
  if (rc < 0) return rc;
  aio.ok_enoent = 1;
  for (i = from; i < from + count && rc == 0; i++) {
    char name[RS_OID_MAX];
    rados_completion_t comp;
    rc = rs_aio_slot(&aio, &comp);
    if (rc < 0) break;
    rs_chunk_name(name, oid, i);
    rc = rados_aio_remove(c->io, name, comp);
    if (rc < 0) rs_aio_unslot(&aio);
  }
  if (rc == 0) rc = rs_aio_wait_all(&aio);
  rs_aio_free(&aio);
  return rc;
}

static int remove_chunk0(rs_conn *c, const char *oid) {
  char name[RS_OID_MAX];
  int rc;
  rs_chunk_name(name, oid, 0);
  rc = rados_remove(c->io, name);
  return rc == -ENOENT ? 0 : rc;
}

/* Removes a committed blob of size bytes; chunk 0, which names the size, last. */
int rs_blob_remove(rs_conn *c, const char *oid, uint64_t size) {
  int rc = rs_blob_remove_chunks(c, oid, 1, rs_chunk_count(c, size) - 1);
  return rc < 0 ? rc : remove_chunk0(c, oid);
}

/*
 * Removes an uncommitted blob recorded at size bytes.  Chunks past that can
 * exist when a writer died before recording its progress, so removal goes
 * on until a whole window of chunk names is absent.
 */
int rs_blob_remove_uncommitted(rs_conn *c, const char *oid, uint64_t size) {
  uint64_t n = rs_chunk_count(c, size), probe = (uint64_t)c->window;
  int rc = rs_blob_remove_chunks(c, oid, 1, n - 1);
  while (rc == 0) {
    uint64_t i, found = 0;
    for (i = n; i < n + probe; i++) {
      char name[RS_OID_MAX];
      rs_chunk_name(name, oid, i);
      if (rados_remove(c->io, name) == 0) found++;
    }
    if (!found) break;
    n += probe;
  }
  return rc < 0 ? rc : remove_chunk0(c, oid);
}

/*
 * Writes chunk 0's size (and, when head is given, the file's first bytes)
 * in one op.  must_exist refuses to bring back a blob that was removed meanwhile.
 */
int rs_blob_set_size(rs_conn *c, const char *oid, uint64_t size,
                     const void *head, size_t headlen, int must_exist) {
  char chunk0[RS_OID_MAX], val[24];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  snprintf(val, sizeof val, "%" PRIu64, size);
  if (must_exist) rados_write_op_assert_exists(op);
  if (head && headlen == size)
    rados_write_op_write_full(op, head, headlen); /* the whole file */
  else if (head)
    rados_write_op_write(op, head, headlen, 0);    /* the rest is written */
  else if (!must_exist)
    rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  rados_write_op_setxattr(op, RS_SIZE_XATTR, val, strlen(val));
  rc = rados_write_op_operate(op, c->io, chunk0, NULL, 0);
  rados_release_write_op(op);
  return rc;
}

/*
 * Takes a move's record off a blob if it still holds value: 0, or
 * -ECANCELED when somebody else took it (or the blob is gone).  The mover
 * and a releaser race for it: whoever takes it decides the blob's fate.
 */
int rs_blob_clear_intent(rs_conn *c, const char *oid, const char *value) {
  char chunk0[RS_OID_MAX];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_exists(op);
  rados_write_op_cmpxattr(op, RS_MOVE_XATTR, LIBRADOS_CMPXATTR_OP_EQ, value, strlen(value));
  rados_write_op_rmxattr(op, RS_MOVE_XATTR);
  rc = rados_write_op_operate(op, c->io, chunk0, NULL, 0);
  rados_release_write_op(op);
  return (rc == -ECANCELED || rc == -ENOENT || rc == -ENODATA) ? -ECANCELED : rc;
}

/*
 * Releases a blob after unlinked_path stopped pointing at it.  A moved blob
 * (one with a move record) is kept while the record's other name points at
 * it; otherwise the releaser must take the record off first, so that a
 * mover still at work learns that its blob is gone.
 */
int rs_blob_drop(rs_conn *c, const char *oid, const char *unlinked_path) {
  rs_blobinfo info;
  int rc = rs_blob_info(c, oid, &info);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  if (info.intent[0]) {
    char names[sizeof info.intent];
    char *nl;
    memcpy(names, info.intent, sizeof names);
    nl = strchr(names, '\n');
    if (nl) {
      const char *src = names, *dst = nl + 1;
      const char *other;
      rs_entry e;
      rs_split sp;
      *nl = '\0';
      other = strcmp(unlinked_path, src) == 0 ? dst : src;
      if (rs_path_valid(other, 0) && rs_path_split(other, &sp) == 0 &&
          rs_dir_lookup(c, sp.dir, sp.base, &e) == 0 &&
          e.kind == RS_ENT_FILE && strcmp(e.oid, oid) == 0)
        return 0;
    }
    rc = rs_blob_clear_intent(c, oid, info.intent);
    if (rc == -ECANCELED) return 0; /* moved on again, or another releaser has it */
    if (rc < 0) return rc;
  }
  return rs_blob_remove(c, oid, info.has_size ? info.size : 0);
}
