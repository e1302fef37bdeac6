#include "server/metrics/cri_call_metrics.h"

#include <chrono>

namespace vmmap {
namespace {

namespace gx = grpc::experimental;

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "OTHER";
  }
}

class CallMetricsInterceptor final : public gx::Interceptor {
 public:
  CallMetricsInterceptor(gx::ServerRpcInfo* info, CriCallMetrics* metrics)
      : metrics_(metrics), method_(info->method()), start_(std::chrono::steady_clock::now()) {
    // "/runtime.v1.RuntimeService/StartContainer" → "StartContainer"
    const size_t slash = method_.rfind('/');
    if (slash != std::string::npos) method_ = method_.substr(slash + 1);
  }

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
      metrics_->Record(method_, CodeName(methods->GetSendStatus().error_code()), took.count());
    }
    methods->Proceed();
  }

 private:
  CriCallMetrics* metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

class CallMetricsFactory final : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit CallMetricsFactory(CriCallMetrics* metrics) : metrics_(metrics) {}
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new CallMetricsInterceptor(info, metrics_);
  }

 private:
  CriCallMetrics* metrics_;
};

}  // namespace

CriCallMetrics::CriCallMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      calls_(&prometheus::BuildCounter()
                  .Name("vmmap_cri_calls_total")
                  .Help("CRI calls answered, by method and gRPC status code")
                  .Register(*registry_)),
      durations_(&prometheus::BuildHistogram()
                      .Name("vmmap_cri_call_duration_seconds")
                      .Help("Time from a CRI call's arrival to its status, by method")
                      .Register(*registry_)) {}

void CriCallMetrics::Record(const std::string& method, const std::string& code, double seconds) {
  calls_->Add({{"method", method}, {"code", code}}).Increment();
  // Buckets from 1 ms to 2 min (kubelet's CRI timeout): VM starts take seconds.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  durations_->Add({{"method", method}}, kBuckets).Observe(seconds);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCriCallMetricsFactory(
    CriCallMetrics* metrics) {
  return std::make_unique<CallMetricsFactory>(metrics);
}

}  // namespace vmmap
