/*
 * Uncommitted writer data.  Each blob a writer has put data into before
 * committing is recorded in "pending:/<top>", the object of the path's
 * top-level directory, under the key "<path> <blob id>" with the value
 * "<size> <stripe> <owner>".  So a later writer(path, true), in any process,
 * can go on with it (and knows its layout); deleting the path, or any
 * directory above it, finds and drops it with one prefix query, even when
 * no directory object exists for it; directory objects hold committed
 * entries only.
 *
 * owner is the token of the writer working on the data, with the time it
 * last stored the record ("<token>@<epoch ms>"), or "-" when none is (its
 * writer closed).  The stamp lives in the owner field so that the value
 * keeps its three fields: records stay readable by every version of the
 * engine (older ones take the owner as an opaque token).  A writer takes a record by a guarded change of
 * its value, so two writers never share one blob's bytes.  Records are
 * claimed, never just removed: whoever takes a record away (a committing or
 * cancelling writer, or a delete dropping the data) does it with an op
 * guarded by the value it knows, and only the one whose op succeeds acts
 * on the data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rs_pending_object(char *out, size_t len, const char *path) {
  const char *slash = strchr(path + 1, '/');
  int n = slash ? (int)(slash - path) : (int)strlen(path);
  snprintf(out, len, RS_PENDING_PREFIX "%.*s", n, path);
}

static void record_key(char *out, size_t len, const rs_record *r) {
  snprintf(out, len, "%s %s", r->path, r->oid);
}

/*
 * A record from its key and value; -EINVAL when they do not parse.  Both
 * come back from RADOS, so they are taken strictly, in the form
 * rs_pending_put writes: "<path> <blob id>" with a valid path and a blob
 * id, and "<size> <stripe> <owner>" in decimal without leading zeros,
 * single blanks, a stripe
 * within 4 KiB..64 MiB and a size of at most RS_MAX_CHUNKS of it (the
 * older "<size>" and "<size> <stripe>" read with 4 MiB stripes and no
 * owner, as before).
 */
int rs_record_parse(const char *key, const char *val, rs_record *r) {
  const char *sp = strrchr(key, ' '), *f[3], *end = val + strlen(val);
  size_t fl[3], pathlen = sp ? (size_t)(sp - key) : 0;
  uint64_t size, stripe = RS_UNRECORDED_STRIPE;
  int nf = 0;
  memset(r, 0, sizeof *r);
  if (!sp || pathlen >= sizeof r->path || !rs_oid_valid(sp + 1, strlen(sp + 1)) ||
      (size_t)(end - val) >= RS_RECORD_MAX)
    return -EINVAL;
  memcpy(r->path, key, pathlen);
  if (!rs_path_valid(r->path, 0)) return -EINVAL;
  for (f[0] = val; nf < 3; nf++) {
    const char *blank = memchr(f[nf], ' ', (size_t)(end - f[nf]));
    fl[nf] = (size_t)((blank ? blank : end) - f[nf]);
    if (fl[nf] == 0) return -EINVAL;  /* empty field, doubled or edge blank */
    if (!blank) break;
    if (nf == 2) return -EINVAL;      /* a fourth field */
    f[nf + 1] = blank + 1;
  }
  if ((fl[0] > 1 && f[0][0] == '0') || (nf >= 1 && f[1][0] == '0')) return -EINVAL;
  if (rs_parse_size(f[0], fl[0], &size) < 0) return -EINVAL;
  if (nf >= 1 && rs_parse_size(f[1], fl[1], &stripe) < 0) return -EINVAL;
  if (stripe < 4096 || stripe > RS_MAX_CHUNK_SIZE || size / stripe >= RS_MAX_CHUNKS)
    return -EINVAL;
  if (nf == 2 && fl[2] >= sizeof r->owner) return -EINVAL;
  strcpy(r->oid, sp + 1);
  r->size = size;
  r->stripe = (uint32_t)stripe;
  if (nf == 2) {
    const char *at = memchr(f[2], '@', fl[2]);
    uint64_t ms;
    size_t tl = at ? (size_t)(at - f[2]) : fl[2];
    /* "<token>@<epoch ms>", the ms in canonical decimal (no leading zero) */
    if (at && (tl == 0 || (fl[2] - tl > 2 && at[1] == '0') ||
               rs_parse_size(at + 1, fl[2] - tl - 1, &ms) < 0))
      return -EINVAL;
    memcpy(r->owner, f[2], tl);
    if (at) r->stamp = (double)ms / 1000.0;
  } else {
    strcpy(r->owner, RS_OWNER_IDLE);
  }
  strcpy(r->value, val);
  return 0;
}

/* The records of path (tree: of everything under path/). */
int rs_pending_list(rs_conn *c, const char *path, int tree, rs_record **out,
                    size_t *n) {
  char obj[4200], prefix[4200];
  rs_dirent *ents = NULL;
  rs_record *recs;
  size_t count = 0, i;
  int rc;
  *out = NULL;
  *n = 0;
  rs_pending_object(obj, sizeof obj, path);
  snprintf(prefix, sizeof prefix, "%s%c", path, tree ? '/' : ' ');
  rc = rs_omap_read(c, obj, prefix, &ents, &count, NULL);
  if (rc == -ENOENT || (rc == 0 && count == 0)) {
    rs_dirents_free(ents, count);
    return 0;
  }
  if (rc < 0) return rc;
  recs = calloc(count, sizeof *recs);
  if (!recs) {
    rs_dirents_free(ents, count);
    return -ENOMEM;
  }
  for (i = 0; i < count; i++)
    if (rs_record_parse(ents[i].name, ents[i].val, &recs[*n]) == 0) (*n)++;
  rs_dirents_free(ents, count);
  if (*n == 0) { /* only records that do not parse: callers free nothing then */
    free(recs);
    return 0;
  }
  *out = recs;
  return 0;
}

