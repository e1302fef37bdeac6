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

}  // namespace
}  // namespace vmmap
