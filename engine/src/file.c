/* Whole-file calls: put, get, stat, list, move, delete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GET_HEAD (64u << 10) /* bytes read with a file's size: most links and manifests */

static int check_path(const char *path, int allow_root, rs_status *st) {
  if (!rs_path_valid(path, allow_root)) return rs_fail(st, -RS_EINVALPATH, path, NULL);
  return 0;
}

/*
 * A missing parent: fine to create, unless a file stands in the way.
 * *missing: what rs_dir_link_file wants to know (0 when the parent exists).
 */
static int check_parent(rs_conn *c, const rs_entry *e, const char *dir,
                        const char *path, int *missing, rs_status *st) {
  int rc;
  *missing = 0;
  if (e->dir_exists) return 0;
  rc = rs_dir_check_ancestors(c, dir, missing);
  if (rc == -RS_ENOENT) return 0;
  if (rc == -RS_ENOTDIR) return rs_fail(st, rc, path, NULL);
  return rs_fail_rados(st, rc, path, "lookup");
}

/*
 * Links a fully written blob at path, then releases what it replaced.  A
 * failure after the link (*linked set) leaves the new content in place.
 */
int rs_file_commit(rs_conn *c, const char *path, const char *oid, char *old,
                   const char *gen, int missing, int flags, int *linked,
                   rs_status *st) {
  rs_split sp;
  int rc, set;
  *linked = 0;
  rs_path_split(path, &sp);
  rc = rs_dir_link_file(c, sp.dir, sp.base, oid, old, gen, missing, flags, &set);
  if (rc < 0 && set) {
    /* named, in a directory not listed yet: the new content stays, and
     * the put fails (a later link into the directory lists it, or fsck) */
    *linked = 1;
    return rs_fail_rados(st, rc, path, "commit");
  }
  if (rc == -RS_EISDIR || rc == -RS_ENOTDIR || rc == -RS_EEXIST)
    return rs_fail(st, rc, path, NULL);
  if (rc < 0) return rs_fail_rados(st, rc, path, "commit");
  *linked = 1;
  RS_CRASH("commit.linked");
  rs_oidcache_set(c, path, oid);
  if (old[0] && strcmp(old, oid) != 0) {
    rc = rs_blob_release(c, old, path);
    if (rc < 0) return rs_fail_rados(st, rc, path, "release of the old content");
  }
  return 0;
}

/* The failure of a call that will not replace dst, in dir (flag as read):
 * -RS_EEXIST once dir is listed. */
static int exists(rs_conn *c, const char *dir, const char *flag,
                  const char *path, const char *dst, rs_status *st) {
  int rc = rs_dir_exists_listed(c, dir, flag);
  if (rc != -RS_EEXIST) return rs_fail_rados(st, rc, path, "commit");
  if (strcmp(path, dst) == 0) return rs_fail(st, rc, path, NULL);
  return rs_fail(st, rc, path, "%s exists, cannot move onto it from", dst);
}

/* A new blob's chunk 0, empty (no records: not committed). */
static int create_chunk0(rs_conn *c, const char *oid) {
  char chunk0[RS_OID_MAX];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, oid, 0);
  rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
  rc = rs_write_op(c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}

/*
 * A new blob holding data, written whole and sealed with a back-reference
 * to path (not linked yet); its id in oid.  Retried with a new blob when
 * one is dropped under the writer.
 */
static int write_blob(rs_conn *c, const char *path, const void *data,
                      size_t len, uint32_t stripe, char *oid) {
  size_t head = len < rs_unit(stripe) ? len : rs_unit(stripe);
  int tries, wrc = 0;
  for (tries = 0; tries < RS_RETRIES; tries++) {
    rs_blob_new(oid);
    /* Chunk 0 before the others: chunks without it are a dropped blob's
     * (fsck), and the seal fails if it was taken for unreferenced. */
    wrc = len > head ? create_chunk0(c, oid) : 0;
    if (wrc == 0)
      wrc = rs_stripe_write_all(c, oid, stripe, head, (const char *)data + head, len - head);
    if (wrc == 0) {
      RS_CRASH("put.data_written");
      wrc = rs_blob_seal(c, oid, stripe, len, data, head, path);
    }
    if (wrc != -ENOENT) break;
    rs_blob_destroy(c, oid, rs_chunk_count(stripe, len), 0); /* dropped under us: again */
  }
  return wrc;
}

/*
 * A new blob written whole, sealed (size, stripe and a back-reference in
 * one op on chunk 0), then linked.  The lookup of what the path holds now
 * runs while the data is written: a put costs the data write and one omap
 * op on the directory, plus the release of a replaced file.
 */
