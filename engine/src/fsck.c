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

/* The path of the first "<id> <path>" entry of sorted s, or NULL. */
static const char *strs_named(const strs *s, const char *id) {
  size_t lo = 0, hi = s->n, len = strlen(id);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int d = strncmp(s->v[mid], id, len);
    if (d == 0) d = (unsigned char)s->v[mid][len] - (unsigned char)' ';
    if (d < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo < s->n && strncmp(s->v[lo], id, len) == 0 && s->v[lo][len] == ' ')
    return s->v[lo] + len + 1;
  return NULL;
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
  strs named;     /* "<blob id> <path>" of every directory entry */
  strs recorded;  /* "<blob id>" of every pending record */
  size_t (*later)[2]; /* [first, last) chunks of blobs judged again at the end */
  size_t nlater, caplater;
  time_t wait_until;  /* when the last of them is old enough */
} fsck;

static double real_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The precise clock: time() reads the coarse one, which can lag the mtime
 * librados stamped a moment ago by a tick (a second, at its turn). */
static int old_enough(const fsck *f, time_t mtime) {
  return real_now() - (double)mtime >= f->grace;
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

/* Records that path names blob id: "<id> <path>" in f->named. */
static int push_named(fsck *f, const char *id, const char *path) {
  size_t ilen = strlen(id), plen = strlen(path);
  char *e = malloc(ilen + plen + 2);
  int rc;
  if (!e) return -ENOMEM;
  memcpy(e, id, ilen);
  e[ilen] = ' ';
  memcpy(e + ilen + 1, path, plen + 1);
  rc = strs_push(&f->named, e, ilen + plen + 1);
  free(e);
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
        /* Chunk 0 was gone just now; the name still pointing at the blob
         * after that (the guarded unlink, or a compare) is data lost.  A name
         * replaced or deleted since the directory was read (its old blob
         * released) is no finding. */
        int fixed = 0, r;
        if (f->o->repair) {
          r = rs_dir_unlink(f->c, dir, ents[i].name, ents[i].val);
          fixed = r == 0;
          r = r == -ECANCELED || r == -ENOENT ? 0 : 1;
        } else {
          r = rs_dir_holds(f->c, dir, ents[i].name, ents[i].val) != 0;
        }
        if (r)
          found(f, "dangling_name", dir, child, fixed, "file whose blob %s is missing: its data is lost",
                ents[i].val);
      }
      rc = push_named(f, ents[i].val, child);
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
        if (f->o->repair && n) {
          /* its flag (a put killed before it linked the directory up)
           * comes off with the link, as the put's own would have */
          rs_entry self;
          int got = rs_dir_lookup(f->c, dir, "", &self) == 0 && self.linking[0];
          fixed = rs_dir_link_up(f->c, dir, 0, got ? self.linking : NULL) == 0;
        } else if (f->o->repair) {
          fixed = rs_dir_prune(f->c, dir) == 0;
        }
        found(f, "unlinked_dir", dir, dir, fixed, "directory object its parent does not name (%zu entries)", n);
      }
    }
  }
  rs_dirents_free(ents, n);
  return rc;
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
  if (rc == -ENOENT) { /* emptied and pruned since */
    rs_dirents_free(ents, n);
    return 0;
  }
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
 * Whether blob id is named now (live): by path, the name the directory scan
 * saw, or by one of its references' names (moved since).  1, 0, or < 0.
 */
static int named_now(fsck *f, const char *id, const rs_blobinfo *info,
                     const char *path) {
  size_t i;
  int rc = rs_path_points_at(f->c, path, id);
  for (i = 0; rc == 0 && i < info->nrefs; i++)
    if (strcmp(info->refs[i].name, path) != 0) rc = rs_path_points_at(f->c, info->refs[i].name, id);
  return rc;
}

/*
 * A committed blob whose records do not match its chunks: chunk 0 shorter
 * than the records say it holds, or chunks below the size missing (data
 * lost, or a stripe record that lost its value).  Reported as bad_metadata.
 * Missing chunks are data lost only if a name still points at the blob
 * after they were seen missing: a blob the directory scan saw named may
 * have been replaced or deleted since, and its release be removing its
 * chunks while they are counted (chunk 0 goes last).  That one is left
 * alone (1 all the same: nothing more is done to it in this run).
 */
