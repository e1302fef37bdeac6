// vmmap: run Kubernetes pods as libvirt VMs with honest resource accounting.
//
// `render` runs in this process, which links only the mapper, so that an
// offline render starts in a few milliseconds. `serve` is the CRI server,
// a separate binary (vmmap-serve, next to this one) because it links gRPC,
// protobuf and libvirt, whose ~100 shared libraries take longer to load
// than a whole render.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/overhead_command.h"
#include "cli/render_command.h"

namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap COMMAND [flags]\n"
         "  render FILE|-   print the libvirt domain XML for pod manifests (offline)\n"
         "  overhead        print RuntimeClasses whose podFixed covers the VMs' overhead\n"
         "  serve           serve the CRI (runtime.v1) on a unix socket\n"
         "  version         print the version\n"
         "Run 'vmmap COMMAND --help' for a command's flags.\n";
}

// Replaces this process with vmmap-serve from the same directory.
int ExecServe(int argc, char** argv) {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::cerr << "vmmap: cannot locate myself to start vmmap-serve\n";
    return 1;
  }
  self[n] = '\0';
  std::string path(self);
  path = path.substr(0, path.rfind('/') + 1) + "vmmap-serve";
  std::vector<char*> args = {path.data()};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  std::cerr << "vmmap: cannot run " << path << ": " << strerror(errno) << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(std::cerr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "render") return vmmap::RunRenderCommand(std::vector<std::string>(argv + 2, argv + argc));
  if (command == "overhead") {
    return vmmap::RunOverheadCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (command == "serve") return ExecServe(argc, argv);
  if (command == "version" || command == "--version") {
    std::cout << "vmmap " << VMMAP_VERSION << "\n";
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage(std::cout);
    return 0;
  }
  std::cerr << "vmmap: unknown command \"" << command << "\"\n";
  PrintUsage(std::cerr);
  return 2;
}
