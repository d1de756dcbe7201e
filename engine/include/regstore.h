/*
 * regstore.h - a virtual file system on Ceph RADOS, for container registries.
 *
 * Layout in RADOS (one pool, optionally one namespace):
 *   - a file's bytes live in objects "blob:<uuid>-<n>", chunk n holding bytes
 *     [n * chunk_size, (n + 1) * chunk_size); the committed size is the
 *     xattr "total-size" (decimal ASCII) of chunk 0, which always exists;
 *   - each directory is an object named by its path ("/a/b"); its omap maps a
 *     child's name to the child's blob id ("blob:<uuid>"), or to an empty
 *     value for a subdirectory.  The root "/" always exists;
 *   - a writer's data that is not committed yet is recorded in the object
 *     "pending:<dir>", whose omap maps "<name>/<blob id>" to its byte count.
 *
 * Conventions, as in librados.h:
 *   - handles are opaque pointers, made by rs_*_open/rs_connect and released
 *     by the matching close function, which also frees everything they own;
 *   - every function returns 0 (or a byte count) on success and a negative
 *     errno on failure; the RS_E* codes below add the file-system meanings;
 *   - strings handed back through out-parameters are malloc'ed and owned by
 *     the caller (free with free()); an rs_status filled on failure holds the
 *     message naming the path;
 *   - a handle must be used by one thread at a time.  regstore registers no
 *     librados completion callbacks: the calling thread waits on its own
 *     completions, so nothing of the caller's runs on a librados thread.  A
 *     writer with a hash attached has one helper thread that hashes the
 *     bytes of large writes while they are sent; it never calls back.
 *
 * Errors common to the calls that take a path: -RS_EINVALPATH for a path
 * that breaks the rules, -RS_ENOENT when it (or, for a move, the source) is
 * missing, -RS_ENOTDIR when a file stands where a directory should be,
 * -RS_EISDIR for a file operation on a directory, -ETIMEDOUT when the
 * cluster did not answer within the connection's timeout, -EPERM or -EACCES
 * when cephx refused, and any other -errno from librados.
 */
#ifndef REGSTORE_H
#define REGSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RS_VERSION "0.1.0"

#define RS_DEFAULT_CHUNK_SIZE (4u << 20)
#define RS_DEFAULT_TIMEOUT 30
#define RS_DEFAULT_WINDOW 16
/* Streams move data in operations of at most this many bytes. */
#define RS_IO_UNIT (1u << 20)
#define RS_MAX_CHUNK_SIZE (64u << 20)

/*
 * Status codes.  Each failure is a negative number: either -errno from the
 * system or librados, or one of these.  rs_code_name maps both onto the
 * stable code names of the Lua contract ("not_found", "io", ...).
 */
enum {
  RS_EINVALPATH = 10001,   /* path breaks ^(/[A-Za-z0-9._-]+)+$ */
  RS_EINVALOFFSET = 10002, /* offset negative or past the end */
  RS_ENOTDIR = 10003,      /* a path component is a file */
  RS_EISDIR = 10004,       /* a file operation on a directory */
  RS_EEXIST = 10005,       /* a create that must not replace */
  RS_ENOENT = 10006,       /* path not found */
  RS_EHELD = 10007,        /* a lease another owner holds (leases only) */
  RS_ELIMIT = 10008        /* an add that would pass a counter's limit */
};

/* Why an operation failed: the code and a message naming the path. */
typedef struct rs_status {
  int code;        /* negative: -errno or -RS_E* */
  char msg[512];   /* "regstore: not found: /a/b" */
} rs_status;

/* Stable code name for a status ("not_found", "timeout", "io", ...). */
const char *rs_code_name(int code);

typedef struct rs_conn rs_conn;
typedef struct rs_writer rs_writer;
typedef struct rs_reader rs_reader;
typedef struct rs_sha256 rs_sha256;

