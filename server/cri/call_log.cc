#include "server/cri/call_log.h"

#include <google/protobuf/message.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/base/log.h"

namespace vmmap {
namespace {

namespace gx = grpc::experimental;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The string field `name` of `message`, if it has one.
std::string StringField(const Message& message, const char* name) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
    return "";
  }
  return message.GetReflection()->GetString(message, field);
}

const Message* MessageField(const Message& message, const char* name) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return nullptr;
  }
  return &message.GetReflection()->GetMessage(message, field);
}

// What a request is about, for the log line.
std::string ObjectOf(const Message& request) {
  for (const char* id : {"container_id", "pod_sandbox_id"}) {
    std::string value = StringField(request, id);
    if (!value.empty()) return value;
  }
  if (const Message* image = MessageField(request, "image")) return StringField(*image, "image");
  if (const Message* config = MessageField(request, "config")) {
    if (const Message* metadata = MessageField(*config, "metadata")) {
      std::string ns = StringField(*metadata, "namespace");
      return ns.empty() ? StringField(*metadata, "name")
                        : absl::StrCat(ns, "/", StringField(*metadata, "name"));
    }
  }
  return "";
}

class CallLog final : public gx::Interceptor {
 public:
  explicit CallLog(gx::ServerRpcInfo* info) : method_(info->method()), start_(absl::Now()) {
    // "/runtime.v1.RuntimeService/StartContainer" → "StartContainer"
    const size_t slash = method_.rfind('/');
    if (slash != std::string::npos) method_ = method_.substr(slash + 1);
  }

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (const void* request = methods->GetRecvMessage()) {
        object_ = ObjectOf(*static_cast<const Message*>(request));
      }
    }
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Report(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Report(const grpc::Status& status) const {
    const std::string took = absl::FormatDuration(absl::Now() - start_);
    if (status.ok()) {
      VMMAP_LOG(kDebug, "cri ", method_, " ", object_, " ok in ", took);
      return;
    }
    const grpc::StatusCode code = status.error_code();
    const bool alarming = code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
                          code == grpc::StatusCode::DATA_LOSS;
    if (alarming) {
      VMMAP_LOG(kWarning, "cri ", method_, " ", object_, " failed in ", took, ": code ",
                static_cast<int>(code), ": ", status.error_message());
    } else {
      VMMAP_LOG(kDebug, "cri ", method_, " ", object_, " failed in ", took, ": code ",
                static_cast<int>(code), ": ", status.error_message());
    }
  }

  std::string method_;
  const absl::Time start_;
  std::string object_;
};

class CallLogFactory final : public gx::ServerInterceptorFactoryInterface {
 public:
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new CallLog(info);
  }
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface> MakeCallLogFactory() {
  return std::make_unique<CallLogFactory>();
}

}  // namespace vmmap
