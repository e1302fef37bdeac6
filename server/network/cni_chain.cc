#include "server/network/cni_chain.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/network/subprocess.h"

namespace vmmap::network {
namespace {

using nlohmann::json;

constexpr json::error_handler_t kReplace = json::error_handler_t::replace;
constexpr size_t kMaxPluginOutput = 1 << 20;

absl::StatusOr<std::string> CniArgs(const CniAttachment& a) {
  std::vector<std::string> parts = {"IgnoreUnknown=1"};
  for (const auto& [key, value] : a.args) {
    for (const std::string* s : {&key, &value}) {
      if (s->find_first_of(";=") != std::string::npos || s->find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("CNI_ARGS ", key, ": \"", *s, "\" must not contain ';' or '='"));
      }
    }
    parts.push_back(absl::StrCat(key, "=", value));
  }
  return absl::StrJoin(parts, ";");
}

absl::Status ValidateAttachment(const CniAttachment& a) {
  auto bad = [](absl::string_view field, const std::string& v) {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI attachment ", field, " \"", v, "\" is empty or has control bytes"));
  };
  for (auto [field, value] :
       {std::pair{"container_id", &a.container_id}, std::pair{"netns_path", &a.netns_path},
        std::pair{"ifname", &a.ifname}}) {
    if (value->empty()) return bad(field, *value);
    for (unsigned char c : *value) {
      if (c < 0x20 || c == 0x7f) return bad(field, *value);
    }
  }
  for (const PortMapping& p : a.port_mappings) {
    if (p.host_port < 1 || p.host_port > 65535 || p.container_port < 1 ||
        p.container_port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("port mapping ", p.host_port, "->",
                                                     p.container_port, ": ports are 1..65535"));
    }
    if (p.protocol != "tcp" && p.protocol != "udp" && p.protocol != "sctp") {
      return absl::InvalidArgumentError(
          absl::StrCat("port mapping protocol \"", p.protocol, "\": tcp, udp or sctp"));
    }
  }
  return absl::OkStatus();
}

// The plugin's config as the spec wants it on stdin: its own object plus the
// network's name and version, the previous result, and the runtime config
// for the capabilities it declared (libcni's rule).
std::string PluginStdin(const CniNetworkList& net, const CniPlugin& plugin, const CniAttachment& a,
                        const std::string& prev_result_json) {
  json conf = json::parse(plugin.config_json, nullptr, false);
  conf.erase("capabilities");
  conf["name"] = net.name;
  conf["cniVersion"] = net.cni_version;
  if (!prev_result_json.empty()) {
    json prev = json::parse(prev_result_json, nullptr, false);
    if (!prev.is_discarded()) conf["prevResult"] = std::move(prev);
  }
  if (plugin.capabilities.count("portMappings") && !a.port_mappings.empty()) {
    json mappings = json::array();
    for (const PortMapping& p : a.port_mappings) {
      json m = {
          {"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", p.protocol}};
      if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
      mappings.push_back(std::move(m));
    }
    conf["runtimeConfig"]["portMappings"] = std::move(mappings);
  }
  const CniRuntimeDns& dns = a.dns;
  if (plugin.capabilities.count("dns") &&
      !(dns.servers.empty() && dns.searches.empty() && dns.options.empty())) {
    conf["runtimeConfig"]["dns"] = {
        {"servers", dns.servers}, {"searches", dns.searches}, {"options", dns.options}};
  }
  return conf.dump(-1, ' ', false, kReplace);
}

// CNI error codes that mean the node's configuration is wrong.
bool IsConfigError(int code) {
  return code == 1 || code == 2 || code == 4 || code == 6 || code == 7;
}

