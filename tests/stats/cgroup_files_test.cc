// The cgroup and /proc parsers on literal file contents (copied from this
// project's machine and from a cgroup v2 host), and CgroupFs::Locate on a
// fake v2 tree.
#include "server/stats/cgroup_files.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/stats/domain_cgroup.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

TEST(CgroupFilesTest, KeyedValuesAndSingleValues) {
  const KeyedValues stat("usage_usec 368291\nuser_usec 122718\nbad line here\nx -1\n\n");
  EXPECT_EQ(stat.Get("usage_usec"), 368291u);
  EXPECT_EQ(stat.Get("user_usec"), 122718u);
  EXPECT_EQ(stat.Get("bad"), std::nullopt) << "not a number";
  EXPECT_EQ(stat.Get("x"), std::nullopt) << "not unsigned";
  EXPECT_EQ(stat.Get("usec"), std::nullopt) << "a key is matched whole, at a line start";
  EXPECT_EQ(stat.Get("usage"), std::nullopt);
  EXPECT_EQ(stat.Get(""), std::nullopt);
  // memory.stat v1 has both "rss" and "total_rss", "rss_huge" after them.
  const KeyedValues memory("rss_huge 1\ntotal_rss 7\nrss 5\n");
  EXPECT_EQ(memory.Get("rss"), 5u);
  EXPECT_EQ(memory.Get("total_rss"), 7u);
  EXPECT_EQ(KeyedValues("last 9").Get("last"), 9u) << "no final newline";
  EXPECT_EQ(KeyedValues().Get("rss"), std::nullopt);
  EXPECT_EQ(ParseSingleValue("18636800\n"), 18636800u);
  EXPECT_EQ(ParseSingleValue("max\n"), std::nullopt);
  EXPECT_EQ(ParseSingleValue(""), std::nullopt);
}

TEST(CgroupFilesTest, ProcCgroupOfAQemuOnAHybridHost) {
  auto entries = ParseProcCgroup(
      "9:name=systemd:/\n4:memory:/machine/qemu-1-a.libvirt-qemu\n2:cpuacct:/\n"
      "1:cpu:/machine/qemu-1-a.libvirt-qemu/emulator\n0::/machine/qemu-1-a.libvirt-qemu/emulator\n"
      "garbage\n");
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[1].hierarchy, 4);
  EXPECT_THAT(entries[1].controllers, ElementsAre("memory"));
  EXPECT_EQ(entries[4].hierarchy, 0);
  EXPECT_TRUE(entries[4].controllers.empty());
  EXPECT_EQ(entries[4].path, "/machine/qemu-1-a.libvirt-qemu/emulator");
}

TEST(CgroupFilesTest, CgroupMountsFromMountinfo) {
  auto mounts = ParseCgroupMounts(
      "30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
      "34 30 0:30 /sub /mnt/sub rw - cgroup cgroup rw,name=systemd,release_agent=/x\n");
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[0].mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_THAT(mounts[0].controllers, ElementsAre("cpu", "cpuacct"));
  EXPECT_TRUE(mounts[2].v2);
  EXPECT_EQ(mounts[3].root, "/sub");
  EXPECT_THAT(mounts[3].controllers, ElementsAre("name=systemd"));
}

TEST(CgroupFilesTest, MemoryAsCadvisorComputesIt) {
  CgroupMemory v1 =
      MemoryFromV1(1000,
                   KeyedValues("total_inactive_file 300\ntotal_rss 600\ntotal_cache 400\n"
                               "inactive_file 9\ntotal_pgfault 7\ntotal_pgmajfault 1\n"),
                   9223372036854771712ull);
  EXPECT_EQ(v1.working_set, 700u);
  EXPECT_EQ(v1.rss, 600u);
  EXPECT_EQ(v1.cache, 400u);
  EXPECT_EQ(v1.limit, std::nullopt) << "v1's unlimited is no limit";
  EXPECT_EQ(v1.page_faults, 7u);
  CgroupMemory v2 = MemoryFromV2(
      1000, KeyedValues("anon 500\nfile 450\ninactive_file 1200\npgfault 3\npgmajfault 0\n"), 4096);
  EXPECT_EQ(v2.working_set, 0u) << "floored at zero";
  EXPECT_EQ(v2.rss, 500u);
  EXPECT_EQ(v2.limit, 4096u);
  CgroupMemory no_stat = MemoryFromV1(1000, {}, std::nullopt);
  EXPECT_EQ(no_stat.working_set, 1000u);
}

TEST(CgroupFilesTest, ThrottlingAndUsageUnits) {
  auto v1 = ThrottlingFromCpuStat(
      KeyedValues("nr_periods 81\nnr_throttled 80\nthrottled_time 5000\n"), false);
  EXPECT_EQ(v1.nr_throttled, 80u);
  EXPECT_EQ(v1.throttled_ns, 5000u);
  auto v2 =
      ThrottlingFromCpuStat(KeyedValues("nr_periods 2\nnr_throttled 1\nthrottled_usec 5\n"), true);
  EXPECT_EQ(v2.throttled_ns, 5000u);
  EXPECT_EQ(UsageFromV2CpuStat(KeyedValues("usage_usec 3\n")), 3000u);
}

