/*
 * peers.c - the C side of regstore's benchmark (bench/run.sh builds and runs it).
 *
 * Each mode measures a raw librados / libradosstriper peer and, where the
 * figure needs it, the regstore engine (libregstore) in the same process,
 * and prints one "RESULT <key> <value>" line per number (times in ms,
 * bandwidths in MiB/s, sizes in KiB).
 *
 *   peers aio-write COUNT INFLIGHT [OPSIZE]
 *                                   COUNT x 4 MiB objects written with
 *                                   rados_aio_write_full, INFLIGHT in flight
 *                                   (with OPSIZE: in OPSIZE-byte aio writes)
 *   peers aio-read COUNT INFLIGHT [OPSIZE]  the same objects read back
 *   peers aio-rm   COUNT INFLIGHT   and removed
 *   peers engine-stream COUNT W     COUNT x 4 MiB through rs_writer and
 *                                   rs_reader (window W), no Lua: the
 *                                   engine's share of the stream figures
 *   peers striper  COUNT            COUNT x 4 MiB through libradosstriper
 *                                   (rados_striper_write / _read, 4 MiB layout)
 *   peers small    N                4 KiB: rados_write_full / rados_read vs
 *                                   rs_put / rs_get, interleaved, N each
 *   peers batch    M                M rs_put then M rs_get of 4 KiB back to
 *                                   back (ops/s), as bench/small.lua in Lua
 *   peers info                      the engine's stream constants
 *   peers list-create N DIR         N empty files in DIR through rs_put
 *   peers list     DIR              rs_list of DIR (time, OSD ops) vs the 2015
 *                                   driver's paging (omap_get_vals, 1 key a page)
 *
 * Environment: CEPH_CONF, CEPH_KEYRING (optional), REGSTORE_POOL,
 * BENCH_TAG (unique name part, default the pid), BENCH_ASOK (the OSD's admin
 * socket, for op counts; optional), BENCH_THREADS (list-create, default 4).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>
#include <radosstriper/libradosstriper.h>

#include "regstore.h"

#define MiB (1024.0 * 1024.0)
#define OBJ (4u << 20)

static const char *tag;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "peers: %s: %s (%d)\n", what, strerror(rc < 0 ? -rc : rc), rc);
  exit(1);
}

static void result(const char *key, double v) {
  printf("RESULT %s %.6g\n", key, v);
  fflush(stdout);
}

static long vm_hwm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld", &v) == 1) break;
  fclose(f);
  return v;
}

/* ---------------------------------------------------------------- connections */

static const char *pool(void) {
  const char *p = getenv("REGSTORE_POOL");
  if (!p || !*p) {
    fprintf(stderr, "peers: REGSTORE_POOL is not set\n");
    exit(2);
  }
  return p;
}

static void raw_connect(rados_t *cl, rados_ioctx_t *io) {
  const char *keyring = getenv("CEPH_KEYRING");
  int rc = rados_create(cl, "admin");
  if (rc < 0) die("rados_create", rc);
  if ((rc = rados_conf_read_file(*cl, NULL)) < 0) die("rados_conf_read_file", rc);
  if (keyring && *keyring && (rc = rados_conf_set(*cl, "keyring", keyring)) < 0)
    die("keyring", rc);
  if ((rc = rados_connect(*cl)) < 0) die("rados_connect", rc);
  if ((rc = rados_ioctx_create(*cl, pool(), io)) < 0) die("rados_ioctx_create", rc);
}

static void raw_close(rados_t cl, rados_ioctx_t io) {
  rados_ioctx_destroy(io);
  rados_shutdown(cl);
}

static rs_conn *rs_open(int window) {
  rs_options o;
  rs_status st;
  rs_conn *c;
  memset(&o, 0, sizeof o);
  o.pool = pool();
  o.keyring = getenv("CEPH_KEYRING");
  if (o.keyring && !*o.keyring) o.keyring = NULL;
  o.window = window;
  if (rs_connect(&o, &c, &st) < 0) {
    fprintf(stderr, "peers: rs_connect: %s\n", st.msg);
    exit(1);
  }
  return c;
}

/* ---------------------------------------------------------------- OSD op counter */

