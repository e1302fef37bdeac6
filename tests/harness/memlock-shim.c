/*
 * memlock-shim.c -- LD_PRELOAD shim for vmmap's TEST HARNESS ONLY. Never ship it in
 * the product, never preload it on a real node.
 *
 * Why: the CI sandbox has RLIMIT_MEMLOCK = 8 MiB (hard) and no CAP_SYS_RESOURCE.
 *   1. libvirt raises QEMU's RLIMIT_MEMLOCK to <memtune><hard_limit> (or more) with
 *      prlimit(pid, RLIMIT_MEMLOCK, ...) whenever hard_limit / <locked/> is set; that
 *      fails with EPERM here ("cannot limit locked memory of process N to ...").
 *      -> preload into libvirtd (or the process that opens qemu:///embed): a
 *         prlimit/setrlimit for RLIMIT_MEMLOCK that fails with EPERM returns 0.
 *   2. <memoryBacking><locked/> makes QEMU call mlockall(MCL_CURRENT|MCL_FUTURE),
 *      which fails with the 8 MiB limit ("locking memory failed").
 *      -> preload into QEMU (via the wrapper emulator script): a refused mlockall()
 *         becomes a no-op (one that succeeds, with CAP_IPC_LOCK, is left alone).
 *
 * Everything else is passed straight through. Set VMMAP_SHIM_DEBUG=1 to log each
 * swallowed call to stderr (libvirtd's stderr / the domain's QEMU log).
 *
 * Build: tests/harness/build-shim.sh OUTDIR  (cc -shared -fPIC ... -ldl)
 */
#define _GNU_SOURCE
#define _LARGEFILE64_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

static int shim_debug(void) {
  const char* e = getenv("VMMAP_SHIM_DEBUG");
  return e && *e && *e != '0';
}

static void shim_log(const char* what, pid_t pid, unsigned long long cur, unsigned long long max) {
  if (shim_debug())
    fprintf(stderr,
            "vmmap-memlock-shim: swallowed EPERM from %s(pid=%d, "
            "RLIMIT_MEMLOCK, cur=%llu, max=%llu)\n",
            what, (int)pid, cur, max);
}

typedef int (*prlimit_fn)(pid_t, int, const struct rlimit*, struct rlimit*);
typedef int (*prlimit64_fn)(pid_t, int, const struct rlimit64*, struct rlimit64*);
typedef int (*setrlimit_fn)(int, const struct rlimit*);
typedef int (*setrlimit64_fn)(int, const struct rlimit64*);

int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit* new_limit,
            struct rlimit* old_limit) {
  static prlimit_fn real;
  if (!real) real = (prlimit_fn)dlsym(RTLD_NEXT, "prlimit");
  int rc = real(pid, resource, new_limit, old_limit);
  if (rc != 0 && errno == EPERM && resource == RLIMIT_MEMLOCK && new_limit) {
    if (old_limit) real(pid, resource, NULL, old_limit);
    shim_log("prlimit", pid, new_limit->rlim_cur, new_limit->rlim_max);
    errno = 0;
    return 0;
  }
  return rc;
}

int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64* new_limit,
              struct rlimit64* old_limit) {
  static prlimit64_fn real;
  if (!real) real = (prlimit64_fn)dlsym(RTLD_NEXT, "prlimit64");
  int rc = real(pid, resource, new_limit, old_limit);
  if (rc != 0 && errno == EPERM && resource == RLIMIT_MEMLOCK && new_limit) {
    if (old_limit) real(pid, resource, NULL, old_limit);
    shim_log("prlimit64", pid, new_limit->rlim_cur, new_limit->rlim_max);
    errno = 0;
    return 0;
  }
  return rc;
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit* rlim) {
  static setrlimit_fn real;
  if (!real) real = (setrlimit_fn)dlsym(RTLD_NEXT, "setrlimit");
  int rc = real(resource, rlim);
  if (rc != 0 && errno == EPERM && resource == RLIMIT_MEMLOCK) {
    shim_log("setrlimit", getpid(), rlim->rlim_cur, rlim->rlim_max);
    errno = 0;
    return 0;
  }
  return rc;
}

int setrlimit64(__rlimit_resource_t resource, const struct rlimit64* rlim) {
  static setrlimit64_fn real;
  if (!real) real = (setrlimit64_fn)dlsym(RTLD_NEXT, "setrlimit64");
  int rc = real(resource, rlim);
  if (rc != 0 && errno == EPERM && resource == RLIMIT_MEMLOCK) {
    shim_log("setrlimit64", getpid(), rlim->rlim_cur, rlim->rlim_max);
    errno = 0;
    return 0;
  }
  return rc;
}

typedef int (*mlockall_fn)(int);

/* The real mlockall first: a QEMU that keeps CAP_IPC_LOCK (root, with
 * clear_emulator_capabilities = 0 in the driver's qemu.conf, as the filled-node
 * test configures it) locks for real whatever its RLIMIT_MEMLOCK says, and then
 * nothing is shimmed. Only a refused mlockall (ENOMEM/EPERM: 8 MiB limit, no
 * capability -- QEMU as libvirt-qemu) becomes a no-op. A refused mlockall has
 * locked nothing (the kernel checks the limit before it applies the flags). */
int mlockall(int flags) {
  static mlockall_fn real;
  if (!real) real = (mlockall_fn)dlsym(RTLD_NEXT, "mlockall");
  if (real && real(flags) == 0) {
    if (shim_debug())
      fprintf(stderr, "vmmap-memlock-shim: mlockall(0x%x) locked for real\n", flags);
    return 0;
  }
  if (shim_debug()) fprintf(stderr, "vmmap-memlock-shim: mlockall(0x%x) refused -> no-op\n", flags);
  errno = 0;
  return 0;
}
