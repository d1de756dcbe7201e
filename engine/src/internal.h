/*
 * Shared by the engine's sources; not installed.  One section per source
 * file, each headed by the file's name, in layers: a connection and the
 * machinery of its calls (crash.c to aio.c); primitives that know nothing
 * of files (oid.c: object names, obj.c: objects and omaps); what holds a
 * file's bytes and names (oidcache.c to dir.c: blob.c and dir.c call only
 * into the sections above them, not into each other); and what ties blobs
 * to names (refs.c, pending.c, file.c).
 *
 * sha256.c, reader.c, writer.c, walk.c and fsck.c have no section: what
 * they offer is the public API, declared in engine/include/regstore.h.
 */
#ifndef RS_INTERNAL_H
#define RS_INTERNAL_H

#include <pthread.h>
#include <rados/librados.h>
#include <time.h>

#include "regstore.h"

/* Bounded retries when a guarded op loses a race. */
#define RS_RETRIES 32

/* ---- crash.c: named steps of multi-object protocols, for crash specs only. */
#ifdef REGSTORE_CRASH_POINTS
void rs_crash_point(const char *point);
#define RS_CRASH(point) rs_crash_point(point)
#else
#define RS_CRASH(point) ((void)0)
#endif

/* ---- conn.c: connections, a cluster handle and an I/O context. */
struct rs_conn {
  rados_t cluster;
  rados_ioctx_t io;
  uint32_t chunk;        /* stripe size of the blobs this connection creates */
  int window;
  int refs;              /* the handle itself plus each open reader and writer
                            (and each sibling); atomic: a sibling, and what
                            was opened on it, may be freed on another thread */
  struct rs_conn *parent; /* a sibling's: whose cluster handle it shares */
  int closed;
  double timeout;        /* seconds a call may take */
  struct timespec deadline; /* of the call in progress (CLOCK_MONOTONIC) */
  pthread_mutex_t mu;    /* completions wake the waiting call through cv */
  pthread_cond_t cv;
  struct rs_oidcache *oids; /* shared with a batch's helper views (locked) */
  int fixed_deadline;    /* a batch's: rs_deadline_start/renew keep it */
  int shallow;           /* a read item of a batch with RS_SHALLOW: a missing
                            directory answers -RS_ENOENT, the levels above
                            unread (rs_resolve, file_entry) */
  char put_dir[256];     /* the directory the last put found in place (a
                            hint: a put there skips the look at its parent) */
};
void rs_conn_unref(rs_conn *c);
/*
 * A batch helper's view of c (batch.c): the same cluster handle, I/O
 * context and oid cache, waiters of its own, c's deadline kept fixed.
 */
int rs_conn_helper_init(rs_conn *c, rs_conn *view);
void rs_conn_helper_free(rs_conn *view);