int rs_put(rs_conn *c, const char *path, const void *data, size_t len,
           int flags, rs_status *st) {
  char oid[RS_OID_MAX], old[RS_OID_MAX] = "";
  uint32_t stripe = c->chunk;
  rs_split sp;
  rs_entry e;
  rs_lookup l;
  int rc, wrc = 0, missing = 0, linked = 0, up = 0;
  rs_lookup lp;
  rs_entry ep;
  char parent[4096];
  if ((rc = check_path(path, 0, st)) < 0) return rc;
  rs_deadline_start(c);
  rs_path_split(path, &sp);
  rc = rs_lookup_start(c, &l, sp.dir, sp.base);
  if (rc < 0) return rs_fail_rados(st, rc, path, "lookup");
  /* The directory's own entry in its parent, asked at once: when the
   * directory is missing (a registry puts most files in a directory of
   * their own), that is the first level rs_dir_check_ancestors would look
   * up, and a parent found there saves its round trip.  Not when the last
   * put found this directory in place (many files into one directory). */
  if (strcmp(sp.dir, "/") != 0 && strcmp(sp.dir, c->put_dir) != 0) {
    rs_path_parent(sp.dir, parent, sizeof parent);
    up = rs_lookup_start(c, &lp, parent, strrchr(sp.dir, '/') + 1) == 0;
  }
  wrc = write_blob(c, path, data, len, stripe, oid);
  rc = rs_lookup_finish(c, &l, &e);
  if (up && rs_lookup_finish(c, &lp, &ep) < 0) up = 0;
  if (rc == 0 && e.dir_exists && strlen(sp.dir) < sizeof c->put_dir)
    memcpy(c->put_dir, sp.dir, strlen(sp.dir) + 1);
  if (rc < 0) rc = rs_fail_rados(st, rc, path, "lookup");
  else if (wrc < 0) rc = rs_fail_rados(st, wrc, path, "write");
  else if (e.kind == RS_ENT_DIR) rc = rs_fail(st, -RS_EISDIR, path, NULL);
  else if (e.kind == RS_ENT_FILE && (flags & RS_NOREPLACE))
    rc = exists(c, sp.dir, e.linking, path, path, st);
  else if (!e.dir_exists && up && ep.dir_exists) /* level 0 of the ancestors, seen */
    rc = ep.kind == RS_ENT_FILE ? rs_fail(st, -RS_ENOTDIR, path, NULL) : (missing = 1, 0);
  else rc = check_parent(c, &e, sp.dir, path, &missing, st);
  if (rc == 0) {
    RS_CRASH("put.sealed");
    if (e.kind == RS_ENT_FILE) memcpy(old, e.oid, sizeof old);
    rc = rs_file_commit(c, path, oid, old, e.gen, missing, flags, &linked, st);
  }
  if (rc < 0 && !linked) rs_blob_destroy(c, oid, rs_chunk_count(stripe, len), 0);
  return rc;
}

/*
 * The end of a hinted put whose directory it created (entry in place): the
 * directory linked up the chain (known levels above it said missing);
 * when that fails (a file where a parent should be), the entry and the
 * blob are removed and the put fails, as rs_dir_link_file and rs_put do.
 */
int rs_put_fresh_link(rs_conn *c, const char *path, const char *oid,
                      size_t len, int known, int made, rs_status *st) {
  rs_split sp;
  int rc;
  rs_path_split(path, &sp);
  rc = made ? rs_dir_link_up_made(c, sp.dir, known, oid) : rs_dir_link_up(c, sp.dir, known, oid);
  if (rc < 0) {
    rs_dir_unlink(c, sp.dir, sp.base, oid);
    rs_dir_prune(c, sp.dir);
    rs_blob_destroy(c, oid, rs_chunk_count(c->chunk, len), 0);
    if (rc == -RS_ENOTDIR) return rs_fail(st, rc, path, NULL);
    return rs_fail_rados(st, rc, path, "commit");
  }
  rs_put_fresh_linked(c, path, oid);
  return 0;
}

/* The end of a hinted put whose directory is linked now. */
void rs_put_fresh_linked(rs_conn *c, const char *path, const char *oid) {
  RS_CRASH("commit.linked");
  rs_oidcache_set(c, path, oid);
}

/*
 * rs_put_fresh, and the first half of it for batches (pending non-NULL,
 * missing == 1: a directory created is left to be linked by the caller,
 * *pending set; batch.c links those of one parent together).
 */
