/*
 * Writers.  Bytes collect in one buffer of an I/O unit; each full unit goes
 * out asynchronously, a bounded window of them in flight.  Nothing is
 * visible until commit: a new file (or a new version of an existing one) is
 * a new blob that commit seals and links; an append to a committed file
 * writes past its committed size, which commit then raises.
 *
 * Every writer holds its pending record (pending.c) with its own owner
 * token from the first byte it sends (an appender in place: from open), so
 * no two writers ever put bytes into one blob: a second appender gets a
 * clear error.  A writer that finds its record claimed by someone else (a
 * delete) knows its data is being dropped, and only ever removes bytes it
 * wrote itself.
 *
 * Liveness (for fsck, which reclaims the record of a writer gone for longer
 * than its grace): a writer's own signs of life are its record's stamp
 * (set whenever it stores the record) and the mtimes of the chunks it
 * writes.  A writer that is being written to shows one at least every
 * RS_ALIVE_EVERY seconds at no more than one small op per such period:
 * a stream of full I/O units shows it through its data writes alone (no
 * extra op); bytes waiting in the buffer are sent after that long (a short
 * data write, piggy-backed on data it sends anyway); and a writer that
 * sent nothing for that long stores its record again (a fresh stamp) before
 * its next send, guarded by the value it knows: when fsck (or a delete)
 * claimed the record meanwhile, the write fails with not_found and nothing
 * more is sent, so a reclaimed writer never puts bytes where another writer
 * may be working now.  Dating a writer by the shared "pending:/<top>"
 * object (what fsck did before) let one long upload be killed while it
 * streamed, and let busy neighbours keep dead writers alive.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { W_OPEN, W_DONE, W_CLOSED };

struct rs_writer {
  rs_conn *c;
  char path[4096];
  rs_split sp;
  rs_record rec;         /* path, blob, size, stripe, owner: this writer's record */
  int recorded;          /* rec is stored, rec.value as this writer last saw it */
  char old[RS_OID_MAX];  /* the committed blob at open, "" if none */
  char gen[RS_GEN_MAX];  /* the directory's generation of subdirectories at open */
  int missing;           /* for rs_dir_link_file: 0 when the directory exists */
  int inplace;           /* appending to the committed blob itself */
  int guard_ref;         /* its commit checks that path still names it */
  uint64_t committed;    /* its committed size */
  uint64_t size;         /* bytes in the file so far */
  uint32_t stripe;       /* the blob's */
  char *buf;             /* bytes for file positions [buf_pos, buf_pos + buf_len) */
  uint64_t buf_pos;
  size_t buf_len;
  size_t buf_cap;        /* room up to the I/O unit's end, from buf_pos */
  rs_aio aio;
  rs_sha256 *hash;
  rs_hashjob *hashjob;   /* hashes large writes on a thread of its own */
  double last_sign;      /* monotonic seconds of its last record store or send */
  int lost;              /* its record was claimed by fsck or a delete */
  int failed;            /* the first failed send: a hole; fails every later call */
  int state;
};

static double mono_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts the buffer afresh at the file's end. */
static void rebuffer(rs_writer *w) {
  w->buf_pos = w->size;
  w->buf_cap = rs_stripe_room(w->stripe, w->size);
  w->buf_len = 0;
}

static int abandon(rs_writer *w, int mine, rs_status *st);
static int dropped(rs_writer *w, rs_status *st);

/* The failure of every call of a writer whose record was claimed. */
static int lost(rs_writer *w, rs_status *st) {
  return rs_fail(st, -RS_ENOENT, w->path, "uncommitted data was deleted meanwhile (by delete or by fsck --repair)");
}

static int busy(rs_writer *w, rs_status *st) {
  return rs_fail(st, -EBUSY, w->path, "another writer is appending to it, cannot open");
}

/*
 * Appends in place to the committed blob: the blob is claimed for this path
 * (refs.c), then the path's record is made, taken from open on.  A claim
 * held already, for any path, is busy.
 */
