// The node's CNI network configuration, found the way libcni finds it: the
// files *.conf, *.conflist and *.json of the config directory in lexical
// order, the first one that is valid wins. The directory belongs to the
// node admin; its contents are still checked (plugin types must be plain
// file names) because they choose what vmmap executes.
#ifndef VMMAP_SERVER_NETWORK_CNI_CONFIG_H_
#define VMMAP_SERVER_NETWORK_CNI_CONFIG_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap::network {

inline constexpr char kDefaultCniConfDir[] = "/etc/cni/net.d";
inline constexpr char kDefaultCniBinDir[] = "/opt/cni/bin";
inline constexpr char kDebianCniBinDir[] = "/usr/lib/cni";

struct CniPlugin {
  std::string type;                    // the executable's file name
  std::string config_json;             // the plugin's object as written in the file
  std::set<std::string> capabilities;  // keys of "capabilities" that are true
};

struct CniNetworkList {
  std::string source_path;
  std::string name;
  std::string cni_version;
  std::vector<CniPlugin> plugins;  // ADD order
};

// Parses one file's bytes; `is_list` for .conflist. InvalidArgument names
// the file and the field.
absl::StatusOr<CniNetworkList> ParseCniConfig(const std::string& path, const std::string& bytes,
                                              bool is_list);

// The first valid network of `conf_dir`. FailedPrecondition naming the
// directory (and why each candidate was skipped) when there is none.
absl::StatusOr<CniNetworkList> LoadCniConfig(const std::string& conf_dir);

// What the CRI Status call reports as NetworkReady.
struct NetworkReadiness {
  bool ready = false;
  std::string reason;   // "NetworkPluginNotReady" when not ready
  std::string message;  // names the config directory when not ready
};
NetworkReadiness CheckCniReadiness(const std::string& conf_dir);

// Directories searched for plugin executables, in order. `flag_value` is
// --cni-bin-dir (colon-separated); the default also searches Debian's
// /usr/lib/cni, where containernetworking-plugins installs them.
std::vector<std::string> CniBinDirs(const std::string& flag_value);

// The absolute path of plugin `type`: the first regular executable file of
// that name in `bin_dirs`. FailedPrecondition naming the type and the dirs.
absl::StatusOr<std::string> FindCniPlugin(const std::string& type,
                                          const std::vector<std::string>& bin_dirs);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_CNI_CONFIG_H_