absl::Status PluginError(const CniPlugin& plugin, const char* command, const ProcessResult& r) {
  json err = json::parse(r.stdout_bytes, nullptr, false);
  std::string prefix = absl::StrCat("CNI plugin ", plugin.type, " ", command, " failed");
  if (err.is_object() && err.contains("msg") && err["msg"].is_string()) {
    int code = err.contains("code") && err["code"].is_number_integer() ? err["code"].get<int>() : 0;
    std::string msg = absl::StrCat(prefix, " (code ", code, "): ", err["msg"].get<std::string>());
    if (err.contains("details") && err["details"].is_string() &&
        !err["details"].get<std::string>().empty()) {
      absl::StrAppend(&msg, ": ", err["details"].get<std::string>());
    }
    return IsConfigError(code) ? absl::FailedPreconditionError(msg) : absl::UnavailableError(msg);
  }
  std::string out = std::string(absl::StripAsciiWhitespace(r.stderr_bytes + r.stdout_bytes));
  return absl::UnavailableError(absl::StrCat(prefix, " (exit ", r.exit_code, "): ", out));
}

}  // namespace

CniChain::CniChain(CniNetworkList network, std::vector<std::string> bin_dirs,
                   absl::Duration plugin_timeout)
    : network_(std::move(network)),
      bin_dirs_(std::move(bin_dirs)),
      plugin_timeout_(plugin_timeout) {}

absl::StatusOr<std::string> CniChain::Invoke(const CniPlugin& plugin, const char* command,
                                             const CniAttachment& a,
                                             const std::string& prev_result_json) const {
  absl::StatusOr<std::string> binary = FindCniPlugin(plugin.type, bin_dirs_);
  if (!binary.ok()) return binary.status();
  absl::StatusOr<std::string> args = CniArgs(a);
  if (!args.ok()) return args.status();
  ProcessSpec spec;
  spec.argv = {*binary};
  spec.env = {
      absl::StrCat("CNI_COMMAND=", command), absl::StrCat("CNI_CONTAINERID=", a.container_id),
      absl::StrCat("CNI_NETNS=", a.netns_path), absl::StrCat("CNI_IFNAME=", a.ifname),
      absl::StrCat("CNI_ARGS=", *args), absl::StrCat("CNI_PATH=", absl::StrJoin(bin_dirs_, ":")),
      // portmap and bridge run iptables found through PATH.
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  spec.stdin_bytes = PluginStdin(network_, plugin, a, prev_result_json);
  spec.timeout = plugin_timeout_;
  spec.max_output_bytes = kMaxPluginOutput;
  absl::StatusOr<ProcessResult> r = RunProcess(spec);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("CNI plugin ", plugin.type, " ", command,
                                                        ": ", r.status().message()));
  }
  if (r->exit_code != 0) return PluginError(plugin, command, *r);
  return std::move(r->stdout_bytes);
}

absl::StatusOr<CniResult> CniChain::Add(const CniAttachment& a) const {
  if (absl::Status s = ValidateAttachment(a); !s.ok()) return s;
  std::string prev;
  for (const CniPlugin& plugin : network_.plugins) {
    absl::StatusOr<std::string> out = Invoke(plugin, "ADD", a, prev);
    absl::StatusOr<CniResult> parsed =
        out.ok() ? ParseCniResult(*out) : absl::StatusOr<CniResult>(out.status());
    if (!parsed.ok()) {
      // Undo what earlier plugins (or this one, partly) did; ADD's error is
      // what the caller needs to see.
      absl::Status undo = Del(a, prev);
      absl::Status err = parsed.status();
      if (parsed.status().code() == absl::StatusCode::kDataLoss) {
        err = absl::UnavailableError(absl::StrCat(
            "CNI plugin ", plugin.type, " ADD returned a bad result: ", parsed.status().message()));
      }
      if (!undo.ok()) {
        return absl::Status(
            err.code(), absl::StrCat(err.message(), "; cleanup DEL also failed: ", undo.message()));
      }
      return err;
    }
    prev = parsed->json;
  }
  return ParseCniResult(prev);
}

absl::Status CniChain::Del(const CniAttachment& a, const std::string& prev_result_json) const {
  if (absl::Status s = ValidateAttachment(a); !s.ok()) return s;
  absl::Status first;
  for (auto it = network_.plugins.rbegin(); it != network_.plugins.rend(); ++it) {
    absl::StatusOr<std::string> out = Invoke(*it, "DEL", a, prev_result_json);
    if (!out.ok() && first.ok()) first = out.status();
  }
  return first;
}

}  // namespace vmmap::network
