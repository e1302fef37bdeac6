// The runtime on libvirt's test driver over a fresh state directory: what the
// server tests that drive PodRuntime (recovery, post-start limits) share.
#ifndef VMMAP_TESTS_SERVER_RUNTIME_FIXTURE_H_
#define VMMAP_TESTS_SERVER_RUNTIME_FIXTURE_H_

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "server/images/image_store.h"
#include "server/runtime/pod_runtime.h"
#include "server/state/state_store.h"
#include "server/virt/libvirt_hypervisor.h"

namespace vmmap {

class RuntimeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-runtime-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::filesystem::create_directories(dir_ + "/containers");
    auto hypervisor = virt::LibvirtHypervisor::Open("test:///default");
    ASSERT_TRUE(hypervisor.ok()) << hypervisor.status();
    hypervisor_ = std::move(*hypervisor);
    auto store = StateStore::Open(dir_ + "/state.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto images = ImageStore::Open(dir_ + "/images");
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = std::move(*images);
    // A cgroup tree of the test's own: tests never touch the node's cgroups.
    runtime_ =
        std::make_unique<PodRuntime>(RuntimeOptions{dir_, NodeConfig(), nullptr, CgroupRoot()},
                                     hypervisor_.get(), store_.get(), images_.get());
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  bool DomainExists(const std::string& name) { return hypervisor_->DomainState(name).ok(); }
  std::string CgroupRoot() const { return dir_ + "/cgroup"; }

  std::string dir_;
  std::unique_ptr<virt::LibvirtHypervisor> hypervisor_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<ImageStore> images_;
  std::unique_ptr<PodRuntime> runtime_;
};

}  // namespace vmmap

#endif  // VMMAP_TESTS_SERVER_RUNTIME_FIXTURE_H_
