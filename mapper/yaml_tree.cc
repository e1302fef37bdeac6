#include "mapper/yaml_tree.h"

#include <yaml.h>

#include <cstring>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vmmap {
namespace yaml {
namespace {

Mark FromLibyaml(const yaml_mark_t& mark) { return Mark{mark.index, mark.line, mark.column}; }

// The 0-based line and column of byte `offset` in `text`, counting columns in
// characters as libyaml's own marks do.
Mark MarkAt(absl::string_view text, size_t offset) {
  Mark mark;
  mark.index = offset;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++mark.line;
      mark.column = 0;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {  // not a continuation byte
      ++mark.column;
    }
  }
  return mark;
}

absl::Status MalformedAt(const Mark& mark, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(Where(mark), "malformed YAML: ", problem));
}

absl::Status Malformed(const yaml_parser_t& parser, absl::string_view text) {
  if (parser.error == YAML_MEMORY_ERROR) {
    return absl::ResourceExhaustedError("out of memory while parsing YAML");
  }
  // Reader errors (bad encoding, control characters) carry a byte offset
  // instead of a mark.
  const Mark mark = parser.error == YAML_READER_ERROR ? MarkAt(text, parser.problem_offset)
                                                      : FromLibyaml(parser.problem_mark);
  return MalformedAt(mark, parser.problem != nullptr ? parser.problem : "unknown error");
}

// Whether `text` opens more than `limit` flow collections ("[" or "{"), counting
// brackets inside scalars too: memchr skips the usual manifest's few in a
// fraction of the time a byte-by-byte count takes.
bool MoreBracketsThan(absl::string_view text, int limit) {
  if (text.empty()) return false;
  int count = 0;
  const char* const end = text.data() + text.size();
  for (const char bracket : {'[', '{'}) {
    for (const char* p = text.data();
         (p = static_cast<const char*>(std::memchr(p, bracket, end - p))) != nullptr; ++p) {
      if (++count > limit) return true;
    }
  }
  return false;
}

