/*
 * Crash points, for the crash-consistency specs only.  A test build
 * (-DREGSTORE_CRASH_POINTS=ON) names each step between two RADOS operations
 * of a multi-object protocol; at run time:
 *   REGSTORE_CRASH_AT=<point>[:<n>]  ends the process with _exit(86) the
 *                                    n-th time (default 1) it reaches point;
 *   REGSTORE_CRASH_TRACE=<file>      appends "<point>\n" to file at each one,
 *                                    so a spec learns which points a
 *                                    protocol passes, in order.
 * Other builds compile every RS_CRASH away.
 */
#include "internal.h"

#ifdef REGSTORE_CRASH_POINTS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rs_crash_point(const char *point) {
  /* Per-process counters, test builds only: the one state a crash spec
   * needs; locked, as a batch's helper threads reach points too. */
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static char armed[256];
  static long left = -1;
  const char *trace = getenv("REGSTORE_CRASH_TRACE");
  const char *at = getenv("REGSTORE_CRASH_AT");
  pthread_mutex_lock(&mu);
  if (trace && *trace) {
    FILE *f = fopen(trace, "a");
    if (f) {
      fprintf(f, "%s\n", point);
      fclose(f);
    }
  }
  if (!at || !*at) {
    pthread_mutex_unlock(&mu);
    return;
  }
  if (left < 0) {
    const char *colon = strchr(at, ':');
    size_t n = colon ? (size_t)(colon - at) : strlen(at);
    if (n >= sizeof armed) n = sizeof armed - 1;
    memcpy(armed, at, n);
    armed[n] = '\0';
    left = colon ? atol(colon + 1) : 1;
    if (left < 1) left = 1;
  }
  if (strcmp(point, armed) == 0 && --left == 0) _exit(86);
  pthread_mutex_unlock(&mu);
}
#endif
