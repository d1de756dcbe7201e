/*
 * Shared by the libFuzzer targets: the engine's internal parsers and
 * validators, and a check that crashes (so libFuzzer records the input)
 * when a property of a parser does not hold.
 */
#ifndef RS_FUZZ_H
#define RS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/src/internal.h"

#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "fuzz: property failed: %s (%s:%d)\n", #cond,        \
              __FILE__, __LINE__);                                         \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* A NUL-terminated copy of the input (cut at its first NUL, as C strings
 * from RADOS values are after strndup). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
