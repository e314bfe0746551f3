// kreboot's one native piece: lets the agent hand back the pages of its own executable that only its start-up
// touched (and keep its heap out of transparent huge pages). An idle Node agent keeps ~44 MiB of the `node` binary resident (module loading, TLS and OpenSSL set-up,
// the first list fault in code it never runs again); madvise(MADV_PAGEOUT) asks the kernel to reclaim them, and
// the pages the idle loop needs fault back in. Node has no binding for madvise, hence this file (BENCHMARKS.md,
// "The agent's memory", has the measurements that justify it; operator/agent/trim.ts uses it).
//
// Node-API is ABI-stable, so the handful of declarations used are written out here rather than taken from
// node_api.h: the image's build stage has a C compiler but not necessarily Node's headers.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21 /* Linux 5.4 */
#endif

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok == 0 */
typedef napi_value (*napi_callback)(napi_env, napi_callback_info);
napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
napi_status napi_get_value_double(napi_env, napi_value, double *);
napi_status napi_create_int32(napi_env, int32_t, napi_value *);
napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
napi_status napi_throw_type_error(napi_env, const char *, const char *);

// madvise(start, length, advice) on this process; returns 0 or the errno. Only advice that never changes what a
// page holds is accepted (MADV_DONTNEED, for one, would revert relocated read-only pages to the file's bytes).
// Addresses arrive as doubles: user-space addresses on Linux are below 2^47 and so exact in a double.
static napi_value advise(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  double start, length, advice;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 3 ||
      napi_get_value_double(env, argv[0], &start) != 0 || napi_get_value_double(env, argv[1], &length) != 0 ||
      napi_get_value_double(env, argv[2], &advice) != 0) {
    napi_throw_type_error(env, NULL, "madvise(start, length, advice): three numbers");
    return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  if (start < 0 || length <= 0 || start >= 9007199254740992.0 || length >= 9007199254740992.0 ||
      (uint64_t)start % (uint64_t)page != 0) {
    napi_throw_type_error(env, NULL, "madvise(start, length, advice): start must be page-aligned, length positive");
    return NULL;
  }
  int adv = (int)advice;
  if ((double)adv != advice || (adv != MADV_NORMAL && adv != MADV_RANDOM && adv != MADV_PAGEOUT)) {
    napi_throw_type_error(env, NULL, "madvise(start, length, advice): advice must be MADV_NORMAL, MADV_RANDOM or MADV_PAGEOUT");
    return NULL;
  }
  int rc = madvise((void *)(uintptr_t)(uint64_t)start, (size_t)(uint64_t)length, adv) == 0 ? 0 : errno;
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

// noHugePages(): prctl(PR_SET_THP_DISABLE) for this process, called as the agent starts: on kernels with
// transparent huge pages set to "always" (Debian's cloud kernel, RHEL), a touched byte of a heap region can
// make the whole 2 MiB huge page resident, which an idle agent does not want. Returns 0 or the errno.
static napi_value no_huge_pages(napi_env env, napi_callback_info info) {
  (void)info;
  int rc = prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 ? 0 : errno;
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "madvise", 7, advise, NULL, &fn) == 0) napi_set_named_property(env, exports, "madvise", fn);
  if (napi_create_function(env, "noHugePages", 11, no_huge_pages, NULL, &fn) == 0) napi_set_named_property(env, exports, "noHugePages", fn);
  return exports;
}

int32_t node_api_module_get_api_version_v1(void) { return 8; }
