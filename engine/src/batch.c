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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { B_MIXED, B_GET = RS_BATCH_GET, B_PUT = RS_BATCH_PUT, B_STAT = RS_BATCH_STAT };

typedef struct batch {
  int kind;
  int flags;
  rs_batch_item *items;
  size_t n;
  size_t next; /* the next item to take (atomic) */
} batch;

typedef struct helper {
  batch *b;
  rs_conn view;
  pthread_t thread;
  int started;
} helper;

static void run_item(rs_conn *c, const batch *b, rs_batch_item *it) {
  memset(&it->st, 0, sizeof it->st);
  it->content = NULL;
  it->content_len = 0;
  it->names = NULL;
  it->count = 0;
  switch (b->kind == B_MIXED ? it->op : b->kind) {
    case B_GET:
      it->rc = rs_get(c, it->path, &it->content, &it->content_len, &it->st);
      break;
    case B_PUT:
      it->rc = it->missing > 0 ? rs_put_fresh(c, it->path, it->data, it->len, b->flags, it->missing, &it->st)
                               : rs_put(c, it->path, it->data, it->len, b->flags, &it->st);
      break;
    case RS_BATCH_LIST:
      it->rc = rs_list(c, it->path, &it->names, &it->count, &it->st);
      break;
    default:
      it->rc = rs_stat_path(c, it->path, &it->info, &it->st);
      break;
  }
  if (it->rc > 0) it->rc = 0;
}

static void take_items(rs_conn *c, batch *b) {
  for (;;) {
    size_t i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
    if (i >= b->n) return;
    run_item(c, b, &b->items[i]);
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
        items[i].op != RS_BATCH_STAT && items[i].op != RS_BATCH_LIST)
      return -EINVAL;
  }
  return 0;
}

static int run_batch(rs_conn *c, batch *b, int window) {
  helper *hs = NULL;
  pthread_attr_t attr;
  size_t nh = 0, i;
  int fixed, attr_ok;
  if (!c || window < 0 || window > RS_BATCH_MAX_WINDOW) return -EINVAL;
  fixed = c->fixed_deadline;
  if (check_items(b->items, b->n, b->kind == B_MIXED) < 0) return -EINVAL;
  if (b->n == 0) return 0;
  if (window == 0) window = c->window;
  if ((size_t)window > b->n) window = (int)b->n;
  rs_deadline_start(c);
  c->fixed_deadline = 1;
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
  c->fixed_deadline = fixed;
  return 0;
}

int rs_get_many(rs_conn *c, rs_batch_item *items, size_t n, int window) {
  batch b = {B_GET, 0, items, n, 0};
  return run_batch(c, &b, window);
}

int rs_put_many(rs_conn *c, rs_batch_item *items, size_t n, int flags,
                int window) {
  batch b = {B_PUT, flags, items, n, 0};
  return run_batch(c, &b, window);
}

int rs_stat_many(rs_conn *c, rs_batch_item *items, size_t n, int window) {
  batch b = {B_STAT, 0, items, n, 0};
  return run_batch(c, &b, window);
}

int rs_batch(rs_conn *c, rs_batch_item *items, size_t n, int flags, int window) {
  batch b = {B_MIXED, flags, items, n, 0};
  return run_batch(c, &b, window);
}