#define LIVE_CHECK_MAX 65536 /* chunks of one blob looked at one by one */
static int layout_broken(fsck *f, const char *blob, const rs_blobinfo *info,
                         const char *chunk0, const char *path, size_t first,
                         size_t last) {
  uint64_t count = rs_chunk_count(info->m.stripe, info->m.size), present = 0;
  uint64_t want = info->m.size < info->m.stripe ? info->m.size : info->m.stripe;
  char id[RS_OID_MAX];
  size_t i;
  for (i = first; i < last; i++) {
    uint64_t index;
    if (rs_chunk_parse(f->chunks.v[i], strlen(f->chunks.v[i]), id, &index) == 0 && index < count)
      present++;
  }
  if (present < count && count <= LIVE_CHECK_MAX) {
    /* The listing is no snapshot: a chunk written after its part of the
     * listing went by is missing from it.  Look at the missing ones now. */
    unsigned char *seen = calloc((size_t)count, 1);
    uint64_t k;
    if (!seen) return 0;
    for (i = first; i < last; i++) {
      uint64_t index;
      if (rs_chunk_parse(f->chunks.v[i], strlen(f->chunks.v[i]), id, &index) == 0 && index < count)
        seen[index] = 1;
    }
    for (k = 0; k < count; k++) {
      char name[RS_OID_MAX];
      if (seen[k]) continue;
      rs_chunk_name(name, blob, k);
      if (rs_obj_exists(f->c, name) == 1) present++;
    }
    free(seen);
  }
  if (info->head < want) {
    found(f, "bad_metadata", chunk0, NULL, 0,
          "chunk 0 holds %llu bytes, its records (size %llu, stripe %lu) say %llu",
          (unsigned long long)info->head, (unsigned long long)info->m.size,
          (unsigned long)info->m.stripe, (unsigned long long)want);
    return 1;
  }
  if (present < count) {
    if (named_now(f, blob, info, path) == 0) return 1; /* released meanwhile */
    found(f, "bad_metadata", chunk0, NULL, 0,
          "%llu of its %llu chunks are missing (size %llu, stripe %lu): data is lost",
          (unsigned long long)(count - present), (unsigned long long)count,
          (unsigned long long)info->m.size, (unsigned long)info->m.stripe);
    return 1;
  }
  return 0;
}

/*
 * Whether a name among the blob's references (but skip) points at it now:
 * 1, 0, or < 0.  Asked live, twice over: a name moves between two
 * references by linking the new one before unlinking the old (file.c), so
 * while chunk 0 stays at the version the references were read at (no
 * reference added or dropped) each of them names the blob during one
 * stretch of time at most, and a name that moves while one pass looks is
 * seen by the other.
 */
static int refs_name_blob(fsck *f, const char *id, const rs_blobinfo *info,
                          const char *skip) {
  int pass;
  size_t i;
  for (pass = 0; pass < 2; pass++)
    for (i = 0; i < info->nrefs; i++) {
      int rc;
      if (skip && strcmp(info->refs[i].name, skip) == 0) continue;
      rc = rs_path_points_at(f->c, info->refs[i].name, id);
      if (rc != 0) return rc;
    }
  return 0;
}

/* Whether path holds a pending record of blob id now (live): 1, 0, < 0. */
static int has_record(fsck *f, const char *path, const char *id) {
  rs_record *recs = NULL;
  size_t n = 0, i;
  int rc = rs_pending_list(f->c, path, 0, &recs, &n), any = 0;
  for (i = 0; i < n; i++) any |= strcmp(recs[i].oid, id) == 0;
  free(recs);
  return rc < 0 ? rc : any;
}

/* Index of chunk name if it is one of blob id's, else -1 (as uint64 max). */
static uint64_t chunk_index(const char *name, const char *id) {
  char cid[RS_OID_MAX];
  uint64_t index;
  if (rs_chunk_parse(name, strlen(name), cid, &index) < 0 || strcmp(cid, id) != 0) return UINT64_MAX;
  return index;
}

/*
 * References whose names point elsewhere (stale_ref).  One goes only while
 * the blob is held by another name (seen named by the directory scan, or
 * another reference naming it now): a reference of a blob nothing else
 * holds is a put or move about to link it, or the leftover of one that
 * died, and then the blob is unreferenced_blob's to judge, whole.  They go
 * in one op guarded by the version they were read at, so a reference
 * added or dropped meanwhile (a move starting, a release) makes the repair
 * fail.  A reference younger than RS_REF_YOUNG seconds is left alone
 * whatever the grace: a move adds its new name's reference before it links
 * the name, and the move's release of the old name must find it there.
 */
