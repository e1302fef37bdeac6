// Issue 12's bench: fio inside a VM pod on a virtio-fs share, on a 9p share,
// and on the host directory directly, in one run, with the ratios.
//
//  - Debian's fio (host package `fio`) reaches the guests through a second,
//    read-only share: the binary, its ldd libraries and the loader copied to
//    one directory (80 MB of libraries would not fit the test initramfs), run
//    as `<dir>/ld-linux-x86-64.so.2 --library-path <dir> <dir>/fio`.
//  - Both guests boot Debian's generic kernel (the cloud kernel of the other
//    tests has no 9p), unpacked by scripts/install-deps.sh.
//  - Pod "fio-vfs" gets its data share through virtio-fs (cache=none), pod
//    "fio-9p" through 9p (vmmap.io/shared-fs: 9p). Both are 1 vCPU, 1000m,
//    512 MiB, TCG, default emulator slice (virtiofsd and QEMU's 9p server run
//    in the emulator's cgroup: that slice bounds both). --overhead-milli E
//    declares a RuntimeClass CPU overhead of E on both pods: the ceiling
//    grows by E and the emulator (with virtiofsd) gets E instead of the
//    node's 100m, to see whether that slice is what bounds virtio-fs.
//  - Host: the same fio, same jobs, on a directory of the same file system.
// Jobs (psync, one job each, a SIZE-MiB file, time-based SECONDS): sequential
// read and write with 1 MiB blocks, random read and write with 4 KiB blocks.
// direct=0 everywhere: the data ends in the host's page cache in all three
// cases (virtiofsd and QEMU use it too), which is what a pod sees.
//
// For each virtio-fs job it also prints how often the emulator's slice
// throttled (cpu.stat of the domain's `emulator` cgroup) and virtiofsd's CPU.
//
// usage: vmmap_volumes_fio_bench [--seconds N] [--size-mib M] [--overhead-milli E]
//        (defaults 10, 64, 0)
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "bench/e2e_harness.h"
#include "tests/volumes/pod_probes.h"

