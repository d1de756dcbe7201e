/*
 * Asynchronous RADOS operations under a deadline.  Every operation the
 * engine makes goes through here, so that a call as a whole gives up when
 * the deadline its public entry set has passed (I6), however many
 * operations it makes: a wait that reaches the deadline cancels the
 * operation and answers -ETIMEDOUT, and every later wait of the same call
 * does the same at once.
 *
 * A completion's callback only wakes the connection's waiters (a mutex and
 * a condition variable): nothing of the caller's, and no Lua state, is ever
 * touched on a librados thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void now_mono(struct timespec *t) { clock_gettime(CLOCK_MONOTONIC, t); }

static void after(struct timespec *t, double secs) {
  long whole = (long)secs;
  now_mono(t);
  t->tv_sec += whole;
  t->tv_nsec += (long)((secs - (double)whole) * 1e9);
  if (t->tv_nsec >= 1000000000L) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000L;
  }
}

/* A batch keeps one deadline for all its items (rs_get_many, ...): the
 * calls it makes for each item leave it alone. */
void rs_deadline_start(rs_conn *c) {
  if (!c->fixed_deadline) after(&c->deadline, c->timeout);
}

/* Progress on a stream: the deadline counts from the last completed step. */
void rs_deadline_renew(rs_conn *c) { rs_deadline_start(c); }

int rs_deadline_passed(const rs_conn *c) {
  struct timespec t;
  now_mono(&t);
  return t.tv_sec > c->deadline.tv_sec ||
         (t.tv_sec == c->deadline.tv_sec && t.tv_nsec >= c->deadline.tv_nsec);
}

static void woken(rados_completion_t comp, void *arg) {
  rs_conn *c = arg;
  (void)comp;
  pthread_mutex_lock(&c->mu);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

int rs_comp_new(rs_conn *c, rados_completion_t *out) {
  return rados_aio_create_completion2(c, woken, out);
}

/*
 * Waits for comp until the deadline; then cancels it and waits for the
 * cancellation (librados completes a cancelled operation at once).  The
 * completion flag is set before the callback is queued, so the loop waits
 * for the flag, then for the callback itself, after which comp can be
 * released and nothing refers to the connection any more.
 */
static int wait_done(rs_conn *c, rados_completion_t comp) {
  int late = 0;
  pthread_mutex_lock(&c->mu);
  while (!rados_aio_is_complete(comp)) {
    struct timespec until = c->deadline;
    if (late) after(&until, 0.05); /* while the cancellation lands */
    if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT && !late &&
        !rados_aio_is_complete(comp)) {
      late = 1;
      pthread_mutex_unlock(&c->mu);
      rados_aio_cancel(c->io, comp);
      pthread_mutex_lock(&c->mu);
    }
  }
  pthread_mutex_unlock(&c->mu);
  rados_aio_wait_for_complete_and_cb(comp);
  return late;
}

int rs_comp_wait(rs_conn *c, rados_completion_t comp, uint64_t *version) {
  int late = wait_done(c, comp);
  int rc = rados_aio_get_return_value(comp);
  if (version) *version = rados_aio_get_version(comp);
  rados_aio_release(comp);
  return late && rc < 0 ? -ETIMEDOUT : rc;
}

int rs_read_op(rs_conn *c, rados_read_op_t op, const char *oid,
               uint64_t *version) {
  rados_completion_t comp;
  int rc = rs_comp_new(c, &comp);
  if (rc < 0) return rc;
  rc = rados_aio_read_op_operate(op, c->io, comp, oid, 0);
  if (rc < 0) {
    rados_aio_release(comp);
    return rc;
  }
  return rs_comp_wait(c, comp, version);
}

int rs_write_op(rs_conn *c, rados_write_op_t op, const char *oid) {
  rados_completion_t comp;
  int rc = rs_comp_new(c, &comp);
  if (rc < 0) return rc;
  rc = rados_aio_write_op_operate(op, c->io, comp, oid, NULL, 0);
  if (rc < 0) {
    rados_aio_release(comp);
    return rc;
  }
  return rs_comp_wait(c, comp, NULL);
}

/* librados keeps the completion until the write is done (and drops it at
 * shutdown); the op's contents went with the request. */
void rs_write_op_unwaited(rs_conn *c, rados_write_op_t op, const char *oid) {
  rados_completion_t comp;
  if (rados_aio_create_completion2(NULL, NULL, &comp) < 0) return;
  rados_aio_write_op_operate(op, c->io, comp, oid, NULL, 0);
  rados_aio_release(comp);
}

int rs_aio_init(rs_aio *a, rs_conn *c, int cap) {
  memset(a, 0, sizeof *a);
  a->comp = calloc((size_t)cap, sizeof *a->comp);
  if (!a->comp) return -ENOMEM;
  a->c = c;
  a->cap = cap;
  return 0;
}

static void reap_oldest(rs_aio *a) {
  int rc = rs_comp_wait(a->c, a->comp[0], NULL);
  if (rc >= 0 && a->renew) rs_deadline_renew(a->c);
  if (rc < 0 && a->err == 0 && !(rc == -ENOENT && a->ok_enoent)) a->err = rc;
  a->used--;
  memmove(a->comp, a->comp + 1, (size_t)a->used * sizeof *a->comp);
}

int rs_aio_slot(rs_aio *a, rados_completion_t *out) {
  int rc;
  if (a->used == a->cap) reap_oldest(a);
  rc = rs_comp_new(a->c, &a->comp[a->used]);
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

/* Removes oid with a slot of the window (an absent object is no failure
 * when the window says so). */
int rs_aio_remove(rs_aio *a, const char *oid) {
  rados_completion_t comp;
  int rc = rs_aio_slot(a, &comp);
  if (rc < 0) return rc;
  rc = rados_aio_remove(a->c->io, oid, comp);
  if (rc < 0) rs_aio_unslot(a);
  return rc;
}

/*
 * Sends *op to oid with a new completion in *comp.  On failure both are
 * released and *op is set to NULL, so callers test *op to know whether
 * anything is in flight.
 */
int rs_aio_read(rs_conn *c, rados_read_op_t *op, const char *oid,
                rados_completion_t *comp) {
  int rc = rs_comp_new(c, comp);
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
int rs_aio_wait(rs_conn *c, rados_completion_t comp) {
  return rs_comp_wait(c, comp, NULL);
}
