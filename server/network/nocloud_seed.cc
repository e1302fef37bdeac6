#include "server/network/nocloud_seed.h"

#include <yaml.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/network/dns_names.h"

namespace vmmap::network {
namespace {

// The name the guest's NIC gets (set-name), matched by MAC.
constexpr char kGuestInterface[] = "eth0";

absl::Status Bad(const char* field, const std::string& value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "NoCloud seed: ", field, " \"", absl::CHexEscape(value.substr(0, 256)), "\" is not valid"));
}

bool IsMac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    char c = mac[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (i % 3 == 2 ? c != ':' : !hex) return false;
  }
  return true;
}

bool IsCidr(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string ip = cidr.substr(0, slash);
  int prefix = 0;
  if (!absl::SimpleAtoi(cidr.substr(slash + 1), &prefix) || prefix < 0) return false;
  if (IsIpv4(ip)) return prefix <= 32;
  return IsIpLiteral(ip) && prefix <= 128;
}

// A YAML document built event by event: keys are plain scalars (constants
// of this file), every value from outside is a double-quoted scalar, so its
// text can never become structure.
class YamlWriter {
 public:
  YamlWriter() {
    yaml_emitter_initialize(&emitter_);
    yaml_emitter_set_output(&emitter_, &YamlWriter::Append, &out_);
    yaml_emitter_set_unicode(&emitter_, 0);
    yaml_event_t e;
    yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING);
    Emit(e);
    yaml_document_start_event_initialize(&e, nullptr, nullptr, nullptr, 1);
    Emit(e);
  }
  ~YamlWriter() { yaml_emitter_delete(&emitter_); }
  YamlWriter(const YamlWriter&) = delete;
  YamlWriter& operator=(const YamlWriter&) = delete;

  void BeginMap() {
    yaml_event_t e;
    yaml_mapping_start_event_initialize(&e, nullptr, nullptr, 1, YAML_BLOCK_MAPPING_STYLE);
    Emit(e);
  }
  void EndMap() {
    yaml_event_t e;
    yaml_mapping_end_event_initialize(&e);
    Emit(e);
  }
  void BeginList() {
    yaml_event_t e;
    yaml_sequence_start_event_initialize(&e, nullptr, nullptr, 1, YAML_BLOCK_SEQUENCE_STYLE);
    Emit(e);
  }
  void EndList() {
    yaml_event_t e;
    yaml_sequence_end_event_initialize(&e);
    Emit(e);
  }
  void Key(const char* key) { Scalar(key, YAML_PLAIN_SCALAR_STYLE); }
  void Text(const std::string& value) { Scalar(value, YAML_DOUBLE_QUOTED_SCALAR_STYLE); }
  void Int(int value) { Scalar(absl::StrCat(value), YAML_PLAIN_SCALAR_STYLE); }

  absl::StatusOr<std::string> Finish() {
    yaml_event_t e;
    yaml_document_end_event_initialize(&e, 1);
    Emit(e);
    yaml_stream_end_event_initialize(&e);
    Emit(e);
    if (!ok_) {
      return absl::InternalError(
          absl::StrCat("YAML emitter: ", emitter_.problem ? emitter_.problem : "failed"));
    }
    return out_;
  }

 private:
  static int Append(void* data, unsigned char* buffer, size_t size) {
    static_cast<std::string*>(data)->append(reinterpret_cast<char*>(buffer), size);
    return 1;
  }
  void Scalar(const std::string& value, yaml_scalar_style_t style) {
    yaml_event_t e;
    const bool plain = style == YAML_PLAIN_SCALAR_STYLE;
    yaml_scalar_event_initialize(
        &e, nullptr, nullptr, reinterpret_cast<yaml_char_t*>(const_cast<char*>(value.data())),
        static_cast<int>(value.size()), plain ? 1 : 0, plain ? 0 : 1, style);
    Emit(e);
  }
  // The emitter owns and frees the event, also when it fails.
  void Emit(yaml_event_t& e) {
    if (!ok_) {
      yaml_event_delete(&e);
      return;
    }
    ok_ = yaml_emitter_emit(&emitter_, &e) == 1;
  }

  yaml_emitter_t emitter_;
  std::string out_;
  bool ok_ = true;
};

absl::Status Validate(const std::string& instance_id, const GuestAddressing& a) {
  if (instance_id.empty() || instance_id.size() > 128 || !IsHostname(instance_id)) {
    return Bad("instance-id", instance_id);
  }
  if (!a.hostname.empty() && !IsHostname(a.hostname)) return Bad("hostname", a.hostname);
  if (!IsMac(a.mac)) return Bad("MAC address", a.mac);
  if (a.mtu < 0 || a.mtu > 65535) return Bad("MTU", absl::StrCat(a.mtu));
  if (a.ips.empty()) return absl::InvalidArgumentError("NoCloud seed: the pod has no IP address");
  for (const CniIp& ip : a.ips) {
    if (!IsCidr(absl::StrCat(ip.ip, "/", ip.prefix_length))) return Bad("address", ip.address);
    if (!ip.gateway.empty() && !IsIpLiteral(ip.gateway)) return Bad("gateway", ip.gateway);
  }
  for (const CniRoute& r : a.routes) {
    if (!IsCidr(r.dst)) return Bad("route destination", r.dst);
    if (!r.gw.empty() && !IsIpLiteral(r.gw)) return Bad("route gateway", r.gw);
  }
  return ValidateGuestDns(a.dns);
}

