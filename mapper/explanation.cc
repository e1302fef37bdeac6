#include "mapper/explanation.h"

#include "absl/strings/str_cat.h"

namespace vmmap {

std::string Explanation::ToText() const {
  std::string out;
  for (const Derivation& d : steps) {
    absl::StrAppend(&out, d.target, " = ", d.value, "\n    from: ", d.input, "\n    rule: ", d.rule,
                    "\n");
  }
  for (const std::string& w : warnings) absl::StrAppend(&out, "warning: ", w, "\n");
  return out;
}

}  // namespace vmmap
