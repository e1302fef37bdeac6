// CRI mounts → shares (mapper/shared_dirs.h), their place in the plan and the
// domain XML (accepted by libvirt's parser and schema), and the guest's mount
// instructions on a kernel image's command line.
#include <pugixml.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/domain_xml.h"
#include "mapper/planner.h"
#include "mapper/shared_dirs.h"
#include "server/runtime/container_layout.h"
#include "tests/mapper/domain_xml_test_support.h"

namespace vmmap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

VolumeMount Mount(std::string guest, std::string host, bool ro = false) {
  VolumeMount m;
  m.container_path = std::move(guest);
  m.host_path = std::move(host);
  m.read_only = ro;
  return m;
}

VolumeMount FileMount(std::string guest, std::string host, bool ro = false) {
  VolumeMount m = Mount(std::move(guest), std::move(host), ro);
  m.host_kind = HostPathKind::kFile;
  return m;
}

absl::Status PlanError(const std::vector<VolumeMount>& mounts, const Annotations& a = {}) {
  return PlanSharedDirectories(mounts, a).status();
}

TEST(SharedDirectories, OneTaggedSharePerMountWithNormalisedPaths) {
  absl::StatusOr<std::vector<SharedDirectory>> shares = PlanSharedDirectories(
      {Mount("/etc/config/", "/k/cm", true), Mount("//data//x", "/k/empty")}, {});
  ASSERT_TRUE(shares.ok()) << shares.status();
  ASSERT_EQ(shares->size(), 2u);
  EXPECT_EQ((*shares)[0].tag, "vol0");
  EXPECT_EQ((*shares)[0].guest_path, "/etc/config");
  EXPECT_EQ((*shares)[0].source_dir, "/k/cm");
  EXPECT_TRUE((*shares)[0].read_only);
  EXPECT_EQ((*shares)[0].driver, SharedFsDriver::kVirtiofs);
  EXPECT_EQ((*shares)[1].tag, "vol1");
  EXPECT_EQ((*shares)[1].guest_path, "/data/x");
  EXPECT_FALSE((*shares)[1].read_only);
}

TEST(SharedDirectories, BadMountsAreRefusedNamingTheFieldAndValue) {
  struct Case {
    VolumeMount mount;
    std::string want;
  } cases[] = {
      {Mount("etc/config", "/k"), "mounts[0].container_path \"etc/config\": must be an absolute"},
      {Mount("/a/../etc", "/k"), "mounts[0].container_path \"/a/../etc\": must not contain"},
      {Mount("/a/./b", "/k"), "must not contain"},
      {Mount("/", "/k"), "cannot replace the guest's root"},
      {Mount("/a\nb", "/k"), "only printable ASCII"},
      {Mount("/" + std::string(300, 'a'), "/k"), "over the limit of 256"},
      {Mount("/data", "relative"), "mounts[0].host_path \"relative\": must be an absolute"},
      {Mount("/data", ""), "mounts[0].host_path"},
  };
  for (const Case& c : cases) {
    absl::Status s = PlanError({c.mount});
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.mount.container_path;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.want)) << c.mount.container_path;
  }
  absl::Status dup = PlanError({Mount("/data", "/a"), Mount("/data/", "/b")});
  EXPECT_THAT(std::string(dup.message()),
              HasSubstr("mounts[1].container_path \"/data/\": another"));
  std::vector<VolumeMount> many;
  for (int i = 0; i < 17; ++i) many.push_back(Mount("/m" + std::to_string(i), "/k"));
  EXPECT_THAT(std::string(PlanError(many).message()),
              HasSubstr("17 mounts, over vmmap's limit of 16"));
  absl::Status fs = PlanError({Mount("/d", "/k")}, {{"vmmap.io/shared-fs", "nfs"}});
  EXPECT_THAT(std::string(fs.message()),
              HasSubstr("annotation vmmap.io/shared-fs=\"nfs\": expected \"virtiofs\" or \"9p\""));
}

TEST(SharedDirectories, NinePOnRequest) {
  absl::StatusOr<std::vector<SharedDirectory>> shares =
      PlanSharedDirectories({Mount("/d", "/k")}, {{"vmmap.io/shared-fs", "9p"}});
  ASSERT_TRUE(shares.ok());
  EXPECT_EQ((*shares)[0].driver, SharedFsDriver::k9p);
}

TEST(SharedDirectories, GuestInstructionPercentEncodesEverythingButSafeBytes) {
  SharedDirectory share{"vol3", "/v", "/etc/my app%1,x", true, SharedFsDriver::kVirtiofs};
  EXPECT_EQ(GuestMountArgument(share), "vmmap.mount=vol3,virtiofs,ro,/etc/my%20app%251%2Cx");
  share.driver = SharedFsDriver::k9p;
  share.read_only = false;
  share.guest_path = "/data/A-b_c.d";
  EXPECT_EQ(GuestMountArgument(share), "vmmap.mount=vol3,9p,rw,/data/A-b_c.d");
}

