// CRI call counts and latencies for /metrics, recorded by a gRPC server
// interceptor so that no handler can forget them (like server/cri/call_log).
#ifndef VMMAP_SERVER_METRICS_CRI_CALL_METRICS_H_
#define VMMAP_SERVER_METRICS_CRI_CALL_METRICS_H_

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace vmmap {

// Thread-safe: prometheus-cpp's families and metrics lock internally.
class CriCallMetrics {
 public:
  CriCallMetrics();
  // `method` like "StartContainer", `code` a gRPC code name like "OK".
  void Record(const std::string& method, const std::string& code, double seconds);
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* calls_;
  prometheus::Family<prometheus::Histogram>* durations_;
};

// The interceptor factory; `metrics` must outlive the gRPC server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCriCallMetricsFactory(
    CriCallMetrics* metrics);

}  // namespace vmmap

#endif  // VMMAP_SERVER_METRICS_CRI_CALL_METRICS_H_
