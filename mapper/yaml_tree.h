// A compact, read-only YAML node tree built from libyaml's event stream.
//
// libyaml's own document API (yaml_parser_load) allocates every node, tag and
// child list separately; this tree keeps all nodes of a stream in one vector,
// the children of every collection as one contiguous index range, and the text
// of every scalar in one buffer. It composes exactly as yaml_parser_load does
// (same nodes, same marks, aliases shared by node index, same errors), and it
// also refuses flow collections nested too deeply, which libyaml's scanner
// handles in quadratic time.
#ifndef VMMAP_MAPPER_YAML_TREE_H_
#define VMMAP_MAPPER_YAML_TREE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmmap {
namespace yaml {

// A position in the input, 0-based, as libyaml reports it.
struct Mark {
  size_t index = 0;  // characters from the start of the stream
  size_t line = 0;
  size_t column = 0;
};

enum class NodeType : uint8_t { kScalar, kSequence, kMapping };

using NodeId = uint32_t;

struct Node {
  NodeType type;
  bool plain;    // a scalar in plain style (neither quoted nor block)
  size_t first;  // scalar: offset of its text; collection: offset of its children
  size_t size;   // scalar: length of its text; collection: number of child ids
  Mark start;    // where the node (or, for an alias, its anchor) starts
};

// Flow collections nested deeper than this are refused (see Tree::Build).
constexpr int kMaxFlowDepth = 64;

class Tree {
 public:
  struct Document {
    NodeId root;
    Mark start;  // of the document (its "---", or its first node)
    Mark end;    // of the document (past its "...", or its last node)
  };

  // Composes every document of `text`. Errors are those ParsePodManifests
  // reports: InvalidArgument "line L, column C: malformed YAML: <libyaml's
  // problem>" (also for undefined aliases and duplicate anchors, with
  // libyaml's wording), InvalidArgument "... flow collections nested more than
  // 64 levels deep", or ResourceExhausted when libyaml runs out of memory.
  // The first error in the stream wins, except that a too-deep flow
  // collection anywhere is reported before an alias or anchor error.
  absl::Status Build(absl::string_view text);

  const std::vector<Document>& documents() const { return documents_; }
  const Node& node(NodeId id) const { return nodes_[id]; }

  // A scalar's text.
  absl::string_view Text(const Node& n) const {
    return absl::string_view(text_.data() + n.first, n.size);
  }
  // A collection's children: items of a sequence; key, value, key, value, …
  // of a mapping (so a mapping has size / 2 entries).
  const NodeId* begin(const Node& n) const { return children_.data() + n.first; }
  const NodeId* end(const Node& n) const { return children_.data() + n.first + n.size; }

 private:
  std::vector<Node> nodes_;
  std::vector<NodeId> children_;
  std::string text_;
  std::vector<Document> documents_;
};

// "line L, column C: " (1-based) for `mark`.
std::string Where(const Mark& mark);

}  // namespace yaml
}  // namespace vmmap

#endif  // VMMAP_MAPPER_YAML_TREE_H_
