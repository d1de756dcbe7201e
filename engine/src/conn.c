/* Connections: a cluster handle and an I/O context, shared by refcount. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int set_opt(rados_t cl, const char *key, const char *val,
                   rs_status *st) {
  int rc = rados_conf_set(cl, key, val);
  if (rc < 0) return rs_fail(st, rc, key, "cannot set option (%s)", strerror(-rc));
  return 0;
}

static int configure(rados_t cl, const rs_options *o, rs_status *st) {
  char secs[32];
  double t = o->timeout > 0 ? o->timeout : RS_DEFAULT_TIMEOUT; /* NaN: the default */
  long whole;
  int rc;
  if (t > 2147483647.0) t = 2147483647.0; /* inf and beyond: no UB converting */
  whole = (long)t < t ? (long)t + 1 : (long)t; /* librados takes whole seconds */
  rc = rados_conf_read_file(cl, o->conf); /* NULL: $CEPH_CONF, then the usual places */
  if (rc < 0) /* not a path of the store: an io failure, with the errno text */
    return rs_fail(st, -EIO, o->conf ? o->conf : "$CEPH_CONF",
                   "cannot read ceph configuration (%s)", strerror(-rc));
  if (o->keyring && (rc = set_opt(cl, "keyring", o->keyring, st)) < 0) return rc;
  /* librados waits forever by default; a registry must not. */
  snprintf(secs, sizeof secs, "%ld", whole);
  if ((rc = set_opt(cl, "rados_osd_op_timeout", secs, st)) < 0) return rc;
  if ((rc = set_opt(cl, "rados_mon_op_timeout", secs, st)) < 0) return rc;
  if ((rc = set_opt(cl, "client_mount_timeout", secs, st)) < 0) return rc;
  /* The Objecter asks the mon for a newer OSD map when an op has waited
   * objecter_timeout (checked every objecter_tick_interval): that is how a
   * client whose OSD died finds it again at its new address after a
   * restart.  With the defaults (10 s, every 5 s) an op cancelled sooner by
   * rados_osd_op_timeout never counts as late, and such a connection sent
   * every op to the dead address for good (seen with Ceph 16.2 and a 2 s
   * timeout: no call succeeded in 60 s after the OSD was back).  Half and a
   * quarter of the op timeout, the defaults at most. */
  snprintf(secs, sizeof secs, "%.3f", whole / 2.0 < 10 ? whole / 2.0 : 10);
  if ((rc = set_opt(cl, "objecter_timeout", secs, st)) < 0) return rc;
  snprintf(secs, sizeof secs, "%.3f", whole / 4.0 < 5 ? whole / 4.0 : 5);
  return set_opt(cl, "objecter_tick_interval", secs, st);
}

/*
 * The keyring file librados reads, found as librados finds it: the first
 * entry of the "keyring" option (a list separated by ',' or ';') that
 * opens.  Returns 0 and the file when cephx is in use and the file is a
 * readable regular file; else -errno with the file concerned (the first
 * entry when none opens), or -ENOENT with "" when cephx is not in use.
 */
static int keyring_file(rados_t cl, char *out, size_t len) {
  char list[4096], auth[256], *save = NULL, *tok;
  int first_err = 0, inline_key;
  out[0] = '\0';
  if (rados_conf_get(cl, "auth_client_required", auth, sizeof auth) < 0 ||
      !strstr(auth, "cephx"))
    return -ENOENT;
  /* A key given as "key" or "keyfile" needs no keyring; the key stays unread. */
  inline_key = (rados_conf_get(cl, "key", list, sizeof list) == 0 && list[0]) ||
               (rados_conf_get(cl, "keyfile", list, sizeof list) == 0 && list[0]);
  explicit_bzero(list, sizeof list);
  if (inline_key) return -ENOENT;
  if (rados_conf_get(cl, "keyring", list, sizeof list) < 0) return -ENOENT;
  for (tok = strtok_r(list, ",;", &save); tok; tok = strtok_r(NULL, ",;", &save)) {
    struct stat sb;
    int fd, err;
    while (*tok == ' ' || *tok == '\t') tok++;
    if (!*tok) continue;
    fd = open(tok, O_RDONLY | O_CLOEXEC);
    err = fd < 0 ? -errno : 0;
    if (fd >= 0) {
      err = fstat(fd, &sb) < 0 ? -errno : S_ISDIR(sb.st_mode) ? -EISDIR : 0;
      close(fd);
      snprintf(out, len, "%s", tok); /* the one librados took */
      return err;
    }
    if (!first_err) {
      first_err = err;
      snprintf(out, len, "%s", tok);
    }
  }
  return first_err ? first_err : -ENOENT;
}

