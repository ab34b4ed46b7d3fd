/*
 * The file datastore's write path on a libuv pool thread (see server/tus/batch-writer.ts):
 * one job per batch of a PATCH body writes the socket's own buffers with pwritev (no
 * copy into a bigger buffer), hashes exactly the bytes written into the upload's sha256
 * state, and starts their writeback early (sync_file_range), so that the flush before
 * Upload-Offset is answered has little left to do. One handoff per >= 1 MiB instead of a
 * write and a hash job per 64 KiB chunk. node:fs has no sync_file_range and no way to
 * hash in the same job: hence by hand.
 *
 * flushAsync(fds) is the group commit: one job flushes several uploads' files at once
 * (writeback started for all of them first, then fdatasync each, so the filesystem
 * commits their metadata in one journal transaction rather than one after another).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "sha256_state.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

static const char *errno_code(int e) {
  switch (e) {
    case EIO: return "EIO";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case ENOENT: return "ENOENT";
    default: return "EUNKNOWN";
  }
}

napi_value errno_error(napi_env env, int e) {
  napi_value code, msg, err;
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_value n;
  napi_create_int32(env, -e, &n);
  napi_set_named_property(env, err, "errno", n);
  return err;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref state_ref, chunks_ref;
  SHA256_CTX *ctx; /* NULL: write only */
  int fd;
  int64_t position, wait_from, wait_to;
  uint32_t n;
  struct iovec *iov;
  size_t written;
  int error;
} WriteJob;

static void write_execute(napi_env env, void *arg) {
  WriteJob *job = arg;
  uint32_t i = 0;
  size_t skip = 0; /* bytes of iov[i] already written */
  while (i < job->n) {
    struct iovec first = job->iov[i];
    job->iov[i].iov_base = (char *)first.iov_base + skip;
    job->iov[i].iov_len = first.iov_len - skip;
    int cnt = (int)(job->n - i < IOV_MAX ? job->n - i : IOV_MAX);
    ssize_t w = pwritev(job->fd, &job->iov[i], cnt, job->position + (int64_t)job->written);
    job->iov[i] = first;
    if (w < 0) {
      if (errno == EINTR) continue;
      job->error = errno;
      break;
    }
    if (w == 0) { job->error = EIO; break; }
    job->written += (size_t)w;
    size_t left = (size_t)w + skip;
    while (i < job->n && left >= job->iov[i].iov_len) left -= job->iov[i++].iov_len;
    skip = left;
  }
  if (job->ctx) {
    /* Exactly the bytes that reached the file: the state's offset is the file's. */
    size_t left = job->written;
    for (uint32_t k = 0; k < job->n && left; k++) {
      size_t len = job->iov[k].iov_len < left ? job->iov[k].iov_len : left;
      SHA256_Update(job->ctx, job->iov[k].iov_base, len);
      left -= len;
    }
  }
  /* Writeback only: durability comes from the fdatasync at the end of the PATCH, which
     also reports any error these would (so theirs are not looked at). */
  if (job->written) sync_file_range(job->fd, job->position, (off_t)job->written, SYNC_FILE_RANGE_WRITE);
  if (job->wait_to > job->wait_from) {
    /* Bounds the bytes not yet on disk: the final flush never has more than the lag to do. */
    sync_file_range(job->fd, job->wait_from, job->wait_to - job->wait_from,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  }
}

static void write_complete(napi_env env, napi_status status, void *arg) {
  WriteJob *job = arg;
  napi_value written;
  napi_create_double(env, (double)job->written, &written);
  if (job->error) {
    napi_value err = errno_error(env, job->error);
    napi_set_named_property(env, err, "written", written);
    napi_reject_deferred(env, job->deferred, err);
  } else {
    napi_resolve_deferred(env, job->deferred, written);
  }
  if (job->state_ref) napi_delete_reference(env, job->state_ref);
  napi_delete_reference(env, job->chunks_ref);
  napi_delete_async_work(env, job->work);
  free(job->iov);
  free(job);
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 9007199254740991.0) return 0;
  *out = (int64_t)d;
  return 1;
}

/* writeAsync(state | null, fd, position, chunks[], waitFrom, waitTo) -> Promise<bytes written>;
   on an error, rejects with { code, errno, written } (the bytes before it are written and hashed). */
