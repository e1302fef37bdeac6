#include "server/network/cni_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace vmmap::network {
namespace {

using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;

// Result formats this runtime parses (cni_result.cc).
bool SupportedCniVersion(const std::string& v) {
  return v == "0.3.0" || v == "0.3.1" || v == "0.4.0" || v == "1.0.0";
}

absl::Status Invalid(const std::string& path, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("CNI config ", path, ": ", field, " ", what));
}

// A plugin type becomes a file name under the bin dirs: no paths.
absl::Status ValidatePluginType(const std::string& path, const std::string& field,
                                const std::string& type) {
  if (type.empty() || type.size() > 255 || type == "." || type == ".." ||
      type.find('/') != std::string::npos || type.find('\0') != std::string::npos) {
    return Invalid(path, field, absl::StrCat("\"", type, "\" is not a plugin file name"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CniPlugin> ParsePlugin(const std::string& path, const std::string& field,
                                      const json& obj) {
  if (!obj.is_object()) return Invalid(path, field, "must be an object");
  auto type = obj.find("type");
  if (type == obj.end() || !type->is_string()) {
    return Invalid(path, field + ".type", "must be a string");
  }
  CniPlugin plugin;
  plugin.type = type->get<std::string>();
  if (absl::Status s = ValidatePluginType(path, field + ".type", plugin.type); !s.ok()) return s;
  auto caps = obj.find("capabilities");
  if (caps != obj.end()) {
    if (!caps->is_object()) return Invalid(path, field + ".capabilities", "must be an object");
    for (auto it = caps->begin(); it != caps->end(); ++it) {
      if (it.value().is_boolean() && it.value().get<bool>()) plugin.capabilities.insert(it.key());
    }
  }
  plugin.config_json = obj.dump();
  return plugin;
}

absl::StatusOr<std::string> StringField(const std::string& path, const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Invalid(path, key, "must be a non-empty string");
  }
  return it->get<std::string>();
}

absl::StatusOr<std::string> ReadBounded(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  std::string bytes(kMaxConfigBytes + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI config ", path, " is larger than ", kMaxConfigBytes, " bytes"));
  }
  return bytes;
}

}  // namespace

absl::StatusOr<CniNetworkList> ParseCniConfig(const std::string& path, const std::string& bytes,
                                              bool is_list) {
  json doc = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("CNI config ", path, ": not a JSON object"));
  }
  CniNetworkList list;
  list.source_path = path;
  absl::StatusOr<std::string> name = StringField(path, doc, "name");
  if (!name.ok()) return name.status();
  list.name = *name;
  absl::StatusOr<std::string> version = StringField(path, doc, "cniVersion");
  if (!version.ok()) return version.status();
  if (!SupportedCniVersion(*version)) {
    return Invalid(
        path, "cniVersion",
        absl::StrCat("\"", *version, "\" is not supported (0.3.0, 0.3.1, 0.4.0, 1.0.0)"));
  }
  list.cni_version = *version;
  if (!is_list) {
    absl::StatusOr<CniPlugin> plugin = ParsePlugin(path, "(plugin)", doc);
    if (!plugin.ok()) return plugin.status();
    list.plugins.push_back(*std::move(plugin));
    return list;
  }
  auto plugins = doc.find("plugins");
  if (plugins == doc.end() || !plugins->is_array() || plugins->empty()) {
    return Invalid(path, "plugins", "must be a non-empty array");
  }
  for (size_t i = 0; i < plugins->size(); ++i) {
    absl::StatusOr<CniPlugin> plugin =
        ParsePlugin(path, absl::StrCat("plugins[", i, "]"), (*plugins)[i]);
    if (!plugin.ok()) return plugin.status();
    list.plugins.push_back(*std::move(plugin));
  }
  return list;
}

absl::StatusOr<CniNetworkList> LoadCniConfig(const std::string& conf_dir) {
  std::error_code ec;
  std::vector<std::string> files;
  for (std::filesystem::directory_iterator it(conf_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string file = it->path().string();
    if (absl::EndsWith(file, ".conf") || absl::EndsWith(file, ".conflist") ||
        absl::EndsWith(file, ".json")) {
      files.push_back(file);
    }
  }
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no network config: cannot read CNI config dir ", conf_dir, ": ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> skipped;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> bytes = ReadBounded(file);
    absl::StatusOr<CniNetworkList> list =
        bytes.ok() ? ParseCniConfig(file, *bytes, absl::EndsWith(file, ".conflist"))
                   : absl::StatusOr<CniNetworkList>(bytes.status());
    if (list.ok()) return list;
    skipped.push_back(std::string(list.status().message()));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no valid CNI network config found in ", conf_dir,
      skipped.empty() ? " (no *.conf, *.conflist or *.json files)"
                      : absl::StrCat(" (skipped: ", absl::StrJoin(skipped, "; "), ")")));
}

NetworkReadiness CheckCniReadiness(const std::string& conf_dir) {
  absl::StatusOr<CniNetworkList> list = LoadCniConfig(conf_dir);
  if (list.ok()) return {true, "", ""};
  return {false, "NetworkPluginNotReady",
          absl::StrCat("cni config uninitialized: ", list.status().message())};
}

std::vector<std::string> CniBinDirs(const std::string& flag_value) {
  if (flag_value.empty() || flag_value == kDefaultCniBinDir) {
    return {kDefaultCniBinDir, kDebianCniBinDir};
  }
  std::vector<std::string> dirs = absl::StrSplit(flag_value, ':', absl::SkipEmpty());
  return dirs;
}

absl::StatusOr<std::string> FindCniPlugin(const std::string& type,
                                          const std::vector<std::string>& bin_dirs) {
  for (const std::string& dir : bin_dirs) {
    std::string path = absl::StrCat(dir, "/", type);
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("failed to find CNI plugin \"", type, "\" in ", absl::StrJoin(bin_dirs, ":")));
}

}  // namespace vmmap::network
