/*
 * A bounded window of asynchronous RADOS operations.  Completions carry no
 * callbacks: the owning thread waits on them, so nothing of the caller's
 * ever runs on a librados thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int rs_aio_init(rs_aio *a, int cap) {
  memset(a, 0, sizeof *a);
  a->comp = calloc((size_t)cap, sizeof *a->comp);
  if (!a->comp) return -ENOMEM;
  a->cap = cap;
  return 0;
}

static void reap_oldest(rs_aio *a) {
  int rc;
  rados_aio_wait_for_complete(a->comp[0]);
  rc = rados_aio_get_return_value(a->comp[0]);
  if (rc < 0 && a->err == 0 && !(rc == -ENOENT && a->ok_enoent)) a->err = rc;
  rados_aio_release(a->comp[0]);
  a->used--;
  memmove(a->comp, a->comp + 1, (size_t)a->used * sizeof *a->comp);
}

int rs_aio_slot(rs_aio *a, rados_completion_t *out) {
  int rc;
  if (a->used == a->cap) reap_oldest(a);
  rc = rados_aio_create_completion2(NULL, NULL, &a->comp[a->used]);
  if (rc < 0) return rc;
  *out = a->comp[a->used++];
  return 0;
}

/* Gives back the newest slot when its operation could not be submitted. */
void rs_aio_unslot(rs_aio *a) {
  rados_aio_release(a->comp[--a->used]);
}

int rs_aio_wait_all(rs_aio *a) {
  int rc;
  while (a->used > 0) reap_oldest(a);
  rc = a->err;
  a->err = 0;
  return rc;
}

void rs_aio_free(rs_aio *a) {
  if (!a->comp) return;
  rs_aio_wait_all(a);
  free(a->comp);
  a->comp = NULL;
}

/*
 * Sends *op to oid with a new completion in *comp.  On failure both are
 * released and *op is set to NULL, so callers test *op to know whether
 * anything is in flight.
 */
int rs_aio_read(rs_conn *c, rados_read_op_t *op, const char *oid,
                rados_completion_t *comp) {
  int rc = rados_aio_create_completion2(NULL, NULL, comp);
  if (rc == 0) {
    rc = rados_aio_read_op_operate(*op, c->io, *comp, oid, 0);
    if (rc < 0) rados_aio_release(*comp);
  }
  if (rc < 0) {
    rados_release_read_op(*op);
    *op = NULL;
  }
  return rc;
}

/* Waits for a read sent by rs_aio_read; its return value. */
int rs_aio_wait(rados_completion_t comp) {
  int rc;
  rados_aio_wait_for_complete(comp);
  rc = rados_aio_get_return_value(comp);
  rados_aio_release(comp);
  return rc;
}