/*
 * A failed rados_connect.  The codes that name path failures (not_found,
 * is_dir, ...) mean something else here: a keyring that cannot be read or a
 * cluster that cannot be found is io, with the errno text; cephx refusing
 * the client is permission.  Messages name the keyring file, never a key.
 */
static int connect_fail(rs_status *st, rados_t cl, const rs_options *o, int rc) {
  const char *id = o->id ? o->id : "admin";
  char keyring[1024];
  int kr, code;
  if (rc == -ETIMEDOUT)
    return rs_fail(st, rc, o->pool, "cluster did not answer in time, pool");
  kr = keyring_file(cl, keyring, sizeof keyring);
  if (kr < 0 && keyring[0]) /* librados had no keyring it could read */
    return rs_fail(st, (kr == -EACCES || kr == -EPERM) ? kr : -EIO, keyring,
                   "cannot read the keyring of client.%s for pool %s (%s)", id, o->pool,
                   strerror(-kr));
  if (rc == -EACCES || rc == -EPERM)
    return rs_fail(st, rc, o->pool, "cephx refused client.%s (%s; keyring %s), pool", id,
                   strerror(-rc), keyring[0] ? keyring : "none");
  /* ENOENT, EISDIR, ...: not about a path of the store; the text says which */
  code = strcmp(rs_code_name(rc), "io") == 0 ? rc : -EIO;
  if (keyring[0])
    return rs_fail(st, code, o->pool, "cannot connect (%s; keyring %s), pool", strerror(-rc),
                   keyring);
  return rs_fail(st, code, o->pool, "cannot connect (%s), pool", strerror(-rc));
}

/* The root always exists; a client that may only read cannot make it. */
static int make_root(rs_conn *c) {
  rados_write_op_t op = rados_create_write_op();
  int rc;
  rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
  rs_deadline_start(c);
  rc = rs_write_op(c, op, "/");
  rados_release_write_op(op);
  return (rc == -EPERM || rc == -EACCES) ? 0 : rc;
}

/* What completions wake a waiting call with (aio.c); deadlines are monotonic. */
static int waiters_init(rs_conn *c) {
  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);
  if (rc != 0) return -rc;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  rc = pthread_cond_init(&c->cv, &attr);
  pthread_condattr_destroy(&attr);
  if (rc != 0) return -rc;
  rc = pthread_mutex_init(&c->mu, NULL);
  if (rc != 0) pthread_cond_destroy(&c->cv);
  return -rc;
}

static void waiters_free(rs_conn *c) {
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
}

