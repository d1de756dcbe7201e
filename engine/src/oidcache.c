/*
 * A per-connection memory of which blob a path named last, used only to
 * start reading a file's data while its directory entry is being looked up.
 * The lookup stays authoritative: data read from a remembered blob is used
 * only when the lookup names that same blob, and blobs never change under
 * their id once committed.  Direct-mapped, RS_OIDCACHE_SLOTS entries.  A
 * batch's helper threads share their connection's memory (batch.c), so
 * each access holds its mutex and copies out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct rs_oidcache_slot {
  char *path;
  char oid[RS_OID_MAX];
};

struct rs_oidcache {
  pthread_mutex_t mu;
  struct rs_oidcache_slot slots[RS_OIDCACHE_SLOTS];
};

static size_t slot_of(const char *path) {
  size_t h = 5381;
  while (*path) h = h * 33 + (unsigned char)*path++;
  return h % RS_OIDCACHE_SLOTS;
}

int rs_oidcache_init(rs_conn *c) {
  c->oids = calloc(1, sizeof *c->oids);
  if (!c->oids) return -1;
  if (pthread_mutex_init(&c->oids->mu, NULL) != 0) {
    free(c->oids);
    c->oids = NULL;
    return -1;
  }
  return 0;
}

void rs_oidcache_free(rs_conn *c) {
  size_t i;
  if (!c->oids) return;
  for (i = 0; i < RS_OIDCACHE_SLOTS; i++) free(c->oids->slots[i].path);
  pthread_mutex_destroy(&c->oids->mu);
  free(c->oids);
  c->oids = NULL;
}

/* Copies the blob id remembered for path into out: 1, or 0 when none. */
int rs_oidcache_get(rs_conn *c, const char *path, char out[RS_OID_MAX]) {
  struct rs_oidcache_slot *s;
  int found;
  if (!c->oids) return 0;
  pthread_mutex_lock(&c->oids->mu);
  s = &c->oids->slots[slot_of(path)];
  found = s->path && strcmp(s->path, path) == 0;
  if (found) memcpy(out, s->oid, RS_OID_MAX);
  pthread_mutex_unlock(&c->oids->mu);
  return found;
}

/* Remembers oid for path; a NULL oid forgets the path. */
void rs_oidcache_set(rs_conn *c, const char *path, const char *oid) {
  struct rs_oidcache_slot *s;
  if (!c->oids) return;
  pthread_mutex_lock(&c->oids->mu);
  s = &c->oids->slots[slot_of(path)];
  if (!oid) {
    if (s->path && strcmp(s->path, path) == 0) {
      free(s->path);
      s->path = NULL;
    }
  } else {
    if (!s->path || strcmp(s->path, path) != 0) {
      char *copy = strdup(path);
      if (copy) { /* else only a lost hint */
        free(s->path);
        s->path = copy;
      }
    }
    if (s->path && strcmp(s->path, path) == 0) snprintf(s->oid, sizeof s->oid, "%s", oid);
  }
  pthread_mutex_unlock(&c->oids->mu);
}
