#include "tests/volumes/pod_probes.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <utility>

#include "tests/e2e/harness.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;

int64_t FileInt(const std::string& path) {
  const std::string text = ReadFileOrEmpty(path);
  return text.empty() ? 0 : std::stoll(text);
}

std::string ProcFile(pid_t pid, const char* name) {
  return ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/" + name);
}

}  // namespace

std::vector<pid_t> VirtiofsdOf(const std::string& views_dir) {
  std::vector<pid_t> pids;
  const std::string needle = "source=" + views_dir + "/";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFileOrEmpty(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

double CpuSeconds(pid_t pid) {
  const std::string stat = ProcFile(pid, "stat");
  const size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  int64_t ticks = 0;
  // Fields 14 and 15 of proc(5): utime and stime; `rest` starts at field 3.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::stoll(field);
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::set<pid_t> ProcessesUnder(const std::string& dir) {
  std::set<pid_t> pids;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() != "cgroup.procs") continue;
    std::istringstream procs(ReadFileOrEmpty(it->path().string()));
    for (pid_t pid; procs >> pid;) pids.insert(pid);
  }
  return pids;
}

int64_t StatusKib(pid_t pid, const std::string& field) {
  std::istringstream lines(ProcFile(pid, "status"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return 0;
}

int64_t OpenFds(pid_t pid) {
  std::error_code ec;
  int64_t n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

std::map<std::string, CpuStat> CpuStatsUnder(const std::string& dir) {
  std::map<std::string, CpuStat> stats;
  auto read = [&](const fs::path& cgroup) {
    std::string name = fs::relative(cgroup, dir).string();
    CpuStat& s = stats[name == "." ? "" : name];
    std::istringstream lines(ReadFileOrEmpty((cgroup / "cpu.stat").string()));
    std::string key;
    for (int64_t value; lines >> key >> value;) {
      if (key == "nr_periods") s.nr_periods = value;
      if (key == "nr_throttled") s.nr_throttled = value;
      if (key == "throttled_time") s.throttled_ns = value;
    }
  };
  read(dir);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory()) read(it->path());
  }
  return stats;
}

VirtiofsdMemorySampler::VirtiofsdMemorySampler(std::vector<pid_t> pids, std::string memory_dir)
    : pids_(std::move(pids)),
      memory_dir_(std::move(memory_dir)),
      kmem_at_start_(FileInt(memory_dir_ + "/memory.kmem.usage_in_bytes")) {
  thread_ = std::thread([this] {
    while (running_) {
      SampleOnce();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
}

VirtiofsdMemorySampler::~VirtiofsdMemorySampler() { Stop(); }

void VirtiofsdMemorySampler::Stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

VirtiofsdMemorySampler::Peaks VirtiofsdMemorySampler::peaks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peaks_;
}

void VirtiofsdMemorySampler::SampleOnce() {
  int64_t private_kib = 0;
  int64_t fds = 0;
  for (pid_t pid : pids_) {
    private_kib += StatusKib(pid, "RssAnon");
    fds += OpenFds(pid);
  }
  const int64_t kernel_kib =
      std::max<int64_t>(0, FileInt(memory_dir_ + "/memory.kmem.usage_in_bytes") - kmem_at_start_) /
      1024;
  std::lock_guard<std::mutex> lock(mu_);
  peaks_.private_kib = std::max(peaks_.private_kib, private_kib);
  peaks_.kernel_growth_kib = std::max(peaks_.kernel_growth_kib, kernel_kib);
  peaks_.total_kib = std::max(peaks_.total_kib, private_kib + kernel_kib);
  peaks_.open_fds = std::max(peaks_.open_fds, fds);
  ++peaks_.samples;
}

}  // namespace vmmap::e2e
