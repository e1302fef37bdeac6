// Processes found by their command line, and killed without the race of a
// pid reused between finding and signalling.
#ifndef VMMAP_SERVER_BASE_PROCESSES_H_
#define VMMAP_SERVER_BASE_PROCESSES_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace vmmap {

// Decides from a process's arguments (argv[0] first) whether it is wanted.
using CommandLineMatch = std::function<bool(const std::vector<std::string>& argv)>;

// The arguments of process `pid` under `proc_root` (/proc, or a test's copy
// of its layout: <pid>/cmdline, each argument ended by a NUL). Empty when
// there is none to read: the process is gone, a zombie or a kernel thread.
std::vector<std::string> ReadCommandLine(const std::string& proc_root, pid_t pid);

// The pids under `proc_root` whose arguments `match`.
std::vector<pid_t> FindProcesses(const std::string& proc_root, const CommandLineMatch& match);

struct KillOutcome {
  std::vector<pid_t> killed;  // signalled and exited
  std::vector<pid_t> left;    // signalled, still there when the deadline passed
};

// SIGKILLs every process in /proc whose arguments `match` and waits, up to
// `deadline` in all, until each has exited (a zombie has: it holds nothing
// but its pid until its parent reaps it). Each process is pinned by a pidfd
// and its arguments matched again before the signal, so a pid that a new
// process took since the scan is never signalled.
KillOutcome KillProcesses(const CommandLineMatch& match, std::chrono::milliseconds deadline);

}  // namespace vmmap

#endif  // VMMAP_SERVER_BASE_PROCESSES_H_
