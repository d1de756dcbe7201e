/*
 * Directories: one object per directory, named by its path, whose omap maps
 * child names to blob ids ("" for a subdirectory).
 *
 * Concurrency without locks.  Creators write the entry first and link the
 * directory into its parent afterwards (bottom-up); removers take the
 * directory object away first, guarded by its version so that a concurrent
 * entry makes the removal fail, and unlink it from its parent afterwards,
 * then look again and relink a directory that a creator brought back in the
 * meantime.  So a directory holding entries is linked, or some actor that
 * is still running is about to link it, or its maker died: a directory is
 * made flagged until it is linked up (RS_LINKING_XATTR), and a creator
 * that finds its directory flagged links it up itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rs_entry_parse(rs_entry *e, const char *val, size_t len) {
  if (len == 0) {
    e->kind = RS_ENT_DIR;
  } else {
    e->kind = RS_ENT_FILE;
    if (len >= RS_OID_MAX) len = RS_OID_MAX - 1;
    memcpy(e->oid, val, len);
    e->oid[len] = '\0';
  }
}

/*
 * One key of a directory omap, looked up asynchronously so that callers can
 * overlap it with their data writes.  A missing directory gives
 * dir_exists = 0.
 */
int rs_lookup_start(rs_conn *c, rs_lookup *l, const char *dir,
                    const char *name) {
  const char *keys[1] = {name};
  size_t klen[1] = {strlen(name)};
  memset(l, 0, sizeof *l);
  l->op = rados_create_read_op();
  rados_read_op_omap_get_vals_by_keys2(l->op, keys, 1, klen, &l->it, &l->prval);
  rados_read_op_getxattrs(l->op, &l->xit, &l->xprval);
  return rs_aio_read(c, &l->op, dir, &l->comp);
}

int rs_lookup_finish(rs_conn *c, rs_lookup *l, rs_entry *e) {
  int rc;
  memset(e, 0, sizeof *e);
  if (!l->op) return -EINVAL;
  rc = rs_aio_wait(c, l->comp);
  if (rc == 0 && l->prval < 0) rc = l->prval;
  if (rc == 0 && l->xprval < 0) rc = l->xprval;
  if (rc == 0) {
    const char *name, *v;
    char *k, *ov;
    size_t kl, vl;
    e->dir_exists = 1;
    if (rados_omap_get_next2(l->it, &k, &ov, &kl, &vl) == 0 && k) rs_entry_parse(e, ov, vl);
    while (rados_getxattrs_next(l->xit, &name, &v, &vl) == 0 && name)
      if (strcmp(name, RS_SUBDIRS_XATTR) == 0 && vl < RS_GEN_MAX) {
        memcpy(e->gen, v, vl);
        e->gen[vl] = '\0';
      } else if (strcmp(name, RS_LINKING_XATTR) == 0 && vl < RS_OID_MAX) {
        memcpy(e->linking, v, vl);
        e->linking[vl] = '\0';
      }
  } else if (rc == -ENOENT) {
    rc = 0;
  }
  if (l->xit) rados_getxattrs_end(l->xit);
  if (l->it) rados_omap_get_end(l->it);
  rados_release_read_op(l->op);
  l->op = NULL;
  return rc;
}

int rs_dir_lookup(rs_conn *c, const char *dir, const char *name, rs_entry *e) {
  rs_lookup l;
  int rc = rs_lookup_start(c, &l, dir, name);
  if (rc < 0) {
    memset(e, 0, sizeof *e);
    return rc;
  }
  return rs_lookup_finish(c, &l, e);
}

/* Whether path points at the blob oid now: 1, 0, or < 0. */
int rs_path_points_at(rs_conn *c, const char *path, const char *oid) {
  rs_split sp;
  rs_entry e;
  int rc;
  if (!rs_path_valid(path, 0) || rs_path_split(path, &sp) < 0) return 0;
  rc = rs_dir_lookup(c, sp.dir, sp.base, &e);
  if (rc < 0) return rc;
  return e.kind == RS_ENT_FILE && strcmp(e.oid, oid) == 0;
}

/*
 * From a missing directory object up: -RS_ENOTDIR when a file stands where
 * a directory should be, -RS_ENOENT otherwise, with *missing (when given)
 * the number of directory objects missing from dir up.  The lookups go
 * out in two waves: the FIRST_WAVE nearest levels together (a registry's
 * missing paths almost always end within them: a new blob's, link's or
 * tag's directories), then, only when all of those are missing too, every
 * level above together.  So one round trip answers the usual case without
 * asking the OSDs about a dozen ancestors that exist, and two answer any
 * depth.
 */
enum { FIRST_WAVE = 4, MAX_LEVELS = 64 };

