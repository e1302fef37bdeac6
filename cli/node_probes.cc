#include "cli/node_probes.h"

#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

Finding Ok(std::string name, std::string detail, bool required = true) {
  return {std::move(name), FindingStatus::kOk, required, std::move(detail), ""};
}
Finding Fail(std::string name, std::string detail, std::string fix, bool required = true) {
  return {std::move(name), FindingStatus::kFail, required, std::move(detail), std::move(fix)};
}
Finding Warn(std::string name, std::string detail, std::string fix, bool required = true) {
  return {std::move(name), FindingStatus::kWarn, required, std::move(detail), std::move(fix)};
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// RAII for a file descriptor.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string Errno(const char* what) { return absl::StrCat(what, ": ", strerror(errno)); }

bool RunningUnderHypervisor() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (absl::StartsWith(line, "flags")) return absl::StrContains(line, " hypervisor");
  }
  return false;
}

std::string VersionText(unsigned long v) {
  return absl::StrCat(v / 1000000, ".", v / 1000 % 1000, ".", v % 1000);
}

bool IsExecutable(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

Finding ProbeKvm(const std::string& device, bool kvm_required) {
  const std::string fix_qemu =
      kvm_required ? "or run vmmap with --domain-type qemu (TCG: slower guests, no KVM needed)"
                   : "";
  const std::string name = "kvm";
  Fd kvm(open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (kvm.fd < 0) {
    return Fail(
        name, Errno(("open " + device).c_str()),
        absl::StrCat("load kvm_intel or kvm_amd, enable virtualisation in the firmware, give the "
                     "DaemonSet the host path ",
                     device, "; ", fix_qemu),
        kvm_required);
  }
  const int api = ioctl(kvm.fd, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) {
    return Fail(name, absl::StrCat("KVM API version ", api, ", expected ", KVM_API_VERSION),
                fix_qemu, kvm_required);
  }
  Fd vm(ioctl(kvm.fd, KVM_CREATE_VM, 0));
  if (vm.fd < 0) return Fail(name, Errno("KVM_CREATE_VM"), fix_qemu, kvm_required);
  // One page of guest memory at 0x1000 holding `hlt`, a vCPU in real mode at it.
  void* mem = mmap(nullptr, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return Fail(name, Errno("mmap guest page"), "", kvm_required);
  static_cast<unsigned char*>(mem)[0] = 0xf4;  // hlt
  kvm_userspace_memory_region region = {};
  region.guest_phys_addr = 0x1000;
  region.memory_size = 0x1000;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (ioctl(vm.fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return Fail(name, Errno("KVM_SET_USER_MEMORY_REGION"), fix_qemu, kvm_required);
  }
  Fd vcpu(ioctl(vm.fd, KVM_CREATE_VCPU, 0));
  if (vcpu.fd < 0) return Fail(name, Errno("KVM_CREATE_VCPU"), fix_qemu, kvm_required);
  const int run_size = ioctl(kvm.fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return Fail(name, Errno("KVM_GET_VCPU_MMAP_SIZE"), fix_qemu, kvm_required);
  void* run_mem =
      mmap(nullptr, static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.fd, 0);
  if (run_mem == MAP_FAILED) return Fail(name, Errno("mmap kvm_run"), fix_qemu, kvm_required);
  kvm_sregs sregs;
  if (ioctl(vcpu.fd, KVM_GET_SREGS, &sregs) < 0)
    return Fail(name, Errno("KVM_GET_SREGS"), fix_qemu, kvm_required);
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu.fd, KVM_SET_SREGS, &sregs) < 0)
    return Fail(name, Errno("KVM_SET_SREGS"), fix_qemu, kvm_required);
  kvm_regs regs = {};
  regs.rip = 0x1000;
  regs.rflags = 2;
  if (ioctl(vcpu.fd, KVM_SET_REGS, &regs) < 0)
    return Fail(name, Errno("KVM_SET_REGS"), fix_qemu, kvm_required);
  if (ioctl(vcpu.fd, KVM_RUN, 0) < 0) return Fail(name, Errno("KVM_RUN"), fix_qemu, kvm_required);
  const auto* run = static_cast<const kvm_run*>(run_mem);
  if (run->exit_reason != KVM_EXIT_HLT) {
    return Fail(name,
                absl::StrCat("KVM_RUN of a one-instruction guest exited with reason ",
                             run->exit_reason, " instead of HLT"),
                fix_qemu, kvm_required);
  }
  const std::string ran = absl::StrCat(device, " ran a one-instruction guest (KVM API ", api, ")");
  if (RunningUnderHypervisor()) {
    return Warn(
        name,
        absl::StrCat(ran, "; this node is itself a VM (cpuinfo flag 'hypervisor'): nested KVM"),
        "nested KVM can still hang a full guest kernel at boot (seen on this project's CI "
        "machine): if vmmap pods never print to their console, run vmmap with --domain-type qemu",
        kvm_required);
  }
  return Ok(name, ran, kvm_required);
}

Finding ProbeLibvirt(const std::string& uri) {
  const std::string name = "libvirt";
  virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  unsigned long lib = 0;
  virGetVersion(&lib, nullptr, nullptr);
  std::string open_uri = uri;
  std::string temp_root;
  const bool embedded = absl::StartsWith(uri, "qemu:///embed");
  if (embedded) {
    if (virEventRegisterDefaultImpl() < 0) {
      return Fail(name, "cannot register libvirt's event loop", "");
    }
    if (!absl::StrContains(uri, "root=")) {
      const char* tmp = getenv("TMPDIR");
      std::string pattern =
          absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/vmmap-check.XXXXXX");
      if (mkdtemp(pattern.data()) == nullptr)
        return Fail(name, Errno("mkdtemp"), "set TMPDIR to a writable directory");
      temp_root = pattern;
      open_uri = absl::StrCat(uri, absl::StrContains(uri, "?") ? "&" : "?", "root=", temp_root);
    }
  }
  virConnectPtr conn = virConnectOpen(open_uri.c_str());
  std::string detail;
  Finding result;
  if (conn == nullptr) {
    const char* message = virGetLastErrorMessage();
    result = Fail(
        name,
        absl::StrCat("cannot open ", uri, ": ", message != nullptr ? message : "unknown error"),
        embedded ? "install libvirt-daemon-driver-qemu (Debian: libvirt-daemon-system) and "
                   "qemu-system-x86"
                 : "start libvirtd (and virtlogd), or use the default embedded driver "
                   "(--libvirt-uri qemu:///embed)");
  } else {
    unsigned long hv = 0;
    const char* type = virConnectGetType(conn);
    virConnectGetVersion(conn, &hv);
    result = Ok(name, absl::StrCat(uri, " opened: libvirt ", VersionText(lib), ", ",
                                   type != nullptr ? type : "?", " ", VersionText(hv)));
    virConnectClose(conn);
  }
  if (!temp_root.empty()) {
    std::error_code ec;
    fs::remove_all(temp_root, ec);
  }
  return result;
}

Finding CheckCgroups(const std::string& root) {
  const std::string name = "cgroups";
  std::error_code ec;
  if (fs::exists(root + "/cgroup.controllers", ec)) {
    const std::string controllers = ReadSmallFile(root + "/cgroup.controllers");
    std::set<std::string> have = absl::StrSplit(absl::StripAsciiWhitespace(controllers), ' ');
    std::vector<std::string> missing;
    for (const char* c : {"cpu", "memory", "cpuset"}) {
      if (!have.count(c)) missing.push_back(c);
    }
    if (!missing.empty()) {
      return Fail(
          name, absl::StrCat("cgroup v2 at ", root, " lacks ", absl::StrJoin(missing, ", ")),
          "enable them in the root's cgroup.subtree_control (systemd does this with Delegate=yes)");
    }
    return Ok(name, absl::StrCat("cgroup v2 at ", root,
                                 " (cpu, memory, cpuset): run vmmap with --cgroup-version 2"));
  }
  std::vector<std::string> missing;
  for (const char* c : {"cpu", "cpuacct", "memory", "cpuset"}) {
    if (!fs::is_directory(absl::StrCat(root, "/", c), ec)) missing.push_back(c);
  }
  if (missing.size() == 4) {
    return Fail(name, absl::StrCat("no cgroup v1 or v2 hierarchy under ", root),
                "mount cgroup2 at /sys/fs/cgroup (or the v1 controllers), and give the DaemonSet "
                "that host path");
  }
  if (!missing.empty()) {
    return Fail(name, absl::StrCat("cgroup v1 at ", root, " lacks ", absl::StrJoin(missing, ", ")),
                "mount the missing v1 controllers under /sys/fs/cgroup");
  }
  return Ok(name,
            absl::StrCat("cgroup v1 at ", root,
                         " (cpu, cpuacct, memory, cpuset): run vmmap with --cgroup-version 1"));
}

Finding CheckMemlock() {
  const std::string name = "memlock";
  rlimit limit = {};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  if (limit.rlim_max == RLIM_INFINITY) return Ok(name, "RLIMIT_MEMLOCK is unlimited");
  // CAP_SYS_RESOURCE (bit 24) lets libvirt raise QEMU's limit to hard_limit.
  std::istringstream status(ReadSmallFile("/proc/self/status"));
  std::string line;
  uint64_t cap_eff = 0;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "CapEff:")) {
      std::string hex(absl::StripAsciiWhitespace(line.substr(7)));
      cap_eff = std::strtoull(hex.c_str(), nullptr, 16);
    }
  }
  const std::string limit_text = absl::StrCat("RLIMIT_MEMLOCK ", limit.rlim_cur / 1024,
                                              " KiB (hard ", limit.rlim_max / 1024, " KiB)");
  if (cap_eff & (uint64_t{1} << 24)) {
    return Ok(name,
              absl::StrCat(limit_text, ", but CAP_SYS_RESOURCE lets libvirt raise it per domain"));
  }
  return Fail(
      name,
      absl::StrCat(limit_text,
                   " and no CAP_SYS_RESOURCE: every VM's <memoryBacking><locked/> "
                   "needs its whole hard_limit locked, and libvirt cannot raise the limit"),
      "run vmmap with LimitMEMLOCK=infinity (deploy/vmmap.service) or as a privileged container "
      "(deploy/daemonset.yaml); with qemu:///system the limit of libvirtd counts");
}

