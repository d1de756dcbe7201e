/*
 * Streaming SHA-256 over OpenSSL's libcrypto, with a state that can be
 * saved and restored: the byte layout of Go's crypto/sha256 MarshalBinary,
 * which is what distribution stores in an upload's hashstates.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX is the only exportable state */
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "regstore.h"

struct rs_sha256 {
  SHA256_CTX ctx;
};

static const unsigned char MAGIC[4] = {'s', 'h', 'a', 0x03};

rs_sha256 *rs_sha256_new(void) {
  rs_sha256 *h = malloc(sizeof *h);
  if (h) SHA256_Init(&h->ctx);
  return h;
}

void rs_sha256_free(rs_sha256 *h) { free(h); }

void rs_sha256_update(rs_sha256 *h, const void *data, size_t len) {
  SHA256_Update(&h->ctx, data, len);
}

uint64_t rs_sha256_size(const rs_sha256 *h) {
  return (((uint64_t)h->ctx.Nh << 32) | h->ctx.Nl) >> 3;
}

void rs_sha256_digest(const rs_sha256 *h, unsigned char out[32]) {
  SHA256_CTX copy = h->ctx;
  SHA256_Final(out, &copy);
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void rs_sha256_save(const rs_sha256 *h, unsigned char out[RS_SHA256_STATE_LEN]) {
  uint64_t len = rs_sha256_size(h);
  int i;
  memcpy(out, MAGIC, 4);
  for (i = 0; i < 8; i++) put_be32(out + 4 + 4 * i, h->ctx.h[i]);
  memset(out + 36, 0, 64);
  memcpy(out + 36, h->ctx.data, h->ctx.num); /* the partial block, as bytes */
  put_be32(out + 100, (uint32_t)(len >> 32));
  put_be32(out + 104, (uint32_t)len);
}

int rs_sha256_restore(rs_sha256 *h, const unsigned char *s, size_t len) {
  uint64_t n;
  int i;
  if (len != RS_SHA256_STATE_LEN || memcmp(s, MAGIC, 4) != 0) return -EINVAL;
  n = (uint64_t)get_be32(s + 100) << 32 | get_be32(s + 104);
  /* SHA-256 counts bits in 64: a larger byte count cannot be restored (it
   * would come back as another count, and another digest). */
  if (n > UINT64_MAX >> 3) return -EINVAL;
  memset(&h->ctx, 0, sizeof h->ctx);
  for (i = 0; i < 8; i++) h->ctx.h[i] = get_be32(s + 4 + 4 * i);
  h->ctx.Nl = (SHA_LONG)(n << 3);
  h->ctx.Nh = (SHA_LONG)(n >> 29);
  h->ctx.num = (unsigned int)(n % 64);
  memcpy(h->ctx.data, s + 36, h->ctx.num);
  h->ctx.md_len = SHA256_DIGEST_LENGTH;
  return 0;
}
