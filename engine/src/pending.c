/*
 * Uncommitted writer data.  Each blob a writer has put data into before
 * committing is recorded in the object "pending:<dir>", under the key
 * "<name>/<blob id>" (a name never holds '/'), with its byte count as value.
 * So a later writer(path, append), in any process, can go on with it;
 * deleting the path or its directory drops it; concurrent writers of one
 * path each keep their own record; and a commit can tell whether its data
 * was dropped meanwhile.  Directory objects hold committed entries only.
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

/* The most advanced record of name: 1 when found (oid, size), else 0. */
int rs_pending_get(rs_conn *c, const char *dir, const char *name, char *oid,
                   uint64_t *size) {
  rs_dirent *ents;
  size_t n, i;
  int rc = read_records(c, dir, name, &ents, &n), found = 0;
  if (rc < 0) return rc;
  for (i = 0; i < n; i++) {
    uint64_t s = strtoull(ents[i].val, NULL, 10);
    if (strlen(record_oid(&ents[i])) >= RS_OID_MAX) continue;
    if (!found || s > *size) {
      strcpy(oid, record_oid(&ents[i]));
      *size = s;
      found = 1;
    }
  }
  rs_dirents_free(ents, n);
  return found;
}

/* Whether the record of blob oid is still there: 1 or 0. */
int rs_pending_has(rs_conn *c, const char *dir, const char *name,
                   const char *oid) {
  char obj[4200], key[4200];
  rs_entry e;
  int rc;
  pending_oid(obj, sizeof obj, dir);
  record_key(key, sizeof key, name, oid);
  rc = rs_dir_lookup(c, obj, key, &e);
  return rc < 0 ? rc : e.kind == RS_ENT_FILE;
}

int rs_pending_set(rs_conn *c, const char *dir, const char *name,
                   const char *oid, uint64_t size) {
  char obj[4200], key[4200], val[24];
  rados_write_op_t op = rados_create_write_op();
  const char *keys[1] = {key};
  const char *vals[1] = {val};
  size_t vlen[1];
  int rc;
  pending_oid(obj, sizeof obj, dir);
  record_key(key, sizeof key, name, oid);
  vlen[0] = (size_t)snprintf(val, sizeof val, "%" PRIu64, size);
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

static int remove_keys(rs_conn *c, const char *dir, const char *const *keys,
                       size_t n) {
  char obj[4200];
  rados_write_op_t op;
  int rc;
  if (n == 0) return 0;
  pending_oid(obj, sizeof obj, dir);
  op = rados_create_write_op();
  rados_write_op_assert_exists(op);
  rados_write_op_omap_rm_keys(op, keys, n);
  rc = rados_write_op_operate(op, c->io, obj, NULL, 0);
  rados_release_write_op(op);
  if (rc == -ENOENT) return 0;
  return rc < 0 ? rc : pending_prune(c, obj);
}

/* Removes the record of blob oid (its data stays). */
int rs_pending_clear(rs_conn *c, const char *dir, const char *name,
                     const char *oid) {
  char key[4200];
  const char *keys[1] = {key};
  record_key(key, sizeof key, name, oid);
  return remove_keys(c, dir, keys, 1);
}

/*
 * Drops the uncommitted data of name (of every name when name is NULL):
 * the blobs, except keep (a committed blob being appended to), then the
 * records.  *found tells whether there was any.
 */
int rs_pending_drop(rs_conn *c, const char *dir, const char *name,
                    const char *keep, int *found) {
  rs_dirent *ents;
  const char **keys;
  size_t n, i;
  int rc = read_records(c, dir, name, &ents, &n);
  if (found) *found = n > 0;
  if (rc < 0 || n == 0) return rc;
  keys = calloc(n, sizeof *keys);
  if (!keys) rc = -ENOMEM;
  for (i = 0; i < n && rc == 0; i++) {
    const char *oid = record_oid(&ents[i]);
    keys[i] = ents[i].name;
    if (!keep || strcmp(oid, keep) != 0)
      rc = rs_blob_remove_uncommitted(c, oid, strtoull(ents[i].val, NULL, 10));
  }
  if (rc == 0) rc = remove_keys(c, dir, keys, n);
  free(keys);
  rs_dirents_free(ents, n);
  return rc;
}
