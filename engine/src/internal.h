/* Shared by the engine's sources; not installed. */
#ifndef RS_INTERNAL_H
#define RS_INTERNAL_H

#include <rados/librados.h>

#include "regstore.h"

#define RS_BLOB_PREFIX "blob:"
#define RS_PENDING_PREFIX "pending:"
#define RS_SIZE_XATTR "total-size"
#define RS_MOVE_XATTR "move-intent"
#define RS_OMAP_PAGE 1024

/* crash.c: named steps of multi-object protocols, for crash specs only. */
#ifdef REGSTORE_CRASH_POINTS
void rs_crash_point(const char *point);
#define RS_CRASH(point) rs_crash_point(point)
#else
#define RS_CRASH(point) ((void)0)
#endif
/* Bounded retries when a guarded op loses a race. */
#define RS_RETRIES 32
/* Longest oid: "blob:" + uuid + "-" + 20 digits. */
#define RS_OID_MAX 64

struct rs_conn {
  rados_t cluster;
  rados_ioctx_t io;
  uint32_t chunk;
  uint32_t unit;  /* bytes per I/O operation: min(chunk, RS_IO_UNIT) */
  int window;
  int refs;   /* the handle itself plus each open reader and writer */
  int closed;
  struct rs_oidcache_slot *oids;
};

/* oidcache.c: which blob a path named last (a hint, never authoritative). */
#define RS_OIDCACHE_SLOTS 4096
int rs_oidcache_init(rs_conn *c);
void rs_oidcache_free(rs_conn *c);
const char *rs_oidcache_get(rs_conn *c, const char *path);
void rs_oidcache_set(rs_conn *c, const char *path, const char *oid);

