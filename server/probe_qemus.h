// QEMUs that libvirt started to probe a binary's capabilities and that
// outlived the embedded driver which started them.
//
// To probe, libvirt (9.0, qemuProcessQMPLaunch) runs
//   <emulator> -S -no-user-config -nodefaults -nographic
//     -machine none,accel=kvm:tcg
//     -qmp unix:<root>/lib/qemu/qmp-XXXXXX/qmp.monitor,server=on,wait=off
//     -pidfile <root>/lib/qemu/qmp-XXXXXX/qmp.pid -daemonize
// and kills it once it has asked its questions over QMP. The embedded driver
// lives in vmmap serve's process: a kill -9 of vmmap serve while it probes
// (a fresh state dir's first second) leaves that QEMU, daemonized and so
// reparented away from vmmap, waiting forever for a QMP client, and its
// qmp-XXXXXX directory. libvirt never finds either again.
#ifndef VMMAP_SERVER_PROBE_QEMUS_H_
#define VMMAP_SERVER_PROBE_QEMUS_H_

#include <chrono>
#include <string>
#include <vector>

#include "server/base/processes.h"

namespace vmmap {

// Whether `argv` (a process's command line) is a capability probe of the
// embedded driver rooted at `embed_root`: `-machine none[,…]` and a `-qmp`
// socket <embed_root>/lib/qemu/qmp-<dir>/qmp.monitor. A domain's QEMU
// (`-machine pc-…`, its monitor in lib/qemu/domain-…) and another root's
// probe never match.
bool IsProbeQemuOf(const std::vector<std::string>& argv, const std::string& embed_root);

// SIGKILLs every probe QEMU of `embed_root` (KillProcesses: waits up to
// `deadline` for each to exit, never signals a reused pid) and, when none is
// left, removes the probes' qmp-* directories under <embed_root>/lib/qemu.
// Only for before the embedded driver of `embed_root` opens, by the one
// process that holds LockEmbeddedRoot(embed_root): no probe of that root can
// be in progress then.
KillOutcome KillProbeQemus(const std::string& embed_root, std::chrono::milliseconds deadline);

}  // namespace vmmap

#endif  // VMMAP_SERVER_PROBE_QEMUS_H_