/* osd.op from the OSD's perf counters, or -1 when there is no admin socket. */
static long long osd_ops(void) {
  const char *asok = getenv("BENCH_ASOK");
  char cmd[4200], *buf = NULL, *p;
  size_t len = 0, cap = 0, n;
  long long v = -1;
  FILE *f;
  if (!asok || !*asok) return -1;
  snprintf(cmd, sizeof cmd, "ceph --admin-daemon '%s' perf dump 2>/dev/null", asok);
  if (!(f = popen(cmd, "r"))) return -1;
  for (;;) {
    if (cap - len < 65536) {
      char *g = realloc(buf, cap += 262144);
      if (!g) break;
      buf = g;
    }
    n = fread(buf + len, 1, cap - len - 1, f);
    if (n == 0) break;
    len += n;
  }
  pclose(f);
  if (!buf) return -1;
  buf[len] = '\0';
  if ((p = strstr(buf, "\"osd\": {")) && (p = strstr(p, "\"op\": ")))
    v = strtoll(p + 6, NULL, 10);
  free(buf);
  return v;
}

/* ---------------------------------------------------------------- aio */

static void fill(char *buf, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) buf[i] = (char)('a' + (i * 7 + i / 4096) % 26);
}

/* Waits for the ring slot's operation; returns its result. */
static int reap(rados_completion_t c) {
  int rc;
  rados_aio_wait_for_complete(c);
  rc = rados_aio_get_return_value(c);
  rados_aio_release(c);
  return rc;
}

static void aio_name(char *out, size_t len, int i) {
  snprintf(out, len, "bench-aio-%s-%d", tag, i);
}

/*
 * The raw streaming peer: COUNT objects of 4 MiB, `inflight` operations in
 * flight in a ring whose oldest is waited for first (as rados bench does).
 * With opsize 4 MiB: write = rados_aio_write_full of whole objects from one
 * buffer (librados copies it), read = rados_aio_read into `inflight`
 * buffers, as regstore's reader keeps `window` buffers.  A smaller opsize
 * moves each object in opsize pieces at their offsets (regstore's own I/O
 * pattern); its figures are keyed "aiou_" instead of "aio_".  rm removes.
 */
static int mode_aio(const char *what, int count, int inflight, unsigned opsize) {
  rados_t cl;
  rados_ioctx_t io;
  rados_completion_t *comp = calloc((size_t)inflight, sizeof *comp);
  char **bufs = calloc((size_t)inflight, sizeof *bufs);
  char *data = malloc(OBJ), name[128];
  int write = strcmp(what, "write") == 0, read = strcmp(what, "read") == 0;
  int per = (int)(OBJ / opsize), nops;
  double t0, t;
  int i, rc;
  long long total = (long long)count * OBJ;
  if (opsize == 0 || OBJ % opsize != 0 || opsize % 4096 != 0) die("opsize must divide 4 MiB", -EINVAL);
  if (!write && !read) per = 1; /* rm: one op an object */
  nops = count * per;
  if (!comp || !bufs || !data) die("malloc", -ENOMEM);
  fill(data, OBJ);
  if (read)
    for (i = 0; i < inflight; i++)
      if (!(bufs[i] = malloc(opsize))) die("malloc", -ENOMEM);
  raw_connect(&cl, &io);

  t0 = now();
  for (i = 0; i < nops + inflight; i++) {
    int slot = i % inflight;
    if (i >= inflight) {
      uint64_t off = (uint64_t)((i - inflight) % per) * opsize;
      rc = reap(comp[slot]);
      if (write && rc < 0) die("aio write", rc);
      if (read && rc != (int)opsize) die("aio read", rc < 0 ? rc : -EIO);
      if (read && memcmp(bufs[slot], data + off, 4096) != 0) die("aio read: wrong data", -EIO);
    }
    if (i < nops) {
      uint64_t off = (uint64_t)(i % per) * opsize;
      aio_name(name, sizeof name, i / per);
      if ((rc = rados_aio_create_completion2(NULL, NULL, &comp[slot])) < 0) die("completion", rc);
      if (write && off == 0)
        rc = rados_aio_write_full(io, name, comp[slot], data, opsize);
      else if (write)
        rc = rados_aio_write(io, name, comp[slot], data + off, opsize, off);
      else if (read)
        rc = rados_aio_read(io, name, comp[slot], bufs[slot], opsize, off);
      else
        rc = rados_aio_remove(io, name, comp[slot]);
      if (rc < 0) die("aio submit", rc);
    }
  }
  t = now() - t0;
  if (write || read) {
    const char *prefix = opsize == OBJ ? "aio" : "aiou";
    char key[64];
    snprintf(key, sizeof key, "%s_%s_mibs", prefix, what);
    result(key, (double)total / MiB / t);
    snprintf(key, sizeof key, "%s_%s_hwm_kib", prefix, what);
    result(key, (double)vm_hwm_kib());
  }
  for (i = 0; i < inflight; i++) free(bufs[i]);
  free(bufs);
  free(comp);
  free(data);
  raw_close(cl, io);
  return 0;
}

