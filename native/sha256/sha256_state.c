/*
 * SHA-256 whose state is plain bytes the caller owns, so it can be saved with an
 * upload and continued in another process (see server/tus/sha256-state.ts for why).
 * It calls the SHA256_* functions of the OpenSSL that Node itself links and exports
 * to addons: the same SHA-NI/AVX code as node:crypto, at the same speed.
 * The state is OpenSSL's SHA256_CTX, copied as is; its size is checked on every call.
 */
#include <node_api.h>
#include <openssl/sha.h>
#include <string.h>

static SHA256_CTX *ctx_of(napi_env env, napi_value v) {
  void *data; size_t len;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok || len != sizeof(SHA256_CTX)) {
    napi_throw_type_error(env, NULL, "state must be a Buffer of stateSize bytes");
    return NULL;
  }
  return (SHA256_CTX *)data;
}

static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  SHA256_CTX *ctx = argc ? ctx_of(env, argv[0]) : NULL;
  if (ctx) SHA256_Init(ctx);
  return NULL;
}

static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) { napi_throw_type_error(env, NULL, "update(state, chunk)"); return NULL; }
  SHA256_CTX *ctx = ctx_of(env, argv[0]);
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
  SHA256_CTX *ctx = argc ? ctx_of(env, argv[0]) : NULL;
  if (!ctx) return NULL;
  SHA256_CTX copy = *ctx; /* digest a copy: the caller's state stays usable */
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &copy);
  napi_value out; void *outData;
  napi_create_buffer_copy(env, SHA256_DIGEST_LENGTH, md, &outData, &out);
  return out;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_value fn, size;
  napi_create_function(env, "init", NAPI_AUTO_LENGTH, init, NULL, &fn);
  napi_set_named_property(env, exports, "init", fn);
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, update, NULL, &fn);
  napi_set_named_property(env, exports, "update", fn);
  napi_create_function(env, "final", NAPI_AUTO_LENGTH, final, NULL, &fn);
  napi_set_named_property(env, exports, "final", fn);
  napi_create_uint32(env, (uint32_t)sizeof(SHA256_CTX), &size);
  napi_set_named_property(env, exports, "stateSize", size);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
