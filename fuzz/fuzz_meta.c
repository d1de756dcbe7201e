/*
 * Chunk 0's size and stripe records (blob.c), as RADOS hands them back:
 * the input is a list of xattrs "<name>\0<value>\0...".  Whatever the
 * bytes, the result is a usable layout: a stripe within 4 KiB..64 MiB (or
 * the record is marked bad), a size only when its record parsed, and a
 * parsed size equal to the decimal digits it came from.
 */
#include <inttypes.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rs_meta m;
  size_t pos = 0;
  rs_meta_init(&m);
  while (pos < size) {
    const uint8_t *name = data + pos, *nul = memchr(name, 0, size - pos);
    size_t nlen = nul ? (size_t)(nul - name) : size - pos;
    char *cname = fuzz_cstr(name, nlen);
    const char *val;
    size_t vlen;
    uint64_t v;
    pos += nlen + 1;
    val = pos <= size ? (const char *)data + pos : "";
    {
      const uint8_t *vend = pos < size ? memchr(data + pos, 0, size - pos) : NULL;
      vlen = pos >= size ? 0 : vend ? (size_t)(vend - (data + pos)) : size - pos;
    }
    pos += vlen + 1;
    rs_meta_apply(&m, cname, val, vlen);
    if (rs_parse_size(val, vlen, &v) == 0) {
      char back[32];
      size_t i = 0;
      while (i + 1 < vlen && val[i] == '0') i++; /* leading zeros are fine */
      snprintf(back, sizeof back, "%" PRIu64, v);
      FUZZ_CHECK(strlen(back) == vlen - i && memcmp(back, val + i, vlen - i) == 0);
    }
    free(cname);
  }
  rs_meta_finish(&m);
  FUZZ_CHECK(m.stripe >= 4096 && m.stripe <= RS_MAX_CHUNK_SIZE);
  if (m.has_size) {
    /* A committed layout is one the engine can walk: a chunk count that
     * fits a chunk index, as rs_blob_destroy and readers loop over it. */
    uint64_t chunks = rs_chunk_count(m.stripe, m.size);
    FUZZ_CHECK(chunks >= 1);
    FUZZ_CHECK(chunks <= RS_MAX_CHUNKS);
  }
  return 0;
}