namespace vmmap::bench {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

struct Job {
  const char* name;
  const char* rw;
  const char* bs;
  bool write;
};
constexpr Job kJobs[] = {{"seq-read", "read", "1m", false},
                         {"seq-write", "write", "1m", true},
                         {"rand-read", "randread", "4k", false},
                         {"rand-write", "randwrite", "4k", true}};

struct Figure {
  double iops = -1;
  double mib_s = -1;
};

std::string Work() { return GetFixtures().work_dir + "/fiobench"; }

// fio, its libraries and the loader in one flat directory.
bool MakeFioBundle(const std::string& dir) {
  fs::create_directories(dir);
  const std::string script = "set -e; cp -L /usr/bin/fio '" + dir +
                             "/fio'; for lib in $(ldd /usr/bin/fio | awk '/=> \\// {print $3} "
                             "/^[[:space:]]*\\/[^ ]*ld-linux/ "
                             "{print $1}'); do cp -L \"$lib\" '" +
                             dir + "/'; done; chmod -R a+rX '" + dir + "'";
  return e2e::ShellStatus(script) == 0;
}

std::vector<std::string> FioArgs(const std::string& fio, const std::string& directory,
                                 const Job& job, int seconds, int size_mib) {
  return {fio,
          "--name=" + std::string(job.name),
          "--directory=" + directory,
          "--rw=" + std::string(job.rw),
          "--bs=" + std::string(job.bs),
          "--size=" + std::to_string(size_mib) + "m",
          "--ioengine=psync",
          "--direct=0",
          "--time_based",
          "--runtime=" + std::to_string(seconds),
          "--output-format=json"};
}

Figure Parse(const std::string& json_text, const Job& job) {
  Figure f;
  const size_t start = json_text.find('{');
  if (start == std::string::npos) return f;
  nlohmann::json j = nlohmann::json::parse(json_text.substr(start), nullptr, false);
  if (j.is_discarded() || !j.contains("jobs") || j["jobs"].empty()) return f;
  const nlohmann::json& side = j["jobs"][0][job.write ? "write" : "read"];
  f.iops = side.value("iops", -1.0);
  f.mib_s = side.value("bw", -1.0) / 1024.0;  // fio's bw is KiB/s
  return f;
}

Figure RunInGuest(ServerProcess& server, const std::string& container_id, const Job& job,
                  int seconds, int size_mib) {
  v1::ExecSyncRequest request;
  request.set_container_id(container_id);
  std::vector<std::string> args = FioArgs("/opt/fio/fio", "/bench", job, seconds, size_mib);
  request.add_cmd("/opt/fio/ld-linux-x86-64.so.2");
  request.add_cmd("--library-path");
  request.add_cmd("/opt/fio");
  for (const std::string& a : args) request.add_cmd(a);
  request.set_timeout(1800);
  v1::ExecSyncResponse response;
  grpc::Status s =
      server.runtime().ExecSync(Context(std::chrono::seconds(1900)).get(), request, &response);
  if (!s.ok() || response.exit_code() != 0) {
    std::cerr << job.name << " in " << container_id << ": " << s.error_message() << " exit "
              << response.exit_code() << "\n"
              << response.stderr() << "\n";
    return {};
  }
  return Parse(response.stdout(), job);
}

Figure RunOnHost(const std::string& dir, const Job& job, int seconds, int size_mib) {
  std::string command;
  for (const std::string& a : FioArgs("/usr/bin/fio", dir, job, seconds, size_mib)) {
    command += "'" + a + "' ";
  }
  const std::string out = e2e::Shell(command + "2>/dev/null");
  return Parse(out, job);
}

v1::Mount MountOf(const std::string& guest, const std::string& host, bool ro) {
  v1::Mount m;
  m.set_container_path(guest);
  m.set_host_path(host);
  m.set_readonly(ro);
  return m;
}

int Run(int seconds, int size_mib, int overhead_milli) {
  const std::string bundle = Work() + "/fio-bundle";
  if (!MakeFioBundle(bundle)) {
    std::cerr << "cannot copy fio and its libraries (apt-get install fio)\n";
    return 1;
  }
  for (const char* d : {"/data-vfs", "/data-9p", "/data-host"}) {
    fs::create_directories(Work() + d);
    fs::permissions(Work() + d, fs::perms::all);
  }
  ServerProcess server(Work() + "/state", ServerOptions{});
  server.Start();
  // Both pods boot Debian's generic kernel (the cloud kernel has no 9p),
  // unpacked by scripts/install-deps.sh.
  const std::string kernel_root = e2e::Shell(
      "ls -1d /opt/vmmap-tools/kernels/*/boot 2>/dev/null | sort -V | tail -n 1 | xargs -r dirname "
      "| tr -d '\\n'");
  if (kernel_root.empty()) {
    std::cerr << "no kernel with 9p under /opt/vmmap-tools/kernels (run scripts/install-deps.sh)\n";
    return 1;
  }
  const std::string guest = Work() + "/guest";
  e2e::Shell("GUEST_KERNEL_ROOT='" + kernel_root +
             "' " VMMAP_SOURCE_DIR "/tests/e2e/guest/build-guest.sh " + guest +
             " >/dev/null && echo console=ttyS0 > " + guest + "/cmdline && tar -C " + guest +
             " -cf " + guest + ".tar vmlinuz initrd.img cmdline");
  v1::PullImageRequest pull;
  pull.mutable_image()->set_image("file://" + guest + ".tar");
  v1::PullImageResponse pulled;
  if (!server.images().PullImage(Context().get(), pull, &pulled).ok()) {
    std::cerr << "pull of the guest failed\n" << server.log();
    return 1;
  }
  const std::string image = pulled.image_ref();
  e2e::PodRequest vfs_request{"fio-vfs", image, 1000, 512 << 20, 1, {}, {}};
  vfs_request.overhead_cpu_milli = overhead_milli;
  e2e::PodRequest ninep_request = vfs_request;
  ninep_request.name = "fio-9p";
  ninep_request.annotations = {{"vmmap.io/shared-fs", "9p"}};
  const e2e::Pod vfs = e2e::CreatePod(
      server, vfs_request,
      {MountOf("/bench", Work() + "/data-vfs", false), MountOf("/opt/fio", bundle, true)});
  const e2e::Pod ninep = e2e::CreatePod(
      server, ninep_request,
      {MountOf("/bench", Work() + "/data-9p", false), MountOf("/opt/fio", bundle, true)});
  int rc = 0;
  for (const e2e::Pod* pod : {&vfs, &ninep}) {
    if (!e2e::StartContainer(server, pod->container_id).ok()) rc = 1;
  }
  for (const e2e::Pod* pod : {&vfs, &ninep}) {
    const bool up = e2e::WaitFor(
        [&] {
          v1::ExecSyncRequest r;
          r.set_container_id(pod->container_id);
          r.add_cmd("true");
          r.set_timeout(30);
          v1::ExecSyncResponse out;
          return server.runtime().ExecSync(Context().get(), r, &out).ok();
        },
        std::chrono::minutes(5));
    if (!up) {
      std::cerr << pod->name << " did not answer exec\n" << server.log();
      rc = 1;
    }
  }
  // virtiofsd's memory, sampled while the jobs run: the overhead model's
  // per-share term covers it (docs/overhead-measurement.md).
  const std::string views = Work() + "/state/volumes/" + vfs.container_id;
  const std::vector<pid_t> virtiofsd = e2e::VirtiofsdOf(views);
  const std::string emulator = e2e::DomainCgroup("cpu", "fio-vfs") + "/emulator";
  e2e::VirtiofsdMemorySampler sampler(virtiofsd, e2e::DomainCgroup("memory", "fio-vfs"));
  std::string throttling;
  std::printf(
      "fio (psync, 1 job, %d MiB file, %d s each), TCG guests 1 vCPU / 512 MiB, this machine "
      "now (shared with other builds)\n",
      size_mib, seconds);
  std::printf("%-11s %12s %12s %12s %12s %12s %12s %9s %9s\n", "job", "host IOPS", "host MiB/s",
              "vfs IOPS", "vfs MiB/s", "9p IOPS", "9p MiB/s", "vfs/host", "9p/host");
  for (const Job& job : kJobs) {
    const Figure host = RunOnHost(Work() + "/data-host", job, seconds, size_mib);
    const e2e::CpuStat before = e2e::CpuStatsUnder(emulator)[""];
    double virtiofsd_cpu = 0;
    for (pid_t pid : virtiofsd) virtiofsd_cpu -= e2e::CpuSeconds(pid);
    const Figure v =
        rc == 0 ? RunInGuest(server, vfs.container_id, job, seconds, size_mib) : Figure{};
    for (pid_t pid : virtiofsd) virtiofsd_cpu += e2e::CpuSeconds(pid);
    const e2e::CpuStat after = e2e::CpuStatsUnder(emulator)[""];
    char line[200];
    std::snprintf(line, sizeof line,
                  "%-11s emulator throttled in %lld of %lld periods (%lld ms), virtiofsd %.2f "
                  "CPU-s\n",
                  job.name, static_cast<long long>(after.nr_throttled - before.nr_throttled),
                  static_cast<long long>(after.nr_periods - before.nr_periods),
                  static_cast<long long>((after.throttled_ns - before.throttled_ns) / 1000000),
                  virtiofsd_cpu);
    throttling += line;
    const Figure n =
        rc == 0 ? RunInGuest(server, ninep.container_id, job, seconds, size_mib) : Figure{};
    auto ratio = [&](const Figure& f) {
      return host.iops > 0 && f.iops > 0 ? f.iops / host.iops : -1;
    };
    std::printf("%-11s %12.0f %12.1f %12.0f %12.1f %12.0f %12.1f %9.4f %9.4f\n", job.name,
                host.iops, host.mib_s, v.iops, v.mib_s, n.iops, n.mib_s, ratio(v), ratio(n));
    if (host.iops < 0 || v.iops < 0 || n.iops < 0) rc = 1;
  }
  sampler.Stop();
  const e2e::VirtiofsdMemorySampler::Peaks peaks = sampler.peaks();
  std::printf(
      "fio-vfs, emulator slice %d m:\n%svirtiofsd of fio-vfs (2 shares, %zu processes): peak "
      "RssAnon %lld KiB in all, kernel memory growth of the domain %lld KiB, open fds %lld\n",
      overhead_milli > 0 ? overhead_milli : 100, throttling.c_str(), virtiofsd.size(),
      static_cast<long long>(peaks.private_kib), static_cast<long long>(peaks.kernel_growth_kib),
      static_cast<long long>(peaks.open_fds));
  for (const e2e::Pod* pod : {&vfs, &ninep}) e2e::RemovePod(server, *pod);
  return rc;
}

}  // namespace
}  // namespace vmmap::bench

