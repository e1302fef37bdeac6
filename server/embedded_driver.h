// libvirt's embedded QEMU driver (qemu:///embed?root=DIR, vmmap serve's
// default) runs inside vmmap serve's process and keeps everything under its
// root. A kill -9 of vmmap serve kills the driver mid-work; what it leaves
// there is cleaned before the next driver of that root opens.
#ifndef VMMAP_SERVER_EMBEDDED_DRIVER_H_
#define VMMAP_SERVER_EMBEDDED_DRIVER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmmap {

// The embedded driver's root directory, or "" for any other URI.
std::string EmbeddedDriverRoot(const std::string& uri);

// Locks <root>/vmmap-serve.lock (creating root) for this process: the
// returned descriptor holds the lock until it is closed or the process
// exits. FailedPrecondition naming the root and the holder's pid when
// another process holds it. A POSIX record lock, which a forked child does
// not inherit: a child libvirt forked cannot keep the root locked after a
// kill -9 of vmmap serve.
absl::StatusOr<int> LockEmbeddedRoot(const std::string& root);

// Before the embedded driver of `uri` opens (nothing to do for another URI):
// locks its root for the rest of the process (LockEmbeddedRoot), kills the
// capability-probe QEMUs a killed driver left (probe_qemus.h), removes its
// interrupted XML saves, and writes <root>/etc/qemu.conf when there is none.
absl::Status PrepareEmbeddedDriver(const std::string& uri);

}  // namespace vmmap

#endif  // VMMAP_SERVER_EMBEDDED_DRIVER_H_
