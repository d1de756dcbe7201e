/* Status codes and messages: the one place where an errno gets a name. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *rs_code_name(int code) {
  switch (-code) {
    case ENOENT:
    case RS_ENOENT: return "not_found";
    case RS_EINVALPATH: return "invalid_path";
    case RS_EINVALOFFSET: return "invalid_offset";
    case ENOTDIR:
    case RS_ENOTDIR: return "not_dir";
    case EISDIR:
    case RS_EISDIR: return "is_dir";
    case EEXIST:
    case RS_EEXIST: return "exists";
    case ETIMEDOUT: return "timeout";
    case RS_EHELD: return "busy";
    case RS_ELIMIT: return "limit";
    case EPERM:
    case EACCES: return "permission";
    default: return "io";
  }
}

static const char *describe(int code) {
  switch (-code) {
    case RS_ENOENT: return "not found";
    case RS_EINVALPATH: return "invalid path";
    case RS_EINVALOFFSET: return "invalid offset";
    case RS_ENOTDIR: return "not a directory";
    case RS_EISDIR: return "is a directory";
    case RS_EEXIST: return "already exists";
    case RS_EHELD: return "held by another owner";
    case RS_ELIMIT: return "over its limit";
    default: return NULL;
  }
}

/*
 * Fills st with code and "regstore: <what>: <path>"; returns code.  fmt,
 * when given, replaces the default description of the code.
 */
int rs_fail(rs_status *st, int code, const char *path, const char *fmt, ...) {
  char what[256];
  if (!st) return code;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
  } else {
    const char *d = describe(code);
    snprintf(what, sizeof what, "%s", d ? d : strerror(-code));
  }
  st->code = code;
  snprintf(st->msg, sizeof st->msg, "regstore: %s: %s", what, path ? path : "");
  return code;
}

/* A failure from RADOS while doing `what` on path. */
int rs_fail_rados(rs_status *st, int rc, const char *path, const char *what) {
  if (rc == -ENOENT || rc == -RS_ENOENT) return rs_fail(st, -RS_ENOENT, path, NULL);
  if (rc <= -10000) return rs_fail(st, rc, path, NULL);
  return rs_fail(st, rc, path, "%s failed (%s)", what, strerror(-rc));
}
