#include "server/guest/qga_protocol.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace vmmap::guest {
namespace {

using json = nlohmann::json;

absl::StatusOr<json> ReturnObject(absl::string_view reply, absl::string_view command) {
  json parsed = json::parse(reply.begin(), reply.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::DataLossError(absl::StrCat(command, " reply: not a JSON object"));
  }
  auto it = parsed.find("return");
  if (it == parsed.end() || !it->is_object()) {
    return absl::DataLossError(absl::StrCat(command, " reply: no \"return\" object"));
  }
  return std::move(*it);
}

// Decodes one base64 stream, keeping at most kMaxStreamBytes. The encoded
// text is cut before decoding (at a 4-character boundary), so a guest cannot
// make vmmap allocate more than the bound for the result.
absl::Status DecodeStream(const json& ret, const char* field, std::string& out, bool& truncated) {
  auto it = ret.find(field);
  if (it == ret.end()) return absl::OkStatus();
  if (!it->is_string()) {
    return absl::DataLossError(
        absl::StrCat("guest-exec-status reply: \"", field, "\" is not a string"));
  }
  const std::string& encoded = it->get_ref<const std::string&>();
  constexpr size_t kMaxEncoded = (kMaxStreamBytes + 2) / 3 * 4;  // ≥ kMaxStreamBytes decoded
  absl::string_view kept = encoded;
  if (kept.size() > kMaxEncoded) {
    kept = kept.substr(0, kMaxEncoded);
    truncated = true;
  }
  if (!absl::Base64Unescape(kept, &out)) {
    return absl::DataLossError(
        absl::StrCat("guest-exec-status reply: \"", field, "\" is not base64"));
  }
  if (out.size() > kMaxStreamBytes) {
    out.resize(kMaxStreamBytes);
    truncated = true;
  }
  return absl::OkStatus();
}

bool BoolField(const json& ret, const char* field) {
  auto it = ret.find(field);
  return it != ret.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

std::string GuestExecRequest(const std::vector<std::string>& argv) {
  json args = json::array();
  for (size_t i = 1; i < argv.size(); ++i) args.push_back(argv[i]);
  json request = {{"execute", "guest-exec"},
                  {"arguments",
                   {{"path", argv.empty() ? std::string() : argv[0]},
                    {"arg", std::move(args)},
                    {"capture-output", true}}}};
  // Invalid UTF-8 in an argument becomes U+FFFD instead of an exception.
  return request.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<int64_t> ParseGuestExecReply(absl::string_view reply) {
  absl::StatusOr<json> ret = ReturnObject(reply, "guest-exec");
  if (!ret.ok()) return ret.status();
  auto it = ret->find("pid");
  if (it == ret->end() || !it->is_number_integer()) {
    return absl::DataLossError("guest-exec reply: no integer \"pid\"");
  }
  return it->get<int64_t>();
}

std::string GuestExecStatusRequest(int64_t pid) {
  return json{{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}}.dump();
}

absl::StatusOr<GuestExecStatus> ParseGuestExecStatusReply(absl::string_view reply) {
  absl::StatusOr<json> ret = ReturnObject(reply, "guest-exec-status");
  if (!ret.ok()) return ret.status();
  auto exited = ret->find("exited");
  if (exited == ret->end() || !exited->is_boolean()) {
    return absl::DataLossError("guest-exec-status reply: no boolean \"exited\"");
  }
  GuestExecStatus status;
  status.exited = exited->get<bool>();
  if (!status.exited) return status;
  auto code = ret->find("exitcode");
  auto signal = ret->find("signal");
  if (code != ret->end() && code->is_number_integer()) {
    const int64_t value = code->get<int64_t>();
    if (value < 0 || value > 255) {
      return absl::DataLossError(
          absl::StrCat("guest-exec-status reply: \"exitcode\" ", value, " is outside 0…255"));
    }
    status.exit_code = static_cast<int32_t>(value);
  } else if (signal != ret->end() && signal->is_number_integer()) {
    const int64_t value = signal->get<int64_t>();
    if (value < 1 || value > 127) {
      return absl::DataLossError(
          absl::StrCat("guest-exec-status reply: \"signal\" ", value, " is outside 1…127"));
    }
    status.exit_code = static_cast<int32_t>(128 + value);
  } else {
    return absl::DataLossError(
        "guest-exec-status reply: exited without \"exitcode\" or \"signal\"");
  }
  status.stdout_truncated = BoolField(*ret, "out-truncated");
  status.stderr_truncated = BoolField(*ret, "err-truncated");
  if (absl::Status s = DecodeStream(*ret, "out-data", status.stdout_bytes, status.stdout_truncated);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = DecodeStream(*ret, "err-data", status.stderr_bytes, status.stderr_truncated);
      !s.ok()) {
    return s;
  }
  return status;
}

}  // namespace vmmap::guest