Finding CheckCni(const std::string& conf_dir, const std::vector<std::string>& bin_dirs) {
  const std::string name = "cni";
  const std::string fix_conf =
      absl::StrCat("install a network plugin (it writes its config to ", conf_dir,
                   "), or a bridge config such as the one in docs/network.md");
  std::error_code ec;
  std::vector<fs::path> configs;
  for (const fs::directory_entry& e : fs::directory_iterator(conf_dir, ec)) {
    const std::string ext = e.path().extension().string();
    if (ext == ".conflist" || ext == ".conf" || ext == ".json") configs.push_back(e.path());
  }
  if (ec || configs.empty()) {
    return Fail(name, absl::StrCat("no CNI config (*.conflist, *.conf, *.json) in ", conf_dir),
                fix_conf);
  }
  std::sort(configs.begin(), configs.end());  // libcni uses the first by name
  const fs::path& config = configs.front();
  const nlohmann::json json = nlohmann::json::parse(ReadSmallFile(config.string()), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Fail(name, absl::StrCat(config.string(), " is not a JSON object"), "fix or remove it");
  }
  // Each plugin's type, and its IPAM plugin's (a binary of its own).
  std::vector<std::string> types;
  auto add_plugin = [&types](const nlohmann::json& p) {
    if (!p.is_object()) return;
    if (p.contains("type") && p["type"].is_string()) types.push_back(p["type"]);
    if (p.contains("ipam") && p["ipam"].is_object() && p["ipam"].contains("type") &&
        p["ipam"]["type"].is_string()) {
      types.push_back(p["ipam"]["type"]);
    }
  };
  if (json.contains("plugins") && json["plugins"].is_array()) {
    for (const nlohmann::json& p : json["plugins"]) add_plugin(p);
  } else {
    add_plugin(json);
  }
  if (types.empty())
    return Fail(name, absl::StrCat(config.string(), " names no plugin type"), "fix or remove it");
  std::vector<std::string> missing;
  for (const std::string& type : types) {
    bool found = false;
    for (const std::string& dir : bin_dirs)
      found = found || IsExecutable(absl::StrCat(dir, "/", type));
    if (!found) missing.push_back(type);
  }
  if (!missing.empty()) {
    return Fail(
        name,
        absl::StrCat(config.string(), " needs plugins not found in ", absl::StrJoin(bin_dirs, ":"),
                     ": ", absl::StrJoin(missing, ", ")),
        "install containernetworking-plugins (Debian: /usr/lib/cni) or the plugin's own package");
  }
  return Ok(name,
            absl::StrCat(config.string(), ": plugins ", absl::StrJoin(types, ", "), " found"));
}

