#include "server/stats/domain_cgroup.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/files.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

// Files read here are small kernel files; anything larger is not one.
constexpr size_t kMaxCgroupFile = 64 * 1024;
constexpr size_t kMaxCmdline = 256 * 1024;

// libvirt puts QEMU's main thread into the domain cgroup's "emulator" child;
// the domain's own directory is its parent.
std::string DomainDir(const std::string& path) {
  constexpr absl::string_view kEmulator = "/emulator";
  if (absl::EndsWith(path, kEmulator)) {
    std::string dir = path.substr(0, path.size() - kEmulator.size());
    return dir.empty() ? "/" : dir;
  }
  return path;
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// vcpu0, vcpu1, ... below `dir`, in vCPU order; vCPU numbers must be dense.
std::vector<std::string> VcpuDirs(const std::string& dir) {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int n = -1;
    if (!absl::StartsWith(name, "vcpu") || !absl::SimpleAtoi(name.substr(4), &n) || n < 0) continue;
    found.emplace_back(n, it->path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < found.size(); ++i) {
    if (found[i].first != static_cast<int>(i)) return {};  // not the layout libvirt makes
    out.push_back(found[i].second);
  }
  return out;
}

// CPU time in ns from the text of a cpuacct.usage or cgroup2 cpu.stat.
absl::StatusOr<uint64_t> ParseUsage(const std::string& path,
                                    const absl::StatusOr<std::string>& text, bool v2) {
  if (!text.ok()) return text.status();
  std::optional<uint64_t> ns =
      v2 ? UsageFromV2CpuStat(KeyedValues(*text)) : ParseSingleValue(*text);
  if (!ns) return absl::DataLossError(absl::StrCat(path, ": no CPU usage in \"", *text, "\""));
  return *ns;
}

}  // namespace

struct FdBudget {
  std::atomic<int> left{0};
};

class OpenCgroupFiles {
 public:
  explicit OpenCgroupFiles(std::shared_ptr<FdBudget> budget) : budget_(std::move(budget)) {}
  OpenCgroupFiles(const OpenCgroupFiles&) = delete;
  OpenCgroupFiles& operator=(const OpenCgroupFiles&) = delete;
  ~OpenCgroupFiles() {
    for (const auto& [path, fd] : fds_) ::close(fd);
    budget_->left.fetch_add(static_cast<int>(fds_.size()));
  }

  // The whole file, read from offset 0 of a kept descriptor (kernfs files
  // are generated anew for each read from the start). A descriptor whose
  // cgroup was removed fails (ENODEV) and is dropped.
  absl::StatusOr<std::string> Read(const std::string& path) {
    auto it = fds_.find(path);
    if (it == fds_.end()) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return vmmap::ReadFile(path, kMaxCgroupFile);  // the same error, named
      if (budget_->left.fetch_sub(1) <= 0) {
        budget_->left.fetch_add(1);
        ::close(fd);
        return vmmap::ReadFile(path, kMaxCgroupFile);
      }
      it = fds_.emplace(path, fd).first;
    }
    std::string out;
    char buffer[8192];
    for (;;) {
      const ssize_t n = ::pread(it->second, buffer, sizeof buffer, static_cast<off_t>(out.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int error = errno;
        ::close(it->second);
        fds_.erase(it);
        budget_->left.fetch_add(1);
        return absl::NotFoundError(absl::StrCat("read ", path, ": ", strerror(error)));
      }
      if (n == 0) return out;
      if (out.size() + static_cast<size_t>(n) > kMaxCgroupFile) {
        return absl::ResourceExhaustedError(
            absl::StrCat("read ", path, ": larger than ", kMaxCgroupFile, " bytes"));
      }
      out.append(buffer, static_cast<size_t>(n));
    }
  }

 private:
  std::shared_ptr<FdBudget> budget_;
  absl::flat_hash_map<std::string, int> fds_;
};

CgroupFs::CgroupFs(std::string proc_root, std::vector<CgroupMount> mounts, int max_open_files)
    : proc_root_(std::move(proc_root)),
      mounts_(std::move(mounts)),
      budget_(std::make_shared<FdBudget>()) {
  if (max_open_files < 0) {
    struct rlimit limit {};
    max_open_files = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                         ? static_cast<int>(std::min<rlim_t>(limit.rlim_cur / 4, 1 << 16))
                         : 256;
  }
  budget_->left.store(max_open_files);
}

