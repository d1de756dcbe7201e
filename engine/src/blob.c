/*
 * Blobs: a file's bytes striped over objects "<blob id>-<n>".  Chunk 0
 * carries what is needed to read the blob back, whoever reads it: the size
 * (xattr "total-size", once committed) and the stripe size (xattr
 * "stripe-size"; blobs without a stripe-size record have 4 MiB stripes).
 * Its omap holds the blob's back-references (refs.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Chunks a file of size bytes occupies; an empty file still has chunk 0. */
uint64_t rs_chunk_count(uint32_t stripe, uint64_t size) {
  uint64_t n = size / stripe + (size % stripe != 0);
  return n ? n : 1;
}

/*
 * Starts *m as chunk 0 without any record: the stripe of blobs without a
 * stripe-size record, no size.
 */
void rs_meta_init(rs_meta *m) {
  memset(m, 0, sizeof *m);
  m->stripe = RS_UNRECORDED_STRIPE;
}

/* Takes one xattr of chunk 0 into *m (others are ignored). */
void rs_meta_apply(rs_meta *m, const char *name, const char *val, size_t len) {
  uint64_t v;
  if (strcmp(name, RS_SIZE_XATTR) == 0) {
    m->has_size = rs_parse_size(val, len, &m->size) == 0;
    m->bad |= !m->has_size;
  } else if (strcmp(name, RS_STRIPE_XATTR) == 0) {
    if (rs_parse_size(val, len, &v) == 0 && v >= 4096 && v <= RS_MAX_CHUNK_SIZE)
      m->stripe = (uint32_t)v;
    else
      m->bad = 1;
  }
}

/*
 * Once every record is in: a size that would make more than RS_MAX_CHUNKS
 * chunks of the stripe is corrupt (the engine never writes one), and is
 * treated as unreadable rather than walked chunk by chunk.
 */
void rs_meta_finish(rs_meta *m) {
  if (m->has_size && m->size / m->stripe >= RS_MAX_CHUNKS) {
    m->has_size = 0;
    m->size = 0;
    m->bad = 1;
  }
}

/* Size and stripe records from chunk 0's xattrs. */
void rs_meta_collect(rados_xattrs_iter_t it, rs_meta *m) {
  const char *name, *val;
  size_t len;
  rs_meta_init(m);
  while (it && rados_getxattrs_next(it, &name, &val, &len) == 0 && name)
    rs_meta_apply(m, name, val, len);
  rs_meta_finish(m);
}

/*
 * Whether chunk 0 holds the bytes a committed blob's records say it does
 * (at least min(size, stripe)): fewer means damage (a lost stripe record,
 * a size record larger than the data), never a race, since chunk 0 is cut
 * only down to the committed size and removed last.
 */
int rs_blob_intact(const rs_blobinfo *info) {
  uint64_t want = info->m.size < info->m.stripe ? info->m.size : info->m.stripe;
  return !info->m.bad && info->head >= want;
}

void rs_blobinfo_free(rs_blobinfo *info) {
  free(info->appender);
  info->appender = NULL;
  rs_dirents_free(info->refs, info->nrefs);
  info->refs = NULL;
  info->nrefs = 0;
}

/* One read of chunk 0: its metadata, and its refs when asked. */
typedef struct info_read {
  rados_read_op_t op;
  rados_completion_t comp;
  rados_xattrs_iter_t xit;
  rados_omap_iter_t oit;
  uint64_t psize;
  int sval, xval, oval;
  unsigned char more;
} info_read;

static int info_start(rs_conn *c, info_read *r, const char *oid,
                      rs_blobinfo *info, int with_refs) {
  char chunk0[RS_OID_MAX];
  memset(r, 0, sizeof *r);
  r->op = rados_create_read_op();
  rados_read_op_stat(r->op, &r->psize, &info->mtime, &r->sval);
  rados_read_op_getxattrs(r->op, &r->xit, &r->xval);
  if (with_refs)
    rados_read_op_omap_get_vals2(r->op, "", "", RS_OMAP_PAGE, &r->oit, &r->more, &r->oval);
  rs_chunk_name(chunk0, oid, 0);
  return rs_aio_read(c, &r->op, chunk0, &r->comp);
}

static int info_finish(rs_conn *c, info_read *r, rs_blobinfo *info) {
  int rc;
  size_t cap = 0;
  if (!r->op) return -EINVAL;
  rc = rs_comp_wait(c, r->comp, &info->version);
  if (rc == 0 && r->xval < 0) rc = r->xval;
  if (rc == 0 && r->oit && r->oval < 0) rc = r->oval;
  if (rc == 0) rs_meta_collect(r->xit, &info->m);
  if (rc == 0 && r->sval >= 0) info->head = r->psize;
  if (rc == 0 && r->oit) {
    char *k, *v;
    size_t kl, vl;
    while (rc == 0 && rados_omap_get_next2(r->oit, &k, &v, &kl, &vl) == 0 && k) {
      if (kl > 0 && k[0] == '/') {
        rc = rs_dirents_push(&info->refs, &info->nrefs, &cap, k, kl, v, vl);
      } else if (kl == strlen(RS_APPENDER_KEY) && memcmp(k, RS_APPENDER_KEY, kl) == 0) {
        free(info->appender);
        if (!(info->appender = strndup(v, vl))) rc = -ENOMEM;
      }
    }
  }
  if (r->xit) rados_getxattrs_end(r->xit);
  if (r->oit) rados_omap_get_end(r->oit);
  rados_release_read_op(r->op);
  r->op = NULL;
  if (rc < 0) rs_blobinfo_free(info);
  return rc;
}