Finding FindTool(const std::string& name, const std::vector<std::string>& candidates,
                 const std::string& package, bool required) {
  const char* path_env = getenv("PATH");
  const std::vector<std::string> path_dirs =
      absl::StrSplit(path_env != nullptr ? path_env : "/usr/bin:/bin", ':', absl::SkipEmpty());
  for (const std::string& c : candidates) {
    if (!c.empty() && c[0] == '/') {
      if (IsExecutable(c)) return Ok(name, c, required);
      continue;
    }
    for (const std::string& dir : path_dirs) {
      const std::string full = absl::StrCat(dir, "/", c);
      if (IsExecutable(full)) return Ok(name, full, required);
    }
  }
  return Fail(name, absl::StrCat("none of ", absl::StrJoin(candidates, ", "), " is an executable"),
              absl::StrCat("install ", package), required);
}

Finding CheckDiskSpace(const std::string& state_dir, int64_t min_free_bytes) {
  const std::string name = "disk";
  fs::path at = state_dir;
  std::error_code ec;
  while (!fs::exists(at, ec) && at.has_parent_path() && at != at.parent_path())
    at = at.parent_path();
  struct statvfs st = {};
  if (statvfs(at.c_str(), &st) != 0) {
    return Fail(name, Errno(("statvfs " + at.string()).c_str()),
                "create the state dir's filesystem");
  }
  const int64_t free_bytes = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
  const std::string detail =
      absl::StrCat(free_bytes >> 20, " MiB free at ", at.string(),
                   at.string() == state_dir ? "" : absl::StrCat(" (for ", state_dir, ")"));
  const std::string fix = absl::StrCat(
      "free space or point --state-dir at a larger filesystem (images and "
      "per-pod overlays live there; at least ",
      min_free_bytes >> 20, " MiB)");
  if (free_bytes < min_free_bytes) return Fail(name, detail, fix);
  if (free_bytes < 4 * min_free_bytes) return Warn(name, detail, fix);
  return Ok(name, detail);
}

}  // namespace vmmap
