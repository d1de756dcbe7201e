/*
 * fsck: the repair step of the engine's protocols.  Every object of the
 * namespace is listed once; directories, pending records and blobs are
 * then checked against each other (docs/design.md, invariants I3 and I4):
 * what a crash can leave behind is found here and, with repair, resolved
 * with the same guarded operations the protocols use.  Anything that
 * changed less than `grace` seconds ago is left alone: a protocol still at
 * work may be about to resolve it itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct strs {
  char **v;
  size_t n, cap;
} strs;

static int strs_push(strs *s, const char *a, size_t len) {
  if (s->n == s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 256;
    char **g = realloc(s->v, ncap * sizeof *g);
    if (!g) return -ENOMEM;
    s->v = g;
    s->cap = ncap;
  }
  if (!(s->v[s->n] = strndup(a, len))) return -ENOMEM;
  s->n++;
  return 0;
}

static void strs_free(strs *s) {
  size_t i;
  for (i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int strs_has(const strs *s, const char *key) {
  return s->n && bsearch(&key, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

typedef struct fsck {
  rs_conn *c;
  const rs_fsck_opts *o;
  double grace;
  rs_fsck_fn fn;
  void *arg;
  rs_fsck_report *out;
  int stop;
  strs dirs, chunks, pendings;
  strs named;     /* "<blob id>" of every directory entry */
  strs recorded;  /* "<blob id>" of every pending record */
} fsck;

static int old_enough(const fsck *f, time_t mtime) {
  return (double)(time(NULL) - mtime) >= f->grace;
}

