/*
 * Names of objects, made and read without touching the cluster: blob ids
 * ("blob:<uuid>"), their chunks' object names ("<blob id>-<n>"), the
 * decimal records they carry, and the stamps of back-references (refs.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "internal.h"

void rs_uuid(char out[37]) {
  uuid_t u;
  uuid_generate_random(u);
  uuid_unparse_lower(u, out);
}

void rs_blob_new(char oid[RS_OID_MAX]) {
  char u[37];
  rs_uuid(u);
  snprintf(oid, RS_OID_MAX, RS_BLOB_PREFIX "%s", u);
}

void rs_chunk_name(char *out, const char *oid, uint64_t index) {
  snprintf(out, RS_OID_MAX, "%s-%" PRIu64, oid, index);
}

/* Whether s (len bytes) is a blob id: "blob:" and a uuid, as rs_blob_new makes. */
int rs_oid_valid(const char *s, size_t len) {
  static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  size_t plen = strlen(RS_BLOB_PREFIX), i;
  if (len != plen + sizeof shape - 1 || memcmp(s, RS_BLOB_PREFIX, plen) != 0) return 0;
  for (i = 0; i < sizeof shape - 1; i++) {
    unsigned char ch = (unsigned char)s[plen + i];
    int hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    if (shape[i] == '-' ? ch != '-' : !hex) return 0;
  }
  return 1;
}

/*
 * A chunk's object name, "<blob id>-<n>": 0 with the id and n, or -EINVAL
 * for any other name (an id that is no blob id, a missing or non-decimal n).
 */
int rs_chunk_parse(const char *name, size_t len, char id[RS_OID_MAX],
                   uint64_t *index) {
  const char *dash = memrchr(name, '-', len);
  size_t idlen = dash ? (size_t)(dash - name) : 0;
  if (!dash || !rs_oid_valid(name, idlen) ||
      rs_parse_size(dash + 1, len - idlen - 1, index) < 0)
    return -EINVAL;
  memcpy(id, name, idlen);
  id[idlen] = '\0';
  return 0;
}

/* The decimal value of a size record; -EINVAL when it is not one. */
int rs_parse_size(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (len == 0 || len > 20) return -EINVAL;
  for (i = 0; i < len; i++) {
    uint64_t d;
    if (s[i] < '0' || s[i] > '9') return -EINVAL;
    d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -EINVAL;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

void rs_ref_stamp(char out[24]) {
  snprintf(out, 24, "%lld", (long long)time(NULL));
}

/*
 * A stamp the engine did not write (not decimal, or more than a day ahead
 * of now, past any clock skew between clients) counts as made at the
 * epoch: as old as can be, so it neither keeps a blob forever nor
 * overflows the subtraction.
 */
long long rs_ref_age(const char *stamp, time_t now) {
  uint64_t t;
  if (now < 0 || rs_parse_size(stamp, strlen(stamp), &t) < 0 || t > (uint64_t)now + 86400)
    t = 0;
  return (long long)now - (long long)t;
}

int rs_word_valid(const char *s, size_t max) {
  size_t n = 0;
  if (!s) return 0;
  for (; s[n]; n++) {
    unsigned char ch = (unsigned char)s[n];
    if (!(ch == '.' || ch == '_' || ch == '-' || (ch >= '0' && ch <= '9') ||
          (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) || n >= max)
      return 0;
  }
  return n > 0;
}
