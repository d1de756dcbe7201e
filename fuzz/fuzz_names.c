/*
 * Names and values the engine reads back from RADOS and decodes: blob ids
 * and chunk names (fsck lists every object), directory omap values (a blob
 * id, or "" for a subdirectory), back-reference stamps (the age decides
 * whether a reference may belong to a move at work).  The first input byte
 * chooses the decoder.
 */
#include <inttypes.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s;
  size_t n;
  if (size == 0) return 0;
  s = fuzz_cstr(data + 1, size - 1);
  n = size - 1;
  switch (data[0] % 3) {
    case 0: { /* a listed object name */
      char id[RS_OID_MAX], back[RS_OID_MAX + 32];
      uint64_t index;
      if (rs_chunk_parse(s, strlen(s), id, &index) == 0) {
        FUZZ_CHECK(rs_oid_valid(id, strlen(id)));
        rs_chunk_name(back, id, index);
        /* the name the engine would give that chunk names the same (id, n) */
        {
          char id2[RS_OID_MAX];
          uint64_t index2;
          FUZZ_CHECK(rs_chunk_parse(back, strlen(back), id2, &index2) == 0);
          FUZZ_CHECK(strcmp(id, id2) == 0 && index == index2);
        }
      }
      break;
    }
    case 1: { /* a directory omap value, with its NULs */
      rs_entry e;
      memset(&e, 0, sizeof e);
      rs_entry_parse(&e, (const char *)data + 1, n);
      FUZZ_CHECK(e.kind == (n == 0 ? RS_ENT_DIR : RS_ENT_FILE));
      FUZZ_CHECK(strlen(e.oid) < RS_OID_MAX);
      break;
    }
    default: { /* a back-reference stamp, at any time */
      time_t now = (time_t)1700000000 + (time_t)(n * 7919);
      long long age = rs_ref_age(s, now);
      /* never younger than a day ahead, never older than the epoch */
      FUZZ_CHECK(age >= -86400 && age <= (long long)now);
      break;
    }
  }
  free(s);
  return 0;
}