// Owns a yaml_parser_t reading `text`, which must outlive it.
class Parser {
 public:
  explicit Parser(absl::string_view text) {
    initialized_ = yaml_parser_initialize(&parser_) != 0;  // fails only when out of memory
    if (!initialized_) return;
    // libyaml asserts on a null input pointer, which an empty string_view may hold.
    const char* data = text.empty() ? "" : text.data();
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(data),
                                 text.size());
  }
  ~Parser() { yaml_parser_delete(&parser_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  bool initialized() const { return initialized_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_{};
  bool initialized_ = false;
};

// Frees an event's strings (value, anchor, tag) when it goes out of scope.
class EventOwner {
 public:
  explicit EventOwner(yaml_event_t* event) : event_(event) {}
  ~EventOwner() { yaml_event_delete(event_); }
  EventOwner(const EventOwner&) = delete;
  EventOwner& operator=(const EventOwner&) = delete;

 private:
  yaml_event_t* event_;
};

}  // namespace

std::string Where(const Mark& mark) {
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

// Composition follows libyaml 0.2.5's loader (loader.c) event for event: a
// node is created, then its anchor registered (a repeated anchor is an error:
// "second occurrence"), then it is added to the collection still open; an
// alias adds the anchored node itself ("found undefined alias" if there is
// none); anchors are forgotten at every document start.
//
// libyaml's scanner revisits every open flow collection ("[" or "{") on each
// token, so nesting d deep costs O(d × tokens): 20,000 levels take seconds.
// Manifests nest flow collections a few levels at most, so nesting past
// kMaxFlowDepth is refused as soon as it is seen. Alias and anchor errors rank
// below it: in input with enough brackets to nest that deep, such an error is
// held while the rest of the stream is checked for nesting (and for syntax,
// whose errors would show up first on the way).
absl::Status Tree::Build(absl::string_view text) {
  nodes_.clear();
  children_.clear();
  text_.clear();
  documents_.clear();

  // Nesting cannot exceed the number of brackets: the usual manifest cannot
  // nest too deep, and its first alias or anchor error can be reported at once.
  const bool bracket_heavy = MoreBracketsThan(text, kMaxFlowDepth);

  Parser parser(text);
  // Parsing with an uninitialised parser trips libyaml's assertions.
  if (!parser.initialized()) return Malformed(*parser.get(), text);

  // A manifest has a node for every dozen or so bytes, and scalar text takes
  // up most of it.
  nodes_.reserve(text.size() / 12 + 8);
  children_.reserve(text.size() / 12 + 8);
  text_.reserve(text.size());

  struct Open {
    NodeId id;
    size_t first_pending;  // where its children start in `pending`
  };
  std::vector<Open> open;       // collections not yet ended, outermost first
  std::vector<NodeId> pending;  // children of the open collections, in order
  open.reserve(16);
  pending.reserve(64);
  std::unordered_map<std::string, NodeId> anchors;
  Document doc{};
  int flow_depth = 0;                    // open flow collections; they hold only flow ones
  absl::Status held = absl::OkStatus();  // an alias or anchor error, while bracket_heavy

  const auto add = [&](NodeId id) {
    if (open.empty()) {
      doc.root = id;
    } else {
      pending.push_back(id);
    }
  };
  // Registers `anchor` (may be null) for node `id`; false on a repeat.
  const auto register_anchor = [&](const yaml_char_t* anchor, NodeId id) {
    if (anchor == nullptr) return true;
    return anchors.try_emplace(reinterpret_cast<const char*>(anchor), id).second;
  };
  const auto new_node = [&](NodeType type, bool plain, size_t first, size_t size,
                            const yaml_mark_t& start) {
    nodes_.push_back(Node{type, plain, first, size, FromLibyaml(start)});
    return static_cast<NodeId>(nodes_.size() - 1);
  };

  while (true) {
    yaml_event_t event;
    if (yaml_parser_parse(parser.get(), &event) == 0) return Malformed(*parser.get(), text);
    EventOwner owner(&event);
    const yaml_event_type_t type = event.type;

    const bool flow_start = (type == YAML_SEQUENCE_START_EVENT &&
                             event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE) ||
                            (type == YAML_MAPPING_START_EVENT &&
                             event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE);
    if (flow_start && ++flow_depth > kMaxFlowDepth) {
      return absl::InvalidArgumentError(absl::StrCat(Where(FromLibyaml(event.start_mark)),
                                                     "flow collections nested more than ",
                                                     kMaxFlowDepth, " levels deep"));
    }
    if (flow_depth > 0 && (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)) {
      --flow_depth;
    }
    if (type == YAML_STREAM_END_EVENT) return held;
    if (!held.ok()) continue;  // only checking the rest for nesting and syntax

    absl::Status error = absl::OkStatus();
    switch (type) {
      case YAML_DOCUMENT_START_EVENT:
        anchors.clear();
        doc = Document{};
        doc.start = FromLibyaml(event.start_mark);
        break;
      case YAML_DOCUMENT_END_EVENT:
        doc.end = FromLibyaml(event.end_mark);
        documents_.push_back(doc);
        break;
      case YAML_ALIAS_EVENT: {
        const auto it = anchors.find(reinterpret_cast<const char*>(event.data.alias.anchor));
        if (it == anchors.end()) {
          error = MalformedAt(FromLibyaml(event.start_mark), "found undefined alias");
        } else {
          add(it->second);
        }
        break;
      }
      case YAML_SCALAR_EVENT: {
        const auto& scalar = event.data.scalar;
        const NodeId id = new_node(NodeType::kScalar, scalar.style == YAML_PLAIN_SCALAR_STYLE,
                                   text_.size(), scalar.length, event.start_mark);
        text_.append(reinterpret_cast<const char*>(scalar.value), scalar.length);
        if (!register_anchor(scalar.anchor, id)) {
          error = MalformedAt(nodes_[id].start, "second occurrence");
        } else {
          add(id);
        }
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool sequence = type == YAML_SEQUENCE_START_EVENT;
        const NodeId id = new_node(sequence ? NodeType::kSequence : NodeType::kMapping, false, 0, 0,
                                   event.start_mark);
        if (!register_anchor(
                sequence ? event.data.sequence_start.anchor : event.data.mapping_start.anchor,
                id)) {
          error = MalformedAt(nodes_[id].start, "second occurrence");
        } else {
          add(id);
          open.push_back(Open{id, pending.size()});
        }
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        const Open o = open.back();
        open.pop_back();
        Node& n = nodes_[o.id];
        n.first = children_.size();
        n.size = pending.size() - o.first_pending;
        children_.insert(children_.end(), pending.begin() + o.first_pending, pending.end());
        pending.resize(o.first_pending);
        break;
      }
      default:  // YAML_STREAM_START_EVENT
        break;
    }
    if (!error.ok()) {
      if (!bracket_heavy) return error;
      held = std::move(error);
    }
  }
}

}  // namespace yaml
}  // namespace vmmap