static int claim_inplace(rs_writer *w, const rs_entry *e, rs_status *st) {
  rs_blobinfo info;
  size_t i;
  int rc;
  rc = rs_blob_claim_append(w->c, e->oid, w->path);
  if (rc == -ENOENT) return -EAGAIN;
  /* Held already: a writer between its steps (a commit or cancel
   * finishing), or one that died there (fsck frees it). */
  if (rc == -EBUSY || rc == -ECANCELED) return busy(w, st);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  RS_CRASH("append.blob_claimed");
  /* The size is read once the claim is held: no commit can move it now. */
  rc = rs_blob_info(w->c, e->oid, &info, 1);
  if (rc == 0 && (info.m.bad || !info.m.has_size || !rs_blob_intact(&info))) {
    rs_blobinfo_free(&info);
    rc = -EIO;
  }
  if (rc < 0) {
    rs_blob_unclaim_append(w->c, e->oid, w->path);
    if (rc == -ENOENT) return -EAGAIN; /* replaced meanwhile: look again */
    if (rc == -EIO) return rs_fail(st, -EIO, w->path, "unreadable size or stripe record, cannot append to");
    return rs_fail_rados(st, rc, w->path, "open");
  }
  for (i = 0; i < info.nrefs; i++)
    if (strcmp(info.refs[i].name, w->path) == 0) w->guard_ref = 1;
  w->inplace = 1;
  w->size = w->committed = info.m.size;
  w->stripe = info.m.stripe;
  rs_blobinfo_free(&info);
  memcpy(w->rec.oid, e->oid, RS_OID_MAX);
  w->rec.size = w->committed;
  w->rec.stripe = w->stripe;
  rc = rs_pending_put(w->c, &w->rec, "");
  if (rc == -ECANCELED) return -EAGAIN; /* a record for it appeared: look again */
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  w->recorded = 1;
  return 0;
}

/*
 * Whether an idle record of a new blob lost its data: the blob is gone, or
 * it is a committed blob that path no longer names (an append in place to
 * a version that was replaced since).  Such a record is dropped.
 */
static int stale_record(rs_writer *w, const rs_record *r, const rs_entry *e) {
  rs_blobinfo info;
  int rc;
  if (r->size == 0 || (e->kind == RS_ENT_FILE && strcmp(r->oid, e->oid) == 0)) return 0;
  rc = rs_blob_info(w->c, r->oid, &info, 0);
  if (rc < 0 && rc != -ENOENT) return rc;
  if (rc == 0 && !info.m.has_size) return 0;
  if (rs_pending_claim(w->c, r) == 0) rs_record_discard(w->c, r, rc, &info.m);
  return 1;
}

/* Goes on with an idle record: the most advanced one this writer can take. */
static int take_record(rs_writer *w, const rs_record *r, const rs_entry *e,
                       rs_status *st) {
  char owner[sizeof w->rec.owner];
  int rc = stale_record(w, r, e);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  if (rc) return -EAGAIN;
  memcpy(owner, w->rec.owner, sizeof owner);
  w->rec = *r;
  memcpy(w->rec.owner, owner, sizeof owner);
  rc = rs_pending_put(w->c, &w->rec, r->value);
  if (rc == -ECANCELED) return -EAGAIN;
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  w->recorded = 1;
  w->stripe = r->stripe;
  w->size = r->size;
  w->inplace = e->kind == RS_ENT_FILE && strcmp(r->oid, e->oid) == 0;
  if (w->inplace) {
    rs_blobinfo info;
    size_t i;
    rc = rs_blob_info(w->c, r->oid, &info, 1);
    if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
    w->committed = info.m.size;
    for (i = 0; i < info.nrefs; i++)
      if (strcmp(info.refs[i].name, w->path) == 0) w->guard_ref = 1;
    rs_blobinfo_free(&info);
  }
  return 0;
}