typedef struct rs_options {
  const char *pool;       /* required */
  const char *conf;       /* NULL: $CEPH_CONF, then librados' search */
  const char *id;         /* cephx id; NULL: "admin" */
  const char *keyring;    /* NULL: from the conf */
  const char *namespace_; /* NULL: the default namespace */
  uint32_t chunk_size;    /* 0: RS_DEFAULT_CHUNK_SIZE */
  double timeout;         /* seconds; <= 0: RS_DEFAULT_TIMEOUT */
  int window;             /* I/O operations in flight per stream (each at
                             most RS_IO_UNIT bytes); 0: RS_DEFAULT_WINDOW */
} rs_options;

typedef struct rs_stat {
  uint64_t size;   /* 0 for a directory */
  time_t mtime;    /* commit time of a file; 0 for a directory */
  int is_dir;
} rs_stat;

/*
 * Connects, opens the pool and makes sure the root directory exists (a
 * client without write access skips that: the root then reads as empty).
 * On success *out owns a cluster handle and an I/O context.
 */
int rs_connect(const rs_options *opts, rs_conn **out, rs_status *st);
/*
 * Closes the handle.  Readers and writers opened on it, and holds, keep the
 * connection until they are closed or released; the last one shuts it down.
 */
void rs_close(rs_conn *c);
/*
 * A hold keeps the connection up across a stretch in which rs_close may be
 * called on it (a walk whose callback closes its driver): rs_close then only
 * marks the handle closed, and the matching rs_conn_release shuts it down.
 */
void rs_conn_hold(rs_conn *c);
void rs_conn_release(rs_conn *c);
/*
 * A sibling of c: the same cluster handle, pool and namespace, with its own
 * I/O context and per-call state, so that it (and what is opened on it) may
 * be used on another thread than c, one thread at a time.  Close it with
 * rs_close; the cluster handle stays up until the last of c and its
 * siblings is closed, on whichever thread.
 */
int rs_conn_sibling(rs_conn *c, rs_conn **out, rs_status *st);
uint32_t rs_chunk_size(const rs_conn *c);

/* Checks a path against the contract; allow_root admits "/". */
int rs_path_valid(const char *path, int allow_root);

/* Flags of rs_put and rs_move. */
enum {
  RS_NOREPLACE = 1, /* fail with -RS_EEXIST when the destination is a file */
  RS_IN_ORDER = 2,  /* rs_put_many: the new directories of hinted puts are
                       linked in the items' order, one after the other */
  RS_SHALLOW = 4    /* rs_batch: a get or stat that finds a directory on its
                       path missing answers -RS_ENOENT at once, without
                       reading the levels above (which tell a path that
                       runs through a file, -RS_ENOTDIR, from a missing one) */
};

/*
 * Replaces the whole file with len bytes, atomically; with RS_NOREPLACE
 * only creates it (-RS_EEXIST, nothing changed, when a file is there).
 */
int rs_put(rs_conn *c, const char *path, const void *data, size_t len,
           int flags, rs_status *st);
/*
 * rs_put, for a path whose directory (and missing - 1 of its parents) the
 * caller knows to be missing, as a tree loaded into a fresh destination
 * is: it skips rs_put's lookups (a put into a new directory costs three
 * RADOS ops instead of five).  The belief is checked, not trusted: the
 * directory is created exclusively with the entry, and a directory that
 * exists turns the put into rs_put's (a failed create more), after which
 * the directory is linked into its parent again (idempotent), so that one
 * a killed put made and never linked is reachable again.  The result is
 * always rs_put's.  missing <= 0: rs_put.
 */
int rs_put_fresh(rs_conn *c, const char *path, const void *data, size_t len,
                 int flags, int missing, rs_status *st);
/* Reads the whole file: *data is malloc'ed (owned by the caller). */
int rs_get(rs_conn *c, const char *path, char **data, size_t *len,
           rs_status *st);
int rs_stat_path(rs_conn *c, const char *path, rs_stat *out, rs_status *st);
/*
 * 0 when a file is there, -RS_EISDIR for a directory ("/" included),
 * -RS_ENOENT when nothing is: one lookup in the path's directory (a name
 * always has its data), the levels above a missing directory never read,
 * so a path that runs through a file is -RS_ENOENT too.
 */
int rs_exists(rs_conn *c, const char *path, rs_status *st);
/*
 * Direct children of a directory, sorted, as base names.  *names is a
 * malloc'ed array of *count malloc'ed strings; free with rs_names_free.
 */