/* ---- status.c: failures reported through rs_status. */
int rs_fail(rs_status *st, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rs_fail_rados(rs_status *st, int rc, const char *path, const char *what);

/* ---- path.c: a path split into its parent directory and base name. */
typedef struct rs_split {
  char dir[4096];
  const char *base;    /* points into the original path */
} rs_split;
int rs_path_split(const char *path, rs_split *out);
void rs_path_parent(const char *path, char *out, size_t outlen);
int rs_path_join(char *out, size_t outlen, const char *dir, const char *base);

/* ---- aio.c: operations under the call's deadline. */
void rs_deadline_start(rs_conn *c);
void rs_deadline_renew(rs_conn *c);
int rs_deadline_passed(const rs_conn *c);
int rs_comp_new(rs_conn *c, rados_completion_t *out);
int rs_comp_wait(rs_conn *c, rados_completion_t comp, uint64_t *version);
int rs_read_op(rs_conn *c, rados_read_op_t op, const char *oid,
               uint64_t *version);
int rs_write_op(rs_conn *c, rados_write_op_t op, const char *oid);
/* Sends a write and does not wait for it: for steps whose loss costs time
 * later, never a wrong answer. */
void rs_write_op_unwaited(rs_conn *c, rados_write_op_t op, const char *oid);
typedef struct rs_aio {
  rs_conn *c;
  rados_completion_t *comp;
  int cap, used;
  int err;           /* first failure seen */
  int ok_enoent;     /* an absent object is no failure (removes) */
  int renew;         /* each completion renews the deadline (streams) */
} rs_aio;
int rs_aio_init(rs_aio *a, rs_conn *c, int cap);
void rs_aio_free(rs_aio *a);
/* Waits for a free slot and returns a new completion for it. */
int rs_aio_slot(rs_aio *a, rados_completion_t *out);
void rs_aio_unslot(rs_aio *a);
int rs_aio_remove(rs_aio *a, const char *oid);
int rs_aio_read(rs_conn *c, rados_read_op_t *op, const char *oid,
                rados_completion_t *comp);
int rs_aio_wait(rs_conn *c, rados_completion_t comp);
int rs_aio_wait_all(rs_aio *a);

/*
 * ---- oid.c: object names and the records they carry, made and parsed
 * without touching the cluster (rs_uuid is in regstore.h).
 */
#define RS_BLOB_PREFIX "blob:"
/* Longest oid: "blob:" + uuid + "-" + 20 digits. */
#define RS_OID_MAX 64
void rs_blob_new(char oid[RS_OID_MAX]);
void rs_chunk_name(char *out, const char *oid, uint64_t index);
int rs_oid_valid(const char *s, size_t len);
int rs_chunk_parse(const char *name, size_t len, char id[RS_OID_MAX],
                   uint64_t *index);
int rs_parse_size(const char *s, size_t len, uint64_t *out);
/* Whether s is 1 to max of [A-Za-z0-9._-] (lease and counter names). */
int rs_word_valid(const char *s, size_t max);
/* A back-reference's stamp (its omap value): now, in epoch seconds. */
void rs_ref_stamp(char out[24]);
/* Seconds since a back-reference's stamp (its omap value) was made. */
long long rs_ref_age(const char *stamp, time_t now);

/* ---- obj.c: object and omap primitives, whatever the object holds. */
#define RS_OMAP_PAGE 1024
/* Whether an object exists: 1, 0, or < 0. */
int rs_obj_exists(rs_conn *c, const char *oid);
int rs_remove_object(rs_conn *c, const char *oid);
int rs_obj_remove_if_version(rs_conn *c, const char *oid, uint64_t version);
typedef struct rs_dirent {
  char *name;
  char *val;     /* "" for a subdirectory */
} rs_dirent;
void rs_dirents_free(rs_dirent *ents, size_t n);
/* Appends a copy of key k and value v (NULL: "") to a growing array. */
int rs_dirents_push(rs_dirent **ents, size_t *n, size_t *cap, const char *k,
                    size_t kl, const char *v, size_t vl);
/*
 * Appends one page of an object's omap after `after` (keys only, or with
 * the values of keys starting with prefix) to a growing array; *more says
 * whether there is a page after it, *version the object's version.
 */
int rs_omap_page(rs_conn *c, const char *oid, const char *after,
                 const char *prefix, int with_vals, rs_dirent **ents,
                 size_t *n, size_t *cap, int *more, uint64_t *version);
int rs_omap_read(rs_conn *c, const char *oid, const char *prefix,
                 rs_dirent **ents, size_t *n, uint64_t *version);

/* ---- oidcache.c: which blob a path named last (a hint, never authoritative). */
#define RS_OIDCACHE_SLOTS 4096
int rs_oidcache_init(rs_conn *c);
void rs_oidcache_free(rs_conn *c);
int rs_oidcache_get(rs_conn *c, const char *path, char out[RS_OID_MAX]);
void rs_oidcache_set(rs_conn *c, const char *path, const char *oid);

/* ---- hashjob.c: a thread that hashes a write's bytes beside the writer. */
#define RS_HASH_OFFLOAD (256u << 10) /* smaller writes are hashed inline */
typedef struct rs_hashjob rs_hashjob;
rs_hashjob *rs_hashjob_new(rs_sha256 *h);
/* Hashes the n pieces (the caller's, until rs_hashjob_wait) in order. */
void rs_hashjob_start(rs_hashjob *j, const rs_piece *pieces, size_t n);
void rs_hashjob_wait(rs_hashjob *j);
void rs_hashjob_free(rs_hashjob *j);

/* ---- stripe.c: a blob's bytes in chunks of `stripe` bytes. */
/* Bytes per I/O operation for a stripe size. */
static inline uint32_t rs_unit(uint32_t stripe) {
  return stripe < RS_IO_UNIT ? stripe : RS_IO_UNIT;
}
size_t rs_stripe_room(uint32_t stripe, uint64_t pos);
/* Chunks [0, existing) and any chunk written past its start must exist:
 * -ENOENT (from the op) when one was removed meanwhile. */
int rs_stripe_write(rs_aio *aio, const char *oid, uint32_t stripe,
                    uint64_t existing, uint64_t pos, const void *data,
                    size_t len);
int rs_stripe_write_all(rs_conn *c, const char *oid, uint32_t stripe,
                        uint64_t pos, const char *data, size_t len);
int rs_stripe_read(rs_conn *c, const char *oid, uint32_t stripe, uint64_t off,
                   char *buf, size_t len);

/* ---- blob.c: striped data objects and their metadata. */
#define RS_SIZE_XATTR "total-size"
#define RS_STRIPE_XATTR "stripe-size"
/* The stripe of blobs without a stripe-size record (the 2015 seed's layout): 4 MiB. */
#define RS_UNRECORDED_STRIPE (4u << 20)
/*
 * Most chunks a blob may have (chunk indexes fit 32 bits): a size record
 * saying more is corrupt, and no loop over a blob's chunks runs longer.
 */
#define RS_MAX_CHUNKS ((uint64_t)1 << 32)
uint64_t rs_chunk_count(uint32_t stripe, uint64_t size);
typedef struct rs_meta {
  uint64_t size;
  uint32_t stripe;
  int has_size;   /* committed */
  int bad;        /* a record that does not parse */
} rs_meta;
void rs_meta_init(rs_meta *m);
void rs_meta_apply(rs_meta *m, const char *name, const char *val, size_t len);
void rs_meta_finish(rs_meta *m);
void rs_meta_collect(rados_xattrs_iter_t it, rs_meta *m);
typedef struct rs_blobinfo {
  rs_meta m;
  time_t mtime;
  uint64_t version;
  uint64_t head;    /* bytes chunk 0 holds */
  rs_dirent *refs;  /* names pointing at the blob, with the time each was added */
  size_t nrefs;
  char *appender;   /* the path whose writer appends in place, or NULL */
  int rc;           /* of this blob's read, in rs_blob_info_many */
} rs_blobinfo;
int rs_blob_info(rs_conn *c, const char *oid, rs_blobinfo *info, int with_refs);
#define RS_STAT_WINDOW 64
int rs_blob_info_many(rs_conn *c, const char *const *oids, size_t n,
                      rs_blobinfo *out, int with_refs);
void rs_blobinfo_free(rs_blobinfo *info);
int rs_blob_intact(const rs_blobinfo *info);
int rs_blob_seal(rs_conn *c, const char *oid, uint32_t stripe, uint64_t size,
                 const void *head, size_t headlen, const char *ref);
int rs_blob_remove_chunks(rs_conn *c, const char *oid, uint64_t from,
                          uint64_t upto);
int rs_blob_destroy(rs_conn *c, const char *oid, uint64_t chunks, int probe);

/*
 * ---- dir.c: directory objects and their omaps.  Every link of a
 * subdirectory also sets the directory object's RS_SUBDIRS_XATTR to a new
 * random value, so that a file link can tell "absent" from "a
 * subdirectory" (both "" to omap_cmp): see op_link_file.
 */
#define RS_SUBDIRS_XATTR "subdirs"
/*
 * A directory object is made with RS_LINKING_XATTR set to a stamp of its
 * maker, and the stamp is taken off only once the directory and every
 * level above it are named by their parents.  So a directory without it is
 * listed from "/", and one with it may not be: a maker that died between
 * making it and linking it up leaves it so.  Lookups of names in it check
 * the levels above first (rs_dir_named), and a link into it links them up
 * (rs_dir_link_up): nothing made in a directory that is not listed
 * counts as done.
 */
#define RS_LINKING_XATTR "linking"
#define RS_GEN_MAX 40
enum { RS_ENT_NONE, RS_ENT_DIR, RS_ENT_FILE, RS_ENT_ROOT };
typedef struct rs_entry {
  int kind;
  char oid[RS_OID_MAX];   /* for a file */
  int dir_exists;         /* the parent object exists */
  char gen[RS_GEN_MAX];   /* the parent's RS_SUBDIRS_XATTR as read ("" if none) */
  char linking[RS_OID_MAX]; /* the parent's RS_LINKING_XATTR as read ("" if none) */
} rs_entry;
/* What a directory omap value says: a subdirectory ("") or a file's blob. */
void rs_entry_parse(rs_entry *e, const char *val, size_t len);
int rs_dir_lookup(rs_conn *c, const char *dir, const char *name, rs_entry *e);
typedef struct rs_lookup {
  rados_read_op_t op;
  rados_completion_t comp;
  rados_omap_iter_t it;
  rados_xattrs_iter_t xit;
  int prval, xprval;
} rs_lookup;
int rs_lookup_start(rs_conn *c, rs_lookup *l, const char *dir, const char *name);
int rs_lookup_finish(rs_conn *c, rs_lookup *l, rs_entry *e);
int rs_resolve(rs_conn *c, const char *path, rs_entry *e, rs_status *st);
/* Whether path points at the blob oid now: 1, 0, or < 0. */
int rs_path_points_at(rs_conn *c, const char *path, const char *oid);
int rs_dir_check_ancestors(rs_conn *c, const char *dir, int *missing);
int rs_dir_link_file(rs_conn *c, const char *dir, const char *name,
                     const char *oid, char *old, const char *gen, int missing,
                     int flags, int *entry_set);
int rs_dir_link_chain(rs_conn *c, const char *dir, int known);
int rs_dir_link_up(rs_conn *c, const char *dir, int known, const char *stamp);
int rs_dir_named(rs_conn *c, const char *dir, const char *flag);
int rs_dir_exists_listed(rs_conn *c, const char *dir, const char *flag);
int rs_entry_listed(rs_conn *c, const char *dir, rs_entry *e);
void rs_dir_unflag(rs_conn *c, const char *dir, const char *stamp);
int rs_dir_create_with(rs_conn *c, const char *dir, const char *name,
                       const char *oid);
int rs_dir_create_chain(rs_conn *c, const char *dir, const char *name,
                        const char *oid, int known, int *made);
int rs_dir_link_up_made(rs_conn *c, const char *dir, int known,
                        const char *stamp);
int rs_dir_link_subdirs(rs_conn *c, const char *dir, const char *const *names,
                        size_t n);
/* Whether name in dir holds exactly val now: 1, 0, or < 0. */
int rs_dir_holds(rs_conn *c, const char *dir, const char *name, const char *val);
int rs_dir_unlink(rs_conn *c, const char *dir, const char *name,
                  const char *expect);
int rs_dir_unlink_damaged(rs_conn *c, const char *dir, const char *name);
int rs_dir_prune(rs_conn *c, const char *dir);
int rs_dir_forget(rs_conn *c, const char *dir);
int rs_dir_swap(rs_conn *c, const char *dir, const char *src, const char *dst,
                const char *oid, const char *old_dst, const char *gen);
int rs_dir_read(rs_conn *c, const char *dir, rs_dirent **ents, size_t *n,
                uint64_t *version, int with_vals);
int rs_dir_read_range(rs_conn *c, const char *dir, const char *after,
                      size_t max, rs_dirent **ents, size_t *n);
typedef struct rs_prefetch {
  rados_read_op_t op;   /* NULL when not started */
  rados_completion_t comp;
  rados_omap_iter_t it;
  unsigned char more;
  int prval;
} rs_prefetch;
int rs_prefetch_start(rs_conn *c, rs_prefetch *p, const char *dir);
int rs_prefetch_finish(rs_conn *c, rs_prefetch *p, const char *dir,
                       rs_dirent **ents, size_t *n);
void rs_prefetch_abandon(rs_conn *c, rs_prefetch *p);

/* ---- refs.c: a blob's back-references, and releasing it when none is live. */
/*
 * A back-reference younger than this (seconds) may belong to a move still
 * at work, so a releaser leaves its blob alone; fsck takes its own grace.
 */
#define RS_REF_GRACE 3600
/* Seconds during which fsck leaves a reference alone whatever its grace: a
 * put's or a move's, added just before the name is linked. */
#define RS_REF_YOUNG 5
int rs_blob_add_ref(rs_conn *c, const char *oid, const char *from,
                    const char *name, char stamp[24]);
int rs_blob_drop_ref(rs_conn *c, const char *oid, const char *name,
                     const char *stamp);
int rs_blob_release(rs_conn *c, const char *oid, const char *name);
/* In chunk 0's omap beside the references (which all start with '/'). */
#define RS_APPENDER_KEY "\001appender"
int rs_blob_claim_append(rs_conn *c, const char *oid, const char *path);
int rs_blob_unclaim_append(rs_conn *c, const char *oid, const char *path);
int rs_blob_drop_refs_at(rs_conn *c, const char *oid, const char *const *names,
                         size_t n, uint64_t version);
int rs_blob_claim_at(rs_conn *c, const char *oid, const char *who,
                     uint64_t version);
/* The appender fsck claims a blob as while it cuts chunks past its size. */
#define RS_FSCK_CLAIM "\001fsck"
int rs_blob_release_many(rs_conn *c, const char *const *oids,
                         const char *const *names, size_t n);

/*
 * ---- pending.c: uncommitted writer data, recorded in "pending:/<top>"
 * (one object per top-level directory) under the key "<path> <blob id>",
 * with the value "<size> <stripe> <owner>" (owner "-" when no writer holds
 * it, else "<token>@<stamp>": the writer's token and when it last stored
 * the record, epoch milliseconds).
 */
#define RS_PENDING_PREFIX "pending:"
#define RS_RECORD_MAX 64
#define RS_OWNER_IDLE "-"
#define RS_TOKEN_LEN 8
typedef struct rs_record {
  char path[4096];
  char oid[RS_OID_MAX];
  uint64_t size;
  uint32_t stripe;
  char owner[24];              /* the token alone, or "-" */
  double stamp;                /* epoch seconds the owner stored it; 0: not known */
  char value[RS_RECORD_MAX];   /* as stored, for guarded changes */
} rs_record;
/*
 * A writer being written to shows a sign of life at least this often
 * (seconds): it sends what it holds in its buffer (its chunks' mtimes), and
 * after a pause this long it stores its record again first (a fresh stamp,
 * guarded: a record claimed meanwhile makes the write fail, not_found).
 */
#define RS_ALIVE_EVERY 1.0
void rs_pending_object(char *out, size_t len, const char *path);
int rs_record_parse(const char *key, const char *val, rs_record *r);
int rs_pending_list(rs_conn *c, const char *path, int tree, rs_record **out,
                    size_t *n);
int rs_pending_put(rs_conn *c, rs_record *r, const char *expect);
int rs_pending_claim(rs_conn *c, const rs_record *r);
/* Drops the data of a record its caller claimed. */
int rs_record_discard(rs_conn *c, const rs_record *r, int blob_rc,
                      const rs_meta *m);
int rs_pending_drop(rs_conn *c, const char *path, int tree, int *found);

/* ---- file.c: files, a directory entry naming a blob. */
int rs_file_commit(rs_conn *c, const char *path, const char *oid, char *old,
                   const char *gen, int missing, int flags, int *linked,
                   rs_status *st);
/* rs_put_fresh in two halves, for batches (file.c). */
int rs_put_fresh_start(rs_conn *c, const char *path, const void *data,
                       size_t len, int flags, int missing, char *oid,
                       int *pending, rs_status *st);
void rs_put_fresh_linked(rs_conn *c, const char *path, const char *oid);
int rs_put_fresh_link(rs_conn *c, const char *path, const char *oid,
                      size_t len, int known, int made, rs_status *st);

#endif