absl::StatusOr<std::string> CgroupFs::ReadFile(const DomainCgroupFiles& files,
                                               const std::string& path) const {
  if (files.open == nullptr) files.open = std::make_shared<OpenCgroupFiles>(budget_);
  return files.open->Read(path);
}

bool CgroupFs::ProcessExists(pid_t pid) const {
  struct stat st {};
  return ::stat(absl::StrCat(proc_root_, "/", pid).c_str(), &st) == 0;
}

CgroupFs CgroupFs::Host() {
  absl::StatusOr<std::string> mountinfo = vmmap::ReadFile("/proc/self/mountinfo", 4 << 20);
  return CgroupFs("/proc",
                  mountinfo.ok() ? ParseCgroupMounts(*mountinfo) : std::vector<CgroupMount>{});
}

std::string CgroupFs::HostPath(const std::string& controller, const std::string& path) const {
  for (const CgroupMount& m : mounts_) {
    const bool match = controller.empty()
                           ? m.v2
                           : !m.v2 && std::find(m.controllers.begin(), m.controllers.end(),
                                                controller) != m.controllers.end();
    if (!match) continue;
    if (m.root == "/") return path == "/" ? m.mountpoint : m.mountpoint + path;
    if (path == m.root) return m.mountpoint;
    if (absl::StartsWith(path, m.root + "/")) return m.mountpoint + path.substr(m.root.size());
  }
  return "";
}

absl::flat_hash_map<std::string, pid_t> CgroupFs::FindQemuByUuid(
    const absl::flat_hash_set<std::string>& uuids) const {
  absl::flat_hash_map<std::string, pid_t> out;
  if (uuids.empty()) return out;
  std::error_code ec;
  for (fs::directory_iterator it(proc_root_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int pid = 0;
    if (!absl::SimpleAtoi(name, &pid) || pid <= 0) continue;
    absl::StatusOr<std::string> cmdline =
        vmmap::ReadFile(it->path().string() + "/cmdline", kMaxCmdline);
    if (!cmdline.ok() || cmdline->find("-uuid") == std::string::npos) continue;
    std::optional<std::string> uuid = UuidFromCmdline(*cmdline);
    if (uuid && uuids.contains(*uuid)) out[*uuid] = pid;
    if (out.size() == uuids.size()) break;
  }
  return out;
}

absl::StatusOr<DomainCgroupFiles> CgroupFs::Locate(pid_t pid) const {
  absl::StatusOr<std::string> text =
      vmmap::ReadFile(absl::StrCat(proc_root_, "/", pid, "/cgroup"), kMaxCgroupFile);
  if (!text.ok()) return text.status();
  std::string v2;
  absl::flat_hash_map<std::string, std::string> v1;  // controller → domain dir
  for (const ProcCgroupEntry& e : ParseProcCgroup(*text)) {
    if (e.hierarchy == 0) {
      v2 = DomainDir(e.path);
      continue;
    }
    for (const std::string& c : e.controllers) v1[c] = DomainDir(e.path);
  }
  // The domain's directory: the memory controller's (libvirt never leaves
  // memory at the root), else the cgroup2 one. A v1 controller counts only
  // where it shows that same directory.
  std::string own = v1.contains("memory") ? v1["memory"] : v2;
  if (own.empty() || own == "/") {
    return absl::FailedPreconditionError(
        absl::StrCat("QEMU process ", pid, " is in no cgroup of its own: ", *text));
  }
  auto v1_own = [&](const char* controller) -> std::string {
    auto it = v1.find(controller);
    if (it == v1.end() || it->second != own) return "";
    return HostPath(controller, own);
  };
  const std::string v2_dir = v2 == own ? HostPath("", own) : "";

  DomainCgroupFiles files;
  files.pid = pid;
  std::string usage_dir;
  const char* usage_file = nullptr;
  if (std::string dir = v1_own("cpuacct"); !dir.empty()) {
    usage_dir = dir;
    usage_file = "cpuacct.usage";
  } else if (!v2_dir.empty()) {
    usage_dir = v2_dir;
    usage_file = "cpu.stat";
    files.cpu_usage_v2 = true;
  }
  if (usage_file != nullptr) {
    files.cpu_usage = absl::StrCat(usage_dir, "/", usage_file);
    if (Exists(absl::StrCat(usage_dir, "/emulator/", usage_file))) {
      files.emulator_usage = absl::StrCat(usage_dir, "/emulator/", usage_file);
    }
    for (const std::string& dir : VcpuDirs(usage_dir)) {
      files.vcpu_usage.push_back(absl::StrCat(dir, "/", usage_file));
    }
  }
  std::string throttling_dir;
  if (std::string dir = v1_own("cpu"); !dir.empty()) {
    throttling_dir = dir;
  } else if (!v2_dir.empty()) {
    throttling_dir = v2_dir;
    files.throttling_v2 = true;
  }
  if (!throttling_dir.empty()) {
    files.throttling = throttling_dir + "/cpu.stat";
    if (Exists(throttling_dir + "/emulator/cpu.stat")) {
      files.emulator_throttling = throttling_dir + "/emulator/cpu.stat";
    }
    for (const std::string& dir : VcpuDirs(throttling_dir)) {
      files.vcpu_throttling.push_back(dir + "/cpu.stat");
    }
  }
  if (std::string dir = v1_own("memory"); !dir.empty()) {
    files.memory_dir = dir;
  } else if (!v2_dir.empty() && Exists(v2_dir + "/memory.current")) {
    files.memory_dir = v2_dir;
    files.memory_v2 = true;
  }
  if (files.cpu_usage.empty() && files.memory_dir.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "QEMU process ", pid, ": no mounted CPU or memory cgroup shows its directory ", own));
  }
  return files;
}

