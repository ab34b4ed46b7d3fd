/*
 * A small file's durable write, and a directory's fsync, each in one libuv pool job
 * (server/tus/records.ts, server/tus/group-flush.ts):
 *
 *   writeFileAsync(path, data, flush, exclusive) -> Promise<void>
 *     open (create or truncate, 0644; `exclusive`: O_EXCL, a new file only, never through a
 *     symlink), write all of `data`, fdatasync when `flush`, close;
 *   syncDirAsync(path) -> Promise<void>
 *     open, fsync, close of a directory (EINVAL, a filesystem that cannot, is no error).
 *
 * Why by hand: node:fs takes one pool job per call — four for a record written and flushed,
 * three for a directory's fsync — and each costs the event loop ~50-100 µs here (a futex
 * wake-up, a completion) besides the round trip to a pool thread. A 64 KiB upload writes
 * five such files and flushes five directories: ~30 jobs that are now ~10 (README, Performance).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sha256_state.h"

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref data_ref;
  char *path;
  char *data;
  size_t len;
  int flush;
  int exclusive;
  int dir;
  int error;
} FileJob;

static int fsync_retry(int fd, int data_only) {
  int r;
  do r = data_only ? fdatasync(fd) : fsync(fd); while (r < 0 && errno == EINTR);
  return r;
}

static void file_execute(napi_env env, void *arg) {
  (void)env;
  FileJob *job = arg;
  if (job->dir) {
    int fd = open(job->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) { job->error = errno; return; }
    /* fsync, not fdatasync: the directory's entries are what must reach the disk. */
    if (fsync_retry(fd, 0) < 0 && errno != EINVAL) job->error = errno;
    close(fd);
    return;
  }
  int fd = open(job->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (job->exclusive ? O_EXCL : 0), 0644);
  if (fd < 0) { job->error = errno; return; }
  for (size_t off = 0; off < job->len;) {
    ssize_t w = write(fd, job->data + off, job->len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      job->error = errno;
      break;
    }
    if (w == 0) { job->error = EIO; break; }
    off += (size_t)w;
  }
  if (!job->error && job->flush && fsync_retry(fd, 1) < 0) job->error = errno;
  if (close(fd) < 0 && !job->error && errno != EINTR) job->error = errno;
}

static void file_complete(napi_env env, napi_status status, void *arg) {
  (void)status;
  FileJob *job = arg;
  if (job->error) {
    napi_value err = errno_error(env, job->error);
    napi_value path;
    napi_create_string_utf8(env, job->path, NAPI_AUTO_LENGTH, &path);
    napi_set_named_property(env, err, "path", path);
    napi_reject_deferred(env, job->deferred, err);
  } else {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, job->deferred, undef);
  }
  if (job->data_ref) napi_delete_reference(env, job->data_ref);
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

/* The path argument as a C string (malloc'd), or NULL after throwing. */
static char *path_arg(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  char *path = malloc(len + 1);
  napi_get_value_string_utf8(env, v, path, len + 1, &len);
  if (strlen(path) != len) { /* an embedded NUL would name another file */
    free(path);
    napi_throw_type_error(env, NULL, "path must not contain NUL");
    return NULL;
  }
  return path;
}

/* A job for the path argument `path`, or NULL after throwing. */
static FileJob *new_job(napi_env env, napi_value path) {
  char *p = path_arg(env, path);
  if (!p) return NULL;
  FileJob *job = calloc(1, sizeof(FileJob));
  job->path = p;
  return job;
}

static napi_value queue(napi_env env, FileJob *job) {
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, job->dir ? "syncDir" : "writeFile", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, file_execute, file_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value write_file_async(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) { napi_throw_type_error(env, NULL, "writeFileAsync(path, data, flush, exclusive)"); return NULL; }
  char *data;
  size_t len;
  bool flush, exclusive;
  if (napi_get_buffer_info(env, argv[1], (void **)&data, &len) != napi_ok || napi_get_value_bool(env, argv[2], &flush) != napi_ok ||
      napi_get_value_bool(env, argv[3], &exclusive) != napi_ok) {
    napi_throw_type_error(env, NULL, "writeFileAsync: data must be a Buffer, flush and exclusive booleans");
    return NULL;
  }
  FileJob *job = new_job(env, argv[0]);
  if (!job) return NULL;
  job->data = data;
  job->len = len;
  job->flush = flush;
  job->exclusive = exclusive;
  /* The data stays alive until the pool thread is done with it. */
  napi_create_reference(env, argv[1], 1, &job->data_ref);
  return queue(env, job);
}

static napi_value sync_dir_async(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) { napi_throw_type_error(env, NULL, "syncDirAsync(path)"); return NULL; }
  FileJob *job = new_job(env, argv[0]);
  if (!job) return NULL;
  job->dir = 1;
  return queue(env, job);
}

void file_ops_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "writeFileAsync", NAPI_AUTO_LENGTH, write_file_async, NULL, &fn);
  napi_set_named_property(env, exports, "writeFileAsync", fn);
  napi_create_function(env, "syncDirAsync", NAPI_AUTO_LENGTH, sync_dir_async, NULL, &fn);
  napi_set_named_property(env, exports, "syncDirAsync", fn);
}
