// The Prometheus endpoint of `vmmap serve`: GET /metrics on a TCP address
// (loopback by default: the figures name pods). prometheus-cpp's exposer
// (Debian's prometheus-cpp-dev) serves the text format.
#ifndef VMMAP_SERVER_METRICS_METRICS_ENDPOINT_H_
#define VMMAP_SERVER_METRICS_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include "absl/status/statusor.h"

namespace vmmap {

// Listens on `address` ("127.0.0.1:9462"); InvalidArgument for an address
// without a port, Unavailable (naming it) when it cannot listen.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsEndpoint(
    const std::string& address);

}  // namespace vmmap

#endif  // VMMAP_SERVER_METRICS_METRICS_ENDPOINT_H_