int rs_connect(const rs_options *o, rs_conn **out, rs_status *st) {
  rs_conn *c;
  int rc;
  *out = NULL;
  if (!o->pool || !*o->pool) return rs_fail(st, -EINVAL, "", "a pool is required");
  if (o->chunk_size > RS_MAX_CHUNK_SIZE || (o->chunk_size && o->chunk_size < 4096))
    return rs_fail(st, -EINVAL, o->pool, "chunk_size must be 4 KiB..64 MiB, pool");
  c = calloc(1, sizeof *c);
  if (!c) return rs_fail(st, -ENOMEM, o->pool, NULL);
  c->chunk = o->chunk_size ? o->chunk_size : RS_DEFAULT_CHUNK_SIZE;
  c->timeout = o->timeout > 0 ? o->timeout : RS_DEFAULT_TIMEOUT;
  if (waiters_init(c) < 0) {
    free(c);
    return rs_fail(st, -ENOMEM, o->pool, NULL);
  }
  c->window = o->window > 0 ? o->window : RS_DEFAULT_WINDOW;
  c->refs = 1;
  if (rs_oidcache_init(c) < 0) {
    waiters_free(c);
    free(c);
    return rs_fail(st, -ENOMEM, o->pool, NULL);
  }
  rc = rados_create(&c->cluster, o->id ? o->id : "admin");
  if (rc < 0) {
    rs_oidcache_free(c);
    waiters_free(c);
    free(c);
    return rs_fail(st, rc, o->id ? o->id : "admin", "cannot create client (%s)", strerror(-rc));
  }
  rc = configure(c->cluster, o, st);
  if (rc == 0) {
    rc = rados_connect(c->cluster);
    if (rc < 0) rc = connect_fail(st, c->cluster, o, rc);
  }
  if (rc == 0) {
    rc = rados_ioctx_create(c->cluster, o->pool, &c->io);
    if (rc == -ENOENT) rs_fail(st, -RS_ENOENT, o->pool, "pool not found");
    else if (rc < 0) rs_fail(st, rc, o->pool, "cannot open pool (%s)", strerror(-rc));
  }
  if (rc < 0) {
    rados_shutdown(c->cluster);
    rs_oidcache_free(c);
    waiters_free(c);
    free(c);
    return rc == -ENOENT ? -RS_ENOENT : rc;
  }
  if (o->namespace_) rados_ioctx_set_namespace(c->io, o->namespace_);
  rc = make_root(c);
  if (rc < 0) {
    rs_fail(st, rc, o->pool, rc == -ETIMEDOUT ? "cluster did not answer in time, pool"
                                              : "cannot create the root directory (%s), pool",
            strerror(-rc));
    rs_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

uint32_t rs_chunk_size(const rs_conn *c) { return c->chunk; }

int rs_conn_helper_init(rs_conn *c, rs_conn *view) {
  memset(view, 0, sizeof *view);
  view->cluster = c->cluster;
  view->io = c->io;
  view->chunk = c->chunk;
  view->window = c->window;
  view->timeout = c->timeout;
  view->oids = c->oids; /* locked; freed with c only */
  view->deadline = c->deadline;
  view->fixed_deadline = 1;
  view->refs = 1;
  return waiters_init(view);
}

/* Every completion made on the view was waited for, callback included. */
void rs_conn_helper_free(rs_conn *view) { waiters_free(view); }

/* Unwaited writes (rs_write_op_unwaited) get a few seconds to land before
 * the I/O context goes: a short-lived process (a CLI command) would drop
 * its last ones at shutdown otherwise.  No callback: nothing may refer to
 * c once it is freed, whether or not the flush completed. */
static void flush_unwaited(rs_conn *c) {
  rados_completion_t comp;
  double left = c->timeout < 5 ? c->timeout : 5;
  struct timespec nap = {0, 1000000L};
  if (rados_aio_create_completion2(NULL, NULL, &comp) < 0) return;
  if (rados_aio_flush_async(c->io, comp) == 0)
    for (; left > 0 && !rados_aio_is_complete(comp); left -= 0.001) nanosleep(&nap, NULL);
  rados_aio_release(comp);
}

void rs_conn_unref(rs_conn *c) {
  rs_conn *parent = c->parent;
  if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  flush_unwaited(c);
  rados_ioctx_destroy(c->io);
  /* A sibling's operations have all completed (every wait waits for the
   * callback too); the cluster handle goes with the last of the family. */
  if (!parent) rados_shutdown(c->cluster); /* runs every completion callback still due */
  rs_oidcache_free(c);
  waiters_free(c);
  free(c);
  if (parent) rs_conn_unref(parent);
}

/*
 * A sibling: the same cluster handle and pool (and namespace), with an I/O
 * context, deadline and waiters of its own, so that it can be used on one
 * thread while c is used on another.  It holds c's cluster up until it is
 * closed itself, whichever of the two goes first.
 */
int rs_conn_sibling(rs_conn *c, rs_conn **out, rs_status *st) {
  rs_conn *s;
  char ns[256];
  int rc;
  *out = NULL;
  s = calloc(1, sizeof *s);
  if (!s) return rs_fail(st, -ENOMEM, "", "sibling connection");
  s->chunk = c->chunk;
  s->timeout = c->timeout;
  s->window = c->window;
  s->refs = 1;
  s->cluster = c->cluster;
  if (waiters_init(s) < 0) {
    free(s);
    return rs_fail(st, -ENOMEM, "", "sibling connection");
  }
  if (rs_oidcache_init(s) < 0) {
    waiters_free(s);
    free(s);
    return rs_fail(st, -ENOMEM, "", "sibling connection");
  }
  rc = rados_ioctx_create2(c->cluster, rados_ioctx_get_id(c->io), &s->io);
  if (rc == 0) {
    rc = rados_ioctx_get_namespace(c->io, ns, sizeof ns);
    if (rc >= 0) {
      rados_ioctx_set_namespace(s->io, ns);
      rc = 0;
    } else {
      rados_ioctx_destroy(s->io);
    }
  }
  if (rc < 0) {
    rs_oidcache_free(s);
    waiters_free(s);
    free(s);
    return rs_fail(st, rc, "", "sibling connection (%s)", strerror(-rc));
  }
  rs_conn_hold(c);
  s->parent = c;
  *out = s;
  return 0;
}

void rs_close(rs_conn *c) {
  if (!c || c->closed) return;
  c->closed = 1;
  rs_conn_unref(c);
}

void rs_conn_hold(rs_conn *c) { __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED); }

void rs_conn_release(rs_conn *c) { rs_conn_unref(c); }
