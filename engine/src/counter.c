/*
 * Counters: signed 64-bit values that processes on several nodes share
 * (the bytes a quota has used).  A counter is the omap key "value" of the
 * object "counter:<name>", as decimal text.  An add reads the value and
 * writes the sum guarded by omap_cmp on the text it read (an absent key
 * compares as ""), so two adds never both apply to the same old value: the
 * loser's guard fails and it reads again.  With a limit, the check and the
 * write are that same guarded step, so concurrent adds never pass the
 * limit together.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>

#include "internal.h"

#define COUNTER_PREFIX "counter:"
#define COUNTER_KEY "value"
#define COUNTER_TRIES 64
#define COUNTER_TEXT 24

static int counter_oid(const char *name, char oid[RS_OID_MAX], rs_status *st) {
  if (!rs_word_valid(name, RS_OID_MAX - 1 - strlen(COUNTER_PREFIX)))
    return rs_fail(st, -EINVAL, name ? name : "", "counter names are 1 to 55 of [A-Za-z0-9._-]");
  snprintf(oid, RS_OID_MAX, COUNTER_PREFIX "%s", name);
  return 0;
}

/* The counter's text ("" when absent) and its value; a failure fills st. */
static int counter_read(rs_conn *c, const char *oid, const char *name,
                        char text[COUNTER_TEXT], int64_t *value, rs_status *st) {
  const char *keys[1] = {COUNTER_KEY};
  size_t klen[1] = {strlen(COUNTER_KEY)};
  rados_omap_iter_t it = NULL;
  rados_read_op_t op = rados_create_read_op();
  int prval = 0, rc;
  char *k, *v;
  size_t kl, vl;
  text[0] = '\0';
  *value = 0;
  rados_read_op_omap_get_vals_by_keys2(op, keys, 1, klen, &it, &prval);
  rc = rs_read_op(c, op, oid, NULL);
  if (rc == 0 && prval < 0) rc = prval;
  if (rc == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k) {
    char *end;
    if (vl == 0 || vl >= COUNTER_TEXT) {
      rc = -EIO;
    } else {
      memcpy(text, v, vl);
      text[vl] = '\0';
      errno = 0;
      *value = strtoll(text, &end, 10);
      if (errno || *end) rc = -EIO;
    }
  }
  if (it) rados_omap_get_end(it);
  rados_release_read_op(op);
  if (rc == -ENOENT) return 0;
  if (rc == -EIO) return rs_fail(st, rc, name, "counter holds no number");
  if (rc < 0) return rs_fail_rados(st, rc, name, "counter");
  return 0;
}

int rs_counter_get(rs_conn *c, const char *name, int64_t *value, rs_status *st) {
  char oid[RS_OID_MAX], text[COUNTER_TEXT];
  int rc = counter_oid(name, oid, st);
  if (rc < 0) return rc;
  rs_deadline_start(c);
  return counter_read(c, oid, name, text, value, st);
}

/* Writes next guarded by old (the text read; "" when absent). */
static int counter_swap(rs_conn *c, const char *oid, const char *old, int64_t next) {
  char text[COUNTER_TEXT];
  const char *keys[1] = {COUNTER_KEY};
  const char *vals[1] = {text};
  size_t klen[1] = {strlen(COUNTER_KEY)}, vlen[1];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  vlen[0] = (size_t)snprintf(text, sizeof text, "%" PRId64, next);
  rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  rados_write_op_omap_cmp(op, COUNTER_KEY, LIBRADOS_CMPXATTR_OP_EQ, old, strlen(old), NULL);
  rados_write_op_omap_set2(op, keys, vals, klen, vlen, 1);
  rc = rs_write_op(c, op, oid);
  rados_release_write_op(op);
  return rc;
}

int rs_counter_add(rs_conn *c, const char *name, int64_t delta, int64_t limit,
                   int64_t *value, rs_status *st) {
  char oid[RS_OID_MAX], text[COUNTER_TEXT];
  int64_t cur = 0;
  int rc = counter_oid(name, oid, st), i;
  if (rc < 0) return rc;
  rs_deadline_start(c);
  for (i = 0; i < COUNTER_TRIES; i++) {
    rc = counter_read(c, oid, name, text, &cur, st);
    if (rc < 0) return rc;
    if ((delta > 0 && cur > INT64_MAX - delta) || (delta < 0 && cur < INT64_MIN - delta))
      return rs_fail(st, -ERANGE, name, "counter would overflow");
    if (limit >= 0 && delta > 0 && cur + delta > limit) {
      if (value) *value = cur;
      return rs_fail(st, -RS_ELIMIT, name, "counter at %" PRId64 " + %" PRId64 " passes its limit %" PRId64,
                     cur, delta, limit);
    }
    rc = counter_swap(c, oid, text, cur + delta);
    if (rc == 0) {
      if (value) *value = cur + delta;
      return 0;
    }
    if (rc != -ECANCELED) return rs_fail_rados(st, rc, name, "counter");
  }
  return rs_fail(st, -RS_EHELD, name, "counter changed by others %d times in a row", COUNTER_TRIES);
}
