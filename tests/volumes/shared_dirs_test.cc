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

  image.cmdline = "console=ttyS0 " + std::string(1980, 'x');
  absl::Status too_long = LayOutContainerDomain(planned, image, config, {"s", "c", "/c"}).status();
  EXPECT_TRUE(absl::IsInvalidArgument(too_long));
  EXPECT_THAT(std::string(too_long.message()), HasSubstr("plus the volume mounts'"));
}

}  // namespace
}  // namespace vmmap
