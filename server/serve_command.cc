#include "server/serve_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "cli/command_line.h"
#include "cli/node_flags.h"
#include "mapper/quantity.h"
#include "server/base/files.h"
#include "server/base/log.h"
#include "server/cgroup_partition.h"
#include "server/embedded_driver.h"
#include "server/state_dir.h"
#include "server/cri/call_log.h"
#include "server/cri/image_service.h"
#include "server/cri/legacy_state_decoder.h"
#include "server/cri/runtime_service.h"
#include "server/images/image_flags.h"
#include "server/images/image_store.h"
#include "server/logs/console_log_forwarder.h"
#include "server/metrics/cri_call_metrics.h"
#include "server/metrics/metrics_endpoint.h"
#include "server/metrics/pod_metrics.h"
#include "server/network/pod_network.h"
#include "server/runtime/pod_runtime.h"
#include "server/runtime/sandbox_network.h"
#include "server/state/state_store.h"
#include "server/stats/stats_collector.h"
#include "server/virt/libvirt_hypervisor.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultSocket[] = "/run/vmmap/vmmap.sock";
constexpr char kDefaultStateDir[] = "/var/lib/vmmap";
constexpr mode_t kSocketMode = 0660;  // kubelet runs as root; nobody else may drive VMs

struct ServeOptions {
  std::string socket = kDefaultSocket;
  std::string state_dir = kDefaultStateDir;
  std::string libvirt_uri;  // default: embedded QEMU driver under the state dir
  std::string domain_type = "auto";
  bool create_partition = true;
  LogLevel log_level = LogLevel::kInfo;
  int64_t console_log_max_bytes = ConsoleLogForwarder::kDefaultMaxConsoleBytes;
  std::string metrics_address = "127.0.0.1:9462";  // loopback: the figures name pods
  bool metrics_address_given = false;
  NodeConfig node;
  ImageStoreOptions images;
  network::CniOptions cni;
};

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap serve [flags]\n"
         "  --socket PATH         CRI socket [/run/vmmap/vmmap.sock], mode 0660\n"
         "  --state-dir DIR       state, images, overlays, console logs [/var/lib/vmmap]\n"
         "  --libvirt-uri URI     [qemu:///embed?root=STATE_DIR/libvirt]: no daemon needed;\n"
         "                        qemu:///system uses a running libvirtd\n"
         "  --domain-type auto|kvm|qemu   auto: kvm when /dev/kvm is usable [auto]\n"
         "  --no-create-partition do not create the cgroupfs node partition\n"
         "  --log-level debug|info|warning|error   [info]; debug logs every CRI call\n"
         "  --cni-conf-dir DIR    CNI network configs [/etc/cni/net.d]\n"
         "  --cni-bin-dir DIRS    CNI plugins, colon-separated [/opt/cni/bin, then /usr/lib/cni]\n"
         "  --metrics-address HOST:PORT  Prometheus /metrics [127.0.0.1:9462]; empty: off\n"
         "  --console-log-max-size Q  most unread bytes a VM's serial console file may\n"
         "                        hold; older output is dropped with a marker line [10Mi]\n"
      << NodeFlagsHelp() << ImageFlagsHelp();
}

int Usage(const std::string& message) {
  std::cerr << "vmmap serve: " << message << "\n";
  PrintUsage(std::cerr);
  return 2;
}

DomainType ResolveDomainType(const std::string& flag) {
  if (flag == "kvm") return DomainType::kKvm;
  if (flag == "qemu") return DomainType::kQemu;
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return DomainType::kQemu;
  ::close(fd);
  return DomainType::kKvm;
}

