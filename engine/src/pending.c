/*
 * Uncommitted writer data.  Each blob a writer has put data into before
 * committing is recorded in the object "pending:<dir>", under the key
 * "<name>/<blob id>" (a name never holds '/'), with its byte count as value.
 * So a later writer(path, append), in any process, can go on with it;
 * deleting the path or its directory drops it; concurrent writers of one
 * path each keep their own record.  Directory objects hold committed
 * entries only.
 *
 * Records are claimed, never just removed: whoever takes a record away
 * (a committing or cancelling writer, or a delete dropping the data) does it
 * with a guarded op that expects the value it knows, and only the one whose
 * op succeeds acts on the data.  A writer that finds its record claimed by a
 * delete knows its data is being dropped, and a delete never drops the data
 * of a writer that has claimed its record to commit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void pending_oid(char *out, size_t len, const char *dir) {
  snprintf(out, len, RS_PENDING_PREFIX "%s", dir);
}

static void record_key(char *out, size_t len, const char *name, const char *oid) {
  snprintf(out, len, "%s/%s", name, oid);
}

/* The records of one name (every record when name is NULL). */
static int read_records(rs_conn *c, const char *dir, const char *name,
                        rs_dirent **ents, size_t *n) {
  char obj[4200], prefix[4200];
  rs_dirent *all = NULL;
  size_t count = 0, i, kept = 0;
  int rc;
  *ents = NULL;
  *n = 0;
  pending_oid(obj, sizeof obj, dir);
  rc = rs_dir_read(c, obj, &all, &count, NULL, 1);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  snprintf(prefix, sizeof prefix, "%s/", name ? name : "");
  for (i = 0; i < count; i++) {
    if (name && strncmp(all[i].name, prefix, strlen(prefix)) != 0) {
      free(all[i].name);
      free(all[i].val);
      continue;
    }
    all[kept++] = all[i];
  }
  *ents = all;
  *n = kept;
  return 0;
}

static const char *record_oid(const rs_dirent *e) {
  const char *slash = strrchr(e->name, '/');
  return slash ? slash + 1 : e->name;
}

/*
 * The most advanced record of name: 1 when found (oid, size, and the value
 * as stored, for a later claim), else 0.
 */
int rs_pending_get(rs_conn *c, const char *dir, const char *name, char *oid,
                   uint64_t *size, char value[RS_RECORD_MAX]) {
  rs_dirent *ents;
  size_t n, i;
  int rc = read_records(c, dir, name, &ents, &n), found = 0;
  if (rc < 0) return rc;
  for (i = 0; i < n; i++) {
    uint64_t s = strtoull(ents[i].val, NULL, 10);
    if (strlen(record_oid(&ents[i])) >= RS_OID_MAX) continue;
    if (!found || s > *size) {
      strcpy(oid, record_oid(&ents[i]));
      snprintf(value, RS_RECORD_MAX, "%s", ents[i].val);
      *size = s;
      found = 1;
    }
  }
  rs_dirents_free(ents, n);
  return found;
}

/*
 * Records blob oid at size bytes if the record still holds expect ("" for
 * a new record); value receives what was stored.  -ECANCELED when the
 * record was claimed meanwhile.
 */
int rs_pending_set(rs_conn *c, const char *dir, const char *name,
                   const char *oid, uint64_t size, const char *expect,
                   char value[RS_RECORD_MAX]) {
  char obj[4200], key[4200], val[RS_RECORD_MAX];
  rados_write_op_t op = rados_create_write_op();
  const char *keys[1] = {key};
  const char *vals[1] = {val};
  size_t vlen[1];
  int rc;
  pending_oid(obj, sizeof obj, dir);
  record_key(key, sizeof key, name, oid);
  vlen[0] = (size_t)snprintf(val, sizeof val, "%" PRIu64, size);
  if (!expect[0]) rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, expect, strlen(expect), NULL);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rados_write_op_operate(op, c->io, obj, NULL, 0);
  rados_release_write_op(op);
  if (rc == -ENOENT && expect[0]) rc = -ECANCELED; /* the object went with it */
  if (rc == 0) memcpy(value, val, sizeof val);
  return rc;
}

/* Removes the pending object once it holds nothing, unless it changed. */
static int pending_prune(rs_conn *c, const char *obj) {
  rs_dirent *ents = NULL;
  size_t n = 0;
  uint64_t version = 0;
  int rc = rs_dir_read(c, obj, &ents, &n, &version, 0);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  rs_dirents_free(ents, n);
  if (n > 0) return 0;
  rc = rs_obj_remove_if_version(c, obj, version);
  return (rc == -ENOENT || rc == -ERANGE || rc == -EOVERFLOW) ? 0 : rc;
}

/*
 * Takes the record of blob oid away if it still holds expect: 0 when this
 * call claimed it, -ECANCELED when somebody else did.
 */
int rs_pending_claim(rs_conn *c, const char *dir, const char *name,
                     const char *oid, const char *expect) {
  char obj[4200], key[4200];
  const char *keys[1] = {key};
  rados_write_op_t op;
  int rc;
  pending_oid(obj, sizeof obj, dir);
  record_key(key, sizeof key, name, oid);
  op = rados_create_write_op();
  rados_write_op_assert_exists(op);
  rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, expect, strlen(expect), NULL);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rados_write_op_operate(op, c->io, obj, NULL, 0);
  rados_release_write_op(op);
  if (rc == -ENOENT) return -ECANCELED;
  return rc < 0 ? rc : pending_prune(c, obj);
}

/*
 * Drops the uncommitted data of name (of every name when name is NULL):
 * each record this call manages to claim goes with its blob, except keep
 * (a committed blob being appended to).  *found tells whether there was
 * any record.
 */
int rs_pending_drop(rs_conn *c, const char *dir, const char *name,
                    const char *keep, int *found) {
  rs_dirent *ents;
  size_t n, i;
  int rc = read_records(c, dir, name, &ents, &n);
  if (found) *found = n > 0;
  if (rc < 0 || n == 0) return rc;
  for (i = 0; i < n && rc == 0; i++) {
    const char *oid = record_oid(&ents[i]);
    char *slash = strrchr(ents[i].name, '/');
    int claim;
    if (!slash) continue;
    *slash = '\0'; /* the file's name */
    claim = rs_pending_claim(c, dir, ents[i].name, oid, ents[i].val);
    *slash = '/';
    if (claim == -ECANCELED) continue; /* its writer or another delete has it */
    rc = claim;
    if (rc == 0 && (!keep || strcmp(oid, keep) != 0))
      rc = rs_blob_remove_uncommitted(c, oid, strtoull(ents[i].val, NULL, 10));
  }
  rs_dirents_free(ents, n);
  return rc;
}
