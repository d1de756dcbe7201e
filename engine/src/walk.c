/*
 * Walk: lexical depth-first over a subtree.  Each directory is read in
 * pages of omap entries; the listings of the next subdirectories are asked
 * for while the walk is still busy elsewhere, and the files of a directory
 * are stat'ed together with asynchronous reads, never one round trip each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STAT_WINDOW 64
#define LIST_AHEAD 8   /* subdirectory listings asked for ahead, per level */

struct file_stat {
  rados_read_op_t op;
  rados_completion_t comp;
  rados_xattrs_iter_t it;
  uint64_t psize;
  int sval, xval;
  rs_stat st;
  int rc;
};

static void finish_stat(struct file_stat *f) {
  const char *name, *val;
  size_t len;
  rados_aio_wait_for_complete(f->comp);
  f->rc = rados_aio_get_return_value(f->comp);
  if (f->rc == 0 && f->xval < 0) f->rc = f->xval;
  if (f->rc == 0) {
    while (rados_getxattrs_next(f->it, &name, &val, &len) == 0 && name) {
      if (strcmp(name, RS_SIZE_XATTR) == 0 && len < 24) {
        char num[24];
        memcpy(num, val, len);
        num[len] = '\0';
        f->st.size = strtoull(num, NULL, 10);
      }
    }
  }
  if (f->it) rados_getxattrs_end(f->it);
  rados_aio_release(f->comp);
  rados_release_read_op(f->op);
}

/* Stats every file entry of ents, STAT_WINDOW at a time. */
static int stat_files(rs_conn *c, rs_dirent *ents, size_t n,
                      struct file_stat *fs) {
  size_t i, done = 0;
  for (i = 0; i < n; i++) {
    char chunk0[RS_OID_MAX];
    struct file_stat *f = &fs[i];
    int rc;
    if (ents[i].val[0] == '\0') {
      f->st.is_dir = 1;
      continue;
    }
    while (done < i && i - done >= STAT_WINDOW) {
      if (fs[done].op) finish_stat(&fs[done]);
      done++;
    }
    f->op = rados_create_read_op();
    rados_read_op_stat(f->op, &f->psize, &f->st.mtime, &f->sval);
    rados_read_op_getxattrs(f->op, &f->it, &f->xval);
    rc = rados_aio_create_completion2(NULL, NULL, &f->comp);
    if (rc == 0) {
      rs_chunk_name(chunk0, ents[i].val, 0);
      rc = rados_aio_read_op_operate(f->op, c->io, f->comp, chunk0, 0);
      if (rc < 0) rados_aio_release(f->comp);
    }
    if (rc < 0) {
      rados_release_read_op(f->op);
      f->op = NULL;
      f->rc = rc;
    }
  }
  for (; done < n; done++)
    if (fs[done].op) finish_stat(&fs[done]);
  return 0;
}

struct walk {
  rs_conn *c;
  rs_walk_fn fn;
  void *arg;
  int stopped_by_fn;   /* the callback ended the walk with its own code */
};

/* Starts the listing of the next subdirectory that has none asked for. */
static void list_ahead(rs_conn *c, const char *dir, rs_dirent *ents, size_t n,
                       rs_prefetch *pre, size_t *next) {
  char child[4096];
  while (*next < n && ents[*next].val[0] != '\0') (*next)++;
  if (*next < n && rs_path_join(child, sizeof child, dir, ents[*next].name) == 0)
    rs_prefetch_start(c, &pre[*next], child);
  (*next)++;
}

static int walk_dir(struct walk *w, const char *dir, rs_prefetch *mine) {
  rs_conn *c = w->c;
  rs_dirent *ents = NULL;
  struct file_stat *fs;
  rs_prefetch *pre;
  size_t n = 0, i, next = 0;
  int rc = mine && mine->op ? rs_prefetch_finish(c, mine, dir, &ents, &n)
                            : rs_dir_read(c, dir, &ents, &n, NULL, 1);
  if (rc == -ENOENT) return 0; /* gone meanwhile */
  if (rc < 0) return rc;
  fs = calloc(n ? n : 1, sizeof *fs);
  pre = calloc(n ? n : 1, sizeof *pre);
  if (!fs || !pre) {
    free(fs);
    free(pre);
    rs_dirents_free(ents, n);
    return -ENOMEM;
  }
  for (i = 0; i < LIST_AHEAD; i++) list_ahead(c, dir, ents, n, pre, &next);
  stat_files(c, ents, n, fs);
  for (i = 0; i < n && rc == 0; i++) {
    char child[4096];
    int r;
    if (!fs[i].st.is_dir && fs[i].rc == -ENOENT) continue; /* deleted meanwhile */
    if (!fs[i].st.is_dir && fs[i].rc < 0) {
      rc = fs[i].rc;
      break;
    }
    if ((rc = rs_path_join(child, sizeof child, dir, ents[i].name)) < 0) break;
    r = w->fn(w->arg, child, &fs[i].st);
    if (r < 0 || r == RS_WALK_STOP) {
      w->stopped_by_fn = 1;
      rc = r;
    } else if (fs[i].st.is_dir) {
      if (r != RS_WALK_SKIP) rc = walk_dir(w, child, &pre[i]);
      list_ahead(c, dir, ents, n, pre, &next);
    }
  }
  for (i = 0; i < n; i++) rs_prefetch_abandon(&pre[i]);
  free(pre);
  free(fs);
  rs_dirents_free(ents, n);
  return rc;
}

int rs_walk(rs_conn *c, const char *path, rs_walk_fn fn, void *arg,
            rs_status *st) {
  struct walk w = {c, fn, arg, 0};
  rs_entry e;
  int rc;
  if (!rs_path_valid(path, 1)) return rs_fail(st, -RS_EINVALPATH, path, NULL);
  if ((rc = rs_resolve(c, path, &e, st)) < 0) return rc;
  if (e.kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
  if (e.kind == RS_ENT_FILE) return rs_fail(st, -RS_ENOTDIR, path, NULL);
  rc = walk_dir(&w, path, NULL);
  if (rc == RS_WALK_STOP) return 0;
  if (rc < 0 && !w.stopped_by_fn) return rs_fail_rados(st, rc, path, "walk");
  return rc;
}
