#include "server/images/translations.h"

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "mapper/yaml_tree.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxRules = 10000;

absl::Status Bad(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("image translations ", path, ": ", why));
}

// Expands $N and ${N} with the regexp's groups (Go's regexp.Expand syntax,
// numbered groups only).
std::string Expand(const std::string& url, const std::vector<std::string>& groups) {
  std::string out;
  for (size_t i = 0; i < url.size(); ++i) {
    if (url[i] != '$' || i + 1 >= url.size()) {
      out.push_back(url[i]);
      continue;
    }
    size_t start = i + 1, end = start;
    bool braced = url[start] == '{';
    if (braced)
      ++start, end = url.find('}', start);
    else
      while (end < url.size() && absl::ascii_isdigit(url[end])) ++end;
    int n = -1;
    if (end != std::string::npos && end > start &&
        absl::SimpleAtoi(url.substr(start, end - start), &n) && n >= 0 &&
        static_cast<size_t>(n) < groups.size()) {
      out += groups[n];
      i = braced ? end : end - 1;
    } else {
      out.push_back('$');
    }
  }
  return out;
}

}  // namespace

Translations::~Translations() = default;

absl::StatusOr<std::shared_ptr<const Translations>> Translations::Parse(
    absl::string_view text, const std::string& path, const std::string& default_prefix) {
  yaml::Tree tree;
  absl::Status s = tree.Build(text);
  if (!s.ok()) return Bad(path, s.message());
  std::shared_ptr<Translations> t(new Translations());
  t->path_ = path;
  t->prefix_ = default_prefix;
  if (tree.documents().empty()) return std::shared_ptr<const Translations>(t);
  if (tree.documents().size() > 1) return Bad(path, "more than one YAML document");
  const yaml::Node& root = tree.node(tree.documents()[0].root);
  if (root.type != yaml::NodeType::kMapping) return Bad(path, "the top level is not a mapping");
  auto scalar = [&](yaml::NodeId id, const std::string& field) -> absl::StatusOr<std::string> {
    const yaml::Node& n = tree.node(id);
    if (n.type != yaml::NodeType::kScalar)
      return Bad(path, absl::StrCat(field, " is not a string"));
    return std::string(tree.Text(n));
  };
  for (const yaml::NodeId* it = tree.begin(root); it != tree.end(root); it += 2) {
    absl::StatusOr<std::string> key = scalar(it[0], "a key");
    if (!key.ok()) return key.status();
    if (*key == "prefix") {
      absl::StatusOr<std::string> prefix = scalar(it[1], "prefix");
      if (!prefix.ok()) return prefix.status();
      t->prefix_ = *prefix;
    } else if (*key == "translations") {
      const yaml::Node& list = tree.node(it[1]);
      if (list.type != yaml::NodeType::kSequence) return Bad(path, "translations is not a list");
      if (list.size > kMaxRules) return Bad(path, "more than 10000 translations");
      size_t index = 0;
      for (const yaml::NodeId* r = tree.begin(list); r != tree.end(list); ++r, ++index) {
        const std::string where = absl::StrCat("translations[", index, "]");
        const yaml::Node& entry = tree.node(*r);
        if (entry.type != yaml::NodeType::kMapping)
          return Bad(path, absl::StrCat(where, " is not a mapping"));
        Rule rule;
        std::string regexp;
        for (const yaml::NodeId* f = tree.begin(entry); f != tree.end(entry); f += 2) {
          absl::StatusOr<std::string> field = scalar(f[0], absl::StrCat(where, " key"));
          if (!field.ok()) return field.status();
          absl::StatusOr<std::string> value = scalar(f[1], absl::StrCat(where, ".", *field));
          if (!value.ok()) return value.status();
          if (*field == "name")
            rule.name = *value;
          else if (*field == "regexp")
            regexp = *value;
          else if (*field == "url")
            rule.url = *value;
          else
            return Bad(path, absl::StrCat(where, ": unknown field ", absl::CHexEscape(*field)));
        }
        if (rule.name.empty() == regexp.empty()) {
          return Bad(path, absl::StrCat(where, " needs exactly one of name and regexp"));
        }
        std::string lower = absl::AsciiStrToLower(rule.url.substr(0, 8));
        if (!absl::StartsWith(lower, "http://") && !absl::StartsWith(lower, "https://")) {
          return Bad(path, absl::StrCat(where, ".url \"", absl::CHexEscape(rule.url),
                                        "\" is not an http:// or https:// URL"));
        }
        if (!regexp.empty()) {
          RE2::Options options;
          options.set_log_errors(false);
          rule.regexp = std::make_unique<RE2>(regexp, options);
          if (!rule.regexp->ok()) {
            return Bad(path, absl::StrCat(where, ".regexp: ", rule.regexp->error()));
          }
        }
        t->rules_.push_back(std::move(rule));
      }
    } else {
      return Bad(path, absl::StrCat("unknown field ", absl::CHexEscape(*key)));
    }
  }
  if (t->prefix_.empty()) return Bad(path, "prefix is empty");
  if (t->prefix_.back() != '/') t->prefix_.push_back('/');
  return std::shared_ptr<const Translations>(t);
}

absl::StatusOr<std::optional<std::string>> Translations::Translate(
    const std::string& reference) const {
  if (!absl::StartsWith(reference, prefix_)) return std::nullopt;
  const std::string name = reference.substr(prefix_.size());
  std::vector<std::string> candidates = {name};
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && name.find('/', colon) == std::string::npos) {
    candidates.push_back(name.substr(0, colon));
  }
  for (const std::string& candidate : candidates) {
    for (const Rule& rule : rules_) {
      if (!rule.regexp) {
        if (rule.name == candidate) return rule.url;
        continue;
      }
      int n = rule.regexp->NumberOfCapturingGroups();
      std::vector<std::string> groups(n + 1);
      std::vector<RE2::Arg> args(n);
      std::vector<RE2::Arg*> arg_ptrs(n);
      for (int i = 0; i < n; ++i) {
        args[i] = &groups[i + 1];
        arg_ptrs[i] = &args[i];
      }
      if (RE2::FullMatchN(candidate, *rule.regexp, arg_ptrs.data(), n)) {
        groups[0] = candidate;
        return Expand(rule.url, groups);
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("image ", absl::CHexEscape(reference.substr(0, 300)),
                                          ": no translation for \"",
                                          absl::CHexEscape(name.substr(0, 200)), "\" in ", path_));
}

}  // namespace vmmap::images_internal