static int open_append(rs_writer *w, const rs_entry *e, rs_status *st) {
  rs_record *recs;
  size_t n, i;
  const rs_record *best = NULL;
  int rc = rs_pending_list(w->c, w->path, 0, &recs, &n), owned = 0;
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  for (i = 0; i < n; i++) {
    if (strcmp(recs[i].owner, RS_OWNER_IDLE) != 0) {
      owned = 1;
    } else if (!best || recs[i].size > best->size) {
      best = &recs[i];
    }
  }
  if (best) rc = take_record(w, best, e, st);
  else if (e->kind == RS_ENT_FILE) rc = claim_inplace(w, e, st);
  else rc = owned ? busy(w, st) : rs_fail(st, -RS_ENOENT, w->path, NULL);
  if (rc == -EAGAIN && owned && !best) rc = busy(w, st);
  free(recs);
  return rc;
}

static int open_path(rs_writer *w, int append, rs_status *st) {
  rs_entry e;
  int rc = rs_dir_lookup(w->c, w->sp.dir, w->sp.base, &e);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "open");
  if (e.kind == RS_ENT_DIR) return rs_fail(st, -RS_EISDIR, w->path, NULL);
  if (!e.dir_exists) {
    rc = rs_dir_check_ancestors(w->c, w->sp.dir, &w->missing);
    if (rc == -RS_ENOTDIR) return rs_fail(st, rc, w->path, NULL);
    if (rc != -RS_ENOENT) return rs_fail_rados(st, rc, w->path, "open");
  }
  if (e.kind == RS_ENT_FILE) memcpy(w->old, e.oid, RS_OID_MAX);
  memcpy(w->gen, e.gen, sizeof w->gen);
  if (append) return open_append(w, &e, st);
  rs_blob_new(w->rec.oid);
  return 0;
}

int rs_writer_open(rs_conn *c, const char *path, int append, rs_writer **out,
                   rs_status *st) {
  rs_writer *w;
  char token[37];
  int rc, tries;
  *out = NULL;
  if (!rs_path_valid(path, 0)) return rs_fail(st, -RS_EINVALPATH, path, NULL);
  rs_deadline_start(c);
  w = calloc(1, sizeof *w);
  if (!w) return rs_fail(st, -ENOMEM, path, NULL);
  w->c = c;
  snprintf(w->path, sizeof w->path, "%s", path);
  rs_path_split(w->path, &w->sp);
  rs_uuid(token); /* its first RS_TOKEN_LEN hex digits: room for the stamp */
  for (tries = 0; tries < RS_RETRIES; tries++) {
    memset(&w->rec, 0, sizeof w->rec);
    snprintf(w->rec.path, sizeof w->rec.path, "%s", path);
    snprintf(w->rec.owner, sizeof w->rec.owner, "%.*s", RS_TOKEN_LEN, token);
    w->stripe = c->chunk;
    w->size = w->committed = 0;
    w->inplace = w->guard_ref = w->recorded = 0;
    w->old[0] = '\0';
    rc = open_path(w, append, st);
    if (rc != -EAGAIN) break;
  }
  if (rc == -EAGAIN) rc = rs_fail(st, -EAGAIN, path, "open kept losing races");
  if (rc == 0) {
    w->rec.stripe = w->stripe;
    w->buf = malloc(rs_unit(w->stripe));
    rc = w->buf ? rs_aio_init(&w->aio, c, c->window) : -ENOMEM;
    if (rc < 0) rs_fail(st, rc, path, NULL);
    w->aio.renew = 1;
  }
  if (rc < 0) {
    if (w->recorded) { /* give the record back as it was taken */
      snprintf(w->rec.owner, sizeof w->rec.owner, RS_OWNER_IDLE);
      rs_pending_put(c, &w->rec, w->rec.value);
    }
    free(w->buf);
    free(w);
    return rc;
  }
  rebuffer(w);
  w->last_sign = mono_now();
  rs_conn_hold(c);
  *out = w;
  return 0;
}

/*
 * Sends n bytes for file positions [pos, pos + n), inside one I/O unit.
 * -ECANCELED (and w->lost): the record was claimed meanwhile, nothing sent.
 */
