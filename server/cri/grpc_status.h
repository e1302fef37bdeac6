// absl::Status to grpc::Status: the codes share their numbering.
#ifndef VMMAP_SERVER_CRI_GRPC_STATUS_H_
#define VMMAP_SERVER_CRI_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace vmmap {

inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_GRPC_STATUS_H_