/* Looks levels [from, to) of dir up at once; found: the first level whose
 * parent exists (-1 when none did).  0, or a lookup's failure. */
static int ancestors_wave(rs_conn *c, const char *dir, int from, int to,
                          int *found, int *file) {
  char level[4096], parent[4096];
  rs_lookup l[MAX_LEVELS];
  int n = 0, i, rc = 0;
  *found = -1;
  /* Level i is the i-th ancestor of dir (level 0: dir), looked up in its
   * parent; librados copies names and keys as an op is made. */
  snprintf(level, sizeof level, "%s", dir);
  for (i = 0; i < to && strcmp(level, "/") != 0; i++) {
    rs_path_parent(level, parent, sizeof parent);
    if (i >= from && rc == 0) {
      rc = rs_lookup_start(c, &l[n], parent, strrchr(level, '/') + 1);
      if (rc == 0) n++;
    }
    memcpy(level, parent, sizeof level);
  }
  for (i = 0; i < n; i++) {
    rs_entry e;
    int r = rs_lookup_finish(c, &l[i], &e);
    if (rc < 0 || *found >= 0) continue;
    if (r < 0) {
      rc = r;
    } else if (e.dir_exists) {
      *found = from + i;
      *file = e.kind == RS_ENT_FILE;
    }
  }
  return rc;
}

int rs_dir_check_ancestors(rs_conn *c, const char *dir, int *missing) {
  int found = -1, file = 0;
  int rc = ancestors_wave(c, dir, 0, FIRST_WAVE, &found, &file);
  if (rc == 0 && found < 0) rc = ancestors_wave(c, dir, FIRST_WAVE, MAX_LEVELS, &found, &file);
  if (rc == 0) rc = found < 0 ? -RS_ENOENT /* nothing found within MAX_LEVELS */
                              : file ? -RS_ENOTDIR : -RS_ENOENT;
  if (missing) *missing = found >= 0 ? found + 1 : -1;
  return rc;
}

/* Level i of dir (level 0 is dir, 1 its parent) in p; -1 above "/". */
static int level_path(const char *dir, int i, char *p, size_t n) {
  char d[4096];
  snprintf(d, sizeof d, "%s", dir);
  for (; i > 0; i--) {
    if (strcmp(d, "/") == 0) return -1;
    rs_path_parent(d, p, n);
    snprintf(d, sizeof d, "%s", p);
  }
  snprintf(p, n, "%s", d);
  return 0;
}

/* Takes the flags off levels [0, n) of dir, flags[i] level i's ("" none):
 * once every one of them is linked up. */
static void unflag_levels(rs_conn *c, const char *dir,
                          char flags[][RS_OID_MAX], int n) {
  char p[4096];
  int i;
  for (i = 0; i < n; i++)
    if (flags[i][0] && level_path(dir, i, p, sizeof p) == 0) rs_dir_unflag(c, p, flags[i]);
}

/*
 * Whether dir (found with flag) is named by its parent, and so on up to a
 * level without a flag: 1, 0, or < 0.  Only asked about a directory found
 * flagged, which a maker that is still at work or died left so.  Levels
 * found linked up lose their flags (unwaited; a reader without write caps
 * just leaves them), so the check is made once.
 */
int rs_dir_named(rs_conn *c, const char *dir, const char *flag) {
  char d[4096], p[4096], flags[MAX_LEVELS][RS_OID_MAX];
  int levels = 0;
  snprintf(d, sizeof d, "%s", dir);
  snprintf(flags[levels++], RS_OID_MAX, "%s", flag);
  while (strcmp(d, "/") != 0) {
    rs_entry e;
    int rc;
    rs_path_parent(d, p, sizeof p);
    rc = rs_dir_lookup(c, p, strrchr(d, '/') + 1, &e);
    if (rc < 0) return rc;
    if (e.kind != RS_ENT_DIR) return 0;
    if (!e.linking[0]) break;
    if (levels == MAX_LEVELS) return 1; /* linked so far; flags stay */
    snprintf(flags[levels++], RS_OID_MAX, "%s", e.linking);
    memcpy(d, p, sizeof d);
  }
  unflag_levels(c, dir, flags, levels);
  return 1;
}

/* A looked-up entry of dir, as a reader may take it: a directory not
 * listed from "/" counts as missing (its maker never finished). */
int rs_entry_listed(rs_conn *c, const char *dir, rs_entry *e) {
  int rc;
  if (!e->dir_exists || !e->linking[0]) return 0;
  rc = rs_dir_named(c, dir, e->linking);
  if (rc == 0) memset(e, 0, sizeof *e);
  return rc < 0 ? rc : 0;
}