// What kubelet gives every container, plus a directory: the files go into
// one share, planned after the directories.
TEST(SharedDirectories, FileMountsShareOneFilesShareAfterTheDirectories) {
  absl::StatusOr<std::vector<SharedDirectory>> shares = PlanSharedDirectories(
      {FileMount("/etc/hosts", "/k/etc-hosts", true), Mount("/data", "/k/empty"),
       FileMount("/dev/termination-log", "/k/containers/app/0")},
      {});
  ASSERT_TRUE(shares.ok()) << shares.status();
  ASSERT_EQ(shares->size(), 2u);
  EXPECT_EQ((*shares)[0].tag, "vol1");
  EXPECT_TRUE((*shares)[0].files.empty());
  const SharedDirectory& files = (*shares)[1];
  EXPECT_EQ(files.tag, "files");
  EXPECT_EQ(files.guest_path, "/run/vmmap/files");
  EXPECT_FALSE(files.read_only);  // the termination log is written through it
  ASSERT_EQ(files.files.size(), 2u);
  EXPECT_EQ(files.files[0].tag, "vol0");
  EXPECT_EQ(files.files[0].source_file, "/k/etc-hosts");
  EXPECT_EQ(files.files[0].guest_path, "/etc/hosts");
  EXPECT_TRUE(files.files[0].read_only);
  EXPECT_EQ(files.files[1].tag, "vol2");
  EXPECT_FALSE(files.files[1].read_only);
  // No file mounts, no files share.
  absl::StatusOr<std::vector<SharedDirectory>> dirs =
      PlanSharedDirectories({Mount("/data", "/k/empty")}, {});
  ASSERT_TRUE(dirs.ok());
  ASSERT_EQ(dirs->size(), 1u);
  EXPECT_EQ((*dirs)[0].tag, "vol0");
}

TEST(SharedDirectories, VmmapsStagingPathIsReservedForDirectoriesAndFiles) {
  for (const char* path : {"/run/vmmap", "/run/vmmap/files", "//run/vmmap/files/vol0/"}) {
    for (const VolumeMount& m : {Mount(path, "/k/a"), FileMount(path, "/k/f")}) {
      absl::Status s = PlanError({Mount("/data", "/k/d"), m});
      EXPECT_TRUE(absl::IsInvalidArgument(s)) << path;
      EXPECT_THAT(std::string(s.message()),
                  HasSubstr(std::string("mounts[1].container_path \"") + path + "\": /run/vmmap"))
          << path;
    }
  }
  // Only the directory itself and what is below it.
  EXPECT_TRUE(PlanError({Mount("/run/vmmapx", "/k/a"), Mount("/run", "/k/b")}).ok());
}

TEST(SharedDirectories, FileWordsFollowTheFilesSharesMountWordAfterTheDirectories) {
  absl::StatusOr<std::vector<SharedDirectory>> shares = PlanSharedDirectories(
      {FileMount("/etc/hosts", "/k/h", true), Mount("/etc/config", "/k/cm", true),
       FileMount("/dev/termination log", "/k/t")},
      {{"vmmap.io/shared-fs", "9p"}});
  ASSERT_TRUE(shares.ok()) << shares.status();
  EXPECT_THAT(GuestMountArguments(*shares),
              ::testing::ElementsAre("vmmap.mount=vol1,9p,ro,/etc/config",
                                     "vmmap.mount=files,9p,rw,/run/vmmap/files",
                                     "vmmap.file=/run/vmmap/files/vol0,ro,/etc/hosts",
                                     "vmmap.file=/run/vmmap/files/vol2,rw,/dev/termination%20log"));
  // Disk images: the same steps as argv lists, read-only files remounted ro.
  EXPECT_THAT(
      GuestMountCommands((*shares)[1]),
      ::testing::ElementsAre(
          ::testing::ElementsAre("mkdir", "-p", "/run/vmmap/files"),
          ::testing::ElementsAre("mount", "-t", "9p", "-o", "rw,trans=virtio,version=9p2000.L",
                                 "files", "/run/vmmap/files"),
          ::testing::ElementsAre("mkdir", "-p", "/etc"),
          ::testing::ElementsAre("touch", "/etc/hosts"),
          ::testing::ElementsAre("mount", "--bind", "/run/vmmap/files/vol0", "/etc/hosts"),
          ::testing::ElementsAre("mount", "-o", "remount,bind,ro", "/etc/hosts"),
          ::testing::ElementsAre("mkdir", "-p", "/dev"),
          ::testing::ElementsAre("touch", "/dev/termination log"),
          ::testing::ElementsAre("mount", "--bind", "/run/vmmap/files/vol2",
                                 "/dev/termination log")));
}

