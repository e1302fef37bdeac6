#include "cli/annotate_edit.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "mapper/pod_manifest.h"
#include "mapper/yaml_tree.h"

namespace vmmap {
namespace {

using yaml::Node;
using yaml::NodeId;
using yaml::NodeType;
using yaml::Tree;

struct Insertion {
  size_t offset;       // byte offset in the input
  size_t replace = 0;  // bytes replaced at `offset`
  std::string text;
};

// libyaml's marks count characters; edits need bytes. Every mark is checked
// against the byte found there before an edit is made.
class Locator {
 public:
  explicit Locator(absl::string_view text) : text_(text) {
    size_t chars = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
        if (byte_of_char_.size() <= chars) byte_of_char_.push_back(i);
        ++chars;
      }
    }
    byte_of_char_.push_back(text.size());
  }
  // Skips a UTF-8 BOM, which libyaml does not count.
  size_t Byte(const yaml::Mark& mark) const {
    const size_t bom = absl::StartsWith(text_, "\xEF\xBB\xBF") ? 1 : 0;
    const size_t index = mark.index + bom;
    return index < byte_of_char_.size() ? byte_of_char_[index] : text_.size();
  }

 private:
  absl::string_view text_;
  std::vector<size_t> byte_of_char_;
};

absl::Status CannotEdit(const Node& node, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(yaml::Where(node.start), what));
}

const Node* Lookup(const Tree& tree, const Node& map, absl::string_view key,
                   const Node** key_node) {
  if (map.type != NodeType::kMapping) return nullptr;
  for (const NodeId* it = tree.begin(map); it != tree.end(map); it += 2) {
    const Node& k = tree.node(it[0]);
    if (k.type == NodeType::kScalar && tree.Text(k) == key) {
      if (key_node != nullptr) *key_node = &k;
      return &tree.node(it[1]);
    }
  }
  return nullptr;
}

