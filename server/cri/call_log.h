// Logs every CRI call at debug level: method, the object it names (sandbox
// or container id, image reference, or namespace/name of a new pod), how
// long it took and, if it failed, the code and message. Failures that mean
// a bug or lost data (Internal, Unknown, DataLoss) are also logged at
// warning level. A gRPC server interceptor, so no handler can forget it.
#ifndef VMMAP_SERVER_CRI_CALL_LOG_H_
#define VMMAP_SERVER_CRI_CALL_LOG_H_

#include <memory>

#include <grpcpp/support/server_interceptor.h>

namespace vmmap {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallLogFactory();

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_CALL_LOG_H_