int rs_list(rs_conn *c, const char *path, char ***names, size_t *count,
            rs_status *st);
/*
 * A page of the same listing: at most max names (0: all) that sort after
 * `after` (NULL or "": from the start), in one round trip per 1024 names.
 */
int rs_list_page(rs_conn *c, const char *path, const char *after, size_t max,
                 char ***names, size_t *count, rs_status *st);
void rs_names_free(char **names, size_t count);
/*
 * Moves a file; an existing file at dst is replaced and its data removed,
 * or with RS_NOREPLACE the move fails with -RS_EEXIST and changes nothing
 * (decided atomically on dst's directory entry: of two moves onto one
 * missing dst exactly one succeeds).  -RS_EISDIR when src or dst is a
 * directory; failures name src.
 */
int rs_move(rs_conn *c, const char *src, const char *dst, int flags,
            rs_status *st);
/* Deletes a file, or a directory with everything under it. */
int rs_delete(rs_conn *c, const char *path, rs_status *st);

/*
 * Batch calls: n independent calls of rs_get, rs_put or rs_stat_path (and,
 * in rs_batch, rs_list and rs_exists), at
 * most `window` of them in progress at once (0: the connection's window;
 * at most RS_BATCH_MAX_WINDOW).  Each item is the single call, with its own
 * result: rc (0 or the call's failure) and, on failure, st naming its path.
 * A missing path is that item's -RS_ENOENT and a failed read that item's
 * own code, never the batch's; items are independent (duplicates included:
 * two puts of one path race as two rs_put calls would).  The items run on
 * the calling thread and on up to window - 1 helper threads of the call,
 * each waiting on its own completions; all are joined before the call
 * returns, and no helper touches anything of the caller's but its items.
 * The batch as a whole keeps one deadline, the connection's timeout from
 * the call's start: an item not done by then fails with -ETIMEDOUT.  Meant
 * for many small files (links, manifests, a registry's small blobs).
 * Returns 0 (each item says how it went), or -EINVAL for a bad argument
 * (no item is touched).
 */
#define RS_BATCH_MAX_WINDOW 256
/* What an item of rs_batch does (the *_many calls set it for every item). */
enum { RS_BATCH_GET = 1, RS_BATCH_PUT = 2, RS_BATCH_STAT = 3, RS_BATCH_LIST = 4,
       RS_BATCH_EXISTS = 5 /* rs_exists */ };
typedef struct rs_batch_item {
  int op;               /* in, rs_batch: RS_BATCH_GET, _PUT, _STAT, _LIST or _EXISTS */
  const char *path;     /* in */
  const void *data;     /* in, rs_put_many: the content */
  size_t len;           /* in, rs_put_many: its length */
  char *content;        /* out, rs_get_many: malloc'ed (free with free()) */
  size_t content_len;   /* out, rs_get_many */
  rs_stat info;         /* out, rs_stat_many */
  char **names;         /* out, RS_BATCH_LIST: as rs_list's (rs_names_free) */
  size_t count;         /* out, RS_BATCH_LIST */
  int rc;               /* out: 0, or the item's failure */
  int missing;          /* in, rs_put_many: > 0 puts with rs_put_fresh */
  rs_status st;         /* out: the failure, naming the path */
} rs_batch_item;
int rs_get_many(rs_conn *c, rs_batch_item *items, size_t n, int window);
/* flags: as rs_put's (RS_NOREPLACE), for every item. */
int rs_put_many(rs_conn *c, rs_batch_item *items, size_t n, int flags,
                int window);
int rs_stat_many(rs_conn *c, rs_batch_item *items, size_t n, int window);
/* Items of different kinds in one batch: each item's op says which call
 * (RS_BATCH_LIST: rs_list, the whole listing of a directory). */
int rs_batch(rs_conn *c, rs_batch_item *items, size_t n, int flags, int window);

/*
 * Walk: calls fn for every entry under path in lexical depth-first order.
 * fn returns RS_WALK_CONTINUE, RS_WALK_SKIP (don't descend) or RS_WALK_STOP.
 * A negative return from fn ends the walk and is returned.
 */