// The source extent of a scalar value that starts at `from`: a quoted
// scalar to its closing quote, a plain one to the end of its line (less a
// comment and trailing blanks). Block scalars and multi-line values are refused.
absl::StatusOr<size_t> ScalarEnd(absl::string_view text, size_t from, const Node& node) {
  if (from >= text.size()) return from;
  const char first = text[from];
  if (first == '|' || first == '>')
    return CannotEdit(node, "a block scalar annotation value cannot be edited in place");
  if (first == '"' || first == '\'') {
    for (size_t i = from + 1; i < text.size(); ++i) {
      if (text[i] == '\n') break;
      if (first == '"' && text[i] == '\\') {
        ++i;
      } else if (text[i] == first) {
        if (first == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          ++i;
        } else {
          return i + 1;
        }
      }
    }
    return CannotEdit(node, "a quoted annotation value spanning lines cannot be edited in place");
  }
  size_t end = from;
  while (end < text.size() && text[end] != '\n' && text[end] != '\r' && text[end] != ',' &&
         text[end] != '}' &&
         !(text[end] == '#' && end > from && (text[end - 1] == ' ' || text[end - 1] == '\t'))) {
    ++end;
  }
  while (end > from && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  return end;
}

class PodEditor {
 public:
  PodEditor(absl::string_view text, const Tree& tree, absl::string_view key,
            absl::string_view value)
      : text_(text),
        tree_(tree),
        locator_(text),
        key_(key),
        entry_(absl::StrCat(key, ": \"", value, "\"")),
        quoted_value_(absl::StrCat("\"", value, "\"")) {}

  absl::Status EditDocument(const Node& doc) {
    if (doc.type != NodeType::kMapping) return CannotEdit(doc, "document: expected a mapping");
    const Node* kind = Lookup(tree_, doc, "kind", nullptr);
    if (kind == nullptr || kind->type != NodeType::kScalar) return CannotEdit(doc, "kind: missing");
    std::optional<std::vector<absl::string_view>> keys = PodTemplateKeys(tree_.Text(*kind));
    if (!keys) {
      return CannotEdit(*kind, absl::StrCat("kind: \"", tree_.Text(*kind), "\" holds no pod"));
    }
    const Node* pod = &doc;
    for (absl::string_view k : *keys) {
      const Node* next = Lookup(tree_, *pod, k, nullptr);
      if (next == nullptr || next->type != NodeType::kMapping) {
        return CannotEdit(*pod, absl::StrCat(k, ": missing or not a mapping"));
      }
      pod = next;
    }
    const Node* metadata = Lookup(tree_, *pod, "metadata", nullptr);
    if (metadata == nullptr) {
      return InsertFirst(*pod, "metadata", absl::StrCat("{annotations: {", entry_, "}}"));
    }
    if (metadata->type != NodeType::kMapping)
      return CannotEdit(*metadata, "metadata: expected a mapping");
    const Node* annotations = Lookup(tree_, *metadata, "annotations", nullptr);
    if (annotations == nullptr) {
      return InsertFirst(*metadata, "annotations", absl::StrCat("{", entry_, "}"));
    }
    if (annotations->type != NodeType::kMapping) {
      return CannotEdit(*annotations,
                        "metadata.annotations: expected a mapping (write {} for none)");
    }
    const Node* key_node = nullptr;
    const Node* existing = Lookup(tree_, *annotations, key_, &key_node);
    if (existing != nullptr) {
      if (existing->type != NodeType::kScalar)
        return CannotEdit(*existing, absl::StrCat(key_, ": expected a string"));
      const size_t from = locator_.Byte(existing->start);
      absl::StatusOr<size_t> end = ScalarEnd(text_, from, *existing);
      if (!end.ok()) return end.status();
      edits_.push_back({from, *end - from, quoted_value_});
      return absl::OkStatus();
    }
    return InsertEntry(*annotations, entry_);
  }

  std::string Apply() {
    std::sort(edits_.begin(), edits_.end(),
              [](const Insertion& a, const Insertion& b) { return a.offset < b.offset; });
    std::string out;
    out.reserve(text_.size() + 64 * edits_.size());
    size_t at = 0;
    for (const Insertion& e : edits_) {
      out.append(text_.data() + at, e.offset - at);
      out.append(e.text);
      at = e.offset + e.replace;
    }
    out.append(text_.data() + at, text_.size() - at);
    return out;
  }

 private:
  // Inserts `entry` ("k: v") as the first entry of mapping `map`.
  absl::Status InsertEntry(const Node& map, const std::string& entry) {
    const size_t at = locator_.Byte(map.start);
    if (at < text_.size() && text_[at] == '{') {  // flow mapping
      const bool empty = map.size == 0;
      edits_.push_back({at + 1, 0, empty ? entry : absl::StrCat(entry, ", ")});
      return absl::OkStatus();
    }
    if (map.size == 0) return CannotEdit(map, "cannot find where this mapping is written");
    // Block mapping: before its first key, at the key's column.
    const Node& first_key = tree_.node(*tree_.begin(map));
    const size_t key_at = locator_.Byte(first_key.start);
    edits_.push_back(
        {key_at, 0, absl::StrCat(entry, "\n", std::string(first_key.start.column, ' '))});
    return absl::OkStatus();
  }

  // Inserts `name:` holding the one-line flow mapping `flow` into `map`.
  absl::Status InsertFirst(const Node& map, absl::string_view name, const std::string& flow) {
    return InsertEntry(map, absl::StrCat(name, ": ", flow));
  }

  absl::string_view text_;
  const Tree& tree_;
  Locator locator_;
  std::string key_;
  std::string entry_;
  std::string quoted_value_;
  std::vector<Insertion> edits_;
};

bool IsPlainSafe(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '/' || c == '-';
  });
}

}  // namespace

absl::StatusOr<std::string> SetPodAnnotation(absl::string_view yaml, absl::string_view key,
                                             absl::string_view value) {
  if (!IsPlainSafe(key) || !IsPlainSafe(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "annotation ", key, "=\"", value, "\": key and value must be letters, digits, . _ / -"));
  }
  Tree tree;
  if (absl::Status s = tree.Build(yaml); !s.ok()) return s;
  if (tree.documents().empty())
    return absl::InvalidArgumentError("no pod found (the input is empty)");
  PodEditor editor(yaml, tree, key, value);
  for (const Tree::Document& doc : tree.documents()) {
    const Node& root = tree.node(doc.root);
    if (root.type == NodeType::kScalar && root.size == 0)
      continue;  // an empty document ("---" at the end)
    if (absl::Status s = editor.EditDocument(root); !s.ok()) return s;
  }
  return editor.Apply();
}

}  // namespace vmmap
