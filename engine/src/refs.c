/*
 * Back-references.  Chunk 0's omap names every path that points at the blob
 * (key: the path; value: the time the reference was added), so that a blob
 * is dropped only when no name holds it, and repair is local to one blob.
 *
 *   - a name is added before it is linked (a put or commit seals the blob
 *     with it; a move adds it, guarded on the source's reference being
 *     there and on its own being absent);
 *   - a name is removed after it was unlinked, by whoever unlinked it;
 *   - the one who removes a name drops the blob when no other reference is
 *     live: pointed at by its name, or young enough (RS_REF_GRACE) to be a
 *     move still at work.  The drop is guarded by chunk 0's version, and
 *     clears the references first, so no reference can be added after it.
 *
 * A crash anywhere leaves an extra reference at worst, never a name without
 * data; fsck removes references whose names no longer point at the blob.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Adds name to a blob that from (non-NULL) points at, unless name already
 * has a reference there; stamp receives the value.  -ECANCELED when from's
 * reference is gone or name's is there, -ENOENT when the blob is gone.
 */
int rs_blob_add_ref(rs_conn *c, const char *oid, const char *from,
                    const char *name, char stamp[24]) {
  char chunk0[RS_OID_MAX];
  const char *keys[1] = {name};
  const char *vals[1] = {stamp};
  size_t vlen[1];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_ref_stamp(stamp);
  vlen[0] = strlen(stamp);
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_exists(op);
  if (from) rados_write_op_omap_cmp(op, from, LIBRADOS_CMPXATTR_OP_GT, "", 0, NULL);
  rados_write_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, "", 0, NULL);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}

/* Removes key from chunk 0's omap, only if it still holds expect (when
 * given); -ENOENT when the blob is gone, -ECANCELED when key changed. */
static int remove_key(rs_conn *c, const char *oid, const char *key,
                      const char *expect) {
  char chunk0[RS_OID_MAX];
  const char *keys[1] = {key};
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_exists(op);
  if (expect) rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, expect, strlen(expect), NULL);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}

/* Removes name's reference (only if it still holds stamp, when given). */
int rs_blob_drop_ref(rs_conn *c, const char *oid, const char *name,
                     const char *stamp) {
  int rc = remove_key(c, oid, name, stamp);
  return rc == -ENOENT ? 0 : rc;
}

static int ref_young(const rs_dirent *ref) {
  return rs_ref_age(ref->val, time(NULL)) < RS_REF_GRACE;
}

/* Whether a reference other than name keeps the blob: 1, 0, or < 0. */
static int others_live(rs_conn *c, const char *oid, const rs_blobinfo *info,
                       const char *name) {
  size_t i;
  for (i = 0; i < info->nrefs; i++) {
    const rs_dirent *ref = &info->refs[i];
    int rc;
    if (name && strcmp(ref->name, name) == 0) continue;
    if (ref_young(ref)) return 1;
    rc = rs_path_points_at(c, ref->name, oid);
    if (rc != 0) return rc;
  }
  return 0;
}

static int has_ref(const rs_blobinfo *info, const char *name) {
  size_t i;
  for (i = 0; i < info->nrefs; i++)
    if (strcmp(info->refs[i].name, name) == 0) return 1;
  return 0;
}

/*
 * Drops a committed blob whose references are all dead, if chunk 0 is still
 * at the version they were read at: -ERANGE/-EOVERFLOW when it moved on.
 * A one-chunk blob goes in that one op; a larger one first loses its
 * references (so none can be added), then its chunks, chunk 0 last.  The
 * guarded op is sent by drop_start, so that many can be in flight.
 */
static int drop_start(rs_conn *c, const char *oid, const rs_blobinfo *info,
                      rados_completion_t *comp) {
  char chunk0[RS_OID_MAX];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_version(op, info->version);
  if (rs_chunk_count(info->m.stripe, info->m.size) == 1)
    rados_write_op_remove(op);
  else
    rados_write_op_omap_clear(op);
  rc = rs_comp_new(c, comp);
  if (rc == 0) {
    rc = rados_aio_write_op_operate(op, c->io, *comp, chunk0, NULL, 0);
    if (rc < 0) rados_aio_release(*comp);
  }
  rados_release_write_op(op);
  return rc;
}

static int drop_finish(rs_conn *c, const char *oid, const rs_blobinfo *info,
                       rados_completion_t comp) {
  uint64_t chunks = rs_chunk_count(info->m.stripe, info->m.size);
  int rc = rs_comp_wait(c, comp, NULL);
  if (rc == -ENOENT) return 0;
  if (rc < 0 || chunks == 1) return rc;
  RS_CRASH("release.refs_cleared");
  return rs_blob_destroy(c, oid, chunks, 0);
}

static int drop_guarded(rs_conn *c, const char *oid, const rs_blobinfo *info) {
  rados_completion_t comp;
  int rc = drop_start(c, oid, info, &comp);
  return rc < 0 ? rc : drop_finish(c, oid, info, comp);
}

static int version_lost(int rc) { return rc == -ERANGE || rc == -EOVERFLOW; }

/* Removes name's reference if chunk 0 is still at version. */
static int drop_ref_at(rs_conn *c, const char *oid, const char *name,
                       uint64_t version) {
  char chunk0[RS_OID_MAX];
  const char *keys[1] = {name};
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_version(op, version);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc == -ENOENT ? 0 : rc;
}

/*
 * After name stopped pointing at oid: its reference goes, and the blob
 * with it when nothing else holds it.  Both are guarded by the version
 * the references were read at, so that of two releasers racing, each
 * seeing the other's reference, one looks again and drops the blob.
 */