static int put_fresh(rs_conn *c, const char *path, const void *data,
                     size_t len, int flags, int missing, char *oid,
                     int *pending, rs_status *st) {
  char old[RS_OID_MAX] = "";
  uint32_t stripe = c->chunk;
  rs_split sp;
  int rc, linked = 0, made = 0;
  if (pending) *pending = 0;
  if ((rc = check_path(path, 0, st)) < 0) return rc;
  rs_path_split(path, &sp);
  if (missing <= 0 || strcmp(sp.dir, "/") == 0) return rs_put(c, path, data, len, flags, st);
  rs_deadline_start(c);
  rc = write_blob(c, path, data, len, stripe, oid);
  if (rc < 0) {
    rs_blob_destroy(c, oid, rs_chunk_count(stripe, len), 0);
    return rs_fail_rados(st, rc, path, "write");
  }
  RS_CRASH("put.sealed");
  /* the levels said missing above the directory, made with it */
  rc = missing > 1 ? rs_dir_create_chain(c, sp.dir, sp.base, oid, missing - 1, &made)
                   : rs_dir_create_with(c, sp.dir, sp.base, oid);
  if (rc == 0) {
    RS_CRASH("link.entry_set");
    if (pending && missing == 1) {
      *pending = 1;
      return 0;
    }
    return rs_put_fresh_link(c, path, oid, len, missing - 1, made, st);
  }
  /* The directory is there after all (made meanwhile, or made by a put
   * that was killed before it linked it), or the create failed: rs_put's
   * link, which looks the name up.  Then the directory, and each level
   * said missing above it, is linked into its parent once more
   * (idempotent; nothing to undo if that fails): the caller did not see
   * them, so a killed put's directories are not left unreachable by the
   * put that finds them, as a re-run of migrate does. */
  rc = rs_file_commit(c, path, oid, old, "", -1, flags, &linked, st);
  if (rc < 0 && !linked) rs_blob_destroy(c, oid, rs_chunk_count(stripe, len), 0);
  if (rc == 0) rs_dir_link_chain(c, sp.dir, missing - 1);
  return rc;
}

/*
 * rs_put for a path whose directory the caller believes missing (with
 * missing - 1 of its parents): no lookup at all.  The blob is written and
 * sealed, then linked by creating the directory object exclusively with
 * the entry in it, which is the check, and the directory linked up the
 * chain.  A directory that exists after all makes that create fail, and
 * the link then looks the name up and goes on as rs_put's would
 * (replacing, RS_NOREPLACE, a directory there), and links the directory
 * into its parent again; a parent said missing that exists costs one
 * idempotent link more, one said present that is missing one failed link
 * more.  So a wrong belief costs round trips, never a result other than
 * rs_put's; the steps (seal, link, link chain) and their crash points are
 * rs_put's.  For trees loaded into fresh directories (migrate), where it
 * saves rs_put's two lookups.
 */
int rs_put_fresh(rs_conn *c, const char *path, const void *data, size_t len,
                 int flags, int missing, rs_status *st) {
  char oid[RS_OID_MAX];
  return put_fresh(c, path, data, len, flags, missing, oid, NULL, st);
}

int rs_put_fresh_start(rs_conn *c, const char *path, const void *data,
                       size_t len, int flags, int missing, char *oid,
                       int *pending, rs_status *st) {
  return put_fresh(c, path, data, len, flags, missing, oid, pending, st);
}

