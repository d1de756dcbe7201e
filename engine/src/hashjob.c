/*
 * A helper thread per hashing writer: it hashes the bytes of a write while
 * the caller's thread sends the same bytes, so SHA-256 costs no time on the
 * writer's own thread.  The caller waits for it before its write returns,
 * because the bytes are the caller's and live only as long as the call.
 * The thread never sees anything of Lua's.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

struct rs_hashjob {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  rs_sha256 *hash;
  const rs_piece *pieces;  /* what to hash, in order */
  size_t n;
  rs_piece one;
  int busy;   /* a job is waiting or running */
  int quit;
};

static void *hash_loop(void *arg) {
  rs_hashjob *j = arg;
  pthread_mutex_lock(&j->lock);
  for (;;) {
    while (!j->busy && !j->quit) pthread_cond_wait(&j->cond, &j->lock);
    if (j->quit) break;
    pthread_mutex_unlock(&j->lock);
    {
      size_t i;
      for (i = 0; i < j->n; i++) rs_sha256_update(j->hash, j->pieces[i].data, j->pieces[i].len);
    }
    pthread_mutex_lock(&j->lock);
    j->busy = 0;
    pthread_cond_broadcast(&j->cond);
  }
  pthread_mutex_unlock(&j->lock);
  return NULL;
}

rs_hashjob *rs_hashjob_new(rs_sha256 *h) {
  rs_hashjob *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->hash = h;
  pthread_mutex_init(&j->lock, NULL);
  pthread_cond_init(&j->cond, NULL);
  if (pthread_create(&j->thread, NULL, hash_loop, j) != 0) {
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    free(j);
    return NULL;
  }
  return j;
}

void rs_hashjob_start(rs_hashjob *j, const rs_piece *pieces, size_t n) {
  pthread_mutex_lock(&j->lock);
  j->pieces = pieces;
  j->n = n;
  j->busy = 1;
  pthread_cond_broadcast(&j->cond);
  pthread_mutex_unlock(&j->lock);
}

void rs_hashjob_wait(rs_hashjob *j) {
  pthread_mutex_lock(&j->lock);
  while (j->busy) pthread_cond_wait(&j->cond, &j->lock);
  pthread_mutex_unlock(&j->lock);
}

void rs_hashjob_free(rs_hashjob *j) {
  if (!j) return;
  rs_hashjob_wait(j);
  pthread_mutex_lock(&j->lock);
  j->quit = 1;
  pthread_cond_broadcast(&j->cond);
  pthread_mutex_unlock(&j->lock);
  pthread_join(j->thread, NULL);
  pthread_cond_destroy(&j->cond);
  pthread_mutex_destroy(&j->lock);
  free(j);
}