static int check_refs(fsck *f, const char *id, const rs_blobinfo *info,
                      int named) {
  char chunk0[RS_OID_MAX];
  const char **stale = calloc(info->nrefs ? info->nrefs : 1, sizeof *stale);
  size_t n = 0, i;
  int rc = 0, fixed = 0;
  if (!stale) return -ENOMEM;
  rs_chunk_name(chunk0, id, 0);
  for (i = 0; i < info->nrefs && rc == 0; i++) {
    const rs_dirent *ref = &info->refs[i];
    long long age = rs_ref_age(ref->val, time(NULL));
    /* A young reference may be a put's or a move's about to link its name,
     * whatever the grace. */
    if ((double)age < f->grace || age < RS_REF_YOUNG) continue;
    rc = rs_path_points_at(f->c, ref->name, id);
    if (rc == 0) {
      int held = named ? 1 : refs_name_blob(f, id, info, ref->name);
      if (held < 0) rc = held;
      else if (held) stale[n++] = ref->name;
    } else if (rc == 1) {
      rc = 0;
    }
  }
  if (rc == 0 && n > 0 && f->o->repair)
    fixed = rs_blob_drop_refs_at(f->c, id, stale, n, info->version) == 0;
  for (i = 0; rc == 0 && i < n; i++)
    found(f, "stale_ref", chunk0, stale[i], fixed, "back-reference of a name that points elsewhere");
  free(stale);
  return rc;
}

/*
 * A blob no name and no pending record holds: the directory scan did not
 * see it named, and (asked now, after the scan) none of its references'
 * names points at it.  Chunk 0 goes first, guarded by the version the
 * references were read at: a move or put that added a reference since
 * (it needs the blob) makes the repair fail.  Then the other chunks, which
 * nothing can reach once chunk 0 is gone.
 */
/*
 * A put or commit seals its blob with the new name's reference and links
 * the name right after; a move adds the reference, then links.  A blob
 * whose chunk 0 changed less than RS_LINK_WAIT seconds ago and that has a
 * reference may be such a name about to be linked, whatever the grace: it
 * is judged again at the end of the run, once that much older.
 */
#define RS_LINK_WAIT 2
static int defer(fsck *f, const rs_blobinfo *info, size_t first, size_t last) {
  time_t ready = info->mtime + RS_LINK_WAIT + 1; /* mtime: a whole second, rounded down */
  if (f->nlater == f->caplater) {
    size_t ncap = f->caplater ? f->caplater * 2 : 16;
    size_t (*g)[2] = realloc(f->later, ncap * sizeof *g);
    if (!g) return -ENOMEM;
    f->later = g;
    f->caplater = ncap;
  }
  f->later[f->nlater][0] = first;
  f->later[f->nlater][1] = last;
  f->nlater++;
  if (ready > f->wait_until) f->wait_until = ready;
  return 0;
}

static int drop_unreferenced(fsck *f, const char *id, const rs_blobinfo *info,
                             size_t first, size_t last, int again) {
  char chunk0[RS_OID_MAX];
  size_t i;
  int rc, fixed = 0;
  if (!again && info->nrefs > 0 && time(NULL) < info->mtime + RS_LINK_WAIT + 1)
    return defer(f, info, first, last);
  rc = refs_name_blob(f, id, info, NULL);
  if (rc != 0) return rc < 0 ? rc : 0; /* named after all: a move at work */
  rs_chunk_name(chunk0, id, 0);
  if (f->o->repair && rs_obj_remove_if_version(f->c, chunk0, info->version) == 0) {
    RS_CRASH("fsck.chunk0_removed");
    for (i = first; i < last; i++)
      if (chunk_index(f->chunks.v[i], id) != 0) rs_remove_object(f->c, f->chunks.v[i]);
    if (info->m.has_size)
      rs_blob_remove_chunks(f->c, id, 1, rs_chunk_count(info->m.stripe, info->m.size));
    fixed = 1;
  }
  found(f, "unreferenced_blob", id, NULL, fixed, "blob no name and no pending record holds (%zu chunks)",
        last - first);
  return 0;
}

/*
 * Chunks past a named blob's committed size (an appender that died, or
 * was cancelled by a crash).  fsck claims the blob as an appender would,
 * guarded by the version it read the size at, so that no appender writes
 * there (or commits a larger size) while it cuts; then lets go.
 */
static int cut_extra(fsck *f, const char *id, const rs_blobinfo *info,
                     size_t first, size_t last) {
  uint64_t count = rs_chunk_count(info->m.stripe, info->m.size);
  size_t extra = 0, i;
  int claimed = 0;
  for (i = first; i < last; i++) {
    uint64_t index = chunk_index(f->chunks.v[i], id);
    if (index != UINT64_MAX && index >= count) extra++;
  }
  if (!extra) return 0;
  if (f->o->repair && rs_blob_claim_at(f->c, id, RS_FSCK_CLAIM, info->version) == 0) {
    claimed = 1;
    RS_CRASH("fsck.extra_claimed");
    for (i = first; i < last; i++) {
      uint64_t index = chunk_index(f->chunks.v[i], id);
      if (index != UINT64_MAX && index >= count) rs_remove_object(f->c, f->chunks.v[i]);
    }
    rs_blob_unclaim_append(f->c, id, RS_FSCK_CLAIM);
  }
  found(f, "orphan_chunks", id, NULL, claimed, "%zu chunks past the committed size", extra);
  return 0;
}