/* Takes dir's flag off if it still is stamp, without waiting. */
void rs_dir_unflag(rs_conn *c, const char *dir, const char *stamp) {
  rados_write_op_t op = rados_create_write_op();
  rados_write_op_cmpxattr(op, RS_LINKING_XATTR, LIBRADOS_CMPXATTR_OP_EQ, stamp, strlen(stamp));
  rados_write_op_rmxattr(op, RS_LINKING_XATTR);
  rs_write_op_unwaited(c, op, dir);
  rados_release_write_op(op);
}

/* What a path names; kind RS_ENT_NONE when nothing is there. */
int rs_resolve(rs_conn *c, const char *path, rs_entry *e, rs_status *st) {
  rs_split sp;
  int rc;
  if (strcmp(path, "/") == 0) {
    memset(e, 0, sizeof *e);
    e->kind = RS_ENT_ROOT;
    e->dir_exists = 1;
    return 0;
  }
  rs_path_split(path, &sp);
  rc = rs_dir_lookup(c, sp.dir, sp.base, e);
  if (rc == 0) rc = rs_entry_listed(c, sp.dir, e);
  if (rc < 0) return rs_fail_rados(st, rc, path, "lookup");
  if (!e->dir_exists && !c->shallow) {
    rc = rs_dir_check_ancestors(c, sp.dir, NULL);
    if (rc == -RS_ENOTDIR) return rs_fail(st, rc, path, NULL);
    if (rc != -RS_ENOENT) return rs_fail_rados(st, rc, path, "lookup");
  }
  return 0;
}

/* Guarded set: name must hold `expect` ("" for absent or a subdirectory:
 * only directory links, and replacements of a blob id, use it alone). */
static void op_guarded_set(rados_write_op_t op, const char *name,
                           const char *expect, const char *val) {
  const char *keys[1] = {name};
  const char *vals[1] = {val};
  size_t vlen[1] = {strlen(val)};
  rados_write_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, expect,
                          strlen(expect), NULL);
  rados_write_op_omap_set(op, keys, vals, vlen, 1);
}

/* Sets or checks a directory's flag in op: a directory made gets flag
 * ("/" none: nothing names it), one that must exist must hold flag. */
static void op_flag(rados_write_op_t op, const char *dir, const char *flag,
                    int made) {
  if (made && strcmp(dir, "/") != 0)
    rados_write_op_setxattr(op, RS_LINKING_XATTR, flag, strlen(flag));
  else if (!made)
    rados_write_op_cmpxattr(op, RS_LINKING_XATTR, LIBRADOS_CMPXATTR_OP_EQ, flag, strlen(flag));
}

/* Links a subdirectory: its entry "", and a new generation of dir's
 * subdirectories in the same op (op_link_file guards with it).  flag: the
 * one dir must hold (must_exist), or the one it is made with. */
static rados_write_op_t link_op(const char *dir, const char *name,
                                const char *expect, const char *val,
                                int must_exist, const char *flag) {
  rados_write_op_t op = rados_create_write_op();
  char gen[37];
  if (must_exist)
    rados_write_op_assert_exists(op);
  else
    rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  op_flag(op, dir, flag, !must_exist);
  op_guarded_set(op, name, expect, val);
  rs_uuid(gen);
  rados_write_op_setxattr(op, RS_SUBDIRS_XATTR, gen, strlen(gen));
  return op;
}

static int op_link(rs_conn *c, const char *dir, const char *name,
                   const char *expect, const char *val, int must_exist,
                   const char *flag) {
  rados_write_op_t op = link_op(dir, name, expect, val, must_exist, flag);
  int rc = rs_write_op(c, op, dir);
  rados_release_write_op(op);
  return rc;
}

/*
 * The first `known` parents of d, known to be missing, made at once, each
 * with its child's entry and flagged: none of them is read before the
 * level above the highest is linked (rs_dir_named), so the order in which
 * they land does not matter, and a chain of n costs one round trip
 * instead of n.  d becomes the highest; flags[*levels...] their flags.
 */