/* Reports a finding; repair (when asked) is the caller's, told by *fix. */
static int found(fsck *f, const char *kind, const char *object,
                 const char *path, int repaired, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int found(fsck *f, const char *kind, const char *object,
                 const char *path, int repaired, const char *fmt, ...) {
  char detail[512];
  rs_finding fd;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  f->out->findings++;
  if (repaired) f->out->repaired++;
  fd.kind = kind;
  fd.object = object;
  fd.path = path ? path : "";
  fd.detail = detail;
  fd.repaired = repaired;
  if (f->fn && f->fn(f->arg, &fd) != 0) f->stop = 1;
  return 0;
}

static int list_objects(fsck *f) {
  rados_list_ctx_t ctx;
  const char *entry;
  size_t len;
  int rc = rados_nobjects_list_open(f->c->io, &ctx);
  if (rc < 0) return rc;
  while ((rc = rados_nobjects_list_next2(ctx, &entry, NULL, NULL, &len, NULL, NULL)) == 0) {
    f->out->objects++;
    if (len > 0 && entry[0] == '/') rc = strs_push(&f->dirs, entry, len);
    else if (len > strlen(RS_PENDING_PREFIX) && strncmp(entry, RS_PENDING_PREFIX, strlen(RS_PENDING_PREFIX)) == 0)
      rc = strs_push(&f->pendings, entry, len);
    else if (len > strlen(RS_BLOB_PREFIX) && strncmp(entry, RS_BLOB_PREFIX, strlen(RS_BLOB_PREFIX)) == 0)
      rc = strs_push(&f->chunks, entry, len);
    if (rc < 0) break;
  }
  rados_nobjects_list_close(ctx);
  if (rc == -ENOENT) rc = 0; /* the end of the listing */
  if (f->dirs.n) qsort(f->dirs.v, f->dirs.n, sizeof *f->dirs.v, cmp_str);
  if (f->chunks.n) qsort(f->chunks.v, f->chunks.n, sizeof *f->chunks.v, cmp_str);
  return rc;
}

static int obj_mtime(rs_conn *c, const char *oid, time_t *mtime) {
  rados_read_op_t op = rados_create_read_op();
  uint64_t size;
  int sval = 0, rc;
  rados_read_op_stat(op, &size, mtime, &sval);
  rc = rs_read_op(c, op, oid, NULL);
  rados_release_read_op(op);
  return rc;
}

/* Directories: each names its entries' objects, and its parent names it. */
static int check_dir(fsck *f, const char *dir) {
  rs_dirent *ents = NULL;
  size_t n = 0, i;
  uint64_t version;
  char child[4096];
  int rc = rs_dir_read(f->c, dir, &ents, &n, &version, 1);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  rs_deadline_renew(f->c);
  for (i = 0; i < n && rc == 0; i++) {
    if (rs_path_join(child, sizeof child, dir, ents[i].name) < 0) continue;
    if (ents[i].val[0] == '\0') {
      if (!strs_has(&f->dirs, child) && rs_obj_exists(f->c, child) == 0) {
        int fixed = f->o->repair && rs_dir_forget(f->c, child) == 0;
        found(f, "dangling_dir", dir, child, fixed, "directory entry without its object");
      }
    } else {
      char chunk0[RS_OID_MAX];
      rs_chunk_name(chunk0, ents[i].val, 0);
      if (!strs_has(&f->chunks, chunk0) && rs_obj_exists(f->c, chunk0) == 0) {
        int fixed = f->o->repair && rs_dir_unlink(f->c, dir, ents[i].name, ents[i].val) == 0;
        found(f, "dangling_name", dir, child, fixed, "file whose blob %s is missing: its data is lost",
              ents[i].val);
      }
      rc = strs_push(&f->named, ents[i].val, strlen(ents[i].val));
    }
  }
  if (rc == 0 && strcmp(dir, "/") != 0) {
    char parent[4096];
    rs_entry e;
    rs_path_parent(dir, parent, sizeof parent);
    rc = rs_dir_lookup(f->c, parent, strrchr(dir, '/') + 1, &e);
    if (rc == 0 && e.kind != RS_ENT_DIR) {
      time_t mtime = 0;
      if (obj_mtime(f->c, dir, &mtime) == 0 && old_enough(f, mtime)) {
        int fixed = 0;
        if (f->o->repair)
          fixed = (n ? rs_dir_link_chain(f->c, dir, 0) : rs_dir_prune(f->c, dir)) == 0;
        found(f, "unlinked_dir", dir, dir, fixed, "directory object its parent does not name (%zu entries)", n);
      }
    }
  }
  rs_dirents_free(ents, n);
  return rc;
}

static double real_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Whether a sign of life at `when` (epoch seconds) is younger than grace. */
static int recent(const fsck *f, double when, double now) {
  return now - when < f->grace;
}

/* Whether chunk `oid`-`index` exists and was written within the grace. */
static int chunk_recent(fsck *f, const char *oid, uint64_t index, double now) {
  char name[RS_OID_MAX];
  time_t mtime = 0;
  rs_chunk_name(name, oid, index);
  /* A whole-second mtime is taken at that second's end: never older than
   * the write was. */
  return obj_mtime(f->c, name, &mtime) == 0 && recent(f, (double)mtime + 1, now);
}

/*
 * Whether the writer holding record r showed a sign of life within the
 * grace (writer.c): the stamp it stored the record with, or the mtime of
 * its blob's chunk 0 (info, NULL when there is none) or of its newest
 * chunk (the highest index listed, or the one after it: a chunk begun
 * since the listing).  A record without a stamp (an older engine's) is
 * dated by its pending object, as it used to be.
 */
static int writer_alive(fsck *f, const rs_record *r, time_t obj_mtime,
                        const rs_blobinfo *info) {
  double now = real_now();
  char prefix[RS_OID_MAX + 1];
  const char *key = prefix;
  size_t lo = 0, hi = f->chunks.n, len;
  uint64_t top = 0;
  int any = 0;
  if (recent(f, r->stamp > 0 ? r->stamp : (double)obj_mtime + 1, now)) return 1;
  if (info && recent(f, (double)info->mtime + 1, now)) return 1;
  len = (size_t)snprintf(prefix, sizeof prefix, "%s-", r->oid);
  while (lo < hi) { /* the first listed chunk of the blob */
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(f->chunks.v[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (; lo < f->chunks.n && strncmp(f->chunks.v[lo], prefix, len) == 0; lo++) {
    char id[RS_OID_MAX];
    uint64_t index;
    if (rs_chunk_parse(f->chunks.v[lo], strlen(f->chunks.v[lo]), id, &index) == 0 &&
        strcmp(id, r->oid) == 0 && (!any || index > top)) {
      top = index;
      any = 1;
    }
  }
  if (any && top > 0 && chunk_recent(f, r->oid, top, now)) return 1;
  return chunk_recent(f, r->oid, any ? top + 1 : 1, now);
}

/* Pending records: each holds data that is there, of a writer alive. */
static int check_pending(fsck *f, const char *obj) {
  rs_dirent *ents = NULL;
  size_t n = 0, i;
  time_t mtime = 0;
  int rc = rs_omap_read(f->c, obj, "", &ents, &n, NULL);
  if (rc == -ENOENT) return 0;
  if (rc == 0) rc = obj_mtime(f->c, obj, &mtime);
  for (i = 0; i < n && rc == 0; i++) {
    rs_record r;
    rs_blobinfo info;
    int gone, dead, r2;
    if (rs_record_parse(ents[i].name, ents[i].val, &r) < 0) {
      found(f, "bad_metadata", obj, ents[i].name, 0, "pending record that does not parse");
      continue;
    }
    r2 = rs_blob_info(f->c, r.oid, &info, 0);
    if (r2 < 0 && r2 != -ENOENT) {
      rc = r2;
      break;
    }
    gone = r2 == -ENOENT && r.size > 0 && old_enough(f, mtime);
    /* A writer is dated by its own signs of life, never by the shared
     * pending object (other writers keep changing it, and a long upload
     * may never store its record again while it streams). */
    dead = !gone && strcmp(r.owner, RS_OWNER_IDLE) != 0 &&
           !writer_alive(f, &r, mtime, r2 == 0 ? &info : NULL);
    if (r2 == 0) rs_blobinfo_free(&info);
    if (gone || dead) {
      int fixed = 0;
      if (f->o->repair) {
        fixed = rs_pending_claim(f->c, &r) == 0;
        if (fixed) rs_record_discard(f->c, &r, r2, &info.m);
      }
      found(f, "stale_pending", obj, r.path, fixed,
            gone ? "pending record of data that is gone (%s)" : "pending record of a writer gone for longer than the grace (%s)",
            r.oid);
    } else {
      rc = strs_push(&f->recorded, r.oid, strlen(r.oid));
    }
  }
  if (rc == 0 && n == 0 && old_enough(f, mtime)) {
    /* A claim that crashed before pruning its emptied object. */
    rs_dirent *none = NULL;
    size_t left = 0;
    uint64_t version = 0;
    int fixed = 0;
    if (f->o->repair && rs_dir_read(f->c, obj, &none, &left, &version, 0) == 0) {
      rs_dirents_free(none, left);
      fixed = left == 0 && rs_obj_remove_if_version(f->c, obj, version) == 0;
    }
    found(f, "stale_pending", obj, NULL, fixed, "pending object without records");
  }
  rs_dirents_free(ents, n);
  return rc;
}

/*
 * A committed blob whose records do not match its chunks: chunk 0 shorter
 * than the records say it holds, or chunks below the size missing (data
 * lost, or a stripe record that lost its value).  Reported as bad_metadata.
 */
static int layout_broken(fsck *f, const rs_blobinfo *info, const char *chunk0,
                         size_t first, size_t last) {
  uint64_t count = rs_chunk_count(info->m.stripe, info->m.size), present = 0;
  uint64_t want = info->m.size < info->m.stripe ? info->m.size : info->m.stripe;
  char id[RS_OID_MAX];
  size_t i;
  for (i = first; i < last; i++) {
    uint64_t index;
    if (rs_chunk_parse(f->chunks.v[i], strlen(f->chunks.v[i]), id, &index) == 0 && index < count)
      present++;
  }
  if (info->head < want) {
    found(f, "bad_metadata", chunk0, NULL, 0,
          "chunk 0 holds %llu bytes, its records (size %llu, stripe %lu) say %llu",
          (unsigned long long)info->head, (unsigned long long)info->m.size,
          (unsigned long)info->m.stripe, (unsigned long long)want);
    return 1;
  }
  if (present < count) {
    found(f, "bad_metadata", chunk0, NULL, 0,
          "%llu of its %llu chunks are missing (size %llu, stripe %lu): data is lost",
          (unsigned long long)(count - present), (unsigned long long)count,
          (unsigned long long)info->m.size, (unsigned long)info->m.stripe);
    return 1;
  }
  return 0;
}

/* Chunks [first, last) of the sorted chunk list are one blob's: id. */
static int check_blob(fsck *f, const char *id, size_t first, size_t last) {
  rs_blobinfo info;
  size_t i;
  int rc, named = strs_has(&f->named, id), recorded = strs_has(&f->recorded, id);
  char chunk0[RS_OID_MAX];
  rs_chunk_name(chunk0, id, 0);
  rc = rs_blob_info(f->c, id, &info, 1);
  if (rc == -ENOENT) {
    time_t mtime = 0;
    if (recorded || obj_mtime(f->c, f->chunks.v[first], &mtime) < 0 || !old_enough(f, mtime)) return 0;
    if (f->o->repair)
      for (i = first; i < last; i++) rs_remove_object(f->c, f->chunks.v[i]);
    found(f, "orphan_chunks", id, NULL, f->o->repair, "%zu chunks without chunk 0", last - first);
    return 0;
  }
  if (rc < 0) return rc;
  if (info.m.bad) found(f, "bad_metadata", chunk0, NULL, 0, "size or stripe record does not parse");
  else if (named && !info.m.has_size)
    found(f, "bad_metadata", chunk0, NULL, 0, "named blob without its size record");
  else if (named && old_enough(f, info.mtime) && layout_broken(f, &info, chunk0, first, last))
    info.m.bad = 1; /* reported; and its chunks are no orphans to remove */
  for (i = 0; i < info.nrefs; i++) {
    const rs_dirent *ref = &info.refs[i];
    if ((double)rs_ref_age(ref->val, time(NULL)) >= f->grace &&
        rs_path_names(f->c, ref->name, id) == 0) {
      int fixed = f->o->repair && rs_blob_drop_ref(f->c, id, ref->name, ref->val) == 0;
      found(f, "stale_ref", chunk0, ref->name, fixed, "back-reference of a name that points elsewhere");
    }
  }
  if (info.appender && !recorded && old_enough(f, info.mtime)) {
    int fixed = f->o->repair && rs_blob_unclaim_append(f->c, id, info.appender) == 0;
    found(f, "stale_pending", chunk0, info.appender, fixed, "append claim without a pending record");
  }
  if (!named && !recorded && old_enough(f, info.mtime) && !info.m.bad) {
    if (f->o->repair) {
      for (i = first + 1; i < last; i++) rs_remove_object(f->c, f->chunks.v[i]);
      rs_remove_object(f->c, chunk0);
    }
    found(f, "unreferenced_blob", id, NULL, f->o->repair, "blob no name and no pending record holds (%zu chunks)",
          last - first);
  } else if (named && info.m.has_size && !info.m.bad && !recorded && !info.appender) {
    uint64_t count = rs_chunk_count(info.m.stripe, info.m.size);
    size_t extra = 0;
    for (i = first; i < last; i++) {
      char cid[RS_OID_MAX];
      uint64_t index;
      if (rs_chunk_parse(f->chunks.v[i], strlen(f->chunks.v[i]), cid, &index) == 0 && index >= count) {
        extra++;
        if (f->o->repair) rs_remove_object(f->c, f->chunks.v[i]);
      }
    }
    if (extra) found(f, "orphan_chunks", id, NULL, f->o->repair, "%zu chunks past the committed size", extra);
  }
  rs_blobinfo_free(&info);
  return 0;
}

static int check_blobs(fsck *f) {
  size_t i = 0;
  if (f->named.n) qsort(f->named.v, f->named.n, sizeof *f->named.v, cmp_str);
  if (f->recorded.n) qsort(f->recorded.v, f->recorded.n, sizeof *f->recorded.v, cmp_str);
  while (i < f->chunks.n && !f->stop) {
    char id[RS_OID_MAX];
    uint64_t index;
    size_t len, j = i;
    int rc;
    if (rs_chunk_parse(f->chunks.v[i], strlen(f->chunks.v[i]), id, &index) < 0) {
      i++; /* not a chunk of a blob of ours */
      continue;
    }
    len = strlen(id);
    while (j < f->chunks.n && strncmp(f->chunks.v[j], id, len) == 0 && f->chunks.v[j][len] == '-') j++;
    rc = check_blob(f, id, i, j);
    if (rc < 0) return rc;
    rs_deadline_renew(f->c);
    i = j;
  }
  return 0;
}

int rs_fsck(rs_conn *c, const rs_fsck_opts *o, rs_fsck_fn fn, void *arg,
            rs_fsck_report *out, rs_status *st) {
  fsck f;
  size_t i;
  int rc;
  memset(out, 0, sizeof *out);
  memset(&f, 0, sizeof f);
  f.c = c;
  f.o = o;
  f.grace = o->grace < 0 ? 3600 : o->grace;
  f.fn = fn;
  f.arg = arg;
  f.out = out;
  rs_deadline_start(c);
  rc = list_objects(&f);
  for (i = 0; rc == 0 && i < f.dirs.n && !f.stop; i++) rc = check_dir(&f, f.dirs.v[i]);
  for (i = 0; rc == 0 && i < f.pendings.n && !f.stop; i++) rc = check_pending(&f, f.pendings.v[i]);
  if (rc == 0) rc = check_blobs(&f);
  strs_free(&f.dirs);
  strs_free(&f.chunks);
  strs_free(&f.pendings);
  strs_free(&f.named);
  strs_free(&f.recorded);
  if (rc < 0) return rs_fail_rados(st, rc, "/", "fsck");
  return 0;
}