/* Chunks [first, last) of the sorted chunk list are one blob's: id. */
static int check_blob(fsck *f, const char *id, size_t first, size_t last) {
  rs_blobinfo info;
  size_t i;
  const char *name = strs_named(&f->named, id);
  int rc, named = name != NULL, recorded = strs_has(&f->recorded, id);
  char chunk0[RS_OID_MAX];
  rs_chunk_name(chunk0, id, 0);
  rc = rs_blob_info(f->c, id, &info, 1);
  if (rc == -ENOENT) {
    time_t mtime = 0;
    int fixed = 0;
    if (recorded || obj_mtime(f->c, f->chunks.v[first], &mtime) < 0 || !old_enough(f, mtime)) return 0;
    /* Every put and writer has chunk 0 before its other chunks and until
     * it is done (file.c, writer.c): chunks without it belong to a blob
     * already dropped, and only chunk 0 back again would make them data. */
    if (f->o->repair) {
      fixed = 1;
      for (i = first; i < last && fixed; i++) {
        if (rs_obj_exists(f->c, chunk0) != 0) fixed = 0;
        else rs_remove_object(f->c, f->chunks.v[i]);
      }
    }
    found(f, "orphan_chunks", id, NULL, fixed, "%zu chunks without chunk 0", last - first);
    return 0;
  }
  if (rc < 0) return rc;
  if (info.m.bad) found(f, "bad_metadata", chunk0, NULL, 0, "size or stripe record does not parse");
  else if (named && !info.m.has_size)
    found(f, "bad_metadata", chunk0, NULL, 0, "named blob without its size record");
  else if (named && old_enough(f, info.mtime) && layout_broken(f, id, &info, chunk0, name, first, last))
    info.m.bad = 1; /* reported; and its chunks are no orphans to remove */
  rc = check_refs(f, id, &info, named);
  if (rc == 0 && info.appender && !recorded && old_enough(f, info.mtime)) {
    /* The appender's claim comes before its record: look for the record
     * now, after the scan of the pending records. */
    rc = has_record(f, info.appender, id);
    if (rc == 0) {
      int fixed = f->o->repair && rs_blob_unclaim_append(f->c, id, info.appender) == 0;
      found(f, "stale_pending", chunk0, info.appender, fixed, "append claim without a pending record");
    }
    if (rc > 0) rc = 0;
  }
  if (rc == 0 && !named && !recorded && old_enough(f, info.mtime) && !info.m.bad)
    rc = drop_unreferenced(f, id, &info, first, last, 0);
  else if (rc == 0 && named && info.m.has_size && !info.m.bad && !recorded && !info.appender)
    rc = cut_extra(f, id, &info, first, last);
  rs_blobinfo_free(&info);
  return rc;
}

/*
 * A deferred blob, judged again on what is live now only (the directory
 * scan is long past): unsealed, without references (dropped meanwhile by
 * a release that found another name), appended to or recorded again, it is
 * left for the next run.
 */
static int check_again(fsck *f, size_t first, size_t last) {
  char id[RS_OID_MAX];
  uint64_t index;
  rs_blobinfo info;
  int rc;
  if (rs_chunk_parse(f->chunks.v[first], strlen(f->chunks.v[first]), id, &index) < 0) return 0;
  rc = rs_blob_info(f->c, id, &info, 1);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  if (info.m.has_size && !info.m.bad && info.nrefs > 0 && !info.appender)
    rc = drop_unreferenced(f, id, &info, first, last, 1);
  rs_blobinfo_free(&info);
  return rc;
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
  if (f->nlater > 0 && !f->stop) {
    time_t now = time(NULL);
    if (now < f->wait_until) {
      struct timespec pause = {f->wait_until - now, 0};
      nanosleep(&pause, NULL);
    }
    rs_deadline_renew(f->c);
  }
  for (i = 0; i < f->nlater && !f->stop; i++) {
    int rc = check_again(f, f->later[i][0], f->later[i][1]);
    if (rc < 0) return rc;
    rs_deadline_renew(f->c);
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
  free(f.later);
  if (rc < 0) return rs_fail_rados(st, rc, "/", "fsck");
  return 0;
}