static int make_known(rs_conn *c, char *d, int known, const char *flag,
                      char flags[][RS_OID_MAX], int *levels) {
  rados_write_op_t ops[MAX_LEVELS];
  char p[4096];
  rs_aio a;
  int n = 0, i, rc = rs_aio_init(&a, c, known), wrc;
  if (rc < 0) return rc;
  for (; n < known && n < MAX_LEVELS && strcmp(d, "/") != 0; n++) {
    rados_completion_t comp;
    rs_path_parent(d, p, sizeof p);
    ops[n] = link_op(p, strrchr(d, '/') + 1, "", "", 0, flag);
    if ((rc = rs_aio_slot(&a, &comp)) < 0) break;
    if ((rc = rados_aio_write_op_operate(ops[n], c->io, comp, p, NULL, 0)) < 0) {
      rs_aio_unslot(&a);
      break;
    }
    if (*levels < MAX_LEVELS) snprintf(flags[(*levels)++], RS_OID_MAX, "%s", flag);
    memcpy(d, p, sizeof p);
  }
  if (rc < 0) n++; /* the op made but not sent */
  wrc = rs_aio_wait_all(&a);
  rs_aio_free(&a);
  for (i = 0; i < n; i++) rados_release_write_op(ops[i]);
  if (rc == 0) rc = wrc;
  if (rc == -ECANCELED) return -RS_ENOTDIR; /* a file where a parent should be */
  if (rc == 0) RS_CRASH("link.parent_linked");
  return rc;
}

/* What make_known leaves for levels rs_dir_create_chain has made: d moved
 * up `known` levels, each with its flag in flags. */
static void made_known(char *d, int known, const char *flag,
                       char flags[][RS_OID_MAX], int *levels) {
  char p[4096];
  int n;
  for (n = 0; n < known && n < MAX_LEVELS && strcmp(d, "/") != 0; n++) {
    rs_path_parent(d, p, sizeof p);
    if (*levels < MAX_LEVELS) snprintf(flags[(*levels)++], RS_OID_MAX, "%s", flag);
    memcpy(d, p, sizeof p);
  }
}

/*
 * Links dir into its parent, and so on up while parents are missing or
 * flagged; then takes the flags off (dir's if it is stamp, and those of
 * the levels passed), all levels being listed by then.  The first `known`
 * parents are known to be missing and are made straight away (flagged with
 * stamp, or a stamp of their own); above them, a link that finds its
 * parent in place without a flag ends the climb.
 */
static int link_up(rs_conn *c, const char *dir, int known, const char *stamp,
                   int made) {
  char d[4096], p[4096], own[37];
  char flags[MAX_LEVELS][RS_OID_MAX]; /* what to take off level i */
  int levels = 1, rc = 0;
  if (!stamp) rs_uuid(own);
  snprintf(flags[0], RS_OID_MAX, "%s", stamp ? stamp : "");
  snprintf(d, sizeof d, "%s", dir);
  if (made && known > 0) {
    made_known(d, known, stamp ? stamp : own, flags, &levels);
    known = 0;
  } else if (known > 1) {
    rc = make_known(c, d, known, stamp ? stamp : own, flags, &levels);
    if (rc < 0) return rc;
    known = 0;
  }
  while (strcmp(d, "/") != 0) {
    const char *base = strrchr(d, '/') + 1;
    char seen[RS_OID_MAX] = "";
    int created = known-- > 0, tries;
    rs_path_parent(d, p, sizeof p);
    for (tries = 0; tries < RS_RETRIES; tries++) {
      rs_entry e;
      rc = created ? -ENOENT : op_link(c, p, base, "", "", 1, seen);
      if (rc == -ENOENT) {
        snprintf(seen, sizeof seen, "%s", stamp ? stamp : own);
        rc = op_link(c, p, base, "", "", 0, seen);
        created = 1;
      }
      if (rc != -ECANCELED) break;
      /* a file where base should be, or p's flag is not the one seen */
      rc = rs_dir_lookup(c, p, base, &e);
      if (rc < 0) break;
      rc = -ECANCELED;
      if (e.kind == RS_ENT_FILE) break;
      created = !e.dir_exists;
      snprintf(seen, sizeof seen, "%s", e.linking);
    }
    if (rc == -ECANCELED) return -RS_ENOTDIR;
    if (rc < 0) return rc;
    if (!created && !seen[0]) break;
    if (created) RS_CRASH("link.parent_linked");
    if (levels < MAX_LEVELS) snprintf(flags[levels++], RS_OID_MAX, "%s", seen);
    memcpy(d, p, sizeof d);
  }
  unflag_levels(c, dir, flags, levels);
  return 0;
}

int rs_dir_link_up(rs_conn *c, const char *dir, int known, const char *stamp) {
  return link_up(c, dir, known, stamp, 0);
}

/* rs_dir_link_up for a dir whose `known` missing levels above it
 * rs_dir_create_chain has made (flagged stamp): they are linked up. */
int rs_dir_link_up_made(rs_conn *c, const char *dir, int known,
                        const char *stamp) {
  return link_up(c, dir, known, stamp, 1);
}

int rs_dir_link_chain(rs_conn *c, const char *dir, int known) {
  return rs_dir_link_up(c, dir, known, NULL);
}

/* -RS_EEXIST for a name found in dir (with dir's flag as read), once dir
 * is listed: a name a put refuses to replace is there for readers too. */
