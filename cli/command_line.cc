#include "cli/command_line.h"

#include "absl/strings/str_cat.h"

namespace vmmap {

absl::StatusOr<std::vector<CommandArg>> SplitCommandLine(const std::vector<std::string>& args,
                                                         const std::set<std::string>& switches) {
  std::vector<CommandArg> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || switches.count(arg)) {
      out.push_back({arg == "-h" ? "--help" : arg, ""});
    } else if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        out.push_back({arg.substr(0, eq), arg.substr(eq + 1)});
      } else if (i + 1 < args.size()) {
        out.push_back({arg, args[++i]});
      } else {
        return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      }
    } else {
      out.push_back({"", arg});
    }
  }
  return out;
}

}  // namespace vmmap
