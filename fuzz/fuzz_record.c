/*
 * Pending records (pending.c), as RADOS hands them back: the omap key
 * "<path> <blob id>" and the value "<size> <stripe> <owner>".  The input is
 * "<key>\0<value>".  A record that parses is one the engine can act on: a
 * valid path, a blob id, a stripe within 4 KiB..64 MiB, a chunk count that
 * fits a chunk index, an owner without blanks (a writer's: "<token>@<epoch
 * ms>", the stamp of its last sign of life); and the value is the canonical
 * text the engine writes (rs_pending_put), so that no two texts mean one
 * record.
 */
#include <inttypes.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t klen = nul ? (size_t)(nul - data) : size;
  char *key = fuzz_cstr(data, klen);
  char *val = nul ? fuzz_cstr(nul + 1, size - klen - 1) : fuzz_cstr(data, 0);
  static rs_record r;
  if (rs_record_parse(key, val, &r) == 0) {
    char canon[RS_RECORD_MAX + 32], k2[4200];
    FUZZ_CHECK(rs_path_valid(r.path, 0));
    FUZZ_CHECK(rs_oid_valid(r.oid, strlen(r.oid)));
    FUZZ_CHECK(r.stripe >= 4096 && r.stripe <= RS_MAX_CHUNK_SIZE);
    FUZZ_CHECK(rs_chunk_count(r.stripe, r.size) <= RS_MAX_CHUNKS);
    FUZZ_CHECK(r.owner[0] && !strchr(r.owner, ' '));
    FUZZ_CHECK(strcmp(r.value, val) == 0);
    snprintf(k2, sizeof k2, "%s %s", r.path, r.oid);
    FUZZ_CHECK(strcmp(k2, key) == 0);
    /* A writer's owner is "<token>@<epoch ms>": the token, and the stamp as written. */
    snprintf(canon, sizeof canon, "%" PRIu64 " %" PRIu32 " %s%s", r.size, r.stripe, r.owner,
             strchr(val, '@') ? strchr(val, '@') : "");
    FUZZ_CHECK(!strchr(r.owner, '@'));
    /* Older records ("<size>", "<size> <stripe>") are read too. */
    if (strchr(val, ' ') && strchr(strchr(val, ' ') + 1, ' ')) FUZZ_CHECK(strcmp(canon, val) == 0);
  }
  free(key);
  free(val);
  return 0;
}
