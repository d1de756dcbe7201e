/*
 * Batch calls: many small gets, puts or stats with a window of them in
 * flight.  Each item is exactly the single-path call (rs_get, rs_put,
 * rs_stat_path), so every protocol, guard, retry and crash point is the
 * single call's: a batch adds no multi-object step of its own, only
 * concurrency between independent items.
 *
 * A single call waits on its operations one round trip after another; its
 * protocol (lookup, seal, link, release, the retries of a race) is a chain
 * of dependent steps.  A batch runs up to `window` such chains at once:
 * the calling thread and window - 1 helper threads of the call, each taking
 * the next item in turn, each on a view of the connection of its own (the
 * same cluster handle and I/O context, its own waiters, so that each waits
 * on its own completions as a single call does).  Helpers are joined before
 * the call returns; nothing outlives it, and nothing is shared but the
 * item counter and the connection's oid cache (a hint for gets, locked).
 *
 * Deadline: one for the whole batch (I6), set at the call's start; each
 * item's call keeps it (rs_conn.fixed_deadline), so an item still running
 * when it passes fails with -ETIMEDOUT and the call answers in time.
 *
 * One exception to "only the single call": puts with a missing hint of 1
 * (a new directory whose parent is in place: most files of a tree loaded
 * into a fresh destination, such as a blob's <hex>/ under its <2hex>/)
 * run in two passes.  The first seals each blob and creates its directory
 * with the entry (rs_put_fresh_start); the second links the directories
 * of each parent into it with one op (rs_dir_link_subdirs) instead of one
 * each, then ends each put.  A grouped link that fails changes nothing,
 * and every put of the group then links on its own, as rs_put_fresh would
 * have (rs_put_fresh_link): each item's result is still its own.  Between
 * the passes each put is in the state a single put has at its crash point
 * "link.entry_set"; the batch returns only after the second pass.  With
 * RS_IN_ORDER the second pass links them one after the other in the items'
 * order instead: a put's name is read as missing until its directory is
 * linked (engine/src/dir.c), so an item becomes visible only after those
 * before it (a manifest's blob before its revision link).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { B_MIXED, B_GET = RS_BATCH_GET, B_PUT = RS_BATCH_PUT, B_STAT = RS_BATCH_STAT };

/* A put of rs_put_many in two passes (rs_put_fresh_start): its blob, and
 * whether its directory waits to be linked into its parent, whose path is
 * the put's first plen bytes (0: "/"). */
typedef struct fresh {
  char oid[RS_OID_MAX];
  int pending;
  size_t plen;
  size_t item;
} fresh;

/* The pending puts of one parent: fresh[order[first + k]], k < n. */
typedef struct group {
  size_t first, n;
} group;

typedef struct batch {
  int kind;
  int flags;
  rs_batch_item *items;
  size_t n;
  size_t next; /* the next item (or group) to take (atomic) */
  fresh *fr;   /* rs_put_many with hints: one per item, else NULL */
  size_t *order;  /* the pending puts, by parent */
  group *groups;  /* second pass: what the threads take */
  size_t ngroups;
} batch;

typedef struct helper {
  batch *b;
  rs_conn view;
  pthread_t thread;
  int started;
} helper;

static void run_item(rs_conn *c, const batch *b, size_t i) {
  rs_batch_item *it = &b->items[i];
  int op = b->kind == B_MIXED ? it->op : b->kind;
  c->shallow = (b->flags & RS_SHALLOW) && (op == B_GET || op == B_STAT);
  memset(&it->st, 0, sizeof it->st);
  it->content = NULL;
  it->content_len = 0;
  it->names = NULL;
  it->count = 0;
  switch (op) {
    case B_GET:
      it->rc = rs_get(c, it->path, &it->content, &it->content_len, &it->st);
      break;
    case B_PUT:
      if (it->missing > 0 && b->fr)
        it->rc = rs_put_fresh_start(c, it->path, it->data, it->len, b->flags & RS_NOREPLACE, it->missing,
                                    b->fr[i].oid, &b->fr[i].pending, &it->st);
      else if (it->missing > 0)
        it->rc = rs_put_fresh(c, it->path, it->data, it->len, b->flags & RS_NOREPLACE, it->missing, &it->st);
      else
        it->rc = rs_put(c, it->path, it->data, it->len, b->flags & RS_NOREPLACE, &it->st);
      break;
    case RS_BATCH_LIST:
      it->rc = rs_list(c, it->path, &it->names, &it->count, &it->st);
      break;
    case RS_BATCH_EXISTS:
      it->rc = rs_exists(c, it->path, &it->st);
      break;
    default:
      it->rc = rs_stat_path(c, it->path, &it->info, &it->st);
      break;
  }
  c->shallow = 0;
  if (it->rc > 0) it->rc = 0;
}