int rs_dir_exists_listed(rs_conn *c, const char *dir, const char *flag) {
  int rc = flag[0] ? rs_dir_link_up(c, dir, 0, flag) : 0;
  return rc < 0 ? rc : -RS_EEXIST;
}

/*
 * Sets name to a file's blob id, guarded by what it replaces.  A blob id
 * there is compared with omap_cmp.  Absence cannot be on its own: an
 * absent key compares as "" and so does a subdirectory's entry (an empty
 * value, as the first engine version wrote it), so a guard of "" alone
 * would replace a directory made since the lookup, hiding it.  A name
 * seen absent is guarded by the generation of the directory's
 * subdirectories as that lookup read it (every subdirectory link changes
 * it, op_link) together with "" (no file either): no subdirectory can have
 * been linked under that name since.
 * Links of sibling files do not touch the generation, so they never make
 * each other retry.  A missing directory object is created exclusively.
 */
static rados_write_op_t file_link_op(const char *dir, const char *name,
                                     const char *old, const char *oid,
                                     int dir_exists, const char *gen,
                                     const char *flag) {
  rados_write_op_t op = rados_create_write_op();
  if (!old[0] && !dir_exists) {
    rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
  } else {
    if (dir_exists)
      rados_write_op_assert_exists(op);
    else
      rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
    if (!old[0]) rados_write_op_cmpxattr(op, RS_SUBDIRS_XATTR, LIBRADOS_CMPXATTR_OP_EQ, gen, strlen(gen));
  }
  op_flag(op, dir, flag, !dir_exists);
  op_guarded_set(op, name, old, oid);
  return op;
}

static int op_link_file(rs_conn *c, const char *dir, const char *name,
                        const char *old, const char *oid, int dir_exists,
                        const char *gen, const char *flag) {
  rados_write_op_t op = file_link_op(dir, name, old, oid, dir_exists, gen, flag);
  int rc = rs_write_op(c, op, dir);
  rados_release_write_op(op);
  return rc;
}

/* Creates dir exclusively with one entry, name -> oid: 0, or -EEXIST when
 * dir exists (nothing changed). */
int rs_dir_create_with(rs_conn *c, const char *dir, const char *name,
                       const char *oid) {
  return op_link_file(c, dir, name, "", oid, 0, "", oid);
}

/*
 * rs_dir_create_with, and the `known` levels above dir, known to be
 * missing, made in the same round trip (each with its child's entry,
 * flagged oid), as rs_dir_link_up would make them once the create is
 * back: a new tag's chain of five directories costs one round trip less.
 * None of them is read before the level above the highest is linked, so
 * what lands first does not matter; when dir exists after all, the levels
 * were made as a wrong hint makes them (a link up takes their flags off).
 * Returns the create's result; *made: whether the levels were made
 * (rs_dir_link_up_made links them up; else rs_dir_link_up makes them
 * again and answers what failed).
 */
int rs_dir_create_chain(rs_conn *c, const char *dir, const char *name,
                        const char *oid, int known, int *made) {
  char d[4096], flags[MAX_LEVELS][RS_OID_MAX];
  rados_write_op_t op = file_link_op(dir, name, "", oid, 0, "", oid);
  rados_completion_t comp;
  int levels = 0, rc = rs_comp_new(c, &comp);
  *made = 0;
  if (rc == 0) {
    rc = rados_aio_write_op_operate(op, c->io, comp, dir, NULL, 0);
    if (rc < 0) rados_aio_release(comp);
  }
  rados_release_write_op(op); /* its contents went with the request */
  if (rc < 0) return rc;
  snprintf(d, sizeof d, "%s", dir);
  *made = make_known(c, d, known, oid, flags, &levels) == 0;
  return rs_comp_wait(c, comp, NULL);
}

/*
 * Links n subdirectories of dir at once, in one op, as n op_link calls
 * with must_exist would (each name guarded: absent or a subdirectory; one
 * new generation): 0, -ENOENT when dir is missing, -ECANCELED when a name
 * holds a file; on any failure nothing changed.
 */