// Blocks SIGINT/SIGTERM in every thread; the main thread waits for them.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int RunServeCommand(const std::vector<std::string>& args) {
  ServeOptions options;
  absl::StatusOr<std::vector<CommandArg>> parsed =
      SplitCommandLine(args, {"--no-create-partition"});
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  for (const CommandArg& arg : *parsed) {
    const std::string& value = arg.value;
    if (arg.flag == "--help") {
      PrintUsage(std::cout);
      return 0;
    } else if (arg.flag.empty()) {
      return Usage(absl::StrCat("unexpected argument ", value));
    } else if (arg.flag == "--no-create-partition") {
      options.create_partition = false;
    } else if (arg.flag == "--socket") {
      options.socket = value;
    } else if (arg.flag == "--state-dir") {
      options.state_dir = value;
    } else if (arg.flag == "--cni-conf-dir") {
      if (value.empty()) return Usage("--cni-conf-dir: empty");
      options.cni.conf_dir = value;
    } else if (arg.flag == "--cni-bin-dir") {
      if (value.empty()) return Usage("--cni-bin-dir: empty");
      options.cni.bin_dir = value;
    } else if (arg.flag == "--libvirt-uri") {
      options.libvirt_uri = value;
    } else if (arg.flag == "--domain-type") {
      if (value != "auto" && value != "kvm" && value != "qemu") {
        return Usage(absl::StrCat("--domain-type=\"", value, "\": expected auto, kvm or qemu"));
      }
      options.domain_type = value;
    } else if (arg.flag == "--metrics-address") {
      options.metrics_address = arg.value;
      options.metrics_address_given = true;
    } else if (arg.flag == "--log-level") {
      absl::StatusOr<LogLevel> level = ParseLogLevel(value);
      if (!level.ok()) return Usage(std::string(level.status().message()));
      options.log_level = *level;
    } else if (arg.flag == "--console-log-max-size") {
      absl::StatusOr<Quantity> q = Quantity::Parse(value, arg.flag);
      absl::StatusOr<int64_t> bytes = q.ok() ? q->Units() : q.status();
      if (!bytes.ok() || *bytes < 4096) {
        return Usage(absl::StrCat("--console-log-max-size=\"", value,
                                  "\": expected a size of at least 4Ki, e.g. 10Mi"));
      }
      options.console_log_max_bytes = *bytes;
    } else {
      bool consumed = false;
      absl::Status s = ParseNodeFlag(arg.flag, value, options.node, &consumed);
      if (s.ok() && !consumed) s = ParseImageFlag(arg.flag, value, options.images, &consumed);
      if (!s.ok()) return Usage(std::string(s.message()));
      if (!consumed) return Usage(absl::StrCat("unknown flag ", arg.flag));
    }
  }
  std::error_code absolute_ec;
  options.state_dir = fs::absolute(options.state_dir, absolute_ec).string();
  if (absolute_ec)
    return Usage(absl::StrCat("--state-dir ", options.state_dir, ": ", absolute_ec.message()));
  if (options.libvirt_uri.empty()) {
    options.libvirt_uri = absl::StrCat("qemu:///embed?root=", options.state_dir, "/libvirt");
  }
  options.node.domain_type = ResolveDomainType(options.domain_type);

  SetLogLevel(options.log_level);

  const sigset_t stop_signals = BlockStopSignals();
  auto fail = [](const absl::Status& s) {
    VMMAP_LOG(kError, "vmmap serve: ", s.message());
    return 1;
  };
  // QEMU (maybe another uid) must reach its files: see state_dir.h.
  const bool runs_qemu = options.libvirt_uri.rfind("qemu", 0) == 0;
  if (absl::Status s = PrepareStateDir(options.state_dir, runs_qemu); !s.ok()) return fail(s);

  if (options.create_partition && options.node.cgroup_driver == CgroupDriver::kCgroupfs) {
    if (absl::Status s = EnsureCgroupfsPartition(options.node.node_partition); !s.ok()) {
      return fail(s);
    }
  }
  if (absl::Status s = PrepareEmbeddedDriver(options.libvirt_uri); !s.ok()) return fail(s);
  // A database of the unversioned layout is migrated here (the CRI edge
  // decodes its serialized configs).
  const CriLegacyRowDecoder legacy_rows;
  absl::StatusOr<std::unique_ptr<StateStore>> store =
      StateStore::Open(options.state_dir + "/state.db", &legacy_rows);
  if (!store.ok()) return fail(store.status());
  absl::StatusOr<std::unique_ptr<ImageStore>> images =
      ImageStore::Open(options.state_dir + "/images", options.images);
  if (!images.ok()) return fail(images.status());
  absl::StatusOr<std::unique_ptr<virt::LibvirtHypervisor>> hypervisor =
      virt::LibvirtHypervisor::Open(options.libvirt_uri);
  if (!hypervisor.ok()) return fail(hypervisor.status());

  // Pods that are not hostNetwork get a netns and an address from CNI.
  std::unique_ptr<network::PodNetwork> pod_network = network::NewCniPodNetwork(options.cni);
  RuntimeOptions runtime_options{options.state_dir, options.node, pod_network.get()};
  if (const std::string root = EmbeddedDriverRoot(options.libvirt_uri); !root.empty()) {
    runtime_options.domain_log_dir = root + "/log/qemu";
  }
  PodRuntime runtime(runtime_options, hypervisor->get(), store->get(), images->get());
  if (absl::Status s = runtime.Recover(); !s.ok()) return fail(s);

  // Pod network stats: the pod's interface inside its namespace (the VM's tap
  // lives there, where libvirt cannot see it).
  StatsOptions stats_options;
  stats_options.network_counters =
      [&pod_network](const SandboxRecord& sandbox) -> absl::StatusOr<std::vector<InterfaceStats>> {
    if (sandbox.network.netns_path.empty()) return std::vector<InterfaceStats>{};
    absl::StatusOr<network::InterfaceCounters> c = pod_network->Counters(NetworkStateOf(sandbox));
    if (!c.ok()) return c.status();
    return std::vector<InterfaceStats>{
        {c->name, c->rx_bytes, c->rx_errors, c->tx_bytes, c->tx_errors}};
  };
  stats_options.node = options.node;  // planned guest memory beside the measured
  StatsCollector stats(hypervisor->get(), &runtime, images->get(), std::move(stats_options));
  // Serial consoles to CRI log files (kubectl logs), after Recover() settled the rows.
  ConsoleLogForwarder console_logs(store->get(), std::chrono::seconds(1), std::chrono::seconds(1),
                                   /*clock=*/nullptr, options.console_log_max_bytes);
  console_logs.Start();
  // /metrics: declared after what it reads, so it stops serving first.
  CriCallMetrics cri_metrics;
  auto pod_metrics = std::make_shared<PodMetrics>(&stats);
  std::unique_ptr<prometheus::Exposer> metrics_endpoint;
  if (!options.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> endpoint =
        StartMetricsEndpoint(options.metrics_address);
    if (endpoint.ok()) {
      (*endpoint)->RegisterCollectable(cri_metrics.registry());
      (*endpoint)->RegisterCollectable(pod_metrics);
      metrics_endpoint = std::move(*endpoint);
    } else if (options.metrics_address_given) {
      return fail(endpoint.status());
    } else {
      // The default port may be taken (a second vmmap on one host): serving
      // the CRI matters more than the metrics.
      VMMAP_LOG(kWarning, "vmmap serve: ", endpoint.status().message(), "; /metrics is off");
    }
  }
  RuntimeService runtime_service(&runtime, &stats, &console_logs, hypervisor->get());
  ImageService image_service(images->get(), &runtime);
  std::error_code ec;
  if (absl::Status s = MakeDirectories(fs::path(options.socket).parent_path().string(), 0755);
      !s.ok()) {
    return fail(s);
  }
  fs::remove(options.socket, ec);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", options.socket),
                           grpc::InsecureServerCredentials());
  builder.RegisterService(&runtime_service);
  builder.RegisterService(&image_service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeCallLogFactory());
  interceptors.push_back(MakeCriCallMetricsFactory(&cri_metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // The socket is created with no permissions for others from its first
  // instant, not chmod'ed after a window in which anyone could connect.
  const mode_t old_umask = ::umask(0117);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ::umask(old_umask);
  if (!server)
    return fail(absl::UnavailableError(absl::StrCat("cannot listen on ", options.socket)));
  ::chmod(options.socket.c_str(), kSocketMode);
  VMMAP_LOG(kInfo, "vmmap serve: listening on ", options.socket, " (libvirt ", options.libvirt_uri,
            ", domain type ", DomainTypeName(options.node.domain_type), ", state ",
            options.state_dir, ")");

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  VMMAP_LOG(kInfo, "vmmap serve: signal ", signal_number, ", stopping (VMs keep running)");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  console_logs.Stop();
  fs::remove(options.socket, ec);
  return 0;
}

}  // namespace vmmap