int rs_blob_release(rs_conn *c, const char *oid, const char *name) {
  int tries, rc = -EAGAIN;
  for (tries = 0; tries < RS_RETRIES; tries++) {
    rs_blobinfo info;
    int live;
    rc = rs_blob_info(c, oid, &info, 1);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    live = info.m.has_size ? others_live(c, oid, &info, name) : 1;
    if (live < 0) rc = live;
    else if (live == 0) rc = drop_guarded(c, oid, &info);
    else rc = has_ref(&info, name) ? drop_ref_at(c, oid, name, info.version) : 0;
    rs_blobinfo_free(&info);
    if (!version_lost(rc)) return rc;
  }
  return rc;
}

/* One blob of rs_blob_release_many whose guarded drop was sent: its end,
 * and the slow path when chunk 0 moved on meanwhile. */
static int drop_reap(rs_conn *c, const char *oid, const char *name,
                     const rs_blobinfo *info, rados_completion_t comp) {
  int rc = drop_finish(c, oid, info, comp);
  if (version_lost(rc)) rc = rs_blob_release(c, oid, name);
  if (rc >= 0) rs_deadline_renew(c); /* a bulk release counts from its last step */
  return rc;
}

/*
 * Releases many blobs at once (names[i] no longer points at oids[i]): their
 * chunk 0s are read together, the blobs nothing else holds are dropped with
 * a window of guarded ops in flight, the rest one by one.
 */
int rs_blob_release_many(rs_conn *c, const char *const *oids,
                         const char *const *names, size_t n) {
  rs_blobinfo *info = calloc(n ? n : 1, sizeof *info);
  rados_completion_t ring[RS_STAT_WINDOW];
  size_t queue[RS_STAT_WINDOW], head = 0, used = 0, i;
  int rc = 0;
  if (!info) return -ENOMEM;
  rs_blob_info_many(c, oids, n, info, 1);
  rs_deadline_renew(c);
  for (i = 0; i <= n; i++) {
    int r = 0;
    /* Reap what must make room, and everything at the end. */
    while (used > 0 && (i == n || used == RS_STAT_WINDOW)) {
      size_t j = queue[head];
      r = drop_reap(c, oids[j], names[j], &info[j], ring[head]);
      if (r < 0 && rc == 0) rc = r;
      head = (head + 1) % RS_STAT_WINDOW;
      used--;
    }
    if (i == n || !oids[i] || info[i].rc == -ENOENT) continue;
    if (info[i].rc < 0) {
      r = info[i].rc;
    } else if (info[i].m.has_size &&
               (info[i].nrefs == 0 || (info[i].nrefs == 1 && has_ref(&info[i], names[i])))) {
      size_t tail = (head + used) % RS_STAT_WINDOW;
      r = drop_start(c, oids[i], &info[i], &ring[tail]);
      if (r == 0) {
        queue[tail] = i;
        used++;
      }
    } else {
      r = rs_blob_release(c, oids[i], names[i]);
    }
    if (r < 0 && rc == 0) rc = r;
  }
  for (i = 0; i < n; i++) rs_blobinfo_free(&info[i]);
  free(info);
  return rc;
}

/*
 * An append in place writes past the committed size of a blob that other
 * names may share: the blob is claimed for the appending path first, so
 * that appenders through different names (after a move) never write over
 * each other.  The claim lasts while that path's pending record of the
 * appended bytes does: commit raises the size and lets go in one op;
 * cancel and delete let go after cutting the bytes back.
 *   0: claimed now; -ECANCELED: path already holds it; -EBUSY: another
 *   path does; -ENOENT: the blob is gone.
 */
int rs_blob_claim_append(rs_conn *c, const char *oid, const char *path) {
  char chunk0[RS_OID_MAX];
  const char *keys[1] = {RS_APPENDER_KEY};
  const char *vals[1] = {path};
  size_t vlen[1] = {strlen(path)};
  rados_write_op_t op = rados_create_write_op();
  rs_blobinfo info;
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_exists(op);
  rados_write_op_omap_cmp(op, RS_APPENDER_KEY, LIBRADOS_CMPXATTR_OP_EQ, "", 0, NULL);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  if (rc != -ECANCELED) return rc;
  rc = rs_blob_info(c, oid, &info, 1);
  if (rc < 0) return rc;
  rc = info.appender && strcmp(info.appender, path) == 0 ? -ECANCELED : -EBUSY;
  rs_blobinfo_free(&info);
  return rc;
}

int rs_blob_unclaim_append(rs_conn *c, const char *oid, const char *path) {
  int rc = remove_key(c, oid, RS_APPENDER_KEY, path);
  return rc == -ENOENT || rc == -ECANCELED ? 0 : rc;
}

/*
 * fsck's own changes to chunk 0, each guarded by the version its decision
 * was made at (-ERANGE/-EOVERFLOW: chunk 0 changed since, nothing done):
 * dropping references (names[0..n)), and claiming the blob as an appender
 * would (key RS_APPENDER_KEY, value who; also guarded absent) so that no
 * appender writes past the size while fsck cuts chunks there.
 */
int rs_blob_drop_refs_at(rs_conn *c, const char *oid, const char *const *names,
                         size_t n, uint64_t version) {
  char chunk0[RS_OID_MAX];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_version(op, version);
  rados_write_op_omap_rm_keys(op, names, n);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}

int rs_blob_claim_at(rs_conn *c, const char *oid, const char *who,
                     uint64_t version) {
  char chunk0[RS_OID_MAX];
  const char *keys[1] = {RS_APPENDER_KEY};
  const char *vals[1] = {who};
  size_t vlen[1] = {strlen(who)};
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_assert_version(op, version);
  rados_write_op_omap_cmp(op, RS_APPENDER_KEY, LIBRADOS_CMPXATTR_OP_EQ, "", 0, NULL);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}
