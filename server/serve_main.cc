// vmmap-serve: the CRI server binary that `vmmap serve` runs.
#include <string>
#include <vector>

#include "server/serve_command.h"

int main(int argc, char** argv) {
  return vmmap::RunServeCommand(std::vector<std::string>(argv + 1, argv + argc));
}