/* A pending put's directory linked on its own, as rs_put_fresh would. */
static void link_alone(rs_conn *c, rs_batch_item *it, const char *oid) {
  it->rc = rs_put_fresh_link(c, it->path, oid, it->len, 0, 0, &it->st);
  if (it->rc > 0) it->rc = 0;
}

/* The second pass for one parent: its new subdirectories linked at once,
 * or, when that fails, each on its own. */
static void run_group(rs_conn *c, const batch *b, const group *g) {
  char parent[4096];
  const char **names = calloc(g->n, sizeof *names);
  size_t k;
  int rc = -ENOMEM;
  const fresh *f0 = &b->fr[b->order[g->first]];
  const char *p0 = b->items[f0->item].path;
  if (f0->plen == 0) {
    snprintf(parent, sizeof parent, "/");
  } else if (f0->plen < sizeof parent) {
    memcpy(parent, p0, f0->plen);
    parent[f0->plen] = '\0';
  } else { /* too long to group: each links on its own */
    free(names);
    names = NULL;
  }
  for (k = 0; names && k < g->n; k++) {
    const fresh *f = &b->fr[b->order[g->first + k]];
    const char *path = b->items[f->item].path;
    const char *name = path + f->plen + 1;
    const char *end = strchr(name, '/');
    names[k] = end ? strndup(name, (size_t)(end - name)) : NULL;
    if (!names[k]) break;
  }
  if (names && k == g->n) rc = rs_dir_link_subdirs(c, parent, names, g->n);
  for (k = 0; k < g->n; k++) {
    const fresh *f = &b->fr[b->order[g->first + k]];
    rs_batch_item *it = &b->items[f->item];
    if (rc == 0) {
      rs_split sp;
      /* made flagged, named now under a parent without a flag: listed */
      if (rs_path_split(it->path, &sp) == 0) rs_dir_unflag(c, sp.dir, f->oid);
      rs_put_fresh_linked(c, it->path, f->oid);
      it->rc = 0;
    } else {
      link_alone(c, it, f->oid);
    }
  }
  for (k = 0; names && k < g->n; k++) free((char *)names[k]);
  free(names);
}

static void take_items(rs_conn *c, batch *b) {
  for (;;) {
    size_t i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
    if (b->groups) {
      if (i >= b->ngroups) return;
      run_group(c, b, &b->groups[i]);
    } else {
      if (i >= b->n) return;
      run_item(c, b, i);
    }
  }
}

static void *helper_main(void *arg) {
  helper *h = arg;
  take_items(&h->view, h->b);
  return NULL;
}

/* Every item names a path (an invalid one is the item's own failure). */
static int check_items(const rs_batch_item *items, size_t n, int mixed) {
  size_t i;
  if (n && !items) return -EINVAL;
  for (i = 0; i < n; i++) {
    if (!items[i].path) return -EINVAL;
    if (mixed && items[i].op != RS_BATCH_GET && items[i].op != RS_BATCH_PUT &&
        items[i].op != RS_BATCH_STAT && items[i].op != RS_BATCH_LIST &&
        items[i].op != RS_BATCH_EXISTS)
      return -EINVAL;
  }
  return 0;
}

/* Runs what b holds (items, or groups) on the calling thread and up to
 * window - 1 helpers. */
static void run_pool(rs_conn *c, batch *b, int window) {
  helper *hs = NULL;
  pthread_attr_t attr;
  size_t nh = 0, i, n = b->groups ? b->ngroups : b->n;
  int attr_ok;
  if ((size_t)window > n) window = (int)n;
  b->next = 0;
  attr_ok = pthread_attr_init(&attr) == 0;
  if (attr_ok) pthread_attr_setstacksize(&attr, 1u << 20);
  if (window > 1 && attr_ok) hs = calloc((size_t)window - 1, sizeof *hs);
  /* A helper that cannot start leaves its share to the others (the
   * calling thread at least): never a failure of the batch. */
  for (i = 0; hs && i < (size_t)window - 1; i++) {
    helper *h = &hs[nh];
    h->b = b;
    if (rs_conn_helper_init(c, &h->view) < 0) break;
    if (pthread_create(&h->thread, &attr, helper_main, h) != 0) {
      rs_conn_helper_free(&h->view);
      break;
    }
    h->started = 1;
    nh++;
  }
  take_items(c, b);
  for (i = 0; i < nh; i++) {
    pthread_join(hs[i].thread, NULL);
    rs_conn_helper_free(&hs[i].view);
  }
  free(hs);
  if (attr_ok) pthread_attr_destroy(&attr);
}

