// Pull throughput: the image store's registry pull (download, verify, unpack,
// inspect, commit) against `skopeo copy docker://… dir:…` (download and
// verify only) of the same containerDisk image from the same loopback
// docker-registry, alternating, in one run. Prints medians and the ratio.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/images/image_store.h"
#include "tests/images/test_util.h"

namespace {

namespace fs = std::filesystem;
using vmmap::images_test::Sh;

[[noreturn]] void Die(const std::string& why) {
  std::cerr << "vmmap_pull_bench: " << why << "\n";
  exit(1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int size_mib = 128, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int* target = flag == "--size-mib" ? &size_mib : flag == "--rounds" ? &rounds : nullptr;
    if (target == nullptr || !absl::SimpleAtoi(argv[i + 1], target) || *target < 1) {
      Die("usage: vmmap_pull_bench [--size-mib N] [--rounds N]");
    }
  }
  if (Sh("command -v docker-registry skopeo >/dev/null") != 0) {
    Die("needs docker-registry and skopeo (scripts/install-deps.sh)");
  }
  char tmpl[] = "/var/tmp/vmmap-pull-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  const std::string work = tmpl;
  const std::string script = std::string(VMMAP_SOURCE_DIR) + "/tests/images/registry.sh";
  const int port = vmmap::images_test::UnusedPort();
  struct Cleanup {
    std::string script, work;
    ~Cleanup() {
      Sh(script + " stop " + work + "/registry");
      std::error_code ec;
      fs::remove_all(work, ec);
    }
  } cleanup{script, work};
  if (Sh(absl::StrCat(script, " start ", work, "/registry ", port)) != 0) Die("registry start");

  // Random bytes: gzip cannot shrink them, so both sides move size_mib MiB.
  fs::create_directories(work + "/rootfs/disk");
  if (Sh(absl::StrCat("head -c ", size_mib, "M /dev/urandom > ", work, "/rootfs/disk/disk.raw")) !=
          0 ||
      Sh(absl::StrCat(script, " layout ", work, "/layout v ", work, "/rootfs >/dev/null")) != 0) {
    Die("building the image");
  }
  const std::string ref = absl::StrCat("127.0.0.1:", port, "/vmmap/bench:1");
  if (Sh(absl::StrCat(script, " push ", work, "/layout v ", ref)) != 0) Die("skopeo push");

  std::vector<double> vmmap_s, skopeo_s;
  for (int round = 0; round < rounds; ++round) {
    {
      const std::string root = absl::StrCat(work, "/store-", round);
      auto store = vmmap::ImageStore::Open(root);
      if (!store.ok()) Die(std::string(store.status().message()));
      const auto start = std::chrono::steady_clock::now();
      auto pulled = (*store)->Pull(ref);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (!pulled.ok()) Die(std::string(pulled.status().message()));
      vmmap_s.push_back(took.count());
      store->reset();
      std::error_code ec;
      fs::remove_all(root, ec);
    }
    {
      const std::string dest = absl::StrCat(work, "/skopeo-", round);
      const auto start = std::chrono::steady_clock::now();
      if (Sh(absl::StrCat("skopeo copy --quiet --src-tls-verify=false docker://", ref,
                          " dir:", dest)) != 0) {
        Die("skopeo copy");
      }
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      skopeo_s.push_back(took.count());
      std::error_code ec;
      fs::remove_all(dest, ec);
    }
  }
  const double v = Median(vmmap_s), s = Median(skopeo_s);
  std::cout
      << std::fixed << std::setprecision(2) << "pull of a " << size_mib
      << " MiB containerDisk (gzip layer of random bytes) from "
      << "docker-registry on loopback, median of " << rounds << " rounds:\n"
      << "  vmmap ImageStore::Pull (download, verify, gunzip, unpack, qemu-img info, commit): " << v
      << " s, " << size_mib / v << " MiB/s\n"
      << "  skopeo copy docker:// dir: (download, verify)                              : " << s
      << " s, " << size_mib / s << " MiB/s\n"
      << "  ratio vmmap/skopeo time: " << v / s << "\n";
  return 0;
}
