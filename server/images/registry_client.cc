#include "server/images/registry_client.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/images/fs_util.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr size_t kMaxToken = 1 << 20;

// Parses `Bearer realm="...",service="...",scope="..."` (or Basic ...) into
// its scheme and lowercased parameter names.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

Challenge ParseChallenge(absl::string_view header) {
  Challenge c;
  header = absl::StripAsciiWhitespace(header);
  size_t sp = header.find(' ');
  c.scheme = absl::AsciiStrToLower(header.substr(0, sp));
  if (sp == absl::string_view::npos) return c;
  absl::string_view rest = header.substr(sp + 1);
  while (!rest.empty()) {
    rest = absl::StripLeadingAsciiWhitespace(rest);
    size_t eq = rest.find('=');
    if (eq == absl::string_view::npos) break;
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(rest.substr(0, eq)));
    rest = rest.substr(eq + 1);
    std::string value;
    if (absl::StartsWith(rest, "\"")) {
      size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value.push_back(rest[i]);
      }
      rest = rest.substr(std::min(rest.size(), i + 1));
    } else {
      size_t comma = rest.find(',');
      value = std::string(absl::StripAsciiWhitespace(rest.substr(0, comma)));
      rest = rest.substr(comma == absl::string_view::npos ? rest.size() : comma);
    }
    c.params[key] = value;
    rest = absl::StripLeadingAsciiWhitespace(rest);
    if (absl::StartsWith(rest, ",")) rest.remove_prefix(1);
  }
  return c;
}

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// "CODE: message" of the first entry of a registry's {"errors":[...]}.
std::string RegistryErrorDetail(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  auto errors = j.find("errors");
  if (errors == j.end() || !errors->is_array() || errors->empty()) return "";
  const nlohmann::json& e = (*errors)[0];
  if (!e.is_object()) return "";
  std::string code, message;
  if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
  if (e.contains("message") && e["message"].is_string()) {
    message = e["message"].get<std::string>();
  }
  return absl::CHexEscape(absl::StrCat(code, code.empty() ? "" : ": ", message).substr(0, 300));
}

}  // namespace

bool IsLoopbackRegistry(const std::string& domain) {
  absl::string_view host = domain;
  if (absl::StartsWith(host, "[::1]")) return host.size() == 5 || host[5] == ':';
  host = host.substr(0, host.find(':'));
  if (host == "localhost") return true;
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (absl::string_view o : octets) {
    int v = 0;
    if (o.empty() || o.size() > 3 || !absl::SimpleAtoi(o, &v) || v > 255) {
      return false;
    }
  }
  return true;
}

RegistryClient::RegistryClient(ImageReference ref, RegistryAuth auth, bool plain_http,
                               absl::Time deadline, std::function<bool()> abandoned,
                               std::string what)
    : ref_(std::move(ref)),
      auth_(std::move(auth)),
      plain_http_(plain_http),
      deadline_(deadline),
      abandoned_(std::move(abandoned)),
      what_(std::move(what)) {
  if (!auth_.registry_token.empty()) {
    authorization_ = absl::StrCat("Authorization: Bearer ", auth_.registry_token);
  }
}

absl::Status RegistryClient::Failed(const HttpResponse& response,
                                    const std::string& what_failed) const {
  std::string prefix = absl::StrCat("pull ", what_, ": ", what_failed);
  std::string detail = RegistryErrorDetail(response.error_body);
  if (response.code == 401) {
    if (auth_.username.empty() && auth_.registry_token.empty()) {
      return absl::UnauthenticatedError(
          absl::StrCat(prefix, ": the registry ", ref_.domain,
                       " requires credentials and none were given (HTTP 401",
                       detail.empty() ? "" : ", ", detail, ")"));
    }
    return absl::UnauthenticatedError(
        absl::StrCat(prefix, ": the registry ", ref_.domain, " rejected the credentials",
                     auth_.username.empty()
                         ? ""
                         : absl::StrCat(" of user \"", absl::CHexEscape(auth_.username), "\""),
                     " (HTTP 401", detail.empty() ? "" : ", ", detail, ")"));
  }
  return HttpCodeStatus(response.code, prefix, detail);
}

