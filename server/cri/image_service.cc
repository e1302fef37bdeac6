#include "server/cri/image_service.h"

#include "absl/strings/escaping.h"
#include "server/cri/grpc_status.h"
#include "server/runtime/ids.h"

namespace vmmap {
namespace {

namespace v1 = runtime::v1;

void ToCri(const ImageRecord& record, v1::Image* image) {
  image->set_id(record.id);
  for (const std::string& tag : record.tags) image->add_repo_tags(tag);
  for (const std::string& digest : record.repo_digests) image->add_repo_digests(digest);
  image->set_size(record.size_bytes);
  image->mutable_spec()->set_image(record.id);
}

// The CRI AuthConfig as registry credentials: username/password, or `auth`
// (base64 "user:password", as in a docker config.json), or a registry token.
absl::StatusOr<RegistryAuth> ToRegistryAuth(const v1::AuthConfig& config) {
  RegistryAuth auth;
  auth.username = config.username();
  auth.password = config.password();
  auth.registry_token = config.registry_token();
  if (auth.username.empty() && !config.auth().empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(config.auth(), &decoded) || decoded.find(':') == std::string::npos) {
      return absl::InvalidArgumentError("auth.auth is not base64 of \"username:password\"");
    }
    auth.username = decoded.substr(0, decoded.find(':'));
    auth.password = decoded.substr(decoded.find(':') + 1);
  }
  return auth;
}

}  // namespace

grpc::Status ImageService::ListImages(grpc::ServerContext*, const v1::ListImagesRequest* request,
                                      v1::ListImagesResponse* response) {
  const std::string& wanted = request->filter().image().image();
  if (!wanted.empty()) {
    absl::StatusOr<ImageRecord> one = images_->Find(wanted);
    if (one.ok()) ToCri(*one, response->add_images());
    return grpc::Status::OK;
  }
  for (const ImageRecord& record : images_->List()) ToCri(record, response->add_images());
  return grpc::Status::OK;
}

grpc::Status ImageService::ImageStatus(grpc::ServerContext*, const v1::ImageStatusRequest* request,
                                       v1::ImageStatusResponse* response) {
  absl::StatusOr<ImageRecord> record = images_->Find(request->image().image());
  // CRI: an image that is not present is an empty response, not an error.
  if (absl::IsNotFound(record.status())) return grpc::Status::OK;
  if (!record.ok()) return ToGrpc(record.status());
  ToCri(*record, response->mutable_image());
  return grpc::Status::OK;
}

grpc::Status ImageService::PullImage(grpc::ServerContext* context,
                                     const v1::PullImageRequest* request,
                                     v1::PullImageResponse* response) {
  if (request->image().image().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "image.image is empty");
  }
  absl::StatusOr<RegistryAuth> auth = ToRegistryAuth(request->auth());
  if (!auth.ok()) return ToGrpc(auth.status());
  // A kubelet that gave up (its deadline passed) stops this call's wait.
  absl::StatusOr<ImageRecord> record =
      images_->Pull(request->image().image(), *auth, [context] { return context->IsCancelled(); });
  if (!record.ok()) return ToGrpc(record.status());
  response->set_image_ref(record->id);
  return grpc::Status::OK;
}

grpc::Status ImageService::RemoveImage(grpc::ServerContext*, const v1::RemoveImageRequest* request,
                                       v1::RemoveImageResponse*) {
  absl::Status s = images_->Remove(
      request->image().image(), [this](const std::string& id) { return runtime_->ImageUser(id); });
  // Removing an image that is not there succeeds (CRI idempotency).
  return absl::IsNotFound(s) ? grpc::Status::OK : ToGrpc(s);
}

grpc::Status ImageService::ImageFsInfo(grpc::ServerContext*, const v1::ImageFsInfoRequest*,
                                       v1::ImageFsInfoResponse* response) {
  absl::StatusOr<FsUsage> usage = images_->Usage();
  if (!usage.ok()) return ToGrpc(usage.status());
  v1::FilesystemUsage* fs = response->add_image_filesystems();
  fs->set_timestamp(NowNanos());
  fs->mutable_fs_id()->set_mountpoint(usage->mountpoint);
  fs->mutable_used_bytes()->set_value(usage->used_bytes);
  fs->mutable_inodes_used()->set_value(usage->inodes_used);
  return grpc::Status::OK;
}

}  // namespace vmmap
