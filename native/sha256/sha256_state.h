/* Shared between the files of the addon. */
#ifndef SHA256_STATE_H
#define SHA256_STATE_H
#include <node_api.h>
#include <openssl/sha.h>

/* The checked SHA256_CTX inside a state Buffer (throws and returns NULL when it is not one). */
SHA256_CTX *sha256_ctx_of(napi_env env, napi_value v);
/* Adds writeAsync and flushAsync (write_batch.c) to the exports. */
void write_batch_register(napi_env env, napi_value exports);
/* An Error with the errno's code (e.g. "ENOENT"), message and negative errno (write_batch.c). */
napi_value errno_error(napi_env env, int e);
/* Adds writeFileAsync and syncDirAsync (file_ops.c) to the exports. */
void file_ops_register(napi_env env, napi_value exports);
/* Adds trimMemory (trim.c) to the exports. */
void trim_register(napi_env env, napi_value exports);
#endif
