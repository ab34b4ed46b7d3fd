/*
 * SHA-256 whose state is plain bytes the caller owns, so it can be saved with an
 * upload and continued in another process (see server/tus/sha256-state.ts for why).
 * It calls the SHA256_* functions of the OpenSSL that Node itself links and exports
 * to addons: the same SHA-NI/AVX code as node:crypto, at the same speed.
 * The state is OpenSSL's SHA256_CTX, copied as is; its size is checked on every call.
 */
#include "sha256_state.h"
#include <stdlib.h>
#include <string.h>

static SHA256_CTX *raw_ctx(napi_env env, napi_value v) {
  void *data; size_t len;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok || len != sizeof(SHA256_CTX)) {
    napi_throw_type_error(env, NULL, "state must be a Buffer of stateSize bytes");
    return NULL;
  }
  return (SHA256_CTX *)data;
}

/* A state read back from disk or Redis is checked before use: SHA256_Update indexes
   its block buffer by `num`, so a damaged one must never reach it. */
SHA256_CTX *sha256_ctx_of(napi_env env, napi_value v) {
  SHA256_CTX *ctx = raw_ctx(env, v);
  if (ctx && (ctx->num >= SHA256_CBLOCK || ctx->md_len != SHA256_DIGEST_LENGTH)) {
    napi_throw_range_error(env, NULL, "not a sha256 state");
    return NULL;
  }
  return ctx;
}

static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  SHA256_CTX *ctx = argc ? raw_ctx(env, argv[0]) : NULL;
  if (ctx) SHA256_Init(ctx);
  return NULL;
}

static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) { napi_throw_type_error(env, NULL, "update(state, chunk)"); return NULL; }
  SHA256_CTX *ctx = sha256_ctx_of(env, argv[0]);
  if (!ctx) return NULL;
  void *data; size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "chunk must be a Buffer");
    return NULL;
  }
  SHA256_Update(ctx, data, len);
  return NULL;
}

static napi_value final(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  SHA256_CTX *ctx = argc ? sha256_ctx_of(env, argv[0]) : NULL;
  if (!ctx) return NULL;
  SHA256_CTX copy = *ctx; /* digest a copy: the caller's state stays usable */
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &copy);
  napi_value out; void *outData;
  napi_create_buffer_copy(env, SHA256_DIGEST_LENGTH, md, &outData, &out);
  return out;
}

/*
 * updateAsync(state, chunks[]) -> Promise: the same SHA256_Update, on a libuv pool
 * thread, so that hashing an upload does not take the event loop's core. The caller
 * runs one job per state at a time and does not touch the state or chunks meanwhile.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref state_ref, chunks_ref;
  SHA256_CTX *ctx;
  uint32_t n;
  void **data;
  size_t *len;
} Job;

static void job_execute(napi_env env, void *arg) {
  Job *job = arg;
  for (uint32_t i = 0; i < job->n; i++) SHA256_Update(job->ctx, job->data[i], job->len[i]);
}

static void job_complete(napi_env env, napi_status status, void *arg) {
  Job *job = arg;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_resolve_deferred(env, job->deferred, undefined);
  napi_delete_reference(env, job->state_ref);
  napi_delete_reference(env, job->chunks_ref);
  napi_delete_async_work(env, job->work);
  free(job->data);
  free(job->len);
  free(job);
}

static napi_value update_async(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) { napi_throw_type_error(env, NULL, "updateAsync(state, chunks)"); return NULL; }
  SHA256_CTX *ctx = sha256_ctx_of(env, argv[0]);
  if (!ctx) return NULL;
  uint32_t n;
  if (napi_get_array_length(env, argv[1], &n) != napi_ok) { napi_throw_type_error(env, NULL, "chunks must be an array"); return NULL; }
  Job *job = calloc(1, sizeof(Job));
  job->ctx = ctx;
  job->n = n;
  job->data = calloc(n ? n : 1, sizeof(void *));
  job->len = calloc(n ? n : 1, sizeof(size_t));
  for (uint32_t i = 0; i < n; i++) {
    napi_value chunk;
    napi_get_element(env, argv[1], i, &chunk);
    if (napi_get_buffer_info(env, chunk, &job->data[i], &job->len[i]) != napi_ok) {
      free(job->data); free(job->len); free(job);
      napi_throw_type_error(env, NULL, "chunks must be Buffers");
      return NULL;
    }
  }
  /* Keep the state and the chunks alive until the pool thread is done with them. */
  napi_create_reference(env, argv[0], 1, &job->state_ref);
  napi_create_reference(env, argv[1], 1, &job->chunks_ref);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "sha256", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, job_execute, job_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_value fn, size;
  napi_create_function(env, "init", NAPI_AUTO_LENGTH, init, NULL, &fn);
  napi_set_named_property(env, exports, "init", fn);
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, update, NULL, &fn);
  napi_set_named_property(env, exports, "update", fn);
  napi_create_function(env, "updateAsync", NAPI_AUTO_LENGTH, update_async, NULL, &fn);
  napi_set_named_property(env, exports, "updateAsync", fn);
  napi_create_function(env, "final", NAPI_AUTO_LENGTH, final, NULL, &fn);
  napi_set_named_property(env, exports, "final", fn);
  napi_create_uint32(env, (uint32_t)sizeof(SHA256_CTX), &size);
  napi_set_named_property(env, exports, "stateSize", size);
  write_batch_register(env, exports);
  trim_register(env, exports);
  file_ops_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
