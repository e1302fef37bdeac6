// The state directory's layout and modes.
//
// vmmap's own files (state.db 0600, console offsets) are root's alone; QEMU,
// which libvirt may run as another user (libvirt-qemu under qemu:///system,
// and under the embedded driver too, as its qemu.conf says), must still
// reach the files libvirt hands it: the domain's master key under
// libvirt/, overlays and console logs under containers/<id>/, images under
// images/. So the state directory and those subdirectories are 0711 (others
// may traverse, never list), and every ancestor of the state directory must
// let others traverse it too. An ancestor that does not (e.g. a
// `mktemp -d` parent, or /root) made every StartContainer fail with
// libvirt's "master-key.aes: Permission denied"; vmmap refuses to start
// instead, naming the directory and the fix. It never loosens the modes of
// directories it did not create.
#ifndef VMMAP_SERVER_STATE_DIR_H_
#define VMMAP_SERVER_STATE_DIR_H_

#include <string>

#include "absl/status/status.h"

namespace vmmap {

// Creates `state_dir` (absolute) and its containers/ and images/ with mode
// 0711 and sets the state directory itself to 0711. If `qemu_may_run_as_other_user`,
// FailedPrecondition when an ancestor does not let others traverse it.
absl::Status PrepareStateDir(const std::string& state_dir, bool qemu_may_run_as_other_user);

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATE_DIR_H_