static napi_value write_async(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) { napi_throw_type_error(env, NULL, "writeAsync(state, fd, position, chunks, waitFrom, waitTo)"); return NULL; }
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  SHA256_CTX *ctx = NULL;
  if (t != napi_null) {
    ctx = sha256_ctx_of(env, argv[0]);
    if (!ctx) return NULL;
  }
  int32_t fd; int64_t position, wait_from, wait_to;
  uint32_t n;
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || !get_i64(env, argv[2], &position) ||
      !get_i64(env, argv[4], &wait_from) || !get_i64(env, argv[5], &wait_to) ||
      napi_get_array_length(env, argv[3], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "writeAsync: bad arguments");
    return NULL;
  }
  WriteJob *job = calloc(1, sizeof(WriteJob));
  job->iov = calloc(n ? n : 1, sizeof(struct iovec));
  job->ctx = ctx; job->fd = fd; job->position = position; job->wait_from = wait_from; job->wait_to = wait_to; job->n = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value chunk;
    napi_get_element(env, argv[3], i, &chunk);
    if (napi_get_buffer_info(env, chunk, &job->iov[i].iov_base, &job->iov[i].iov_len) != napi_ok) {
      free(job->iov); free(job);
      napi_throw_type_error(env, NULL, "chunks must be Buffers");
      return NULL;
    }
  }
  /* The state and the chunks stay alive until the pool thread is done with them. */
  if (ctx) napi_create_reference(env, argv[0], 1, &job->state_ref);
  napi_create_reference(env, argv[3], 1, &job->chunks_ref);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "tusWrite", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, write_execute, write_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  uint32_t n;
  int *fds;
  int *errors;
} FlushJob;

static void flush_execute(napi_env env, void *arg) {
  FlushJob *job = arg;
  for (uint32_t i = 0; i < job->n; i++) sync_file_range(job->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
  for (uint32_t i = 0; i < job->n; i++) {
    int r;
    do r = fdatasync(job->fds[i]); while (r < 0 && errno == EINTR);
    job->errors[i] = r < 0 ? errno : 0;
  }
}

static void flush_complete(napi_env env, napi_status status, void *arg) {
  FlushJob *job = arg;
  napi_value out;
  napi_create_array_with_length(env, job->n, &out);
  for (uint32_t i = 0; i < job->n; i++) {
    napi_value v;
    if (job->errors[i]) v = errno_error(env, job->errors[i]);
    else napi_get_null(env, &v);
    napi_set_element(env, out, i, v);
  }
  napi_resolve_deferred(env, job->deferred, out);
  napi_delete_async_work(env, job->work);
  free(job->fds); free(job->errors); free(job);
}

/* flushAsync(fds[]) -> Promise<(Error | null)[]>: fdatasync of every fd, in one job. */
static napi_value flush_async(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t n;
  if (argc < 1 || napi_get_array_length(env, argv[0], &n) != napi_ok) { napi_throw_type_error(env, NULL, "flushAsync(fds)"); return NULL; }
  FlushJob *job = calloc(1, sizeof(FlushJob));
  job->n = n;
  job->fds = calloc(n ? n : 1, sizeof(int));
  job->errors = calloc(n ? n : 1, sizeof(int));
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, argv[0], i, &v);
    if (napi_get_value_int32(env, v, &job->fds[i]) != napi_ok) {
      free(job->fds); free(job->errors); free(job);
      napi_throw_type_error(env, NULL, "fds must be numbers");
      return NULL;
    }
  }
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "tusFlush", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, flush_execute, flush_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/* alignSkip(buffer, align) -> how many bytes from the buffer's start to the first address that is a
   multiple of `align` (a power of two): O_DIRECT writes need aligned memory, and JavaScript cannot
   see a Buffer's address. */
static napi_value align_skip(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data; size_t len; uint32_t align;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &align) != napi_ok || align == 0 || (align & (align - 1))) {
    napi_throw_type_error(env, NULL, "alignSkip(buffer, powerOfTwo)");
    return NULL;
  }
  uint32_t skip = (uint32_t)((align - ((uintptr_t)data & (align - 1))) & (align - 1));
  napi_value out;
  napi_create_uint32(env, skip, &out);
  return out;
}

void write_batch_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "alignSkip", NAPI_AUTO_LENGTH, align_skip, NULL, &fn);
  napi_set_named_property(env, exports, "alignSkip", fn);
  napi_create_function(env, "writeAsync", NAPI_AUTO_LENGTH, write_async, NULL, &fn);
  napi_set_named_property(env, exports, "writeAsync", fn);
  napi_create_function(env, "flushAsync", NAPI_AUTO_LENGTH, flush_async, NULL, &fn);
  napi_set_named_property(env, exports, "flushAsync", fn);
}