int rs_dir_link_subdirs(rs_conn *c, const char *dir, const char *const *names,
                        size_t n) {
  rados_write_op_t op;
  const char **vals;
  size_t *vlen, i;
  char gen[37];
  int rc;
  if (n == 0) return 0;
  vals = calloc(n, sizeof *vals);
  vlen = calloc(n, sizeof *vlen);
  if (!vals || !vlen) {
    free(vals);
    free(vlen);
    return -ENOMEM;
  }
  op = rados_create_write_op();
  rados_write_op_assert_exists(op);
  op_flag(op, dir, "", 0); /* a flagged dir: each links up on its own */
  for (i = 0; i < n; i++) {
    vals[i] = "";
    rados_write_op_omap_cmp(op, names[i], LIBRADOS_CMPXATTR_OP_EQ, "", 0, NULL);
  }
  rados_write_op_omap_set(op, names, vals, vlen, n);
  rs_uuid(gen);
  rados_write_op_setxattr(op, RS_SUBDIRS_XATTR, gen, strlen(gen));
  rc = rs_write_op(c, op, dir);
  rados_release_write_op(op);
  free(vals);
  free(vlen);
  return rc;
}

/* A guard that failed because the directory changed since it was read. */
static int changed(int rc) {
  return rc == -ECANCELED || rc == -EEXIST;
}

/*
 * Points name at oid.  old holds the value expected there ("" for none) and,
 * on return, the blob id that was replaced; gen is dir's generation of
 * subdirectories read with the lookup that saw old (rs_entry.gen).  missing: 0 when dir
 * exists, n when dir and n - 1 of its parents were found missing, -1 when
 * dir was found missing and its parents are unknown.  A race with another
 * writer of the same name is retried: the last commit wins, and the caller
 * removes the blob it replaced.  A directory there, or made meanwhile,
 * gives -RS_EISDIR and nothing changes.  With RS_NOREPLACE a file already
 * there, or linked by the winner of a race, gives -RS_EEXIST (the guard
 * makes it atomic).
 */
int rs_dir_link_file(rs_conn *c, const char *dir, const char *name,
                     const char *oid, char *old, const char *gen, int missing,
                     int flags, int *entry_set) {
  int tries, rc = -EAGAIN, linked = 0, dir_exists = missing == 0;
  char seen[RS_GEN_MAX], flag[RS_OID_MAX] = "";
  *entry_set = 0;
  snprintf(seen, sizeof seen, "%s", gen ? gen : "");
  /* Each lost compare means another put of this name landed: progress, so
   * the bound is generous (a put among many racing on one name may lose
   * to each of them; the call's deadline bounds it in time). */
  for (tries = 0; tries < RS_RETRIES * 8 && !linked; tries++) {
    rs_entry e;
    if (old[0] && (flags & RS_NOREPLACE)) return rs_dir_exists_listed(c, dir, flag);
    rc = op_link_file(c, dir, name, old, oid, dir_exists, seen, dir_exists ? flag : oid);
    if (rc == 0) {
      linked = 1;
      break;
    }
    if (rc != -ENOENT && !changed(rc)) return rc;
    rc = rs_dir_lookup(c, dir, name, &e);
    if (rc < 0) return rc;
    if (e.kind == RS_ENT_DIR) return -RS_EISDIR;
    if (e.kind == RS_ENT_FILE)
      memcpy(old, e.oid, RS_OID_MAX);
    else
      old[0] = '\0';
    dir_exists = e.dir_exists;
    memcpy(seen, e.gen, sizeof seen);
    memcpy(flag, e.linking, sizeof flag);
    rc = -EAGAIN;
  }
  if (!linked) return rc;
  if (!dir_exists) {
    RS_CRASH("link.entry_set");
    rc = rs_dir_link_up(c, dir, missing > 1 ? missing - 1 : 0, oid);
    if (rc < 0) {
      /* Lost a race with a file created where a parent should be. */
      rs_dir_unlink(c, dir, name, oid);
      rs_dir_prune(c, dir);
    }
  } else if (flag[0]) {
    /* A directory its maker did not finish (or is finishing): the name
     * counts once the directory is listed, so this link lists it.  If
     * that fails, the name is set all the same (*entry_set). */
    *entry_set = 1;
    rc = rs_dir_link_up(c, dir, 0, flag);
  }
  return rc;
}

/* Removes name if it still holds expect; -ECANCELED when it changed. */
/* Whether name in dir holds exactly val now (one compare, read only). */
int rs_dir_holds(rs_conn *c, const char *dir, const char *name, const char *val) {
  rados_read_op_t op = rados_create_read_op();
  int prval = 0, rc;
  rados_read_op_assert_exists(op);
  rados_read_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, val, strlen(val), &prval);
  rc = rs_read_op(c, op, dir, NULL);
  rados_release_read_op(op);
  if (rc == 0 && prval < 0) rc = prval;
  return rc == 0 ? 1 : rc == -ECANCELED || rc == -ENOENT ? 0 : rc;
}

int rs_dir_unlink(rs_conn *c, const char *dir, const char *name,
                  const char *expect) {
  rados_write_op_t op = rados_create_write_op();
  const char *keys[1] = {name};
  int rc;
  rados_write_op_assert_exists(op);
  rados_write_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, expect,
                          strlen(expect), NULL);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rs_write_op(c, op, dir);
  rados_release_write_op(op);
  return rc;
}

