// vmmap-node: the `vmmap` commands that look at the node (`check`,
// `version`). A binary of its own because they link libvirt, which the
// static `vmmap` CLI does not; `vmmap check|version` exec it.
#include <iostream>
#include <string>
#include <vector>

#include "cli/check_command.h"
#include "cli/version_command.h"

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  const std::vector<std::string> args(argv + (argc > 1 ? 2 : 1), argv + argc);
  if (command == "check") return vmmap::RunCheckCommand(args);
  if (command == "version") return vmmap::RunVersionCommand(args);
  std::cerr << "usage: vmmap-node check|version [flags] (run through `vmmap check|version`)\n";
  return 2;
}