int main(int argc, char** argv) {
  int seconds = 10;
  int size_mib = 64;
  int overhead_milli = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: %s [--seconds N] [--size-mib M] [--overhead-milli E]   per job, 1..600 [10]; "
          "file 1..4096 [64]; RuntimeClass CPU overhead 0..2000 [0]\n",
          argv[0]);
      return 0;
    }
    if ((arg == "--seconds" || arg == "--size-mib" || arg == "--overhead-milli") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      const long min = arg == "--overhead-milli" ? 0 : 1;
      const long max = arg == "--seconds" ? 600 : arg == "--size-mib" ? 4096 : 2000;
      if (end == nullptr || *end != '\0' || v < min || v > max) {
        std::fprintf(stderr, "%s \"%s\": expected %ld..%ld\n", arg.c_str(), argv[i], min, max);
        return 2;
      }
      (arg == "--seconds"    ? seconds
       : arg == "--size-mib" ? size_mib
                             : overhead_milli) = static_cast<int>(v);
      continue;
    }
    std::fprintf(stderr, "unknown argument \"%s\" (try --help)\n", arg.c_str());
    return 2;
  }
  const int rc = vmmap::bench::Run(seconds, size_mib, overhead_milli);
  vmmap::e2e::CleanUpFixtures();
  return rc;
}
