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

#include "cli/annotate_command.h"
#include "cli/overhead_command.h"
#include "cli/render_command.h"

namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap COMMAND [flags]\n"
         "  render FILE|-   print the libvirt domain XML for pod manifests (offline)\n"
         "  annotate FILE   set (--vcpus N) or suggest a pod's vCPU count in its manifest\n"
         "  overhead        print RuntimeClasses whose podFixed covers the VMs' overhead\n"
         "  serve           serve the CRI (runtime.v1) on a unix socket\n"
         "  check           can this node run vmmap pods? each finding with its fix\n"
         "  version         print the version, commit, CRI API, libvirt and QEMU found\n"
         "Run 'vmmap COMMAND --help' for a command's flags.\n";
}

// Replaces this process with `binary` from the same directory, passing the
// arguments after the command (vmmap-node also gets the command itself).
int ExecSibling(const std::string& binary, bool pass_command, int argc, char** argv) {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::cerr << "vmmap: cannot locate myself to start " << binary << "\n";
    return 1;
  }
  self[n] = '\0';
  std::string path(self);
  path = path.substr(0, path.rfind('/') + 1) + binary;
  std::vector<char*> args = {path.data()};
  for (int i = pass_command ? 1 : 2; i < argc; ++i) args.push_back(argv[i]);
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
  if (command == "render")
    return vmmap::RunRenderCommand(std::vector<std::string>(argv + 2, argv + argc));
  if (command == "annotate") {
    return vmmap::RunAnnotateCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (command == "overhead") {
    return vmmap::RunOverheadCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (command == "serve") return ExecSibling("vmmap-serve", false, argc, argv);
  if (command == "check" || command == "version")
    return ExecSibling("vmmap-node", true, argc, argv);
  if (command == "--version") {
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
