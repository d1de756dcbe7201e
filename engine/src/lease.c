/*
 * Leases: cluster-wide exclusive locks with a duration, for work that must
 * run once across several processes or nodes (a scheduled gc).  Each lease
 * is a RADOS advisory lock (cls_lock, rados_lock_exclusive) on an object of
 * its own, "lease:<name>", held under the owner's cookie.  Taking a lease
 * its owner holds renews it; a lease whose owner died expires after its
 * duration and the next taker gets it.  The calls are librados' synchronous
 * ones, bounded by the connection's rados_osd_op_timeout (conn.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>

#include "internal.h"

#define LEASE_PREFIX "lease:"
#define LEASE_LOCK "regstore"

static int lease_oid(const char *name, const char *owner, char oid[RS_OID_MAX],
                     rs_status *st) {
  if (!rs_word_valid(name, RS_OID_MAX - 1 - strlen(LEASE_PREFIX)) ||
      (owner && !rs_word_valid(owner, 128)))
    return rs_fail(st, -EINVAL, name ? name : "",
                   "lease names are 1 to 57 and owners 1 to 128 of [A-Za-z0-9._-]");
  snprintf(oid, RS_OID_MAX, LEASE_PREFIX "%s", name);
  return 0;
}

int rs_lease_take(rs_conn *c, const char *name, const char *owner, double secs,
                  rs_status *st) {
  char oid[RS_OID_MAX];
  struct timeval tv;
  int rc = lease_oid(name, owner, oid, st);
  if (rc < 0) return rc;
  if (!(secs > 0 && secs <= 86400 * 7))
    return rs_fail(st, -EINVAL, name, "a lease lasts more than 0 s and at most 7 days");
  tv.tv_sec = (time_t)secs;
  tv.tv_usec = (suseconds_t)((secs - floor(secs)) * 1e6);
  rc = rados_lock_exclusive(c->io, oid, LEASE_LOCK, owner, "regstore lease", &tv,
                            LIBRADOS_LOCK_FLAG_MAY_RENEW);
  if (rc == -EBUSY || rc == -EEXIST)
    return rs_fail(st, -RS_EHELD, name, "lease held by another owner");
  if (rc < 0) return rs_fail_rados(st, rc, name, "lease");
  return 0;
}

int rs_lease_drop(rs_conn *c, const char *name, const char *owner, rs_status *st) {
  char oid[RS_OID_MAX];
  int rc = lease_oid(name, owner, oid, st);
  if (rc < 0) return rc;
  rc = rados_unlock(c->io, oid, LEASE_LOCK, owner);
  if (rc == -ENOENT) return rs_fail(st, -RS_ENOENT, name, "lease not held by this owner");
  if (rc < 0) return rs_fail_rados(st, rc, name, "lease release");
  return 0;
}

int rs_lease_holder(rs_conn *c, const char *name, char *owner, size_t len,
                    rs_status *st) {
  char oid[RS_OID_MAX], tag[256], clients[1024], cookies[1024], addrs[1024];
  size_t tag_len = sizeof tag, clients_len = sizeof clients;
  size_t cookies_len = sizeof cookies, addrs_len = sizeof addrs;
  int exclusive = 0;
  ssize_t n;
  int rc = lease_oid(name, NULL, oid, st);
  if (rc < 0) return rc;
  if (len > 0) owner[0] = '\0';
  n = rados_list_lockers(c->io, oid, LEASE_LOCK, &exclusive, tag, &tag_len, clients,
                         &clients_len, cookies, &cookies_len, addrs, &addrs_len);
  if (n == -ENOENT || n == 0) return 0;
  if (n < 0) return rs_fail_rados(st, (int)n, name, "lease holder");
  if (len > 0) snprintf(owner, len, "%s", cookies);
  return 0;
}
