// runtime.v1.ImageService over gRPC, backed by the VM image store.
#ifndef VMMAP_SERVER_CRI_IMAGE_SERVICE_H_
#define VMMAP_SERVER_CRI_IMAGE_SERVICE_H_

#include "runtime_v1.grpc.pb.h"
#include "server/images/image_store.h"
#include "server/runtime/pod_runtime.h"

namespace vmmap {

class ImageService final : public runtime::v1::ImageService::Service {
 public:
  ImageService(ImageStore* images, PodRuntime* runtime) : images_(images), runtime_(runtime) {}

  grpc::Status ListImages(grpc::ServerContext*, const runtime::v1::ListImagesRequest*,
                          runtime::v1::ListImagesResponse*) override;
  grpc::Status ImageStatus(grpc::ServerContext*, const runtime::v1::ImageStatusRequest*,
                           runtime::v1::ImageStatusResponse*) override;
  grpc::Status PullImage(grpc::ServerContext*, const runtime::v1::PullImageRequest*,
                         runtime::v1::PullImageResponse*) override;
  grpc::Status RemoveImage(grpc::ServerContext*, const runtime::v1::RemoveImageRequest*,
                           runtime::v1::RemoveImageResponse*) override;
  grpc::Status ImageFsInfo(grpc::ServerContext*, const runtime::v1::ImageFsInfoRequest*,
                           runtime::v1::ImageFsInfoResponse*) override;

 private:
  ImageStore* const images_;
  PodRuntime* const runtime_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_IMAGE_SERVICE_H_
