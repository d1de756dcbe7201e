/*
 * Saved hash states (sha256.c), as the registry layer reads them back from
 * an upload's hashstates (bytes anybody with write access may have
 * changed): a state that restores saves back to the same 108 bytes, apart
 * from the unused tail of the block buffer, and hashing goes on from it.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rs_sha256 *h = rs_sha256_new();
  unsigned char saved[RS_SHA256_STATE_LEN], md[32];
  if (!h) abort();
  if (rs_sha256_restore(h, data, size) == 0) {
    uint64_t n;
    FUZZ_CHECK(size == RS_SHA256_STATE_LEN);
    rs_sha256_save(h, saved);
    n = rs_sha256_size(h);
    FUZZ_CHECK(memcmp(saved, data, 36) == 0);
    FUZZ_CHECK(memcmp(saved + 36, data + 36, n % 64) == 0);
    FUZZ_CHECK(memcmp(saved + 100, data + 100, 8) == 0);
    rs_sha256_digest(h, md);
    rs_sha256_update(h, data, size);
    if (n + size <= UINT64_MAX >> 3) FUZZ_CHECK(rs_sha256_size(h) == n + size);
    rs_sha256_digest(h, md);
  } else {
    /* Rejected: another length or magic, or a byte count of 2^61 or more
     * (SHA-256 counts bits in 64; such a count would come back changed). */
    FUZZ_CHECK(size != RS_SHA256_STATE_LEN || memcmp(data, "sha\x03", 4) != 0 ||
               (data[100] & 0xe0) != 0);
  }
  rs_sha256_free(h);
  return 0;
}