PodSandboxInput PodWith(std::vector<VolumeMount> mounts, Annotations annotations = {}) {
  PodSandboxInput in;
  in.identity = {"web", "default", "uid-1", 0, 0};
  in.container_resources.cpu_quota_us = 100000;
  in.container_resources.cpu_period_us = 100000;
  in.container_resources.memory_limit_bytes = 256 << 20;
  in.mounts = std::move(mounts);
  in.annotations = std::move(annotations);
  return in;
}

TEST(SharedDirectories, EachVirtiofsShareAddsItsTermToHardLimitAndSharesGuestMemory) {
  NodeConfig node;
  absl::StatusOr<DomainPlan> none = PlanDomain(PodWith({}), node);
  absl::StatusOr<DomainPlan> two =
      PlanDomain(PodWith({Mount("/a", "/k/a"), Mount("/b", "/k/b", true)}), node);
  absl::StatusOr<DomainPlan> ninep = PlanDomain(
      PodWith({Mount("/a", "/k/a"), Mount("/b", "/k/b")}, {{"vmmap.io/shared-fs", "9p"}}), node);
  ASSERT_TRUE(none.ok() && two.ok() && ninep.ok());
  EXPECT_FALSE(none->spec.memory_shared);
  EXPECT_TRUE(two->spec.memory_shared);
  EXPECT_EQ(*two->spec.hard_limit_kib - *none->spec.hard_limit_kib,
            2 * node.overhead.per_virtiofs_share_bytes / 1024);
  // 9p runs inside QEMU: no virtiofsd, no extra term, private guest memory.
  EXPECT_FALSE(ninep->spec.memory_shared);
  EXPECT_EQ(*ninep->spec.hard_limit_kib, *none->spec.hard_limit_kib);
  EXPECT_EQ(ninep->spec.shared_dirs.size(), 2u);
}

// Every pod has /etc/hosts and a termination log: one virtiofsd, one term.
TEST(SharedDirectories, AllFileMountsTogetherPayOneShareTerm) {
  NodeConfig node;
  absl::StatusOr<DomainPlan> none = PlanDomain(PodWith({}), node);
  absl::StatusOr<DomainPlan> files = PlanDomain(
      PodWith({FileMount("/etc/hosts", "/k/h", true), FileMount("/dev/termination-log", "/k/t")}),
      node);
  absl::StatusOr<DomainPlan> files_and_dir = PlanDomain(
      PodWith({FileMount("/etc/hosts", "/k/h", true), FileMount("/dev/termination-log", "/k/t"),
               Mount("/var/run/secrets/kubernetes.io/serviceaccount", "/k/token", true)}),
      node);
  ASSERT_TRUE(none.ok() && files.ok() && files_and_dir.ok());
  const int64_t term_kib = node.overhead.per_virtiofs_share_bytes / 1024;
  EXPECT_TRUE(files->spec.memory_shared);
  EXPECT_EQ(*files->spec.hard_limit_kib - *none->spec.hard_limit_kib, term_kib);
  EXPECT_EQ(*files_and_dir->spec.hard_limit_kib - *none->spec.hard_limit_kib, 2 * term_kib);
  EXPECT_EQ(files_and_dir->spec.shared_dirs.size(), 2u);
  std::string explained;
  for (const auto& step : files_and_dir->explanation.steps) {
    if (step.target == "devices/filesystem") explained = step.value;
  }
  EXPECT_EQ(explained, "vol2, files (2 file mounts)");
}