static int send_unit(rs_writer *w, uint64_t pos, const char *data, size_t n) {
  double now = mono_now();
  int rc;
  if (!w->recorded) {
    /* Before any data lands, so that a crash leaves it findable. */
    w->rec.size = pos;
    rc = rs_pending_put(w->c, &w->rec, "");
    if (rc < 0) return rc;
    w->recorded = 1;
    RS_CRASH("writer.recorded");
  } else if (now - w->last_sign >= RS_ALIVE_EVERY) {
    /* Quiet for a while: a fresh stamp, and proof the record is still ours. */
    char expect[RS_RECORD_MAX];
    uint64_t was = w->rec.size;
    memcpy(expect, w->rec.value, sizeof expect);
    if (pos > w->rec.size) w->rec.size = pos;
    rc = rs_pending_put(w->c, &w->rec, expect);
    if (rc == -ECANCELED) w->lost = 1;
    if (rc < 0) {
      w->rec.size = was;
      return rc;
    }
  }
  /* In place, the committed chunks must still be there (rs_stripe_write). */
  rc = rs_stripe_write(&w->aio, w->rec.oid, w->stripe,
                       w->inplace ? rs_chunk_count(w->stripe, w->committed) : 0, pos, data, n);
  if (rc == 0) w->last_sign = now;
  return rc;
}

/* Sends the buffered bytes out and starts the buffer at the file's end. */
static int flush(rs_writer *w) {
  int rc = w->buf_len > 0 ? send_unit(w, w->buf_pos, w->buf, w->buf_len) : 0;
  rebuffer(w);
  return rc;
}

/* Takes len bytes into the buffer or straight onto the wire; hashes them
 * unless the helper thread does. */
static int take(rs_writer *w, const char *p, size_t len, int offloaded) {
  int rc = 0;
  while (len > 0 && rc == 0) {
    size_t n = w->buf_cap - w->buf_len;
    if (n > len) n = len;
    /* Hashed a unit at a time, so the unit before is already on the wire. */
    if (w->hash && !offloaded) rs_sha256_update(w->hash, p, n);
    if (w->buf_len == 0 && n == w->buf_cap) {
      /* A whole unit: librados copies it from the caller's bytes. */
      rc = send_unit(w, w->buf_pos, p, n);
      w->size += n;
      rebuffer(w);
    } else {
      memcpy(w->buf + w->buf_len, p, n);
      w->buf_len += n;
      w->size += n;
      if (w->buf_len == w->buf_cap) rc = flush(w);
    }
    p += n;
    len -= n;
    if (rc == 0) rc = w->aio.err; /* kept: commit and close fail with it too */
  }
  return rc;
}

int rs_writer_writev(rs_writer *w, const rs_piece *pieces, size_t npieces,
                     rs_status *st) {
  size_t i, len = 0;
  int rc = 0, offloaded = 0;
  if (w->state != W_OPEN) return rs_fail(st, -EINVAL, w->path, "writer is finished");
  if (w->lost) return lost(w, st);
  rs_deadline_start(w->c);
  /* An earlier write of the window that failed (a timeout above all) fails
   * this one and every later one, before anything is hashed: bytes after a
   * hole are never taken. */
  if (w->aio.err) return rs_fail_rados(st, w->aio.err, w->path, "write");
  if (w->failed) return rs_fail_rados(st, w->failed, w->path, "write");
  for (i = 0; i < npieces; i++) len += pieces[i].len;
  if (w->hash && len >= RS_HASH_OFFLOAD) {
    if (!w->hashjob) w->hashjob = rs_hashjob_new(w->hash);
    if (w->hashjob) {
      rs_hashjob_start(w->hashjob, pieces, npieces);
      offloaded = 1;
    }
  }
  for (i = 0; i < npieces && rc == 0; i++) rc = take(w, pieces[i].data, pieces[i].len, offloaded);
  if (offloaded) rs_hashjob_wait(w->hashjob); /* the bytes are the caller's */
  /* Bytes held back for a while go out now: a sign of life (see above). */
  if (rc == 0 && w->buf_len > 0 && mono_now() - w->last_sign >= RS_ALIVE_EVERY) rc = flush(w);
  if (rc == -ECANCELED && w->lost) {
    rs_aio_wait_all(&w->aio);
    abandon(w, 0, NULL);
    return lost(w, st);
  }
  if (rc == -ENOENT) return dropped(w, st);
  /* Failed sends that are no aio completion (the record's re-store before
   * a unit, a submission) leave a hole too: kept, as aio.err is. */
  if (rc < 0 && !w->failed) w->failed = rc;
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "write");
  return 0;
}