absl::StatusOr<CgroupSample> CgroupFs::Read(const DomainCgroupFiles& files) const {
  CgroupSample s;
  if (!files.cpu_usage.empty()) {
    absl::StatusOr<uint64_t> ns =
        ParseUsage(files.cpu_usage, ReadFile(files, files.cpu_usage), files.cpu_usage_v2);
    if (!ns.ok()) return ns.status();
    s.cpu_ns = *ns;
    // Children: absent figures rather than a failed sample.
    if (!files.emulator_usage.empty()) {
      if (absl::StatusOr<uint64_t> e = ParseUsage(
              files.emulator_usage, ReadFile(files, files.emulator_usage), files.cpu_usage_v2);
          e.ok()) {
        s.emulator_ns = *e;
      }
    }
    for (const std::string& path : files.vcpu_usage) {
      absl::StatusOr<uint64_t> v = ParseUsage(path, ReadFile(files, path), files.cpu_usage_v2);
      if (!v.ok()) {
        s.vcpu_ns.clear();
        break;
      }
      s.vcpu_ns.push_back(*v);
    }
  }
  if (!files.throttling.empty()) {
    // When the v1 file shares the usage file (v2), it has been read above;
    // reading again keeps the code one shape and costs one small read.
    absl::StatusOr<std::string> text = ReadFile(files, files.throttling);
    if (text.ok()) s.throttling = ThrottlingFromCpuStat(KeyedValues(*text), files.throttling_v2);
    if (!files.emulator_throttling.empty()) {
      text = ReadFile(files, files.emulator_throttling);
      if (text.ok()) {
        s.emulator_throttling = ThrottlingFromCpuStat(KeyedValues(*text), files.throttling_v2);
      }
    }
    // Summed over the vCPUs; one unreadable vCPU leaves the sum unknown.
    std::vector<CgroupThrottling> vcpus;
    for (const std::string& path : files.vcpu_throttling) {
      text = ReadFile(files, path);
      if (!text.ok()) break;
      vcpus.push_back(ThrottlingFromCpuStat(KeyedValues(*text), files.throttling_v2));
    }
    if (!vcpus.empty() && vcpus.size() == files.vcpu_throttling.size()) {
      s.vcpu_throttling = SumThrottling(vcpus);
    }
  }
  if (!files.memory_dir.empty()) {
    const std::string& d = files.memory_dir;
    absl::StatusOr<std::string> usage =
        ReadFile(files, d + (files.memory_v2 ? "/memory.current" : "/memory.usage_in_bytes"));
    if (!usage.ok()) return usage.status();
    absl::StatusOr<std::string> stat = ReadFile(files, d + "/memory.stat");
    if (!stat.ok()) return stat.status();
    absl::StatusOr<std::string> limit =
        ReadFile(files, d + (files.memory_v2 ? "/memory.max" : "/memory.limit_in_bytes"));
    const std::optional<uint64_t> limit_value =
        limit.ok() ? ParseSingleValue(*limit) : std::nullopt;
    s.memory = files.memory_v2
                   ? MemoryFromV2(ParseSingleValue(*usage), KeyedValues(*stat), limit_value)
                   : MemoryFromV1(ParseSingleValue(*usage), KeyedValues(*stat), limit_value);
  }
  return s;
}

}  // namespace vmmap