/* The blob behind a file path, or the contract's error for it. */
static int file_oid(rs_conn *c, const char *path, rs_entry *e, rs_status *st) {
  int rc;
  if ((rc = check_path(path, 0, st)) < 0) return rc;
  if ((rc = rs_resolve(c, path, e, st)) < 0) return rc;
  if (e->kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
  if (e->kind != RS_ENT_FILE) return rs_fail(st, -RS_EISDIR, path, NULL);
  return 0;
}

/* A read of a blob's records and first bytes, in one op, in flight. */
typedef struct head_read {
  rados_read_op_t op;
  rados_completion_t comp;
  rados_xattrs_iter_t it;
  int prval, rval;
  size_t nread;
} head_read;

static int head_start(rs_conn *c, head_read *h, const char *oid, char *buf,
                      size_t max) {
  char chunk0[RS_OID_MAX];
  memset(h, 0, sizeof *h);
  rs_chunk_name(chunk0, oid, 0);
  h->op = rados_create_read_op();
  rados_read_op_getxattrs(h->op, &h->it, &h->prval);
  rados_read_op_read(h->op, 0, max, buf, &h->nread, &h->rval);
  return rs_aio_read(c, &h->op, chunk0, &h->comp);
}

/* Waits for the read; *m and *got when it went well (collect != 0). */
static int head_finish(rs_conn *c, head_read *h, int collect, rs_meta *m,
                       size_t *got) {
  int rc;
  if (!h->op) return -EINVAL;
  rc = rs_aio_wait(c, h->comp);
  if (rc == 0 && h->prval < 0) rc = h->prval;
  if (rc == 0 && h->rval < 0) rc = h->rval;
  if (rc == 0 && collect) {
    rs_meta_collect(h->it, m);
    if (m->bad) rc = -EIO; /* a record that does not parse: never guess a layout */
    else if (!m->has_size) rc = -ENOENT; /* not committed (any more) */
    *got = h->nread;
  }
  if (h->it) rados_getxattrs_end(h->it);
  rados_release_read_op(h->op);
  h->op = NULL;
  return rc;
}

/*
 * What a looked-up entry means for a file call: 0 for a file, else the
 * contract's failure (a missing parent may be a file in the way).
 */
static int file_entry(rs_conn *c, const char *path, const rs_split *sp,
                      const rs_entry *e, rs_status *st) {
  int rc;
  if (e->kind == RS_ENT_FILE) return 0;
  if (e->kind == RS_ENT_DIR) return rs_fail(st, -RS_EISDIR, path, NULL);
  if (!e->dir_exists && !c->shallow) {
    rc = rs_dir_check_ancestors(c, sp->dir, NULL);
    if (rc == -RS_ENOTDIR) return rs_fail(st, rc, path, NULL);
    if (rc != -RS_ENOENT) return rs_fail_rados(st, rc, path, "lookup");
  }
  return rs_fail(st, -RS_ENOENT, path, NULL);
}

/*
 * One attempt at a whole read.  The lookup of the path and the read of its
 * data go out together when the connection remembers which blob the path
 * named: a get of a small file then takes one round trip.  The data counts
 * only if the lookup names the same blob; otherwise it is read again from
 * the blob the lookup names.  -EAGAIN: the blob went away under the read
 * (the path was replaced or deleted meanwhile): look again.
 */
static int get_once(rs_conn *c, const char *path, const rs_split *sp,
                    char **data, size_t *len, rs_status *st) {
  char hint[RS_OID_MAX] = "";
  rs_entry e;
  rs_lookup l;
  rs_meta m;
  head_read h;
  size_t max = GET_HEAD, got = 0, want;
  char *buf = malloc(max);
  int rc, hinted = 0;
  if (!buf) return rs_fail(st, -ENOMEM, path, NULL);
  rc = rs_lookup_start(c, &l, sp->dir, sp->base);
  if (rc < 0) {
    free(buf);
    return rs_fail_rados(st, rc, path, "lookup");
  }
  if (rs_oidcache_get(c, path, hint)) hinted = head_start(c, &h, hint, buf, max) == 0;
  rc = rs_lookup_finish(c, &l, &e);
  if (rc == 0) rc = rs_entry_listed(c, sp->dir, &e);
  if (rc < 0) rc = rs_fail_rados(st, rc, path, "lookup");
  else rc = file_entry(c, path, sp, &e, st);
  if (rc < 0) {
    if (hinted) head_finish(c, &h, 0, NULL, NULL);
    rs_oidcache_set(c, path, NULL);
    free(buf);
    return rc;
  }
  if (hinted && strcmp(hint, e.oid) == 0) {
    rc = head_finish(c, &h, 1, &m, &got);
  } else {
    if (hinted) head_finish(c, &h, 0, NULL, NULL);
    rc = head_start(c, &h, e.oid, buf, max);
    if (rc == 0) rc = head_finish(c, &h, 1, &m, &got);
  }
  if (rc == 0 && m.size > (uint64_t)SIZE_MAX / 2) rc = -EFBIG;
  /* Chunk 0 holds the first min(size, stripe) bytes (and maybe bytes an
   * appender wrote past the size): fewer means it was cut under us. */
  want = rc == 0 && m.size < max ? (size_t)m.size : max;
  if (want > m.stripe) want = m.stripe;
  if (rc == 0 && got < want) rc = -ENOENT;
  got = want;
  if (rc == 0 && m.size > got) {
    char *all = realloc(buf, (size_t)m.size);
    if (!all) {
      rc = -ENOMEM;
    } else {
      buf = all;
      rc = rs_stripe_read(c, e.oid, m.stripe, got, buf + got, (size_t)m.size - got);
    }
  }
  if (rc < 0) {
    free(buf);
    rs_oidcache_set(c, path, NULL);
    if (rc == -ENOENT) return -EAGAIN;
    if (rc == -EIO) return rs_fail(st, -EIO, path, "unreadable size or stripe record of");
    return rs_fail_rados(st, rc, path, "read");
  }
  rs_oidcache_set(c, path, e.oid);
  *data = buf;
  *len = (size_t)m.size;
  return 0;
}

int rs_get(rs_conn *c, const char *path, char **data, size_t *len,
           rs_status *st) {
  rs_split sp;
  int rc = -EAGAIN, tries;
  *data = NULL;
  *len = 0;
  if ((rc = check_path(path, 0, st)) < 0) return rc;
  rs_deadline_start(c);
  rs_path_split(path, &sp);
  rc = -EAGAIN;
  for (tries = 0; tries < RS_RETRIES && rc == -EAGAIN; tries++)
    rc = get_once(c, path, &sp, data, len, st);
  if (rc == -EAGAIN)
    return rs_fail(st, -EIO, path, "file kept changing, or its data is damaged (see fsck), while reading");
  return rc;
}

/* Whether a file is there, from its directory's entry alone (I3: a name
 * always has its data): never reads the levels above a missing directory. */
int rs_exists(rs_conn *c, const char *path, rs_status *st) {
  rs_entry e;
  int rc, shallow = c->shallow;
  if ((rc = check_path(path, 1, st)) < 0) return rc;
  rs_deadline_start(c);
  c->shallow = 1;
  rc = rs_resolve(c, path, &e, st);
  c->shallow = shallow;
  if (rc < 0) return rc;
  if (e.kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
  if (e.kind != RS_ENT_FILE) return rs_fail(st, -RS_EISDIR, path, NULL);
  return 0;
}

int rs_stat_path(rs_conn *c, const char *path, rs_stat *out, rs_status *st) {
  int rc, tries;
  memset(out, 0, sizeof *out);
  if ((rc = check_path(path, 1, st)) < 0) return rc;
  rs_deadline_start(c);
  for (tries = 0; tries < RS_RETRIES; tries++) {
    rs_entry e;
    rs_blobinfo info;
    if ((rc = rs_resolve(c, path, &e, st)) < 0) return rc;
    if (e.kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
    if (e.kind != RS_ENT_FILE) {
      out->is_dir = 1;
      return 0;
    }
    rc = rs_blob_info(c, e.oid, &info, 0);
    if (rc == -ENOENT || (rc == 0 && !info.m.has_size && !info.m.bad)) continue; /* replaced meanwhile */
    if (rc < 0) return rs_fail_rados(st, rc, path, "stat");
    if (info.m.bad) return rs_fail(st, -EIO, path, "unreadable size or stripe record of");
    if (!rs_blob_intact(&info))
      return rs_fail(st, -EIO, path, "data damaged (chunk 0 is shorter than its records say) of");
    out->size = info.m.size;
    out->mtime = info.mtime;
    return 0;
  }
  return rs_fail(st, -EIO, path, "file kept changing, or its data is damaged (see fsck), while looking at");
}

void rs_names_free(char **names, size_t count) {
  size_t i;
  for (i = 0; i < count; i++) free(names[i]);
  free(names);
}

int rs_list_page(rs_conn *c, const char *path, const char *after, size_t max,
                 char ***names, size_t *count, rs_status *st) {
  rs_dirent *ents = NULL;
  size_t n = 0, i;
  char **out;
  int rc;
  *names = NULL;
  *count = 0;
  if ((rc = check_path(path, 1, st)) < 0) return rc;
  rs_deadline_start(c);
  if (max == 0 && (!after || !*after))
    rc = rs_dir_read(c, path, &ents, &n, NULL, 0); /* a consistent snapshot */
  else
    rc = rs_dir_read_range(c, path, after, max, &ents, &n);
  if (rc == -ENOENT) {
    rs_entry e;
    if (strcmp(path, "/") == 0) return 0;
    if ((rc = rs_resolve(c, path, &e, st)) < 0) return rc;
    if (e.kind == RS_ENT_FILE) return rs_fail(st, -RS_ENOTDIR, path, NULL);
    if (e.kind == RS_ENT_DIR) return 0; /* being created right now */
    return rs_fail(st, -RS_ENOENT, path, NULL);
  }
  if (rc < 0) return rs_fail_rados(st, rc, path, "list");
  out = calloc(n ? n : 1, sizeof *out);
  if (!out) {
    rs_dirents_free(ents, n);
    return rs_fail(st, -ENOMEM, path, NULL);
  }
  for (i = 0; i < n; i++) {
    out[i] = ents[i].name;
    ents[i].name = NULL;
  }
  rs_dirents_free(ents, n);
  *names = out;
  *count = n;
  return 0;
}

int rs_list(rs_conn *c, const char *path, char ***names, size_t *count,
            rs_status *st) {
  return rs_list_page(c, path, NULL, 0, names, count, st);
}

/*
 * When the move cannot add dst's reference: a blob without back-references
 * (as the first engine version wrote them) adopts src's, guarded by its
 * version; a dead reference of dst (older than RS_REF_GRACE, its name
 * elsewhere) goes; a live one (a move onto dst still at work) is waited
 * for.  0: try again.
 */
static int unblock_ref(rs_conn *c, const char *oid, const char *src,
                       const char *dst, int tries) {
  rs_blobinfo info;
  size_t i;
  int rc = rs_blob_info(c, oid, &info, 1);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  if (info.nrefs == 0 && info.m.has_size && rs_path_points_at(c, src, oid) == 1) {
    char chunk0[RS_OID_MAX], stamp[24];
    const char *keys[1] = {src};
    const char *vals[1] = {stamp};
    size_t vlen[1];
    rados_write_op_t op = rados_create_write_op();
    rs_ref_stamp(stamp);
    vlen[0] = strlen(stamp);
    rs_chunk_name(chunk0, oid, 0);
    rados_write_op_assert_version(op, info.version);
    rados_write_op_omap_set(op, keys, vals, vlen, 1);
    rs_write_op(c, op, chunk0);
    rados_release_write_op(op);
  }
  for (i = 0; i < info.nrefs; i++) {
    const rs_dirent *ref = &info.refs[i];
    if (strcmp(ref->name, dst) != 0) continue;
    if (rs_ref_age(ref->val, time(NULL)) >= RS_REF_GRACE &&
        rs_path_points_at(c, dst, oid) == 0)
      rs_blob_drop_ref(c, oid, dst, ref->val);
    else if (tries > 0) {
      struct timespec pause = {0, 1000000L * (tries < 50 ? tries : 50)};
      nanosleep(&pause, NULL);
    }
  }
  rs_blobinfo_free(&info);
  return 0;
}

/*
 * Links the blob at dst and unlinks it at src.  dst's back-reference is
 * added first (guarded on src's being there: the blob cannot be dropped
 * meanwhile); within one directory both names change in one guarded op,
 * across directories dst is linked before src is unlinked.  Then src's
 * reference goes.  A crash anywhere leaves at worst a reference too many,
 * never a name without data.  *linked: dst names the blob now.  A src
 * replaced or deleted meanwhile does not undo the move: dst holds the data.
 */
static int move_once(rs_conn *c, const rs_split *s, const rs_split *d,
                     const char *src, const char *dst, const char *oid,
                     char *old, const char *gen, int missing, int flags,
                     int *linked, int tries) {
  char stamp[24];
  int rc = rs_blob_add_ref(c, oid, src, dst, stamp), unlinked = 0;
  if (rc == -ECANCELED) {
    rc = unblock_ref(c, oid, src, dst, tries);
    return rc < 0 ? rc : -ECANCELED;
  }
  if (rc == -ENOENT) {
    /* Chunk 0 is gone: src was replaced or deleted meanwhile (its old blob
     * released), and then it is looked up again; or src still names the
     * blob, and its data is lost (a dangling name, see fsck). */
    rc = rs_path_points_at(c, src, oid);
    return rc < 0 ? rc : rc ? -ENODATA : -ECANCELED;
  }
  if (rc < 0) return rc;
  RS_CRASH("move.ref_added");
  if (strcmp(s->dir, d->dir) == 0) {
    rc = rs_dir_swap(c, s->dir, s->base, d->base, oid, old, gen);
    unlinked = rc == 0;
  } else {
    int set;
    rc = rs_dir_link_file(c, d->dir, d->base, oid, old, gen, missing, flags, &set);
    if (rc < 0 && set) {
      /* Named in a directory that could not be listed (linking it up
       * failed): dst holds the blob with its reference, and src, which
       * stays, too.  The move fails and loses nothing; a move again lists
       * dst's directory before src goes (rs_move). */
      *linked = 1;
      return rc;
    }
    if (rc == 0) {
      RS_CRASH("move.dst_linked");
      unlinked = rs_dir_unlink(c, s->dir, s->base, oid) == 0;
    }
  }
  if (rc < 0) {
    /* Not linked: the reference goes, and the blob with it if src was
     * deleted meanwhile. */
    int r = rs_blob_release(c, oid, dst);
    return r < 0 && rc == -ECANCELED ? r : rc;
  }
  *linked = 1;
  RS_CRASH("move.linked");
  if (unlinked) {
    /* dst's reference, added before its link, is young: fsck leaves young
     * references alone (RS_REF_YOUNG), so it is there for this release to
     * see, and a replacer of dst that released it meanwhile is not undone. */
    rc = rs_blob_release(c, oid, src);
    if (rc < 0) return rc;
    RS_CRASH("move.src_released");
    if (strcmp(s->dir, d->dir) != 0) rc = rs_dir_prune(c, s->dir);
  }
  return rc;
}

/* dst names the very blob src names (a move that raced another): src goes. */
static int move_onto_itself(rs_conn *c, const rs_split *s, const char *src,
                            const char *oid) {
  int rc = rs_dir_unlink(c, s->dir, s->base, oid);
  if (rc < 0) return rc;
  rc = rs_blob_release(c, oid, src);
  return rc < 0 ? rc : rs_dir_prune(c, s->dir);
}

int rs_move(rs_conn *c, const char *src, const char *dst, int flags,
            rs_status *st) {
  rs_split s, d;
  int rc, tries;
  if ((rc = check_path(src, 0, st)) < 0) return rc;
  if (!rs_path_valid(dst, 0)) return rs_fail(st, -RS_EINVALPATH, dst, NULL);
  rs_deadline_start(c);
  rs_path_split(src, &s);
  rs_path_split(dst, &d);
  for (tries = 0; tries < RS_RETRIES * 4; tries++) {
    rs_entry es, ed;
    char old[RS_OID_MAX] = "";
    int missing = 0, linked = 0;
    if ((rc = file_oid(c, src, &es, st)) < 0) return rc;
    if (strcmp(src, dst) == 0) return 0;
    rc = rs_dir_lookup(c, d.dir, d.base, &ed);
    if (rc < 0) return rs_fail_rados(st, rc, src, "move");
    if (ed.kind == RS_ENT_DIR) return rs_fail(st, -RS_EISDIR, src, "cannot move onto directory %s, from", dst);
    if (!ed.dir_exists) {
      rc = rs_dir_check_ancestors(c, d.dir, &missing);
      if (rc == -RS_ENOTDIR) return rs_fail(st, rc, src, "%s is not under a directory, from", dst);
      if (rc != -RS_ENOENT) return rs_fail_rados(st, rc, src, "move");
    }
    if (ed.kind == RS_ENT_FILE) memcpy(old, ed.oid, sizeof old);
    if (old[0] && (flags & RS_NOREPLACE)) return exists(c, d.dir, ed.linking, src, dst, st);
    if (strcmp(old, es.oid) == 0) {
      /* dst's directory, if a move that named it could not list it, is
       * listed before src goes */
      rc = ed.linking[0] ? rs_dir_link_up(c, d.dir, 0, ed.linking) : 0;
      if (rc == 0) rc = move_onto_itself(c, &s, src, es.oid);
      if (rc == -ECANCELED) continue;
    } else {
      rc = move_once(c, &s, &d, src, dst, es.oid, old, ed.gen, missing, flags, &linked, tries);
      if (rc == -ECANCELED && !linked) continue; /* src or dst changed: look again */
    }
    rs_oidcache_set(c, src, NULL);
    rs_oidcache_set(c, dst, NULL);
    if (linked && old[0] && strcmp(old, es.oid) != 0) {
      int rel = rs_blob_release(c, old, dst);
      if (rel < 0 && rc == 0) return rs_fail_rados(st, rel, dst, "release of the old content");
    }
    if (rc == -RS_EISDIR) return rs_fail(st, rc, src, "cannot move onto directory %s, from", dst);
    if (rc == -RS_ENOTDIR) return rs_fail(st, rc, src, NULL);
    if (rc == -ENODATA)
      return rs_fail(st, -EIO, src, "its blob %s is missing, data is lost (see fsck); cannot move", es.oid);
    if (rc == -RS_EEXIST)
      return rs_fail(st, rc, src, "%s exists, cannot move onto it from", dst);
    if (rc < 0) return rs_fail_rados(st, rc, src, "move");
    rs_oidcache_set(c, dst, es.oid);
    return 0;
  }
  return rs_fail(st, -EAGAIN, src, "move kept losing races");
}

static int delete_file(rs_conn *c, const char *path, const rs_split *sp,
                       const char *oid) {
  int rc = rs_dir_unlink(c, sp->dir, sp->base, oid);
  if (rc < 0) return rc;
  RS_CRASH("delete.unlinked");
  rc = rs_dir_prune(c, sp->dir);
  if (rc == 0) rc = rs_blob_release(c, oid, path);
  if (rc == 0) {
    RS_CRASH("delete.released");
    rc = rs_pending_drop(c, path, 0, NULL);
  }
  return rc;
}

/*
 * Deletes everything under dir and then dir's object.  The object goes
 * first, guarded by the version its listing saw, so an entry created
 * meanwhile is never orphaned; the blobs it named are released after it,
 * so a crash can leave references for fsck but never a name without data.
 */
static int delete_tree(rs_conn *c, const char *dir) {
  int rc = -EAGAIN, tries;
  for (tries = 0; tries < RS_RETRIES; tries++) {
    rs_dirent *ents = NULL;
    size_t n = 0, i, nfiles = 0;
    uint64_t version = 0;
    char child[4096];
    const char **oids;
    char **paths;
    rc = rs_dir_read(c, dir, &ents, &n, &version, 1);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    oids = calloc(n ? n : 1, sizeof *oids);
    paths = calloc(n ? n : 1, sizeof *paths);
    if (!oids || !paths) rc = -ENOMEM;
    for (i = 0; i < n && rc == 0; i++) {
      rc = rs_path_join(child, sizeof child, dir, ents[i].name);
      if (rc < 0) break;
      if (ents[i].val[0] == '\0') {
        rc = delete_tree(c, child);
      } else {
        oids[nfiles] = ents[i].val;
        if (!(paths[nfiles++] = strdup(child))) rc = -ENOMEM;
      }
    }
    if (rc == 0) rc = rs_obj_remove_if_version(c, dir, version);
    if (rc == 0) {
      RS_CRASH("delete.dir_removed");
      rc = rs_blob_release_many(c, oids, (const char *const *)paths, nfiles);
    }
    for (i = 0; paths && i < nfiles; i++) free(paths[i]);
    free(paths);
    free(oids);
    rs_dirents_free(ents, n);
    if (rc == -ERANGE || rc == -EOVERFLOW || rc == -ECANCELED) continue;
    return rc == -ENOENT ? 0 : rc;
  }
  return rc;
}

int rs_delete(rs_conn *c, const char *path, rs_status *st) {
  rs_split sp;
  int rc, tries, found = 0, found_below = 0;
  if ((rc = check_path(path, 0, st)) < 0) return rc;
  rs_deadline_start(c);
  rs_path_split(path, &sp);
  rs_oidcache_set(c, path, NULL);
  for (tries = 0; tries < RS_RETRIES; tries++) {
    rs_entry e;
    if ((rc = rs_resolve(c, path, &e, st)) < 0) return rc;
    if (e.kind == RS_ENT_NONE) {
      /* Uncommitted data only, of the file or of files under it. */
      rc = rs_pending_drop(c, path, 0, &found);
      if (rc == 0) rc = rs_pending_drop(c, path, 1, &found_below);
      if (rc < 0) return rs_fail_rados(st, rc, path, "delete");
      return found || found_below ? 0 : rs_fail(st, -RS_ENOENT, path, NULL);
    }
    if (e.kind == RS_ENT_FILE && !rs_oid_valid(e.oid, strlen(e.oid))) {
      /* A damaged entry (no blob id): it names no data, only the name goes. */
      rc = rs_dir_unlink_damaged(c, sp.dir, sp.base);
      if (rc == -ECANCELED || rc == -ENOENT) continue; /* changed meanwhile */
      if (rc == 0) rc = rs_dir_prune(c, sp.dir);
    } else if (e.kind == RS_ENT_FILE) {
      rc = delete_file(c, path, &sp, e.oid);
      if (rc == -ECANCELED) continue; /* replaced meanwhile: look again */
    } else {
      rc = delete_tree(c, path);
      if (rc == 0) rc = rs_dir_forget(c, path);
      if (rc == 0) rc = rs_pending_drop(c, path, 1, NULL);
    }
    if (rc < 0) return rs_fail_rados(st, rc, path, "delete");
    return 0;
  }
  return rs_fail(st, -EAGAIN, path, "delete kept losing races");
}