int rs_writer_write(rs_writer *w, const void *data, size_t len,
                    rs_status *st) {
  rs_piece one;
  one.data = data;
  one.len = len;
  return rs_writer_writev(w, &one, 1, st);
}

uint64_t rs_writer_size(const rs_writer *w) { return w->size; }

void rs_writer_hash(rs_writer *w, rs_sha256 *h) {
  rs_hashjob_free(w->hashjob);
  w->hashjob = NULL;
  w->hash = h;
}

/* Waits for every write in flight; the first failure wins (one of an
 * earlier write first: the data has a hole). */
static int drain(rs_writer *w) {
  int rc = w->failed ? w->failed : flush(w);
  int rc2 = rs_aio_wait_all(&w->aio);
  return rc < 0 ? rc : rc2;
}

/* Chunks past the committed ones, which only this appender wrote. */
static int remove_appended(rs_writer *w) {
  uint64_t from = rs_chunk_count(w->stripe, w->committed);
  uint64_t upto = rs_chunk_count(w->stripe, w->size);
  return upto > from ? rs_blob_remove_chunks(w->c, w->rec.oid, from, upto) : 0;
}

static int chunk0_exists(rs_conn *c, const char *oid) {
  char chunk0[RS_OID_MAX];
  rs_chunk_name(chunk0, oid, 0);
  return rs_obj_exists(c, chunk0);
}

/*
 * This writer's data is no longer where it wrote it.  mine: this writer
 * still holds its record (a commit in place found the blob gone or its
 * name elsewhere): what it appended goes, and so does its claim.
 * Otherwise a delete claimed the record, and drops what it recorded: a
 * new blob goes whole from here too (it is this writer's alone); bytes
 * appended in place past the record are left to fsck, since the blob's
 * claim may belong to another appender by now.
 */
static int abandon(rs_writer *w, int mine, rs_status *st) {
  if (!w->inplace) {
    rs_blob_destroy(w->c, w->rec.oid, rs_chunk_count(w->stripe, w->size), 1);
  } else if (mine) {
    remove_appended(w);
    rs_blob_unclaim_append(w->c, w->rec.oid, w->path);
  } else if (chunk0_exists(w->c, w->rec.oid) == 0) {
    remove_appended(w); /* the blob is gone: nobody else can claim it */
  }
  return rs_fail(st, -RS_ENOENT, w->path, "uncommitted data was deleted meanwhile");
}

/*
 * A send found a chunk it writes into gone (rs_stripe_write): the blob was
 * dropped under this writer -- by a delete, by a put or move onto the path
 * that released it, or by fsck.  Nothing of it can be committed any more.
 * Once the window is in, the record is taken if it is still this writer's,
 * and what this writer sent goes (abandon: chunks it created after the drop
 * would otherwise wait for fsck); every later call fails.  not_found, as a
 * commit in place that finds its blob gone says (docs/api.md).
 */
static int dropped(rs_writer *w, rs_status *st) {
  int mine = 0;
  rs_aio_wait_all(&w->aio);
  w->buf_len = 0;
  if (w->recorded && !w->lost) mine = rs_pending_claim(w->c, &w->rec) == 0;
  w->lost = 1;
  abandon(w, mine, NULL);
  return rs_fail(st, -RS_ENOENT, w->path,
                 "file deleted or replaced while writing to it, what was written is dropped");
}

