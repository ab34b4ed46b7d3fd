/*
 * trimMemory(): glibc's malloc_trim(0), which hands the free pages inside malloc's heaps
 * back to the OS (free() only gives back memory at the top of a heap). The gateway calls it
 * once, after start-up's garbage collection (server/util/gc.ts): start-up leaves
 * ~1 MiB of freed compiler and parser memory scattered in the main heap, which an idle
 * process would otherwise keep. Without glibc (musl) it does nothing and answers false.
 */
#include "sha256_state.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) != 0, &out);
#else
  napi_get_boolean(env, false, &out);
#endif
  return out;
}

void trim_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "trimMemory", NAPI_AUTO_LENGTH, trim_memory, NULL, &fn);
  napi_set_named_property(env, exports, "trimMemory", fn);
}
