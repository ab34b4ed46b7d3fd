/* Shared between the files of the addon. */
#ifndef SHA256_STATE_H
#define SHA256_STATE_H
#include <node_api.h>
#include <openssl/sha.h>

/* The checked SHA256_CTX inside a state Buffer (throws and returns NULL when it is not one). */
SHA256_CTX *sha256_ctx_of(napi_env env, napi_value v);
/* Adds writeAsync and flushAsync (write_batch.c) to the exports. */
void write_batch_register(napi_env env, napi_value exports);
/* Adds trimMemory (trim.c) to the exports. */
void trim_register(napi_env env, napi_value exports);
#endif