/*
 * Removes name when its value is not a blob id (a damaged entry that names
 * no data), guarded by that exact value, NULs and all: -ECANCELED when it
 * holds a blob id now (replaced meanwhile), -ENOENT when it is gone.
 */
int rs_dir_unlink_damaged(rs_conn *c, const char *dir, const char *name) {
  const char *keys[1] = {name};
  size_t klen[1] = {strlen(name)};
  rados_read_op_t rop = rados_create_read_op();
  rados_omap_iter_t it = NULL;
  char *k, *v, *val = NULL;
  size_t kl, vl = 0;
  int prval = 0, rc;
  rados_read_op_omap_get_vals_by_keys2(rop, keys, 1, klen, &it, &prval);
  rc = rs_read_op(c, rop, dir, NULL);
  if (rc == 0 && prval < 0) rc = prval;
  if (rc == 0) {
    if (rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k) {
      if (vl == 0 || rs_oid_valid(v, vl)) rc = -ECANCELED;
      else if (!(val = malloc(vl))) rc = -ENOMEM;
      else memcpy(val, v, vl);
    } else {
      rc = -ENOENT;
    }
  }
  if (it) rados_omap_get_end(it);
  rados_release_read_op(rop);
  if (rc == 0) {
    rados_write_op_t op = rados_create_write_op();
    rados_write_op_assert_exists(op);
    rados_write_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, val, vl, NULL);
    rados_write_op_omap_rm_keys(op, keys, 1);
    rc = rs_write_op(c, op, dir);
    rados_release_write_op(op);
  }
  free(val);
  return rc;
}

/*
 * A rename inside one directory, in one guarded op.  A dst seen absent
 * (old_dst "") is also guarded by the generation of subdirectories that
 * lookup read, as in op_link_file: a directory made there meanwhile is
 * never replaced.  -ECANCELED when anything changed: look again.
 */
int rs_dir_swap(rs_conn *c, const char *dir, const char *src, const char *dst,
                const char *oid, const char *old_dst, const char *gen) {
  rados_write_op_t op = rados_create_write_op();
  const char *keys[1] = {src};
  int rc;
  rados_write_op_assert_exists(op);
  if (!old_dst[0]) rados_write_op_cmpxattr(op, RS_SUBDIRS_XATTR, LIBRADOS_CMPXATTR_OP_EQ, gen, strlen(gen));
  rados_write_op_omap_cmp(op, src, LIBRADOS_CMPXATTR_OP_EQ, oid, strlen(oid),
                          NULL);
  op_guarded_set(op, dst, old_dst, oid);
  rados_write_op_omap_rm_keys(op, keys, 1);
  rc = rs_write_op(c, op, dir);
  rados_release_write_op(op);
  return rc;
}

static int version_lost(int rc) {
  return rc == -ERANGE || rc == -EOVERFLOW || rc == -ECANCELED;
}

/* Whether dir has any entry; with its version. */
static int dir_probe(rs_conn *c, const char *dir, int *nonempty,
                     uint64_t *version) {
  rados_read_op_t op = rados_create_read_op();
  rados_omap_iter_t it = NULL;
  unsigned char more = 0;
  int prval = 0, rc;
  rados_read_op_omap_get_keys2(op, "", 1, &it, &more, &prval);
  rc = rs_read_op(c, op, dir, version);
  if (rc == 0 && prval < 0) rc = prval;
  if (rc == 0) *nonempty = rados_omap_iter_size(it) > 0;
  if (it) rados_omap_get_end(it);
  rados_release_read_op(op);
  return rc;
}

/*
 * After dir's object went away: unlinks it from its parent, relinks it when
 * a creator brought it back meanwhile, and prunes the parent.
 */
int rs_dir_forget(rs_conn *c, const char *dir) {
  char p[4096];
  int rc;
  if (strcmp(dir, "/") == 0) return 0;
  rs_path_parent(dir, p, sizeof p);
  rc = rs_dir_unlink(c, p, strrchr(dir, '/') + 1, "");
  if (rc < 0 && rc != -ENOENT) return rc;
  RS_CRASH("prune.unlinked");
  rc = rs_obj_exists(c, dir);
  if (rc < 0) return rc;
  if (rc == 1) return rs_dir_link_chain(c, dir, 0);
  return rs_dir_prune(c, p);
}