/* ---------------------------------------------------------------- engine stream */

/*
 * The engine alone, no Lua: COUNT x 4 MiB through rs_writer, then read back
 * through rs_reader in 4 MiB reads, window W.  Beside the Lua figures it
 * tells the binding's share (the copy into a Lua string) from the engine's.
 */
static int mode_engine_stream(int count, int window) {
  rs_conn *c = rs_open(window);
  rs_writer *w;
  rs_reader *r;
  rs_status st;
  char path[256], *buf = malloc(OBJ);
  const char *data;
  double t0;
  long n;
  uint64_t got = 0;
  int i;
  if (!buf) die("malloc", -ENOMEM);
  fill(buf, OBJ);
  snprintf(path, sizeof path, "/bench-engine-%s/data", tag);
  t0 = now();
  if (rs_writer_open(c, path, 0, &w, &st) < 0) die(st.msg, -1);
  for (i = 0; i < count; i++)
    if (rs_writer_write(w, buf, OBJ, &st) < 0) die(st.msg, -1);
  if (rs_writer_commit(w, &st) < 0) die(st.msg, -1);
  rs_writer_free(w);
  result("engine_write_mibs", count * (OBJ / MiB) / (now() - t0));
  t0 = now();
  if (rs_reader_open(c, path, 0, &r, &st) < 0) die(st.msg, -1);
  while ((n = rs_reader_read(r, &data, OBJ, &st)) > 0) got += (uint64_t)n;
  if (n < 0) die(st.msg, -1);
  rs_reader_free(r);
  result("engine_read_mibs", (double)got / MiB / (now() - t0));
  if (rs_delete(c, path, &st) < 0) die(st.msg, -1);
  free(buf);
  rs_close(c);
  return 0;
}

/* ---------------------------------------------------------------- striper */

static int mode_striper(int count) {
  rados_t cl;
  rados_ioctx_t io;
  rados_striper_t s;
  char *data = malloc(OBJ), *back = malloc(OBJ), soid[128];
  long long total = (long long)count * OBJ;
  double t0, t;
  int i, rc;
  if (!data || !back) die("malloc", -ENOMEM);
  fill(data, OBJ);
  raw_connect(&cl, &io);
  if ((rc = rados_striper_create(io, &s)) < 0) die("rados_striper_create", rc);
  if ((rc = rados_striper_set_object_layout_stripe_unit(s, OBJ)) < 0) die("stripe_unit", rc);
  if ((rc = rados_striper_set_object_layout_stripe_count(s, 1)) < 0) die("stripe_count", rc);
  if ((rc = rados_striper_set_object_layout_object_size(s, OBJ)) < 0) die("object_size", rc);
  snprintf(soid, sizeof soid, "bench-striper-%s", tag);

  t0 = now();
  for (i = 0; i < count; i++)
    if ((rc = rados_striper_write(s, soid, data, OBJ, (uint64_t)i * OBJ)) < 0) die("rados_striper_write", rc);
  t = now() - t0;
  result("striper_write_mibs", (double)total / MiB / t);

  t0 = now();
  for (i = 0; i < count; i++) {
    rc = rados_striper_read(s, soid, back, OBJ, (uint64_t)i * OBJ);
    if (rc != (int)OBJ) die("rados_striper_read", rc < 0 ? rc : -EIO);
  }
  t = now() - t0;
  if (memcmp(back, data, OBJ) != 0) die("striper read: wrong data", -EIO);
  result("striper_read_mibs", (double)total / MiB / t);
  result("striper_hwm_kib", (double)vm_hwm_kib());

  if ((rc = rados_striper_remove(s, soid)) < 0) die("rados_striper_remove", rc);
  rados_striper_destroy(s);
  free(data);
  free(back);
  raw_close(cl, io);
  return 0;
}