/*
 * Stores r (size, stripe, owner) if its record still holds expect ("" for a
 * new record); r->value then holds what was stored.  -ECANCELED when the
 * record changed meanwhile.
 */
int rs_pending_put(rs_conn *c, rs_record *r, const char *expect) {
  char obj[4200], key[4200], val[RS_RECORD_MAX];
  rados_write_op_t op = rados_create_write_op();
  const char *keys[1] = {key};
  const char *vals[1] = {val};
  size_t vlen[1];
  int rc;
  rs_pending_object(obj, sizeof obj, r->path);
  record_key(key, sizeof key, r);
  double stamp = 0;
  if (strcmp(r->owner, RS_OWNER_IDLE) == 0) {
    vlen[0] = (size_t)snprintf(val, sizeof val, "%" PRIu64 " %" PRIu32 " %s", r->size,
                               r->stripe, r->owner);
  } else {
    struct timespec now;
    uint64_t ms;
    clock_gettime(CLOCK_REALTIME, &now);
    ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)(now.tv_nsec / 1000000);
    stamp = (double)ms / 1000.0;
    vlen[0] = (size_t)snprintf(val, sizeof val, "%" PRIu64 " %" PRIu32 " %.*s@%" PRIu64,
                               r->size, r->stripe, RS_TOKEN_LEN, r->owner, ms);
  }
  if (!expect[0]) rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  else rados_write_op_assert_exists(op);
  rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, expect, strlen(expect), NULL);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rs_write_op(c, op, obj);
  rados_release_write_op(op);
  if (rc == -ENOENT && expect[0]) rc = -ECANCELED; /* the object went with it */
  if (rc == 0) {
    memcpy(r->value, val, sizeof val);
    r->stamp = stamp;
  }
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
 * Takes record r away if it still holds r->value: 0 when this call claimed
 * it, -ECANCELED when somebody else did.
 */
int rs_pending_claim(rs_conn *c, const rs_record *r) {
  char obj[4200], key[4200];
  const char *keys[1] = {key};
  rados_write_op_t op;
  int rc;
  rs_pending_object(obj, sizeof obj, r->path);
  record_key(key, sizeof key, r);
  op = rados_create_write_op();
  rados_write_op_assert_exists(op);
  rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, r->value, strlen(r->value), NULL);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rs_write_op(c, op, obj);
  rados_release_write_op(op);
  if (rc == -ENOENT) return -ECANCELED;
  if (rc < 0) return rc;
  RS_CRASH("pending.claimed");
  return pending_prune(c, obj);
}

/*
 * Drops the data of a record the caller claimed, from what chunk 0 of its
 * blob said (blob_rc, m): of a committed blob (an append in place) only the
 * chunks past the committed size, then the blob's append claim; otherwise
 * the whole blob, probing past the recorded size.
 */
int rs_record_discard(rs_conn *c, const rs_record *r, int blob_rc,
                      const rs_meta *m) {
  if (blob_rc == 0 && m->has_size) {
    int rc = rs_blob_remove_chunks(c, r->oid, rs_chunk_count(m->stripe, m->size),
                                   rs_chunk_count(m->stripe, r->size));
    return rc < 0 ? rc : rs_blob_unclaim_append(c, r->oid, r->path);
  }
  if (blob_rc < 0 && blob_rc != -ENOENT) return blob_rc;
  return rs_blob_destroy(c, r->oid, rs_chunk_count(r->stripe, r->size), 1);
}

/*
 * One pass of rs_pending_drop; *changed: a record changed between its
 * listing and its claim (a live writer stored it again, with a fresh
 * stamp), so it is listed and claimed again.
 */
static int drop_once(rs_conn *c, const char *path, int tree, int *found,
                     int *changed) {
  rs_record *recs;
  rs_blobinfo *info;
  const char **oids;
  size_t n, i;
  int rc = rs_pending_list(c, path, tree, &recs, &n);
  *changed = 0;
  if (n > 0) *found = 1;
  if (rc < 0 || n == 0) return rc;
  info = calloc(n, sizeof *info);
  oids = calloc(n, sizeof *oids);
  if (!info || !oids) rc = -ENOMEM;
  for (i = 0; i < n && rc == 0; i++) {
    int claim = rs_pending_claim(c, &recs[i]);
    if (claim == 0) oids[i] = recs[i].oid;
    else if (claim == -ECANCELED) *changed = 1; /* its writer, another delete, or a new stamp */
    else rc = claim;
  }
  if (rc == 0) rs_blob_info_many(c, oids, n, info, 0);
  for (i = 0; i < n && rc == 0; i++)
    if (oids[i]) rc = rs_record_discard(c, &recs[i], info[i].rc, &info[i].m);
  free(oids);
  free(info);
  free(recs);
  return rc;
}

/*
 * Drops the uncommitted data of path (tree: of everything under it): each
 * record this call manages to claim goes with its data.  A record of a
 * committed blob (an append in place) only takes the chunks past the
 * committed size; the blob itself belongs to its name.  A record that
 * changed under the claim is looked at again (a committing writer's is
 * gone then; a live writer's, stored again with a fresh stamp, is claimed
 * with its new value).  *found tells whether there was any record.
 */
int rs_pending_drop(rs_conn *c, const char *path, int tree, int *found) {
  int rc = 0, changed = 1, tries, any = 0;
  for (tries = 0; rc == 0 && changed && tries < RS_RETRIES; tries++)
    rc = drop_once(c, path, tree, &any, &changed);
  if (found) *found = any;
  return rc;
}