absl::Status RegistryClient::Authenticate(const std::string& header) {
  Challenge challenge = ParseChallenge(header);
  if (challenge.scheme == "basic") {
    if (auth_.username.empty()) return absl::OkStatus();  // Failed() explains
    authorization_ =
        absl::StrCat("Authorization: Basic ",
                     absl::Base64Escape(absl::StrCat(auth_.username, ":", auth_.password)));
    return absl::OkStatus();
  }
  if (challenge.scheme != "bearer") {
    return absl::UnauthenticatedError(
        absl::StrCat("pull ", what_, ": the registry ", ref_.domain,
                     " asks for an unsupported authentication scheme \"",
                     absl::CHexEscape(challenge.scheme.substr(0, 40)), "\""));
  }
  const std::string& realm = challenge.params["realm"];
  std::string lower = absl::AsciiStrToLower(realm.substr(0, 8));
  bool https = absl::StartsWith(lower, "https://");
  if (!https && !(plain_http_ && absl::StartsWith(lower, "http://"))) {
    return absl::UnauthenticatedError(
        absl::StrCat("pull ", what_, ": the registry ", ref_.domain,
                     " names a token realm that is not an https URL: \"",
                     absl::CHexEscape(realm.substr(0, 200)), "\""));
  }
  std::string scope = challenge.params.count("scope")
                          ? challenge.params["scope"]
                          : absl::StrCat("repository:", ref_.path, ":pull");
  std::string url =
      absl::StrCat(realm, absl::StrContains(realm, '?') ? "&" : "?", "scope=", UrlEncode(scope));
  if (challenge.params.count("service")) {
    absl::StrAppend(&url, "&service=", UrlEncode(challenge.params["service"]));
  }
  HttpRequest request;
  request.url = url;
  request.redirect_protocols = https ? "https" : "http,https";
  request.deadline = deadline_;
  request.max_bytes = kMaxToken;
  request.what = absl::StrCat("pull ", what_, ": token from ", realm);
  request.abandoned = abandoned_;
  if (!auth_.username.empty()) {
    request.headers.push_back(
        absl::StrCat("Authorization: Basic ",
                     absl::Base64Escape(absl::StrCat(auth_.username, ":", auth_.password))));
  }
  std::string body;
  absl::StatusOr<HttpResponse> response = HttpGet(request, [&](absl::string_view piece, uint64_t) {
    body.append(piece.data(), piece.size());
    return absl::OkStatus();
  });
  if (!response.ok()) return response.status();
  if (response->code < 200 || response->code >= 300) {
    return Failed(*response, "token request");
  }
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  std::string token;
  if (j.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      auto it = j.find(key);
      if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
        token = it->get<std::string>();
        break;
      }
    }
  }
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
    return absl::UnauthenticatedError(absl::StrCat("pull ", what_, ": the token server ", realm,
                                                   " answered without a usable token"));
  }
  authorization_ = absl::StrCat("Authorization: Bearer ", token);
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> RegistryClient::Get(const std::string& path, const std::string& accept,
                                                 uint64_t max_bytes, const BodySink& sink) {
  HttpRequest request;
  request.url = absl::StrCat(plain_http_ ? "http://" : "https://", ref_.RegistryHost(), "/v2/",
                             ref_.path, "/", path);
  request.redirect_protocols = plain_http_ ? "http,https" : "https";
  request.deadline = deadline_;
  request.max_bytes = max_bytes;
  request.what = absl::StrCat("pull ", what_);
  request.abandoned = abandoned_;
  for (int attempt = 0;; ++attempt) {
    request.headers.clear();
    if (!accept.empty()) request.headers.push_back(accept);
    if (!authorization_.empty()) request.headers.push_back(authorization_);
    absl::StatusOr<HttpResponse> response = HttpGet(request, sink);
    if (!response.ok() || response->code != 401 || attempt > 0) return response;
    std::string before = authorization_;
    absl::Status s = Authenticate(response->headers["www-authenticate"]);
    if (!s.ok()) return s;
    if (authorization_ == before) return response;  // nothing new to try
  }
}

absl::StatusOr<FetchedManifest> RegistryClient::GetManifest(const std::string& reference) {
  FetchedManifest m;
  absl::StatusOr<HttpResponse> response =
      Get(absl::StrCat("manifests/", reference), kManifestAccept, kMaxManifest,
          [&](absl::string_view piece, uint64_t) {
            m.body.append(piece.data(), piece.size());
            return absl::OkStatus();
          });
  if (!response.ok()) return response.status();
  if (response->code < 200 || response->code >= 300) {
    return Failed(*response, absl::StrCat("manifest ", reference));
  }
  Sha256 sha;
  sha.Update(m.body.data(), m.body.size());
  m.digest = absl::StrCat("sha256:", sha.HexDigest());
  if (IsSha256Digest(reference) && m.digest != reference) {
    return absl::DataLossError(
        absl::StrCat("pull ", what_, ": manifest ", reference, " arrived with digest ", m.digest));
  }
  m.content_type = response->headers["content-type"];
  return m;
}

absl::StatusOr<std::string> RegistryClient::GetSmallBlob(const Descriptor& blob, size_t max) {
  if (blob.size > max) {
    return absl::InvalidArgumentError(absl::StrCat("pull ", what_, ": blob ", blob.digest, " is ",
                                                   blob.size, " bytes, more than the ", max,
                                                   " accepted for it"));
  }
  std::string body;
  absl::Status s = FetchBlob(blob, [&](absl::string_view piece, uint64_t) {
    body.append(piece.data(), piece.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return body;
}

absl::Status RegistryClient::DownloadBlob(const Descriptor& blob, int fd) {
  return FetchBlob(blob, [&](absl::string_view piece, uint64_t) {
    return WriteAll(fd, piece.data(), piece.size(), blob.digest);
  });
}

absl::Status RegistryClient::FetchBlob(const Descriptor& blob, const BodySink& sink) {
  Sha256 sha;
  uint64_t received = 0;
  absl::StatusOr<HttpResponse> response = Get(absl::StrCat("blobs/", blob.digest), "", blob.size,
                                              [&](absl::string_view piece, uint64_t length) {
                                                sha.Update(piece.data(), piece.size());
                                                received += piece.size();
                                                return sink(piece, length);
                                              });
  if (!response.ok()) {
    if (absl::IsResourceExhausted(response.status())) {
      return absl::DataLossError(absl::StrCat("pull ", what_, ": blob ", blob.digest,
                                              " is longer than its manifest says (", blob.size,
                                              " bytes)"));
    }
    return response.status();
  }
  if (response->code < 200 || response->code >= 300) {
    return Failed(*response, absl::StrCat("blob ", blob.digest));
  }
  std::string got = absl::StrCat("sha256:", sha.HexDigest());
  if (received != blob.size || got != blob.digest) {
    return absl::DataLossError(absl::StrCat("pull ", what_, ": blob ", blob.digest,
                                            " does not match its digest (", received,
                                            " bytes with digest ", got, " arrived)"));
  }
  return absl::OkStatus();
}

}  // namespace vmmap::images_internal