int rs_blob_info(rs_conn *c, const char *oid, rs_blobinfo *info, int with_refs) {
  info_read r;
  int rc;
  memset(info, 0, sizeof *info);
  rc = info_start(c, &r, oid, info, with_refs);
  return rc < 0 ? rc : info_finish(c, &r, info);
}

/*
 * Fills out[i] for each blob oids[i] (NULL entries are skipped), with up to
 * RS_STAT_WINDOW reads in flight; each out[i].rc tells how that one went.
 * The caller frees each out[i] with rs_blobinfo_free.
 */
int rs_blob_info_many(rs_conn *c, const char *const *oids, size_t n,
                      rs_blobinfo *out, int with_refs) {
  info_read ring[RS_STAT_WINDOW];
  size_t i, done = 0;
  memset(ring, 0, sizeof ring);
  memset(out, 0, n * sizeof *out);
  for (i = 0; i <= n; i++) {
    /* Reap what must make room, and everything at the end. */
    while (done < i && (i == n || i - done >= RS_STAT_WINDOW)) {
      info_read *r = &ring[done % RS_STAT_WINDOW];
      if (r->op) out[done].rc = info_finish(c, r, &out[done]);
      done++;
    }
    if (i < n && oids[i]) {
      int rc = info_start(c, &ring[i % RS_STAT_WINDOW], oids[i], &out[i], with_refs);
      if (rc < 0) out[i].rc = rc;
    }
  }
  return 0;
}

/*
 * Makes a fully written blob committed, in one op on chunk 0: its size, its
 * stripe, the name it is about to be linked under (a back-reference) and,
 * when head is given, the file's first bytes (all of them when headlen ==
 * size).  Unless it writes the whole file, chunk 0 must exist (-ENOENT
 * otherwise); without head and with size 0 it may not exist yet.
 */
int rs_blob_seal(rs_conn *c, const char *oid, uint32_t stripe, uint64_t size,
                 const void *head, size_t headlen, const char *ref) {
  char chunk0[RS_OID_MAX], val[24], sval[16], stamp[24];
  const char *keys[1] = {ref};
  const char *vals[1] = {stamp};
  size_t vlen[1];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  snprintf(val, sizeof val, "%" PRIu64, size);
  snprintf(sval, sizeof sval, "%" PRIu32, stripe);
  rs_ref_stamp(stamp);
  vlen[0] = strlen(stamp);
  if (head && headlen == size) {
    rados_write_op_write_full(op, head, headlen); /* the whole file */
  } else if (size > 0) {
    /* The rest is written, chunk 0 first of all (a put creates it before
     * its other chunks, a writer's data starts there): chunk 0 gone means
     * the blob was dropped under its writer (fsck with a short grace took
     * it for unreferenced), and sealing would make a file of lost data. */
    rados_write_op_assert_exists(op);
    if (head) rados_write_op_write(op, head, headlen, 0);
  } else {
    rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  }
  rados_write_op_setxattr(op, RS_SIZE_XATTR, val, strlen(val));
  rados_write_op_setxattr(op, RS_STRIPE_XATTR, sval, strlen(sval));
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}

/* Removes chunks [from, upto), a window in flight; absent ones are fine. */
int rs_blob_remove_chunks(rs_conn *c, const char *oid, uint64_t from,
                          uint64_t upto) {
  rs_aio aio;
  uint64_t i;
  int rc = rs_aio_init(&aio, c, c->window * 2);
  if (rc < 0) return rc;
  aio.ok_enoent = 1;
  /* A failure (a timeout above all) ends the loop: the rest is not sent. */
  for (i = from; i < upto && rc == 0 && aio.err == 0; i++) {
    char name[RS_OID_MAX];
    rs_chunk_name(name, oid, i);
    rc = rs_aio_remove(&aio, name);
  }
  if (rc == 0) rc = rs_aio_wait_all(&aio);
  rs_aio_free(&aio);
  return rc;
}

/* Chunks found (removed) among [from, from + n), removed together. */
static int remove_probe(rs_conn *c, const char *oid, uint64_t from, int n,
                        int *found) {
  rados_completion_t comp[256];
  int i, rc = 0, sent = 0;
  if (n > 256) n = 256;
  *found = 0;
  for (i = 0; i < n && rc == 0; i++) {
    char name[RS_OID_MAX];
    rs_chunk_name(name, oid, from + (uint64_t)i);
    rc = rs_comp_new(c, &comp[i]);
    if (rc < 0) break;
    rc = rados_aio_remove(c->io, name, comp[i]);
    if (rc < 0) rados_aio_release(comp[i]);
    else sent++;
  }
  for (i = 0; i < sent; i++) {
    int r = rs_comp_wait(c, comp[i], NULL);
    if (r == 0) (*found)++;
    else if (r != -ENOENT && rc == 0) rc = r;
  }
  return rc;
}

/*
 * Removes a blob nobody may reach any more: chunks 1..chunks-1, then (with
 * probe) further chunks a window at a time until a whole window is absent
 * (a writer that died may have written past what it recorded), then chunk
 * 0, which holds the records that make the rest findable, last.
 */
int rs_blob_destroy(rs_conn *c, const char *oid, uint64_t chunks, int probe) {
  char name[RS_OID_MAX];
  uint64_t n = chunks ? chunks : 1;
  int rc = rs_blob_remove_chunks(c, oid, 1, n);
  while (rc == 0 && probe) {
    int found;
    rc = remove_probe(c, oid, n, c->window, &found);
    if (!found) break;
    n += (uint64_t)c->window;
  }
  if (rc < 0) return rc;
  RS_CRASH("destroy.chunks_removed");
  rs_chunk_name(name, oid, 0);
  return rs_remove_object(c, name);
}