static int by_parent(const void *x, const void *y, void *arg) {
  const batch *b = arg;
  const fresh *f = &b->fr[*(const size_t *)x], *g = &b->fr[*(const size_t *)y];
  size_t n = f->plen < g->plen ? f->plen : g->plen;
  int r = memcmp(b->items[f->item].path, b->items[g->item].path, n);
  if (r != 0) return r;
  return f->plen < g->plen ? -1 : f->plen > g->plen;
}

enum { GROUP_MAX = 1024 }; /* subdirectories linked in one op */

/* The second pass of puts in two passes: the pending ones by parent. */
static void link_pending(rs_conn *c, batch *b, int window) {
  size_t i, np = 0;
  for (i = 0; i < b->n; i++) {
    fresh *f = &b->fr[i];
    const char *path = b->items[i].path, *leaf, *p;
    if (!f->pending) continue;
    /* path is /.../parent/dir/base: plen ends before "/dir/base" */
    leaf = strrchr(path, '/');
    for (p = leaf - 1; p > path && *p != '/'; p--) {}
    f->plen = (size_t)(p - path);
    f->item = i;
    np++;
  }
  if (np == 0) return;
  if (b->flags & RS_IN_ORDER) {
    for (i = 0; i < b->n; i++)
      if (b->fr[i].pending) link_alone(c, &b->items[i], b->fr[i].oid);
    return;
  }
  b->order = malloc(np * sizeof *b->order);
  b->groups = malloc(np * sizeof *b->groups);
  if (!b->order || !b->groups) {
    /* no memory to group: each links on its own */
    for (i = 0; i < b->n; i++)
      if (b->fr[i].pending) link_alone(c, &b->items[i], b->fr[i].oid);
    free(b->order);
    free(b->groups);
    b->order = NULL;
    b->groups = NULL;
    return;
  }
  for (i = 0, np = 0; i < b->n; i++)
    if (b->fr[i].pending) b->order[np++] = i;
  qsort_r(b->order, np, sizeof *b->order, by_parent, b);
  b->ngroups = 0;
  for (i = 0; i < np; i++) {
    group *g = b->ngroups ? &b->groups[b->ngroups - 1] : NULL;
    if (g && g->n < GROUP_MAX && by_parent(&b->order[g->first], &b->order[i], b) == 0) {
      g->n++;
    } else {
      b->groups[b->ngroups].first = i;
      b->groups[b->ngroups].n = 1;
      b->ngroups++;
    }
  }
  run_pool(c, b, window);
  free(b->order);
  free(b->groups);
  b->order = NULL;
  b->groups = NULL;
}

static int run_batch(rs_conn *c, batch *b, int window) {
  int fixed;
  if (!c || window < 0 || window > RS_BATCH_MAX_WINDOW) return -EINVAL;
  fixed = c->fixed_deadline;
  if (check_items(b->items, b->n, b->kind == B_MIXED) < 0) return -EINVAL;
  if (b->n == 0) return 0;
  if (window == 0) window = c->window;
  rs_deadline_start(c);
  c->fixed_deadline = 1;
  run_pool(c, b, window);
  if (b->fr) link_pending(c, b, window);
  c->fixed_deadline = fixed;
  return 0;
}

int rs_get_many(rs_conn *c, rs_batch_item *items, size_t n, int window) {
  batch b = {B_GET, 0, items, n, 0, NULL, NULL, NULL, 0};
  return run_batch(c, &b, window);
}

int rs_put_many(rs_conn *c, rs_batch_item *items, size_t n, int flags,
                int window) {
  batch b = {B_PUT, flags, items, n, 0, NULL, NULL, NULL, 0};
  size_t i;
  int rc;
  for (i = 0; items && i < n && !b.fr; i++)
    if (items[i].missing == 1) b.fr = calloc(n, sizeof *b.fr); /* else: single puts */
  rc = run_batch(c, &b, window);
  free(b.fr);
  return rc;
}

int rs_stat_many(rs_conn *c, rs_batch_item *items, size_t n, int window) {
  batch b = {B_STAT, 0, items, n, 0, NULL, NULL, NULL, 0};
  return run_batch(c, &b, window);
}

int rs_batch(rs_conn *c, rs_batch_item *items, size_t n, int flags, int window) {
  batch b = {B_MIXED, flags, items, n, 0, NULL, NULL, NULL, 0};
  return run_batch(c, &b, window);
}