enum { RS_WALK_CONTINUE = 0, RS_WALK_SKIP = 1, RS_WALK_STOP = 2 };
typedef int (*rs_walk_fn)(void *arg, const char *path, const rs_stat *info);
int rs_walk(rs_conn *c, const char *path, rs_walk_fn fn, void *arg,
            rs_status *st);

/*
 * Writers.  append == 0 starts a new file (the old content stays visible
 * until commit); append != 0 continues an uncommitted file left by a closed
 * writer, or a committed one.  Path errors are reported here.
 */
int rs_writer_open(rs_conn *c, const char *path, int append, rs_writer **out,
                   rs_status *st);
int rs_writer_write(rs_writer *w, const void *data, size_t len, rs_status *st);
/* The same for n pieces, in order, as one write (hashed as one). */
typedef struct rs_piece {
  const void *data;
  size_t len;
} rs_piece;
int rs_writer_writev(rs_writer *w, const rs_piece *pieces, size_t n, rs_status *st);
uint64_t rs_writer_size(const rs_writer *w);
/*
 * Attaches a hash that sees every byte written from now on (not owned; it
 * must outlive the writer or be detached with NULL).  Writes of 256 KiB or
 * more are hashed on a helper thread while they are sent; every write has
 * been hashed when it returns.
 */
void rs_writer_hash(rs_writer *w, rs_sha256 *h);
/*
 * Makes the content visible, atomically; the writer is then finished.
 * -RS_ENOENT when a delete of the path (or fsck's repair of a writer idle
 * for longer than its grace) dropped the uncommitted data; -RS_EISDIR
 * when the path is a directory now (nothing changes).
 */
int rs_writer_commit(rs_writer *w, rs_status *st);
/* Drops what this writer wrote; the writer is then finished. */
int rs_writer_cancel(rs_writer *w, rs_status *st);
/* Flushes and records the uncommitted data so that a later append can go on. */
int rs_writer_close(rs_writer *w, rs_status *st);
/* Frees the writer; an unfinished one is closed first (errors are dropped). */
void rs_writer_free(rs_writer *w);

/*
 * Readers.  offset == size is allowed and reads nothing; past it is
 * -RS_EINVALOFFSET.  The size is taken at open.
 */
int rs_reader_open(rs_conn *c, const char *path, uint64_t offset,
                   rs_reader **out, rs_status *st);
/*
 * Reads up to max bytes: *data points into the reader's buffer, valid until
 * the next call.  Returns the byte count, 0 at end of file, or < 0:
 * -RS_ENOENT when the file was replaced or deleted under the reader.
 */
long rs_reader_read(rs_reader *r, const char **data, size_t max,
                    rs_status *st);
uint64_t rs_reader_size(const rs_reader *r);
void rs_reader_free(rs_reader *r);

/*
 * Streaming SHA-256 (OpenSSL's libcrypto).  The saved state is 108 bytes,
 * the layout of Go's crypto/sha256 MarshalBinary (distribution's resumable
 * hash states): "sha\x03", the eight 32-bit words of the chaining value
 * (big-endian), the 64-byte block buffer (its first len % 64 bytes valid,
 * the rest zero), the byte count hashed so far (64-bit big-endian).
 */
#define RS_SHA256_STATE_LEN 108
rs_sha256 *rs_sha256_new(void);
void rs_sha256_free(rs_sha256 *h);
void rs_sha256_update(rs_sha256 *h, const void *data, size_t len);
uint64_t rs_sha256_size(const rs_sha256 *h);
/* The digest of what was hashed so far; the hash can go on after. */
void rs_sha256_digest(const rs_sha256 *h, unsigned char out[32]);
void rs_sha256_save(const rs_sha256 *h, unsigned char out[RS_SHA256_STATE_LEN]);
/* Returns -EINVAL when the state is malformed. */
int rs_sha256_restore(rs_sha256 *h, const unsigned char *state, size_t len);

