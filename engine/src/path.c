/* Virtual paths: validation and splitting, no I/O. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int path_char(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
         (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/* ^(/[A-Za-z0-9._-]+)+$, and "/" when allow_root; bounded by object names. */
int rs_path_valid(const char *path, int allow_root) {
  size_t i, n;
  if (!path || path[0] != '/') return 0;
  n = strlen(path);
  if (n == 1) return allow_root;
  if (n >= 2000) return 0;
  for (i = 0; i < n; i++) {
    if (path[i] == '/') {
      if (i + 1 == n || path[i + 1] == '/') return 0;
    } else if (!path_char((unsigned char)path[i])) {
      return 0;
    }
  }
  return 1;
}

void rs_path_parent(const char *path, char *out, size_t outlen) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n == 0) n = 1; /* the root */
  if (n >= outlen) n = outlen - 1;
  memcpy(out, path, n);
  out[n] = '\0';
}

/* Splits a valid non-root path; the base points into path. */
int rs_path_split(const char *path, rs_split *out) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash[1] == '\0') return -RS_EINVALPATH;
  rs_path_parent(path, out->dir, sizeof out->dir);
  out->base = slash + 1;
  return 0;
}

int rs_path_join(char *out, size_t outlen, const char *dir, const char *base) {
  int n = snprintf(out, outlen, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base);
  return (n < 0 || (size_t)n >= outlen) ? -ENAMETOOLONG : 0;
}
