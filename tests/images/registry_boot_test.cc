// End to end: the tiny test guest published as a kernel image to a real
// registry (docker-registry on loopback, skopeo), pulled by `vmmap serve`
// through the CRI by its docker reference, booted as a pod.
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"
#include "tests/images/test_util.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using images_test::UnusedPort;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RegistryBootTest, PodBootsFromRegistryImage) {
  if (ShellStatus("command -v docker-registry skopeo >/dev/null") != 0) {
    GTEST_SKIP() << "docker-registry or skopeo is not installed";
  }
  const Fixtures& f = GetFixtures();
  const std::string script = std::string(VMMAP_SOURCE_DIR) + "/tests/images/registry.sh";
  const std::string registry_dir = f.work_dir + "/registry";
  const int port = UnusedPort();
  ASSERT_EQ(ShellStatus(script + " start " + registry_dir + " " + std::to_string(port)), 0);
  struct Stop {
    std::string cmd;
    ~Stop() { ShellStatus(cmd); }
  } stop{script + " stop " + registry_dir};

  // The guest as a kernel image: /boot/vmlinuz, /boot/initrd.img, /boot/cmdline.
  const std::string rootfs = f.work_dir + "/guest-image-rootfs";
  fs::create_directories(rootfs + "/boot");
  fs::copy_file(f.work_dir + "/guest/vmlinuz", rootfs + "/boot/vmlinuz",
                fs::copy_options::overwrite_existing);
  fs::copy_file(f.work_dir + "/guest/initrd.img", rootfs + "/boot/initrd.img",
                fs::copy_options::overwrite_existing);
  fs::copy_file(f.work_dir + "/guest/cmdline", rootfs + "/boot/cmdline",
                fs::copy_options::overwrite_existing);
  const std::string reference = "127.0.0.1:" + std::to_string(port) + "/vmmap/guest:1";
  Shell(script + " layout " + f.work_dir + "/guest-layout v " + rootfs + " >/dev/null");
  ASSERT_EQ(ShellStatus(script + " push " + f.work_dir + "/guest-layout v " + reference), 0);

  const std::string state_dir = f.work_dir + "/registry-boot";
  fs::remove_all(state_dir);
  ServerProcess server(state_dir, ServerOptions{});
  server.Start();

  v1::PullImageRequest pull;
  pull.mutable_image()->set_image(reference);
  v1::PullImageResponse pulled;
  grpc::Status s =
      server.images().PullImage(Context(std::chrono::seconds(120)).get(), pull, &pulled);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.log();
  ASSERT_THAT(pulled.image_ref(), HasSubstr("sha256:"));

  // ImageStatus by the reference kubelet uses shows tags and digests.
  v1::ImageStatusRequest status_request;
  status_request.mutable_image()->set_image(reference);
  v1::ImageStatusResponse status;
  ASSERT_TRUE(server.images().ImageStatus(Context().get(), status_request, &status).ok());
  EXPECT_EQ(status.image().id(), pulled.image_ref());
  EXPECT_THAT(status.image().repo_tags(), ElementsAre(reference));
  ASSERT_EQ(status.image().repo_digests_size(), 1);
  EXPECT_THAT(status.image().repo_digests(0),
              HasSubstr("127.0.0.1:" + std::to_string(port) + "/vmmap/guest@sha256:"));

  PodRequest request;
  request.name = "registry-guest";
  request.image = reference;
  const Pod pod = CreatePod(server, request);
  ASSERT_FALSE(pod.container_id.empty());
  grpc::Status started = StartContainer(server, pod.container_id);
  ASSERT_TRUE(started.ok()) << started.error_message() << "\n" << server.log();
  const std::string console = state_dir + "/containers/" + pod.container_id + "/console.log";
  EXPECT_TRUE(WaitFor(
      [&] { return ReadFileOrEmpty(console).find("VMMAP-GUEST-BOOTED") != std::string::npos; },
      std::chrono::seconds(180)))
      << "guest did not boot; console:\n"
      << ReadFileOrEmpty(console);
  RemovePod(server, pod);

  v1::RemoveImageRequest remove;
  remove.mutable_image()->set_image(reference);
  v1::RemoveImageResponse removed;
  ASSERT_TRUE(server.images().RemoveImage(Context().get(), remove, &removed).ok());
  v1::ListImagesResponse listed;
  ASSERT_TRUE(server.images().ListImages(Context().get(), v1::ListImagesRequest(), &listed).ok());
  EXPECT_EQ(listed.images_size(), 0);
}

}  // namespace
}  // namespace vmmap::e2e