/* Removes dir when it has no entry left, then its empty ancestors. */
int rs_dir_prune(rs_conn *c, const char *dir) {
  int rc = -EAGAIN, tries;
  if (strcmp(dir, "/") == 0) return 0;
  for (tries = 0; tries < RS_RETRIES; tries++) {
    int nonempty = 0;
    uint64_t version = 0;
    rc = dir_probe(c, dir, &nonempty, &version);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    if (nonempty) return 0;
    rc = rs_obj_remove_if_version(c, dir, version);
    if (rc == 0 || !version_lost(rc)) break;
  }
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  RS_CRASH("prune.removed");
  return rs_dir_forget(c, dir);
}

/*
 * All entries of a directory, sorted (omap order), paged.  The listing is
 * consistent: it is read again when the object changed between pages, and
 * *version is the object version it reflects.
 */
int rs_dir_read(rs_conn *c, const char *dir, rs_dirent **ents, size_t *n,
                uint64_t *version, int with_vals) {
  int tries, rc = -EAGAIN;
  for (tries = 0; tries < RS_RETRIES; tries++) {
    rs_dirent *list = NULL;
    size_t count = 0, cap = 0;
    uint64_t first = 0, last = 0;
    int more = 1, pages = 0;
    rc = 0;
    while (rc == 0 && more) {
      const char *after = count ? list[count - 1].name : "";
      rc = rs_omap_page(c, dir, after, "", with_vals, &list, &count, &cap, &more,
                        &last);
      if (pages++ == 0) first = last;
    }
    if (rc == 0 && first == last) {
      *ents = list;
      *n = count;
      if (version) *version = last;
      return 0;
    }
    rs_dirents_free(list, count);
    if (rc < 0) return rc;
  }
  return rc;
}

/*
 * Asynchronous listing, for walk: the first page of a directory is asked
 * for ahead of time, the rest (rarely any) is read when collected.
 */
int rs_prefetch_start(rs_conn *c, rs_prefetch *p, const char *dir) {
  memset(p, 0, sizeof *p);
  p->op = rados_create_read_op();
  rados_read_op_omap_get_vals2(p->op, "", "", RS_OMAP_PAGE, &p->it, &p->more, &p->prval);
  return rs_aio_read(c, &p->op, dir, &p->comp);
}

static int prefetch_wait(rs_conn *c, rs_prefetch *p) {
  int rc = rs_aio_wait(c, p->comp);
  return rc == 0 && p->prval < 0 ? p->prval : rc;
}

static void prefetch_release(rs_prefetch *p) {
  if (p->it) rados_omap_get_end(p->it);
  rados_release_read_op(p->op);
  p->op = NULL;
}

int rs_prefetch_finish(rs_conn *c, rs_prefetch *p, const char *dir,
                       rs_dirent **ents, size_t *n) {
  rs_dirent *list = NULL;
  size_t count = 0, cap = 0;
  int more = 0, rc;
  uint64_t version;
  *ents = NULL;
  *n = 0;
  if (!p->op) return -EINVAL;
  rc = prefetch_wait(c, p);
  if (rc == 0) {
    char *k, *v;
    size_t kl, vl;
    while (rc == 0 && rados_omap_get_next2(p->it, &k, &v, &kl, &vl) == 0 && k)
      rc = rs_dirents_push(&list, &count, &cap, k, kl, v, vl);
    more = p->more;
  }
  prefetch_release(p);
  while (rc == 0 && more)
    rc = rs_omap_page(c, dir, list[count - 1].name, "", 1, &list, &count, &cap, &more, &version);
  if (rc < 0) {
    rs_dirents_free(list, count);
    return rc;
  }
  *ents = list;
  *n = count;
  return 0;
}

void rs_prefetch_abandon(rs_conn *c, rs_prefetch *p) {
  if (!p->op) return;
  prefetch_wait(c, p);
  prefetch_release(p);
}

/*
 * Up to max entries (0: all) of a directory after the name `after` ("" or
 * NULL: from the start), keys only, in omap order.  Unlike rs_dir_read it
 * does not retry for a consistent snapshot: it serves paged listings.
 */
int rs_dir_read_range(rs_conn *c, const char *dir, const char *after,
                      size_t max, rs_dirent **ents, size_t *n) {
  rs_dirent *list = NULL;
  size_t count = 0, cap = 0;
  uint64_t version;
  int more = 1, rc = 0;
  while (rc == 0 && more && (max == 0 || count < max)) {
    const char *from = count ? list[count - 1].name : (after ? after : "");
    rc = rs_omap_page(c, dir, from, "", 0, &list, &count, &cap, &more, &version);
  }
  if (rc < 0) {
    rs_dirents_free(list, count);
    return rc;
  }
  while (max && count > max) {
    count--;
    free(list[count].name);
    free(list[count].val);
  }
  *ents = list;
  *n = count;
  return 0;
}
