// The container's domain layout is a pure function of plan, image and config.
#include "server/runtime/container_layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

using ::testing::HasSubstr;

const ContainerPlacement kPlacement{"sandbox-1", "container-1", "/state/containers/container-1"};

TEST(ContainerLayoutTest, DiskImageBootsFromTheContainersOwnOverlay) {
  ImageRecord image;
  image.kind = ImageKind::kDisk;
  image.disk_path = "/state/images/sha256/x/image";
  absl::StatusOr<ContainerLayout> layout =
      LayOutContainerDomain(DomainSpec(), image, ContainerConfig(), kPlacement);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->overlay_path, "/state/containers/container-1/disk.qcow2");
  ASSERT_EQ(layout->spec.disks.size(), 1u);
  EXPECT_EQ(layout->spec.disks[0].path, layout->overlay_path);  // never the image itself
  EXPECT_EQ(layout->spec.console_log_path, "/state/containers/container-1/console.log");
  EXPECT_EQ(layout->spec.owner.sandbox_id, "sandbox-1");
  EXPECT_EQ(layout->spec.owner.container_id, "container-1");
  EXPECT_FALSE(layout->spec.kernel_boot.has_value());
}

TEST(ContainerLayoutTest, KernelBundleAppendsCommandAndArgsToItsCmdline) {
  ImageRecord image;
  image.kind = ImageKind::kKernelBundle;
  image.kernel_path = "/k";
  image.initrd_path = "/i";
  image.cmdline = "console=ttyS0 quiet";
  ContainerConfig config;
  config.command = {"init=/bin/sh"};
  config.args = {"vmmap.mode=spin"};
  absl::StatusOr<ContainerLayout> layout =
      LayOutContainerDomain(DomainSpec(), image, config, kPlacement);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_TRUE(layout->spec.kernel_boot.has_value());
  EXPECT_EQ(layout->spec.kernel_boot->cmdline, "console=ttyS0 quiet init=/bin/sh vmmap.mode=spin");
  EXPECT_TRUE(layout->overlay_path.empty());
  EXPECT_TRUE(layout->spec.disks.empty());
}

TEST(ContainerLayoutTest, ControlCharactersNeverReachTheKernelCommandLine) {
  ImageRecord image;
  image.kind = ImageKind::kKernelBundle;
  ContainerConfig config;
  config.args = {"a\nb"};
  absl::StatusOr<ContainerLayout> layout =
      LayOutContainerDomain(DomainSpec(), image, config, kPlacement);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layout.status().message()), HasSubstr("printable ASCII"));
}

TEST(ContainerLayoutTest, KernelCommandLineLimitCountsTheImagesOwnPart) {
  ImageRecord image;
  image.kind = ImageKind::kKernelBundle;
  image.cmdline = "console=ttyS0 " + std::string(2000, 'x');
  ContainerConfig config;
  config.args = {std::string(40, 'y')};  // fits alone; not with the image's 2014 bytes
  absl::StatusOr<ContainerLayout> layout =
      LayOutContainerDomain(DomainSpec(), image, config, kPlacement);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layout.status().message()),
              ::testing::AllOf(HasSubstr("kernel command line"), HasSubstr("2055 bytes"),
                               HasSubstr("2048")));
  config.args = {std::string(30, 'y')};
  EXPECT_TRUE(LayOutContainerDomain(DomainSpec(), image, config, kPlacement).ok());
}

TEST(ContainerLayoutTest, DomainNameAndUuidAreUniquePerContainer) {
  // Two sandboxes with the same pod identity plan the same name and UUID.
  DomainSpec planned;
  planned.name = "vmmap-ns-pod-0123456789ab";
  planned.uuid = "00000000-0000-8000-8000-000000000000";
  ImageRecord image;
  image.kind = ImageKind::kDisk;
  auto first = LayOutContainerDomain(planned, image, ContainerConfig(),
                                     {"s1", "container-a", "/state/containers/container-a"});
  auto second = LayOutContainerDomain(planned, image, ContainerConfig(),
                                      {"s2", "container-b", "/state/containers/container-b"});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->spec.name, second->spec.name);
  EXPECT_NE(first->spec.uuid, second->spec.uuid);
  EXPECT_THAT(first->spec.name, ::testing::StartsWith("vmmap-ns-pod-"));
  EXPECT_EQ(first->spec.name.size(), planned.name.size());
  // Stable for one container (recovery and stats find it again).
  auto again = LayOutContainerDomain(planned, image, ContainerConfig(),
                                     {"s1", "container-a", "/state/containers/container-a"});
  EXPECT_EQ(again->spec.name, first->spec.name);
}

}  // namespace
}  // namespace vmmap
