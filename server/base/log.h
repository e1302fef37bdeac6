// The server's one logging facility: leveled lines on stderr.
//
//   VMMAP_LOG(kInfo, "listening on ", socket);
//
// A line is "<RFC3339 UTC time> <D|I|W|E> <message>\n", written with a single
// write(2) so lines from concurrent threads never interleave. Arguments are
// only formatted when the level is enabled. The level is process-wide
// (`vmmap serve --log-level`), default info.
#ifndef VMMAP_SERVER_BASE_LOG_H_
#define VMMAP_SERVER_BASE_LOG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vmmap {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning", "error"; InvalidArgument naming the value otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// Writes one line (no level check: use VMMAP_LOG).
void WriteLogLine(LogLevel level, absl::string_view message);

}  // namespace vmmap

#define VMMAP_LOG(level, ...)                                                     \
  do {                                                                            \
    if (::vmmap::LogEnabled(::vmmap::LogLevel::level)) {                          \
      ::vmmap::WriteLogLine(::vmmap::LogLevel::level, absl::StrCat(__VA_ARGS__)); \
    }                                                                             \
  } while (0)

#endif  // VMMAP_SERVER_BASE_LOG_H_