TEST(SharedDirectories, DomainXmlHasTheFilesystemsAndSharedMemfdBackingAndLibvirtAcceptsIt) {
  DomainSpec spec = MinimalDomainSpec("vmmap-volumes-test", "6f1b1c2e-8f4e-4c55-9d0f-1b2c3d4e5f62");
  spec.memory_locked = true;
  spec.hard_limit_kib = 600000;
  spec.memory_shared = true;
  spec.shared_dirs = {
      {"vol0", "/var/lib/vmmap/volumes/c1/vol0", "/etc/config", true, SharedFsDriver::kVirtiofs},
      {"vol1", "/var/lib/vmmap/volumes/c1/vol1", "/data", true, SharedFsDriver::k9p}};
  absl::StatusOr<std::string> xml = RenderDomainXml(spec);
  ASSERT_TRUE(xml.ok()) << xml.status();
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml->c_str()));
  pugi::xml_node backing = doc.child("domain").child("memoryBacking");
  EXPECT_TRUE(backing.child("locked"));
  EXPECT_STREQ(backing.child("source").attribute("type").value(), "memfd");
  EXPECT_STREQ(backing.child("access").attribute("mode").value(), "shared");
  pugi::xml_node fs = doc.child("domain").child("devices").child("filesystem");
  ASSERT_TRUE(fs);
  EXPECT_STREQ(fs.child("driver").attribute("type").value(), "virtiofs");
  EXPECT_STREQ(fs.child("binary").attribute("path").value(), "/usr/lib/qemu/virtiofsd");
  EXPECT_STREQ(fs.child("binary").child("cache").attribute("mode").value(), "none");
  EXPECT_EQ(fs.child("binary").child("thread_pool").attribute("size").as_int(), 0);
  EXPECT_STREQ(fs.child("source").attribute("dir").value(), "/var/lib/vmmap/volumes/c1/vol0");
  EXPECT_STREQ(fs.child("target").attribute("dir").value(), "vol0");
  EXPECT_FALSE(fs.child("readonly"));  // libvirt 9.0 refuses it on virtio-fs
  pugi::xml_node ninep = fs.next_sibling("filesystem");
  ASSERT_TRUE(ninep);
  EXPECT_STREQ(ninep.attribute("accessmode").value(), "mapped");
  EXPECT_STREQ(ninep.child("driver").attribute("type").value(), "path");
  EXPECT_TRUE(ninep.child("readonly"));

  absl::StatusOr<std::string> back = DefineValidatedAndReadBack(*xml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << *xml;
  EXPECT_THAT(*back, HasSubstr("virtiofs"));
  EXPECT_THAT(*back, HasSubstr("memfd"));
}

TEST(SharedDirectories, NoSharesNoMemfdAndNoFilesystem) {
  DomainSpec spec = MinimalDomainSpec("vmmap-volumes-none", "6f1b1c2e-8f4e-4c55-9d0f-1b2c3d4e5f63");
  spec.memory_locked = true;
  spec.hard_limit_kib = 600000;
  absl::StatusOr<std::string> xml = RenderDomainXml(spec);
  ASSERT_TRUE(xml.ok());
  EXPECT_THAT(*xml, Not(HasSubstr("memfd")));
  EXPECT_THAT(*xml, Not(HasSubstr("filesystem")));
  EXPECT_THAT(*xml, HasSubstr("<locked />"));
}

TEST(SharedDirectories, KernelImagesGetTheMountInstructionsBeforeTheContainersArgs) {
  DomainSpec planned;
  planned.name = "vmmap-default-web-0123456789ab";
  planned.shared_dirs = {{"vol0", "/v/vol0", "/etc/config", true, SharedFsDriver::kVirtiofs},
                         {"vol1", "/v/vol1", "/data", false, SharedFsDriver::kVirtiofs}};
  ImageRecord image;
  image.kind = ImageKind::kKernelBundle;
  image.kernel_path = "/img/vmlinuz";
  image.cmdline = "console=ttyS0";
  ContainerConfig config;
  config.args = {"vmmap.spin=1"};
  absl::StatusOr<ContainerLayout> layout =
      LayOutContainerDomain(planned, image, config, {"s", "c", "/state/containers/c"});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->spec.kernel_boot->cmdline,
            "console=ttyS0 vmmap.mount=vol0,virtiofs,ro,/etc/config "
            "vmmap.mount=vol1,virtiofs,rw,/data vmmap.spin=1");

  // File words come after the files share's mount word, and count.
  planned.shared_dirs.push_back({"files",
                                 "/v/files",
                                 "/run/vmmap/files",
                                 false,
                                 SharedFsDriver::kVirtiofs,
                                 {{"vol2", "/v/files/vol2", "/etc/hosts", true}}});
  layout = LayOutContainerDomain(planned, image, config, {"s", "c", "/state/containers/c"});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->spec.kernel_boot->cmdline,
            "console=ttyS0 vmmap.mount=vol0,virtiofs,ro,/etc/config "
            "vmmap.mount=vol1,virtiofs,rw,/data vmmap.mount=files,virtiofs,rw,/run/vmmap/files "
            "vmmap.file=/run/vmmap/files/vol2,ro,/etc/hosts vmmap.spin=1");

  image.cmdline = "console=ttyS0 " + std::string(1980, 'x');
  absl::Status too_long = LayOutContainerDomain(planned, image, config, {"s", "c", "/c"}).status();
  EXPECT_TRUE(absl::IsInvalidArgument(too_long));
  EXPECT_THAT(std::string(too_long.message()), HasSubstr("plus the volume mounts'"));
}

}  // namespace
}  // namespace vmmap
