// How every number in a domain was derived: input → rule → value, plus
// warnings. `vmmap render --explain` prints it; the server logs it.
#ifndef VMMAP_MAPPER_EXPLANATION_H_
#define VMMAP_MAPPER_EXPLANATION_H_

#include <string>
#include <vector>

namespace vmmap {

struct Derivation {
  std::string target;  // the XML element or value ("cputune/quota")
  std::string input;   // what it was computed from
  std::string rule;    // how
  std::string value;   // the result as written
};

struct Explanation {
  std::vector<Derivation> steps;
  std::vector<std::string> warnings;

  void Add(std::string target, std::string input, std::string rule, std::string value) {
    steps.push_back({std::move(target), std::move(input), std::move(rule), std::move(value)});
  }
  void Warn(std::string warning) { warnings.push_back(std::move(warning)); }
  std::string ToText() const;
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_EXPLANATION_H_