/*
 * Consistency check of the connection's whole namespace: every object is
 * listed (rados_nobjects_list) and checked against the engine's invariants.
 * Each finding goes to fn (when given; a non-zero return stops the check).
 * With repair set, each finding is resolved as it is found.  Findings whose
 * objects changed less than grace seconds ago are left alone: a protocol
 * that is still running may be about to resolve them itself.  Kinds:
 *   "stale_ref"         a back-reference on a blob whose name no longer
 *                       points at it (repair: the reference goes);
 *   "unreferenced_blob" a blob that no name and no pending record holds
 *                       (repair: removed);
 *   "orphan_chunks"     chunks of a blob whose chunk 0 is gone (removed);
 *   "stale_pending"     a pending record whose data is gone, or whose
 *                       writer's own last sign of life (its record's
 *                       stamp, its newest chunk) is older than grace
 *                       (removed with its data);
 *   "dangling_dir"      a directory entry whose object is missing
 *                       (unlinked, unless the directory came back);
 *   "unlinked_dir"      a directory object its parent does not name
 *                       (linked when it holds entries, else removed);
 *   "dangling_name"     a file name whose blob is missing: data was lost
 *                       (repair unlinks the name);
 *   "bad_metadata"      a blob whose size or stripe record is unreadable
 *                       (reported only).
 */
typedef struct rs_fsck_opts {
  double grace;   /* seconds; < 0: 3600 */
  int repair;
} rs_fsck_opts;
typedef struct rs_finding {
  const char *kind;
  const char *object;  /* the RADOS object concerned */
  const char *path;    /* the virtual path concerned, or "" */
  const char *detail;  /* a human-readable explanation */
  int repaired;
} rs_finding;
typedef int (*rs_fsck_fn)(void *arg, const rs_finding *f);
typedef struct rs_fsck_report {
  uint64_t objects;    /* objects looked at */
  uint64_t findings;
  uint64_t repaired;
} rs_fsck_report;
int rs_fsck(rs_conn *c, const rs_fsck_opts *o, rs_fsck_fn fn, void *arg,
            rs_fsck_report *out, rs_status *st);

/* A new random uuid, 36 characters and a NUL. */
void rs_uuid(char out[37]);
/*
 * Leases: cluster-wide exclusive locks with a duration (RADOS advisory
 * locks on an object "lease:<name>" of the namespace), for work that must
 * run once across processes and nodes.  Names are 1 to 57 and owners 1 to
 * 128 of [A-Za-z0-9._-] (-EINVAL otherwise).  rs_lease_take takes the lease for
 * secs (0 < secs <= 7 days) or renews it when owner holds it; -RS_EHELD
 * when another owner holds it and it has not expired.  rs_lease_drop releases
 * it (-RS_ENOENT when owner does not hold it).  rs_lease_holder writes the
 * holder's name into owner (len bytes, cut to fit), or "" when nobody holds
 * it; an expired lease may still be listed until someone takes it.
 */
int rs_lease_take(rs_conn *c, const char *name, const char *owner, double secs,
                  rs_status *st);
int rs_lease_drop(rs_conn *c, const char *name, const char *owner, rs_status *st);
int rs_lease_holder(rs_conn *c, const char *name, char *owner, size_t len,
                    rs_status *st);
/*
 * Counters: signed 64-bit values shared by processes and nodes (an object
 * "counter:<name>" of the namespace; names are 1 to 55 of [A-Za-z0-9._-],
 * -EINVAL otherwise).  rs_counter_get reads one (0 when it was never
 * set).  rs_counter_add adds delta atomically (a guarded compare-and-set,
 * retried when another add got there first) and writes the new value to
 * *value (NULL: not wanted).  With limit >= 0, a positive delta that would
 * take the value past limit changes nothing and fails with -RS_ELIMIT
 * (*value: the value it found); a negative delta always applies.  -RS_EHELD
 * when other adds won 64 times in a row; -EIO when the object holds no
 * number.
 */
int rs_counter_get(rs_conn *c, const char *name, int64_t *value, rs_status *st);
int rs_counter_add(rs_conn *c, const char *name, int64_t delta, int64_t limit,
                   int64_t *value, rs_status *st);


#ifdef __cplusplus
}
#endif
#endif