/* Raises the committed size of the blob appended to, guarded three ways:
 * the blob is there, still named by path, and still at the size seen. */
static int commit_inplace(rs_writer *w) {
  char chunk0[RS_OID_MAX], was[24], now[24];
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rs_chunk_name(chunk0, w->rec.oid, 0);
  snprintf(was, sizeof was, "%" PRIu64, w->committed);
  snprintf(now, sizeof now, "%" PRIu64, w->size);
  rados_write_op_assert_exists(op);
  if (w->guard_ref) rados_write_op_omap_cmp(op, w->path, LIBRADOS_CMPXATTR_OP_GT, "", 0, NULL);
  rados_write_op_omap_cmp(op, RS_APPENDER_KEY, LIBRADOS_CMPXATTR_OP_EQ, w->path, strlen(w->path), NULL);
  rados_write_op_cmpxattr(op, RS_SIZE_XATTR, LIBRADOS_CMPXATTR_OP_EQ, was, strlen(was));
  rados_write_op_setxattr(op, RS_SIZE_XATTR, now, strlen(now));
  {
    const char *keys[1] = {RS_APPENDER_KEY};
    rados_write_op_omap_rm_keys(op, keys, 1);
  }
  rc = rs_write_op(w->c, op, chunk0);
  rados_release_write_op(op);
  return rc;
}

static int commit_new(rs_writer *w, rs_status *st) {
  const char *head = NULL;
  size_t headlen = 0;
  int rc, linked = 0;
  if (w->buf_pos == 0) {
    /* The whole file is still in the buffer: one op writes it and seals it. */
    head = w->buf;
    headlen = w->buf_len;
    w->buf_len = 0;
  }
  rc = drain(w);
  if (rc < 0 && w->lost) return abandon(w, 0, st);
  if (rc == -ENOENT) return dropped(w, st);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "commit");
  RS_CRASH("commit.drained");
  if (w->recorded) {
    /* Claimed, the record keeps any delete away from the data from now on. */
    rc = rs_pending_claim(w->c, &w->rec);
    if (rc == -ECANCELED) return abandon(w, 0, st);
    if (rc < 0) return rs_fail_rados(st, rc, w->path, "commit");
    RS_CRASH("commit.claimed");
  }
  rc = rs_blob_seal(w->c, w->rec.oid, w->stripe, w->size, head, headlen, w->path);
  if (rc < 0) {
    rs_fail_rados(st, rc, w->path, "commit");
  } else {
    RS_CRASH("commit.sealed");
    /* A directory made at the path since open fails it (is_dir). */
    rc = rs_file_commit(w->c, w->path, w->rec.oid, w->old, w->gen, w->missing, 0, &linked, st);
  }
  if (!linked) {
    /* Claimed and not linked: nobody else can find this data any more. */
    rs_blob_destroy(w->c, w->rec.oid, rs_chunk_count(w->stripe, w->size), 1);
  }
  return rc < 0 ? rc : 0; /* after a link, a failed release of the old content */
}

int rs_writer_commit(rs_writer *w, rs_status *st) {
  int rc;
  if (w->state != W_OPEN) return rs_fail(st, -EINVAL, w->path, "writer is finished");
  w->state = W_DONE;
  if (w->lost) return lost(w, st);
  rs_deadline_start(w->c);
  if (!w->inplace) return commit_new(w, st);
  rc = drain(w);
  if (rc < 0 && w->lost) return abandon(w, 0, st);
  if (rc == -ENOENT) return dropped(w, st);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "commit");
  rc = rs_pending_claim(w->c, &w->rec);
  if (rc == -ECANCELED) return abandon(w, 0, st);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "commit");
  RS_CRASH("append.claimed");
  rc = commit_inplace(w);
  if (rc == -ECANCELED || rc == -ENOENT) return abandon(w, 1, st);
  if (rc < 0) {
    /* Not committed: the record goes back so that the data can be resumed. */
    snprintf(w->rec.owner, sizeof w->rec.owner, RS_OWNER_IDLE);
    w->rec.size = w->size;
    rs_pending_put(w->c, &w->rec, "");
    return rs_fail_rados(st, rc, w->path, "commit");
  }
  rs_oidcache_set(w->c, w->path, w->rec.oid);
  return 0;
}