// A route without its own gateway goes via the pod's gateway of its family;
// without either it is left out (network-config v2 routes need `via`).
std::string ViaFor(const CniRoute& route, const std::vector<CniIp>& ips) {
  if (!route.gw.empty()) return route.gw;
  const bool v4 = IsIpv4(route.dst.substr(0, route.dst.find('/')));
  for (const CniIp& ip : ips) {
    if (ip.ipv6 != v4 && !ip.gateway.empty()) return ip.gateway;
  }
  return "";
}

absl::StatusOr<std::string> MetaData(const std::string& instance_id, const GuestAddressing& a) {
  YamlWriter y;
  y.BeginMap();
  y.Key("instance-id");
  y.Text(instance_id);
  if (!a.hostname.empty()) {
    y.Key("local-hostname");
    y.Text(a.hostname);
  }
  y.EndMap();
  return y.Finish();
}

absl::StatusOr<std::string> NetworkConfig(const GuestAddressing& a) {
  YamlWriter y;
  y.BeginMap();
  y.Key("version");
  y.Int(2);
  y.Key("ethernets");
  y.BeginMap();
  y.Key(kGuestInterface);
  y.BeginMap();
  y.Key("match");
  y.BeginMap();
  y.Key("macaddress");
  y.Text(a.mac);
  y.EndMap();
  y.Key("set-name");
  y.Text(kGuestInterface);
  y.Key("addresses");
  y.BeginList();
  for (const CniIp& ip : a.ips) y.Text(absl::StrCat(ip.ip, "/", ip.prefix_length));
  y.EndList();
  if (a.mtu > 0) {
    y.Key("mtu");
    y.Int(a.mtu);
  }
  bool any_route = false;
  for (const CniRoute& r : a.routes) any_route = any_route || !ViaFor(r, a.ips).empty();
  if (any_route) {
    y.Key("routes");
    y.BeginList();
    for (const CniRoute& r : a.routes) {
      std::string via = ViaFor(r, a.ips);
      if (via.empty()) continue;
      y.BeginMap();
      y.Key("to");
      y.Text(r.dst);
      y.Key("via");
      y.Text(via);
      y.EndMap();
    }
    y.EndList();
  }
  if (!a.dns.nameservers.empty() || !a.dns.searches.empty()) {
    y.Key("nameservers");
    y.BeginMap();
    y.Key("addresses");
    y.BeginList();
    for (const std::string& s : a.dns.nameservers) y.Text(s);
    y.EndList();
    y.Key("search");
    y.BeginList();
    for (const std::string& s : a.dns.searches) y.Text(s);
    y.EndList();
    y.EndMap();
  }
  y.EndMap();
  y.EndMap();
  y.EndMap();
  return y.Finish();
}

}  // namespace

absl::StatusOr<NoCloudSeed> RenderNoCloudSeed(const std::string& instance_id,
                                              const GuestAddressing& addressing) {
  return RenderNoCloudSeed(instance_id, &addressing, {});
}

absl::StatusOr<NoCloudSeed> RenderNoCloudSeed(const std::string& instance_id,
                                              const GuestAddressing* addressing,
                                              const std::vector<BootCommand>& bootcmd) {
  const GuestAddressing none;
  if (addressing != nullptr) {
    if (absl::Status s = Validate(instance_id, *addressing); !s.ok()) return s;
  } else if (instance_id.empty() || instance_id.size() > 128 || !IsHostname(instance_id)) {
    return Bad("instance-id", instance_id);
  }
  NoCloudSeed seed;
  absl::StatusOr<std::string> meta = MetaData(instance_id, addressing ? *addressing : none);
  if (!meta.ok()) return meta.status();
  seed.meta_data = *std::move(meta);
  if (addressing != nullptr) {
    absl::StatusOr<std::string> net = NetworkConfig(*addressing);
    if (!net.ok()) return net.status();
    seed.network_config = *std::move(net);
  }
  seed.user_data = "#cloud-config\n";
  if (!bootcmd.empty()) {
    YamlWriter y;
    y.BeginMap();
    y.Key("bootcmd");
    y.BeginList();
    for (const BootCommand& command : bootcmd) {
      y.BeginList();
      for (const std::string& word : command) y.Text(word);
      y.EndList();
    }
    y.EndList();
    y.EndMap();
    absl::StatusOr<std::string> user = y.Finish();
    if (!user.ok()) return user.status();
    seed.user_data += *user;
  }
  return seed;
}

}  // namespace vmmap::network
