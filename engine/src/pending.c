/*
 * Uncommitted writer data.  A closed writer's blob is recorded in the object
 * "pending:<dir>" under the file's name, as "<blob id> <bytes>", so that a
 * later writer(path, append) in any process can go on, and so that deleting
 * the path (or its directory) can drop the data.  Directory objects hold
 * committed entries only.
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

static int parse_record(const char *val, size_t len, char *oid,
                        uint64_t *size) {
  char buf[RS_OID_MAX + 32];
  char *space;
  if (len == 0 || len >= sizeof buf) return -EINVAL;
  memcpy(buf, val, len);
  buf[len] = '\0';
  space = strchr(buf, ' ');
  if (!space || (size_t)(space - buf) >= RS_OID_MAX) return -EINVAL;
  *space = '\0';
  strcpy(oid, buf);
  *size = strtoull(space + 1, NULL, 10);
  return 0;
}

/* The record for name: 1 when found, 0 when none. */
static int pending_read(rs_conn *c, const char *dir, const char *name,
                        char *oid, uint64_t *size, char *raw, size_t rawlen) {
  char obj[4200];
  rados_read_op_t op = rados_create_read_op();
  rados_omap_iter_t it = NULL;
  const char *keys[1] = {name};
  size_t klen[1] = {strlen(name)};
  int prval = 0, rc;
  pending_oid(obj, sizeof obj, dir);
  rados_read_op_omap_get_vals_by_keys2(op, keys, 1, klen, &it, &prval);
  rc = rados_read_op_operate(op, c->io, obj, 0);
  if (rc == 0 && prval < 0) rc = prval;
  if (rc == 0) {
    char *k, *v;
    size_t kl, vl;
    if (rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k) {
      rc = parse_record(v, vl, oid, size) == 0 ? 1 : 0;
      if (rc == 1 && raw) snprintf(raw, rawlen, "%.*s", (int)vl, v);
    }
  } else if (rc == -ENOENT) {
    rc = 0;
  }
  if (it) rados_omap_get_end(it);
  rados_release_read_op(op);
  return rc;
}

int rs_pending_get(rs_conn *c, const char *dir, const char *name, char *oid,
                   uint64_t *size) {
  return pending_read(c, dir, name, oid, size, NULL, 0);
}

int rs_pending_set(rs_conn *c, const char *dir, const char *name,
                   const char *oid, uint64_t size) {
  char obj[4200], val[RS_OID_MAX + 32];
  rados_write_op_t op = rados_create_write_op();
  const char *keys[1] = {name};
  const char *vals[1] = {val};
  size_t vlen[1];
  int rc;
  pending_oid(obj, sizeof obj, dir);
  vlen[0] = (size_t)snprintf(val, sizeof val, "%s %" PRIu64, oid, size);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rados_write_op_operate(op, c->io, obj, NULL, 0);
  rados_release_write_op(op);
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

/* Removes name's record if it names oid (any record when oid is NULL). */
int rs_pending_clear(rs_conn *c, const char *dir, const char *name,
                     const char *oid) {
  char obj[4200], found[RS_OID_MAX], raw[RS_OID_MAX + 32];
  uint64_t size;
  const char *keys[1] = {name};
  rados_write_op_t op;
  int rc = pending_read(c, dir, name, found, &size, raw, sizeof raw);
  if (rc <= 0) return rc;
  if (oid && strcmp(found, oid) != 0) return 0;
  pending_oid(obj, sizeof obj, dir);
  op = rados_create_write_op();
  rados_write_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, raw, strlen(raw),
                          NULL);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rados_write_op_operate(op, c->io, obj, NULL, 0);
  rados_release_write_op(op);
  if (rc == -ECANCELED || rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  return pending_prune(c, obj);
}

/* Drops every uncommitted file of dir, data and records. */
int rs_pending_drop_all(rs_conn *c, const char *dir) {
  char obj[4200];
  rs_dirent *ents = NULL;
  size_t n = 0, i;
  int rc;
  pending_oid(obj, sizeof obj, dir);
  rc = rs_dir_read(c, obj, &ents, &n, NULL, 1);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  for (i = 0; i < n && rc == 0; i++) {
    char oid[RS_OID_MAX];
    uint64_t size;
    if (parse_record(ents[i].val, strlen(ents[i].val), oid, &size) == 0)
      rc = rs_blob_remove_uncommitted(c, oid, size);
  }
  rs_dirents_free(ents, n);
  if (rc < 0) return rc;
  rc = rados_remove(c->io, obj);
  return rc == -ENOENT ? 0 : rc;
}