/* status.c */
int rs_fail(rs_status *st, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rs_fail_rados(rs_status *st, int rc, const char *path, const char *what);
void rs_conn_unref(rs_conn *c);

/* path.c: a path split into its parent directory and base name. */
typedef struct rs_split {
  char dir[4096];
  const char *base;    /* points into the original path */
} rs_split;
int rs_path_split(const char *path, rs_split *out);
void rs_path_parent(const char *path, char *out, size_t outlen);
int rs_path_join(char *out, size_t outlen, const char *dir, const char *base);

/* dir.c: directory objects and their omaps. */
enum { RS_ENT_NONE, RS_ENT_DIR, RS_ENT_FILE, RS_ENT_ROOT };
typedef struct rs_entry {
  int kind;
  char oid[RS_OID_MAX];   /* for a file */
  int dir_exists;         /* the parent object exists */
} rs_entry;
int rs_dir_lookup(rs_conn *c, const char *dir, const char *name, rs_entry *e);
typedef struct rs_lookup {
  rados_read_op_t op;
  rados_completion_t comp;
  rados_omap_iter_t it;
  int prval;
} rs_lookup;
int rs_lookup_start(rs_conn *c, rs_lookup *l, const char *dir, const char *name);
int rs_lookup_finish(rs_lookup *l, rs_entry *e);
int rs_resolve(rs_conn *c, const char *path, rs_entry *e, rs_status *st);
int rs_dir_check_ancestors(rs_conn *c, const char *dir, int *missing);
int rs_dir_link_file(rs_conn *c, const char *dir, const char *name,
                     const char *oid, char *old, int missing);
int rs_dir_link_chain(rs_conn *c, const char *dir, int known);
int rs_dir_unlink(rs_conn *c, const char *dir, const char *name,
                  const char *expect);
int rs_dir_prune(rs_conn *c, const char *dir);
int rs_dir_forget(rs_conn *c, const char *dir);
int rs_obj_exists(rs_conn *c, const char *oid);
int rs_dir_swap(rs_conn *c, const char *dir, const char *src, const char *dst,
                const char *oid, const char *old_dst);
typedef struct rs_dirent {
  char *name;
  char *val;     /* "" for a subdirectory */
} rs_dirent;
int rs_dir_read(rs_conn *c, const char *dir, rs_dirent **ents, size_t *n,
                uint64_t *version, int with_vals);
void rs_dirents_free(rs_dirent *ents, size_t n);
int rs_dir_read_range(rs_conn *c, const char *dir, const char *after,
                      size_t max, rs_dirent **ents, size_t *n);
int rs_obj_remove_if_version(rs_conn *c, const char *oid, uint64_t version);
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
void rs_prefetch_abandon(rs_prefetch *p);

/* pending.c: uncommitted writer data, in "pending:<dir>". */
#define RS_RECORD_MAX 24
int rs_pending_get(rs_conn *c, const char *dir, const char *name, char *oid,
                   uint64_t *size, char value[RS_RECORD_MAX]);
int rs_pending_set(rs_conn *c, const char *dir, const char *name,
                   const char *oid, uint64_t size, const char *expect,
                   char value[RS_RECORD_MAX]);
int rs_pending_claim(rs_conn *c, const char *dir, const char *name,
                     const char *oid, const char *expect);
int rs_pending_drop(rs_conn *c, const char *dir, const char *name,
                    const char *keep, int *found);

/* blob.c: striped data objects. */
void rs_blob_new(char oid[RS_OID_MAX]);
void rs_chunk_name(char *out, const char *oid, uint64_t index);
uint64_t rs_chunk_count(const rs_conn *c, uint64_t size);
int rs_parse_size(const char *s, size_t len, uint64_t *out);
typedef struct rs_blobinfo {
  uint64_t size;
  time_t mtime;
  int has_size;
  char intent[8192];   /* "src\ndst" of an unfinished move, or "" */
} rs_blobinfo;
int rs_blob_info(rs_conn *c, const char *oid, rs_blobinfo *info);
int rs_blob_remove_chunks(rs_conn *c, const char *oid, uint64_t from,
                          uint64_t count);
int rs_blob_remove(rs_conn *c, const char *oid, uint64_t size);
int rs_blob_remove_uncommitted(rs_conn *c, const char *oid, uint64_t size);
int rs_blob_drop(rs_conn *c, const char *oid, const char *unlinked_path);
int rs_blob_clear_intent(rs_conn *c, const char *oid, const char *value);
#define RS_STAT_WINDOW 64
typedef struct rs_blobstat {
  uint64_t size;
  time_t mtime;
  int has_intent;
  int rc;          /* of this blob's read: 0, -ENOENT, ... */
} rs_blobstat;
int rs_blob_stat_many(rs_conn *c, const char *const *oids, size_t n,
                      rs_blobstat *out);
int rs_blob_drop_many(rs_conn *c, const char *const *oids,
                      const char *const *paths, size_t n);
int rs_blob_set_size(rs_conn *c, const char *oid, uint64_t size,
                     const void *head, size_t headlen, int must_exist);

/* aio.c: a bounded window of asynchronous operations. */
typedef struct rs_aio {
  rados_completion_t *comp;
  int cap, used;
  int err;           /* first failure seen */
  int ok_enoent;     /* an absent object is no failure (removes) */
} rs_aio;
int rs_aio_init(rs_aio *a, int cap);
void rs_aio_free(rs_aio *a);
/* Waits for a free slot and returns a new completion for it. */
int rs_aio_slot(rs_aio *a, rados_completion_t *out);
void rs_aio_unslot(rs_aio *a);
int rs_aio_read(rs_conn *c, rados_read_op_t *op, const char *oid,
                rados_completion_t *comp);
int rs_aio_wait(rados_completion_t comp);
int rs_aio_wait_all(rs_aio *a);

/* file.c */
int rs_file_commit(rs_conn *c, const char *path, const char *oid, char *old,
                   int missing, int *linked, rs_status *st);

/* hashjob.c: a thread that hashes a write's bytes beside the writer. */
#define RS_HASH_OFFLOAD (256u << 10) /* smaller writes are hashed inline */
typedef struct rs_hashjob rs_hashjob;
rs_hashjob *rs_hashjob_new(rs_sha256 *h);
void rs_hashjob_start(rs_hashjob *j, const void *data, size_t len);
void rs_hashjob_wait(rs_hashjob *j);
void rs_hashjob_free(rs_hashjob *j);

/* stripe.c */
size_t rs_stripe_room(const rs_conn *c, uint64_t pos);
int rs_stripe_write(rs_conn *c, rs_aio *aio, const char *oid, uint64_t pos,
                    const void *data, size_t len);
int rs_stripe_write_all(rs_conn *c, const char *oid, uint64_t first,
                        const char *data, size_t len);
int rs_stripe_read(rs_conn *c, const char *oid, uint64_t off, char *buf,
                   size_t len);

#endif
