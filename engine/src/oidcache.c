/*
 * A per-connection memory of which blob a path named last, used only to
 * start reading a file's data while its directory entry is being looked up.
 * The lookup stays authoritative: data read from a remembered blob is used
 * only when the lookup names that same blob, and blobs never change under
 * their id once committed.  Direct-mapped, RS_OIDCACHE_SLOTS entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct rs_oidcache_slot {
  char *path;
  char oid[RS_OID_MAX];
};

static size_t slot_of(const char *path) {
  size_t h = 5381;
  while (*path) h = h * 33 + (unsigned char)*path++;
  return h % RS_OIDCACHE_SLOTS;
}

int rs_oidcache_init(rs_conn *c) {
  c->oids = calloc(RS_OIDCACHE_SLOTS, sizeof *c->oids);
  return c->oids ? 0 : -1;
}

void rs_oidcache_free(rs_conn *c) {
  size_t i;
  if (!c->oids) return;
  for (i = 0; i < RS_OIDCACHE_SLOTS; i++) free(c->oids[i].path);
  free(c->oids);
  c->oids = NULL;
}

/* The blob id remembered for path, or NULL. */
const char *rs_oidcache_get(rs_conn *c, const char *path) {
  struct rs_oidcache_slot *s;
  if (!c->oids) return NULL; /* a batch helper's view */
  s = &c->oids[slot_of(path)];
  return s->path && strcmp(s->path, path) == 0 ? s->oid : NULL;
}

/* Remembers oid for path; a NULL oid forgets the path. */
void rs_oidcache_set(rs_conn *c, const char *path, const char *oid) {
  struct rs_oidcache_slot *s;
  if (!c->oids) return;
  s = &c->oids[slot_of(path)];
  if (!oid) {
    if (s->path && strcmp(s->path, path) == 0) {
      free(s->path);
      s->path = NULL;
    }
    return;
  }
  if (!s->path || strcmp(s->path, path) != 0) {
    char *copy = strdup(path);
    if (!copy) return; /* only a lost hint */
    free(s->path);
    s->path = copy;
  }
  snprintf(s->oid, sizeof s->oid, "%s", oid);
}
