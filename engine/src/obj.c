/*
 * Object and omap primitives every kind of object uses (directories, blobs'
 * chunk 0, pending records): existence, removal, and omap entries read
 * into arrays of rs_dirent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int rs_obj_exists(rs_conn *c, const char *oid) {
  rados_read_op_t op = rados_create_read_op();
  int rc;
  rados_read_op_assert_exists(op);
  rc = rs_read_op(c, op, oid, NULL);
  rados_release_read_op(op);
  return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* Removes an object; an absent one is fine. */
int rs_remove_object(rs_conn *c, const char *oid) {
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rados_write_op_remove(op);
  rc = rs_write_op(c, op, oid);
  rados_release_write_op(op);
  return rc == -ENOENT ? 0 : rc;
}

int rs_obj_remove_if_version(rs_conn *c, const char *oid, uint64_t version) {
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rados_write_op_assert_version(op, version);
  rados_write_op_remove(op);
  rc = rs_write_op(c, op, oid);
  rados_release_write_op(op);
  return rc;
}

void rs_dirents_free(rs_dirent *ents, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    free(ents[i].name);
    free(ents[i].val);
  }
  free(ents);
}

int rs_dirents_push(rs_dirent **ents, size_t *n, size_t *cap, const char *k,
                    size_t kl, const char *v, size_t vl) {
  rs_dirent *e;
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    rs_dirent *grown = realloc(*ents, ncap * sizeof *grown);
    if (!grown) return -ENOMEM;
    *ents = grown;
    *cap = ncap;
  }
  e = &(*ents)[*n];
  e->name = strndup(k, kl);
  e->val = strndup(v ? v : "", v ? vl : 0);
  if (!e->name || !e->val) {
    free(e->name);
    free(e->val);
    return -ENOMEM;
  }
  (*n)++;
  return 0;
}

/* One page of at most RS_OMAP_PAGE entries after `after`. */
int rs_omap_page(rs_conn *c, const char *oid, const char *after,
                 const char *prefix, int with_vals, rs_dirent **ents,
                 size_t *n, size_t *cap, int *more, uint64_t *version) {
  rados_read_op_t op = rados_create_read_op();
  rados_omap_iter_t it = NULL;
  unsigned char m = 0;
  int prval = 0, rc;
  if (with_vals)
    rados_read_op_omap_get_vals2(op, after, prefix, RS_OMAP_PAGE, &it, &m, &prval);
  else
    rados_read_op_omap_get_keys2(op, after, RS_OMAP_PAGE, &it, &m, &prval);
  rc = rs_read_op(c, op, oid, version);
  if (rc == 0 && prval < 0) rc = prval;
  if (rc == 0) {
    char *k, *v;
    size_t kl, vl;
    while (rc == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k)
      rc = rs_dirents_push(ents, n, cap, k, kl, with_vals ? v : NULL, vl);
    *more = m;
  }
  if (it) rados_omap_get_end(it);
  rados_release_read_op(op);
  return rc;
}

/*
 * Every omap entry of an object whose key starts with prefix, with values,
 * paged (the prefix is filtered by the OSD: one round trip per 1024).
 */
int rs_omap_read(rs_conn *c, const char *oid, const char *prefix,
                 rs_dirent **ents, size_t *n, uint64_t *version) {
  rs_dirent *list = NULL;
  size_t count = 0, cap = 0;
  uint64_t v = 0;
  int more = 1, rc = 0;
  while (rc == 0 && more) {
    const char *from = count ? list[count - 1].name : "";
    rc = rs_omap_page(c, oid, from, prefix, 1, &list, &count, &cap, &more, &v);
  }
  if (rc < 0) {
    rs_dirents_free(list, count);
    return rc;
  }
  *ents = list;
  *n = count;
  if (version) *version = v;
  return 0;
}
