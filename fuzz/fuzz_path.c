/*
 * Paths from the caller (path.c): rs_path_valid must accept exactly
 * ^(/[A-Za-z0-9._-]+)+$ (and "/" when asked) below 2000 bytes; for a valid
 * path, rs_path_split and rs_path_join give it back, and its parent is a
 * valid path or "/".
 */
#include "fuzz.h"

static int reference_valid(const char *p, size_t n, int allow_root) {
  size_t i;
  if (n == 0 || p[0] != '/') return 0;
  if (n == 1) return allow_root;
  if (n >= 2000) return 0;
  for (i = 0; i < n; i++) {
    char ch = p[i];
    if (ch == '/') {
      if (i + 1 == n || p[i + 1] == '/') return 0;
    } else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                 (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
      return 0;
    }
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *p = fuzz_cstr(data, size);
  size_t n = strlen(p);
  int v0 = rs_path_valid(p, 0), v1 = rs_path_valid(p, 1);
  FUZZ_CHECK(v0 == reference_valid(p, n, 0));
  FUZZ_CHECK(v1 == reference_valid(p, n, 1));
  if (v0) {
    static rs_split sp;
    char joined[4096], parent[4096];
    FUZZ_CHECK(rs_path_split(p, &sp) == 0);
    FUZZ_CHECK(rs_path_valid(sp.dir, 1));
    FUZZ_CHECK(rs_path_join(joined, sizeof joined, sp.dir, sp.base) == 0);
    FUZZ_CHECK(strcmp(joined, p) == 0);
    rs_path_parent(p, parent, sizeof parent);
    FUZZ_CHECK(strcmp(parent, sp.dir) == 0);
    {
      char pending[4200];
      rs_pending_object(pending, sizeof pending, p);
      FUZZ_CHECK(strncmp(pending, RS_PENDING_PREFIX "/", strlen(RS_PENDING_PREFIX) + 1) == 0);
    }
  }
  {
    /* The parent of anything, into a small buffer: always terminated. */
    char small[8];
    rs_path_parent(p, small, sizeof small);
    FUZZ_CHECK(strlen(small) < sizeof small);
  }
  free(p);
  return 0;
}