/* ---------------------------------------------------------------- small files */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts v and reports median, p90 and mean (ms) under key_*. */
static void stats(const char *key, double *v, int n) {
  char k[128];
  double sum = 0;
  int i;
  for (i = 0; i < n; i++) sum += v[i];
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  snprintf(k, sizeof k, "%s_median_ms", key);
  result(k, 1e3 * (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2));
  snprintf(k, sizeof k, "%s_p90_ms", key);
  result(k, 1e3 * v[(n * 9) / 10]);
  snprintf(k, sizeof k, "%s_mean_ms", key);
  result(k, 1e3 * sum / n);
}

static void rs_check(int rc, const rs_status *st, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "peers: %s: %s\n", what, st->msg);
    exit(1);
  }
}

static int mode_small(int n) {
  enum { WARM = 20, SZ = 4096 };
  long long ops0, ops1;
  rados_t cl;
  rados_ioctx_t io;
  rs_conn *c = rs_open(0);
  char data[SZ], buf[SZ], name[128], path[256], dir[128];
  double *raw_w = calloc((size_t)n, sizeof(double)), *raw_r = calloc((size_t)n, sizeof(double));
  double *rs_w = calloc((size_t)n, sizeof(double)), *rs_r = calloc((size_t)n, sizeof(double));
  rs_status st;
  int i, rc;
  if (!raw_w || !raw_r || !rs_w || !rs_r) die("calloc", -ENOMEM);
  fill(data, SZ);
  raw_connect(&cl, &io);
  snprintf(dir, sizeof dir, "/bench-%s/small", tag);

  /* Warm both paths up (connections, the directory object, caches). */
  for (i = -WARM; i < 0; i++) {
    char *got;
    size_t len;
    snprintf(name, sizeof name, "bench-small-%s-w%d", tag, -i);
    snprintf(path, sizeof path, "%s/w%d", dir, -i);
    if ((rc = rados_write_full(io, name, data, SZ)) < 0) die("rados_write_full", rc);
    rs_check(rs_put(c, path, data, SZ, 0, &st), &st, "rs_put");
    if ((rc = rados_read(io, name, buf, SZ, 0)) != SZ) die("rados_read", rc);
    rs_check(rs_get(c, path, &got, &len, &st), &st, "rs_get");
    free(got);
    rados_remove(io, name);
  }

  /* Writes of new names, raw and regstore alternating (order flips each time). */
  ops0 = osd_ops();
  for (i = 0; i < n; i++) {
    int k;
    snprintf(name, sizeof name, "bench-small-%s-%d", tag, i);
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    for (k = 0; k < 2; k++) {
      double t0 = now();
      if ((k ^ (i & 1)) == 0) {
        if ((rc = rados_write_full(io, name, data, SZ)) < 0) die("rados_write_full", rc);
        raw_w[i] = now() - t0;
      } else {
        rs_check(rs_put(c, path, data, SZ, 0, &st), &st, "rs_put");
        rs_w[i] = now() - t0;
      }
    }
  }
  ops1 = osd_ops();
  /* Each raw write is one op at the OSD; the rest are regstore's. */
  if (ops0 >= 0 && ops1 >= 0) result("rs_put_ops_per_call", (double)(ops1 - ops0 - n) / n);
  ops0 = osd_ops();
  for (i = 0; i < n; i++) {
    int k;
    snprintf(name, sizeof name, "bench-small-%s-%d", tag, i);
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    for (k = 0; k < 2; k++) {
      double t0 = now();
      if ((k ^ (i & 1)) == 0) {
        if ((rc = rados_read(io, name, buf, SZ, 0)) != SZ) die("rados_read", rc < 0 ? rc : -EIO);
        raw_r[i] = now() - t0;
      } else {
        char *got;
        size_t len;
        rs_check(rs_get(c, path, &got, &len, &st), &st, "rs_get");
        rs_r[i] = now() - t0;
        if (len != SZ || memcmp(got, data, SZ) != 0) die("rs_get: wrong data", -EIO);
        free(got);
      }
    }
  }
  ops1 = osd_ops();
  if (ops0 >= 0 && ops1 >= 0) result("rs_get_ops_per_call", (double)(ops1 - ops0 - n) / n);
  stats("raw_put", raw_w, n);
  stats("rs_put", rs_w, n);
  stats("raw_get", raw_r, n);
  stats("rs_get", rs_r, n);

  /* Clean up: raw objects with aio, the directory through regstore. */
  {
    rados_completion_t *cs = calloc((size_t)n, sizeof *cs);
    if (!cs) die("calloc", -ENOMEM);
    for (i = 0; i < n; i++) {
      snprintf(name, sizeof name, "bench-small-%s-%d", tag, i);
      rados_aio_create_completion2(NULL, NULL, &cs[i]);
      rados_aio_remove(io, name, cs[i]);
    }
    for (i = 0; i < n; i++) {
      rados_aio_wait_for_complete(cs[i]);
      rados_aio_release(cs[i]);
    }
    free(cs);
  }
  snprintf(path, sizeof path, "/bench-%s", tag);
  rs_check(rs_delete(c, path, &st), &st, "rs_delete");
  free(raw_w);
  free(raw_r);
  free(rs_w);
  free(rs_r);
  rs_close(c);
  raw_close(cl, io);
  return 0;
}

