/*
 * Walk: lexical depth-first over a subtree.  Each directory is read in
 * pages of omap entries; the listings of the next subdirectories are asked
 * for while the walk is still busy elsewhere, and the files of a directory
 * are stat'ed together (rs_blob_stat_many), never one round trip each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LIST_AHEAD 8   /* subdirectory listings asked for ahead, per level */

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
  rs_blobinfo *fs;
  const char **oids;
  rs_prefetch *pre;
  size_t n = 0, i, next = 0;
  int rc = mine && mine->op ? rs_prefetch_finish(c, mine, dir, &ents, &n)
                            : rs_dir_read(c, dir, &ents, &n, NULL, 1);
  if (rc == -ENOENT) return 0; /* gone meanwhile */
  if (rc < 0) return rc;
  fs = calloc(n ? n : 1, sizeof *fs);
  pre = calloc(n ? n : 1, sizeof *pre);
  oids = calloc(n ? n : 1, sizeof *oids);
  if (!fs || !pre || !oids) {
    free(fs);
    free(pre);
    free(oids);
    rs_dirents_free(ents, n);
    return -ENOMEM;
  }
  for (i = 0; i < LIST_AHEAD; i++) list_ahead(c, dir, ents, n, pre, &next);
  for (i = 0; i < n; i++) oids[i] = ents[i].val[0] ? ents[i].val : NULL;
  rs_deadline_renew(c);
  rs_blob_info_many(c, oids, n, fs, 0);
  for (i = 0; i < n && rc == 0; i++) {
    char child[4096];
    rs_stat info;
    int r;
    if (oids[i] && (fs[i].rc == -ENOENT || (fs[i].rc == 0 && !fs[i].m.has_size && !fs[i].m.bad)))
      continue; /* deleted meanwhile */
    if (oids[i] && fs[i].rc < 0) {
      rc = fs[i].rc;
      break;
    }
    if ((rc = rs_path_join(child, sizeof child, dir, ents[i].name)) < 0) break;
    info.is_dir = oids[i] == NULL;
    info.size = fs[i].m.size;
    info.mtime = fs[i].mtime;
    r = w->fn(w->arg, child, &info);
    rs_deadline_renew(c); /* the callback's time is not the cluster's */
    if (r < 0 || r == RS_WALK_STOP) {
      w->stopped_by_fn = 1;
      rc = r;
    } else if (info.is_dir) {
      if (r != RS_WALK_SKIP) rc = walk_dir(w, child, &pre[i]);
      list_ahead(c, dir, ents, n, pre, &next);
    }
  }
  for (i = 0; i < n; i++) rs_prefetch_abandon(c, &pre[i]);
  free(oids);
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
  rs_deadline_start(c);
  if ((rc = rs_resolve(c, path, &e, st)) < 0) return rc;
  if (e.kind == RS_ENT_NONE) return rs_fail(st, -RS_ENOENT, path, NULL);
  if (e.kind == RS_ENT_FILE) return rs_fail(st, -RS_ENOTDIR, path, NULL);
  rc = walk_dir(&w, path, NULL);
  if (rc == RS_WALK_STOP) return 0;
  if (rc < 0 && !w.stopped_by_fn) return rs_fail_rados(st, rc, path, "walk");
  return rc;
}
