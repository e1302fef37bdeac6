// vmmap: run Kubernetes pods as libvirt VMs with honest resource accounting.
#include <iostream>
#include <string>
#include <vector>

#include "server/render_command.h"
#include "server/serve_command.h"

namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap COMMAND [flags]\n"
         "  render FILE|-   print the libvirt domain XML for pod manifests (offline)\n"
         "  serve           serve the CRI (runtime.v1) on a unix socket\n"
         "  version         print the version\n"
         "Run 'vmmap COMMAND --help' for a command's flags.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(std::cerr);
    return 2;
  }
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "render") return vmmap::RunRenderCommand(args);
  if (command == "serve") return vmmap::RunServeCommand(args);
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