/*
 * Throughput of rs_put / rs_get back to back, measured as bench/small.lua
 * measures the Lua binding: the difference is the binding's cost.
 */
static int mode_batch(int m) {
  enum { SZ = 4096 };
  rs_conn *c = rs_open(0);
  char data[SZ], path[256], dir[128];
  rs_status st;
  double t0;
  char *got;
  size_t len;
  int i;
  fill(data, SZ);
  snprintf(dir, sizeof dir, "/bench-%s/batch", tag);
  for (i = 0; i < 10; i++) { /* warm: the directory exists, connections are up */
    snprintf(path, sizeof path, "%s/w%d", dir, i);
    rs_check(rs_put(c, path, data, SZ, 0, &st), &st, "rs_put");
    rs_check(rs_get(c, path, &got, &len, &st), &st, "rs_get");
    free(got);
  }
  t0 = now();
  for (i = 0; i < m; i++) {
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    rs_check(rs_put(c, path, data, SZ, 0, &st), &st, "rs_put");
  }
  result("c_put_ops", m / (now() - t0));
  t0 = now();
  for (i = 0; i < m; i++) {
    snprintf(path, sizeof path, "%s/f%05d", dir, i);
    rs_check(rs_get(c, path, &got, &len, &st), &st, "rs_get");
    if (len != SZ) die("rs_get: wrong size", -EIO);
    free(got);
  }
  result("c_get_ops", m / (now() - t0));
  rs_check(rs_delete(c, dir, &st), &st, "rs_delete");
  rs_close(c);
  return 0;
}

/* ---------------------------------------------------------------- listing */

struct filler {
  const char *dir;
  int from, to;
  double secs;
};

static void *fill_dir(void *arg) {
  struct filler *f = arg;
  rs_conn *c = rs_open(0);
  char path[512];
  rs_status st;
  int i;
  for (i = f->from; i < f->to; i++) {
    snprintf(path, sizeof path, "%s/e%05d", f->dir, i);
    rs_check(rs_put(c, path, "", 0, 0, &st), &st, "rs_put");
  }
  rs_close(c);
  return NULL;
}

/* N empty files through rs_put, from a few connections at once (setup only). */
static int mode_list_create(int n, const char *dir) {
  const char *env = getenv("BENCH_THREADS");
  int nt = env ? atoi(env) : 4, i;
  pthread_t th[64];
  struct filler f[64];
  double t0 = now();
  if (nt < 1) nt = 1;
  if (nt > 64) nt = 64;
  for (i = 0; i < nt; i++) {
    f[i].dir = dir;
    f[i].from = (int)((long long)n * i / nt);
    f[i].to = (int)((long long)n * (i + 1) / nt);
    if (pthread_create(&th[i], NULL, fill_dir, &f[i]) != 0) die("pthread_create", -EAGAIN);
  }
  for (i = 0; i < nt; i++) pthread_join(th[i], NULL);
  result("list_create_s", now() - t0);
  return 0;
}

/*
 * The 2015 distribution RADOS driver listed a directory with go-ceph's
 * GetAllOmapValues(dir, "", "", defaultKeysFetched = 1): one omap_get_vals
 * round trip per entry, plus the last, empty one.
 */