/* Cuts the blob appended to back to its committed size (this writer owns
 * everything past it; chunk 0 is cut only while it is still that size). */
static int truncate_back(rs_writer *w) {
  uint64_t tail = w->committed ? (w->committed - 1) / w->stripe : 0;
  char name[RS_OID_MAX];
  rados_write_op_t op;
  int rc = remove_appended(w);
  if (rc < 0) return rc;
  rs_chunk_name(name, w->rec.oid, tail);
  op = rados_create_write_op();
  rados_write_op_assert_exists(op);
  if (tail == 0) {
    char was[24];
    snprintf(was, sizeof was, "%" PRIu64, w->committed);
    rados_write_op_cmpxattr(op, RS_SIZE_XATTR, LIBRADOS_CMPXATTR_OP_EQ, was, strlen(was));
  }
  rados_write_op_truncate(op, w->committed - tail * w->stripe);
  rc = rs_write_op(w->c, op, name);
  rados_release_write_op(op);
  if (rc < 0 && rc != -ENOENT && rc != -ECANCELED) return rc;
  RS_CRASH("append.cut_back");
  return rs_blob_unclaim_append(w->c, w->rec.oid, w->path);
}

int rs_writer_cancel(rs_writer *w, rs_status *st) {
  int rc = 0, claim = 0;
  if (w->state != W_OPEN) return rs_fail(st, -EINVAL, w->path, "writer is finished");
  w->state = W_DONE;
  rs_deadline_start(w->c);
  w->buf_len = 0;
  rs_aio_wait_all(&w->aio);
  if (w->recorded) {
    claim = rs_pending_claim(w->c, &w->rec);
    if (claim < 0 && claim != -ECANCELED) return rs_fail_rados(st, claim, w->path, "cancel");
  }
  if (!w->inplace) {
    /* Whoever claimed the record, this writer's blob goes. */
    if (w->recorded) rc = rs_blob_destroy(w->c, w->rec.oid, rs_chunk_count(w->stripe, w->size), 1);
  } else if (claim == 0) {
    rc = truncate_back(w);
  } else if (chunk0_exists(w->c, w->rec.oid) == 0) {
    /* A delete took the record and dropped the blob: chunks this writer
     * started after that (from a chunk's start, nothing to assert) are
     * its own, as in abandon. */
    rc = remove_appended(w);
  }
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "cancel");
  return 0;
}

int rs_writer_close(rs_writer *w, rs_status *st) {
  char expect[RS_RECORD_MAX];
  int rc;
  if (w->state != W_OPEN) {
    w->state = W_CLOSED;
    return 0;
  }
  w->state = W_CLOSED;
  if (w->lost) return lost(w, st);
  rs_deadline_start(w->c);
  rc = drain(w);
  if (rc < 0 && w->lost) return abandon(w, 0, st);
  if (rc == -ENOENT) return dropped(w, st);
  if (rc == 0) {
    snprintf(expect, sizeof expect, "%s", w->recorded ? w->rec.value : "");
    snprintf(w->rec.owner, sizeof w->rec.owner, RS_OWNER_IDLE);
    w->rec.size = w->size;
    rc = rs_pending_put(w->c, &w->rec, expect);
  }
  if (rc == -ECANCELED) return abandon(w, 0, st);
  if (rc < 0) return rs_fail_rados(st, rc, w->path, "close");
  w->recorded = 1;
  return 0;
}

void rs_writer_free(rs_writer *w) {
  if (!w) return;
  if (w->state == W_OPEN) rs_writer_close(w, NULL);
  rs_aio_free(&w->aio);
  rs_hashjob_free(w->hashjob);
  free(w->buf);
  rs_conn_unref(w->c);
  free(w);
}
