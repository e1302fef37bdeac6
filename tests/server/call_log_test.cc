// Every CRI call is logged at debug level with method, object, duration and
// failure: a real gRPC server on a unix socket, the real services on
// libvirt's test driver, the log read from the process's stderr.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/base/files.h"
#include "server/base/log.h"
#include "server/cri/call_log.h"
#include "server/cri/runtime_service.h"
#include "server/virt/libvirt_hypervisor.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(CallLogTest, EachCallIsLoggedWithMethodObjectDurationAndFailure) {
  char dir[] = "/tmp/vmmap-calllog-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string root = dir;
  auto hypervisor = virt::LibvirtHypervisor::Open("test:///default");
  ASSERT_TRUE(hypervisor.ok()) << hypervisor.status();
  auto store = StateStore::Open(root + "/state.db");
  ASSERT_TRUE(store.ok());
  auto images = ImageStore::Open(root + "/images");
  ASSERT_TRUE(images.ok()) << images.status();
  PodRuntime runtime(RuntimeOptions{root, NodeConfig()}, hypervisor->get(), store->get(),
                     images->get());
  StatsCollector stats(hypervisor->get(), &runtime, images->get());
  ConsoleLogForwarder logs(store->get(), std::chrono::seconds(1));
  RuntimeService service(&runtime, &stats, &logs, hypervisor->get());

  grpc::ServerBuilder builder;
  const std::string socket = root + "/cri.sock";
  builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(MakeCallLogFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::RuntimeService::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));

  // stderr into a file while the calls run.
  const std::string captured = root + "/stderr";
  const int saved = ::dup(STDERR_FILENO);
  const int file = ::open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(file, 0);
  ::dup2(file, STDERR_FILENO);
  SetLogLevel(LogLevel::kDebug);
  {
    grpc::ClientContext context;
    v1::RunPodSandboxRequest request;
    request.mutable_config()->mutable_metadata()->set_name("web");
    request.mutable_config()->mutable_metadata()->set_namespace_("shop");
    v1::RunPodSandboxResponse response;
    EXPECT_TRUE(stub->RunPodSandbox(&context, request, &response).ok());
  }
  {
    grpc::ClientContext context;
    v1::ContainerStatusRequest request;
    request.set_container_id("no-such-container");
    v1::ContainerStatusResponse response;
    EXPECT_EQ(stub->ContainerStatus(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  server->Shutdown();
  SetLogLevel(LogLevel::kInfo);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);

  absl::StatusOr<std::string> log = ReadFile(captured);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(*log, HasSubstr(" D cri RunPodSandbox shop/web ok in "));
  EXPECT_THAT(*log, AllOf(HasSubstr(" D cri ContainerStatus no-such-container failed in "),
                          HasSubstr("code 5: container no-such-container not found")));
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace vmmap