TEST(CgroupFilesTest, ThrottlingSumsAreUnknownWhenAPartIs) {
  const CgroupThrottling a{4, 1, 100}, b{4, 2, 300};
  const CgroupThrottling sum = SumThrottling({a, b});
  EXPECT_EQ(sum.nr_periods, 8u);
  EXPECT_EQ(sum.nr_throttled, 3u);
  EXPECT_EQ(sum.throttled_ns, 400u);
  const CgroupThrottling partial = SumThrottling({a, CgroupThrottling{4, std::nullopt, 1}});
  EXPECT_EQ(partial.nr_throttled, std::nullopt);
  EXPECT_EQ(partial.throttled_ns, 101u);
}

TEST(CgroupFilesTest, UuidFromQemuCmdline) {
  const std::string cmdline("qemu\0-name\0guest=a\0-uuid\0AB-CD\0-S\0", 34);
  EXPECT_EQ(UuidFromCmdline(cmdline), "ab-cd");
  EXPECT_EQ(UuidFromCmdline(std::string("bash\0-c\0x\0", 10)), std::nullopt);
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A systemd cgroup v2 host: libvirt puts the threads below the scope's
// "libvirt" child; everything is in one hierarchy.
TEST(DomainCgroupTest, LocatesADomainOnACgroupV2Host) {
  const fs::path dir = fs::temp_directory_path() / ("vmmap-cgroup-v2-" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string cg = "/machine.slice/machine-qemu\\x2d1\\x2da.scope/libvirt";
  Write(dir / "proc/42/cgroup", "0::" + cg + "/emulator\n");
  const fs::path d = dir / ("cg" + cg);
  Write(d / "cpu.stat", "usage_usec 10\nnr_periods 4\nnr_throttled 2\nthrottled_usec 7\n");
  Write(d / "emulator/cpu.stat", "usage_usec 3\nnr_throttled 6\nthrottled_usec 9\n");
  Write(d / "vcpu0/cpu.stat", "usage_usec 4\nnr_throttled 1\nthrottled_usec 2\n");
  Write(d / "vcpu1/cpu.stat", "usage_usec 5\nnr_throttled 10\nthrottled_usec 20\n");
  Write(d / "memory.current", "2048\n");
  Write(d / "memory.max", "max\n");
  Write(d / "memory.stat", "anon 1024\nfile 512\ninactive_file 256\n");
  CgroupFs fs_((dir / "proc").string(), {{(dir / "cg").string(), "/", true, {}}});
  auto files = fs_.Locate(42);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE(files->cpu_usage_v2);
  EXPECT_TRUE(files->memory_v2);
  EXPECT_EQ(files->vcpu_usage.size(), 2u);
  auto sample = fs_.Read(*files);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->cpu_ns, 10000u);
  EXPECT_EQ(sample->emulator_ns, 3000u);
  EXPECT_THAT(sample->vcpu_ns, ElementsAre(4000u, 5000u));
  EXPECT_EQ(sample->throttling.nr_throttled, 2u);
  EXPECT_EQ(sample->throttling.throttled_ns, 7000u);
  // The emulator's and the vCPUs' own quotas (vCPUs summed).
  EXPECT_EQ(sample->emulator_throttling.nr_throttled, 6u);
  EXPECT_EQ(sample->emulator_throttling.throttled_ns, 9000u);
  EXPECT_EQ(sample->vcpu_throttling.nr_throttled, 11u);
  EXPECT_EQ(sample->vcpu_throttling.throttled_ns, 22000u);
  EXPECT_EQ(sample->memory.working_set, 1792u);
  EXPECT_EQ(sample->memory.limit, std::nullopt);
  // The process gone: NotFound, not a crash or a zero.
  EXPECT_TRUE(absl::IsNotFound(fs_.Locate(43).status()));
  // Its files gone (the domain stopped): the read fails. (On cgroupfs a kept
  // descriptor of a removed cgroup fails too, with ENODEV; a plain file's
  // does not, hence a fresh entry here.)
  fs::remove_all(d);
  DomainCgroupFiles fresh = *files;
  fresh.open.reset();
  EXPECT_FALSE(fs_.Read(fresh).ok());
  fs::remove_all(dir);
}

TEST(DomainCgroupTest, AProcessInTheRootCgroupIsNoDomain) {
  const fs::path dir =
      fs::temp_directory_path() / ("vmmap-cgroup-root-" + std::to_string(getpid()));
  fs::remove_all(dir);
  Write(dir / "proc/7/cgroup", "4:memory:/\n0::/\n");
  CgroupFs fs_((dir / "proc").string(), {{(dir / "cg").string(), "/", true, {}}});
  EXPECT_TRUE(absl::IsFailedPrecondition(fs_.Locate(7).status()));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vmmap