static long old_driver_list(rados_ioctx_t io, const char *dir, long *trips) {
  char last[1024] = "";
  long n = 0;
  *trips = 0;
  for (;;) {
    rados_read_op_t op = rados_create_read_op();
    rados_omap_iter_t it = NULL;
    unsigned char more = 0;
    int prval = 0, rc, got = 0;
    char *k, *v;
    size_t kl, vl;
    rados_read_op_omap_get_vals2(op, last, "", 1, &it, &more, &prval);
    rc = rados_read_op_operate(op, io, dir, 0);
    (*trips)++;
    if (rc == 0 && prval < 0) rc = prval;
    if (rc < 0) die("omap_get_vals2", rc);
    while (rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k) {
      if (kl >= sizeof last) kl = sizeof last - 1;
      memcpy(last, k, kl);
      last[kl] = '\0';
      got++;
    }
    rados_omap_get_end(it);
    rados_release_read_op(op);
    if (!got) break;
    n += got;
  }
  return n;
}

static int mode_list(const char *dir) {
  enum { REPS = 5 };
  rs_conn *c = rs_open(0);
  rados_t cl;
  rados_ioctx_t io;
  rs_status st;
  char **names;
  size_t count = 0;
  double t0, best = 1e9, sum = 0;
  long long ops0, ops1;
  long trips, n;
  int r;
  raw_connect(&cl, &io);

  /* regstore: the first list is counted at the OSD, all REPS are timed. */
  for (r = 0; r < REPS; r++) {
    double t;
    ops0 = r == 0 ? osd_ops() : 0;
    t0 = now();
    rs_check(rs_list(c, dir, &names, &count, &st), &st, "rs_list");
    t = now() - t0;
    if (r == 0) {
      ops1 = osd_ops();
      if (ops0 >= 0 && ops1 >= 0) result("rs_list_ops", (double)(ops1 - ops0));
    }
    rs_names_free(names, count);
    sum += t;
    if (t < best) best = t;
  }
  result("rs_list_entries", (double)count);
  result("rs_list_ms", 1e3 * sum / REPS);
  result("rs_list_best_ms", 1e3 * best);

  ops0 = osd_ops();
  t0 = now();
  n = old_driver_list(io, dir, &trips);
  result("old_list_ms", 1e3 * (now() - t0));
  ops1 = osd_ops();
  result("old_list_entries", (double)n);
  result("old_list_trips", (double)trips);
  if (ops0 >= 0 && ops1 >= 0) result("old_list_ops", (double)(ops1 - ops0));
  rs_close(c);
  raw_close(cl, io);
  return 0;
}

/* ---------------------------------------------------------------- info */

static int mode_info(void) {
#ifdef RS_IO_UNIT
  result("io_unit_kib", RS_IO_UNIT / 1024.0);
#else
  result("io_unit_kib", RS_DEFAULT_CHUNK_SIZE / 1024.0);
#endif
  result("default_window", RS_DEFAULT_WINDOW);
  result("chunk_kib", RS_DEFAULT_CHUNK_SIZE / 1024.0);
  return 0;
}

/* ---------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: peers aio-write|aio-read|aio-rm COUNT INFLIGHT [OPSIZE] | striper COUNT |\n"
          "             small N | batch M | info |"
          " list-create N DIR | list DIR\n");
  exit(2);
}

int main(int argc, char **argv) {
  static char pid[32];
  tag = getenv("BENCH_TAG");
  if (!tag || !*tag) {
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    tag = pid;
  }
  if (argc < 2) usage();
  if ((argc == 4 || argc == 5) &&
      (strcmp(argv[1], "aio-write") == 0 || strcmp(argv[1], "aio-read") == 0 ||
       strcmp(argv[1], "aio-rm") == 0))
    return mode_aio(argv[1] + 4, atoi(argv[2]), atoi(argv[3]),
                    argc == 5 ? (unsigned)atoi(argv[4]) : OBJ);
  if (strcmp(argv[1], "engine-stream") == 0 && argc == 4)
    return mode_engine_stream(atoi(argv[2]), atoi(argv[3]));
  if (strcmp(argv[1], "striper") == 0 && argc == 3) return mode_striper(atoi(argv[2]));
  if (strcmp(argv[1], "small") == 0 && argc == 3) return mode_small(atoi(argv[2]));
  if (strcmp(argv[1], "batch") == 0 && argc == 3) return mode_batch(atoi(argv[2]));
  if (strcmp(argv[1], "info") == 0 && argc == 2) return mode_info();
  if (strcmp(argv[1], "list-create") == 0 && argc == 4) return mode_list_create(atoi(argv[2]), argv[3]);
  if (strcmp(argv[1], "list") == 0 && argc == 3) return mode_list(argv[2]);
  usage();
  return 2;
}
