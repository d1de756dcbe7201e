/* Connections: a cluster handle and an I/O context, shared by refcount. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int set_opt(rados_t cl, const char *key, const char *val,
                   rs_status *st) {
  int rc = rados_conf_set(cl, key, val);
  if (rc < 0) return rs_fail(st, rc, key, "cannot set option (%s)", strerror(-rc));
  return 0;
}

static int configure(rados_t cl, const rs_options *o, rs_status *st) {
  char secs[32];
  double t = o->timeout > 0 ? o->timeout : RS_DEFAULT_TIMEOUT;
  long whole = (long)t < t ? (long)t + 1 : (long)t; /* librados takes whole seconds */
  int rc = rados_conf_read_file(cl, o->conf); /* NULL: $CEPH_CONF, then the usual places */
  if (rc < 0) /* not a path of the store: an io failure, with the errno text */
    return rs_fail(st, -EIO, o->conf ? o->conf : "$CEPH_CONF",
                   "cannot read ceph configuration (%s)", strerror(-rc));
  if (o->keyring && (rc = set_opt(cl, "keyring", o->keyring, st)) < 0) return rc;
  /* librados waits forever by default; a registry must not. */
  snprintf(secs, sizeof secs, "%ld", whole);
  if ((rc = set_opt(cl, "rados_osd_op_timeout", secs, st)) < 0) return rc;
  if ((rc = set_opt(cl, "rados_mon_op_timeout", secs, st)) < 0) return rc;
  return set_opt(cl, "client_mount_timeout", secs, st);
}

static int connect_fail(rs_status *st, int rc, const char *pool) {
  if (rc == -ETIMEDOUT)
    return rs_fail(st, rc, pool, "cluster did not answer in time, pool");
  return rs_fail(st, rc, pool, "cannot connect (%s), pool", strerror(-rc));
}

/* The root always exists; a client that may only read cannot make it. */
static int make_root(rs_conn *c) {
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  rc = rados_write_op_operate(op, c->io, "/", NULL, 0);
  rados_release_write_op(op);
  return (rc == -EPERM || rc == -EACCES) ? 0 : rc;
}

int rs_connect(const rs_options *o, rs_conn **out, rs_status *st) {
  rs_conn *c;
  int rc;
  *out = NULL;
  if (!o->pool || !*o->pool) return rs_fail(st, -EINVAL, "", "a pool is required");
  if (o->chunk_size > RS_MAX_CHUNK_SIZE || (o->chunk_size && o->chunk_size < 4096))
    return rs_fail(st, -EINVAL, o->pool, "chunk_size must be 4 KiB..64 MiB, pool");
  c = calloc(1, sizeof *c);
  if (!c) return rs_fail(st, -ENOMEM, o->pool, NULL);
  c->chunk = o->chunk_size ? o->chunk_size : RS_DEFAULT_CHUNK_SIZE;
  c->unit = c->chunk < RS_IO_UNIT ? c->chunk : RS_IO_UNIT;
  c->window = o->window > 0 ? o->window : RS_DEFAULT_WINDOW;
  c->refs = 1;
  if (rs_oidcache_init(c) < 0) {
    free(c);
    return rs_fail(st, -ENOMEM, o->pool, NULL);
  }
  rc = rados_create(&c->cluster, o->id ? o->id : "admin");
  if (rc < 0) {
    rs_oidcache_free(c);
    free(c);
    return rs_fail(st, rc, o->id ? o->id : "admin", "cannot create client (%s)", strerror(-rc));
  }
  rc = configure(c->cluster, o, st);
  if (rc == 0) {
    rc = rados_connect(c->cluster);
    if (rc < 0) connect_fail(st, rc, o->pool);
  }
  if (rc == 0) {
    rc = rados_ioctx_create(c->cluster, o->pool, &c->io);
    if (rc == -ENOENT) rs_fail(st, -RS_ENOENT, o->pool, "pool not found");
    else if (rc < 0) connect_fail(st, rc, o->pool);
  }
  if (rc < 0) {
    rados_shutdown(c->cluster);
    rs_oidcache_free(c);
    free(c);
    return rc == -ENOENT ? -RS_ENOENT : rc;
  }
  if (o->namespace_) rados_ioctx_set_namespace(c->io, o->namespace_);
  rc = make_root(c);
  if (rc < 0) {
    rs_fail(st, rc, o->pool, rc == -ETIMEDOUT ? "cluster did not answer in time, pool"
                                              : "cannot create the root directory (%s), pool",
            strerror(-rc));
    rs_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

uint32_t rs_chunk_size(const rs_conn *c) { return c->chunk; }

void rs_conn_unref(rs_conn *c) {
  if (--c->refs > 0) return;
  rados_ioctx_destroy(c->io);
  rados_shutdown(c->cluster);
  rs_oidcache_free(c);
  free(c);
}

void rs_close(rs_conn *c) {
  if (!c || c->closed) return;
  c->closed = 1;
  rs_conn_unref(c);
}
