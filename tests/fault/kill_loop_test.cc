// The random kill loop of issue 8: pods go through their lifecycle as
// kubelet drives it (RunPodSandbox, CreateContainer, StartContainer,
// StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox, or the
// short way: StopPodSandbox with the VM running) while `kill -9` hits
// `vmmap serve` at random points: during a call, a random fraction of that
// call's last measured duration after it was sent (so the kill lands inside
// the call on any machine), or just after it returned.
//
// After every call, and so after every restart, each object the server
// acknowledged is listed with its true state: an acknowledged call's result
// exactly, an interrupted call's either before or after, and a container is
// RUNNING if and only if its QEMU process runs. At the end of each pod nothing
// of it is left (sandbox or container row, container directory with its
// overlay and console file, agent socket, network namespace, tap, IP lease, QEMU,
// cgroup directory in any controller), and at the end of the loop the state
// database has no row, libvirt no domain and no per-domain runtime file of
// the loop.
//
// Seeded: the seed is printed; VMMAP_KILL_LOOP_SEED=N repeats the choices
// (where a kill lands inside a call still depends on timing).
// VMMAP_KILL_LOOP_ROUNDS (default 20, what CI runs; scripts/kill-loop.sh runs
// 100). A round boots its guest only as far as StartContainer takes it: the
// VM is stopped with timeout 0 (destroyed), not waited for.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"
#include "tests/fault/fault_checks.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using Clock = std::chrono::steady_clock;

enum class Op { kRunSandbox, kCreate, kStart, kStop, kRemove, kStopSandbox, kRemoveSandbox };

const char* OpName(Op op) {
  switch (op) {
    case Op::kRunSandbox:
      return "RunPodSandbox";
    case Op::kCreate:
      return "CreateContainer";
    case Op::kStart:
      return "StartContainer";
    case Op::kStop:
      return "StopContainer";
    case Op::kRemove:
      return "RemoveContainer";
    case Op::kStopSandbox:
      return "StopPodSandbox";
    case Op::kRemoveSandbox:
      return "RemovePodSandbox";
  }
  return "?";
}

// What the server says of one pod: its sandbox (absent, READY, NOTREADY)
// and its one container (absent or a CRI state).
struct PodState {
  std::optional<v1::PodSandboxState> sandbox;
  std::optional<v1::ContainerState> container;
  std::string sandbox_id;
  std::string container_id;
  bool operator==(const PodState& o) const {
    return sandbox == o.sandbox && container == o.container;
  }
};

std::string Describe(const PodState& s) {
  std::string text = "sandbox ";
  text += s.sandbox ? v1::PodSandboxState_Name(*s.sandbox) : "absent";
  text += ", container ";
  text += s.container ? v1::ContainerState_Name(*s.container) : "absent";
  return text;
}

// The state an acknowledged `op` leaves, from `before`.
PodState After(Op op, PodState before) {
  PodState after = before;
  switch (op) {
    case Op::kRunSandbox:
      after.sandbox = v1::SANDBOX_READY;
      break;
    case Op::kCreate:
      after.container = v1::CONTAINER_CREATED;
      break;
    case Op::kStart:
      after.container = v1::CONTAINER_RUNNING;
      break;
    case Op::kStop:
      after.container = v1::CONTAINER_EXITED;
      break;
    case Op::kRemove:
      after.container.reset();
      break;
    case Op::kStopSandbox:
      after.sandbox = v1::SANDBOX_NOTREADY;
      if (after.container == v1::CONTAINER_RUNNING) after.container = v1::CONTAINER_EXITED;
      break;
    case Op::kRemoveSandbox:
      after.sandbox.reset();
      after.container.reset();
      break;
  }
  return after;
}

// The last `lines` lines of the server's log (it spans every round).
std::string Tail(const std::string& text, int lines) {
  size_t pos = text.size();
  while (lines-- > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos);
}

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

class KillLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_dir_ = GetFixtures().work_dir + "/kill-loop";
    server_ = std::make_unique<ServerProcess>(state_dir_, ServerOptions{});
    server_->Start();
    image_ = PullBundle(*server_);
  }

  // The pod as the server lists it.
  PodState Observe(const std::string& pod) {
    PodState state;
    for (const v1::PodSandbox& s : Sandboxes(*server_)) {
      if (s.metadata().name() != pod) continue;
      EXPECT_FALSE(state.sandbox.has_value()) << "two sandboxes of pod " << pod;
      state.sandbox = s.state();
      state.sandbox_id = s.id();
    }
    for (const v1::Container& c : Containers(*server_, "")) {
      if (c.labels().count("pod") == 0 || c.labels().at("pod") != pod) continue;
      EXPECT_FALSE(state.container.has_value()) << "two containers of pod " << pod;
      state.container = c.state();
      state.container_id = c.id();
    }
    return state;
  }

  // Sends `op`; with `kill`, kills the server `fraction` × the op's last
  // measured duration after sending it (or once it returned, if sooner)
  // and starts it again. Returns the call's status.
  grpc::Status Call(Op op, const std::string& pod, const PodState& before, bool kill,
                    double fraction, int attempt) {
    auto send = [this, op, pod, before, attempt]() -> grpc::Status {
      v1::RuntimeService::Stub& rt = server_->runtime();
      switch (op) {
        case Op::kRunSandbox: {
          v1::RunPodSandboxRequest request;
          *request.mutable_config() = SandboxConfig(pod, 1000, 256 << 20, 1);
          v1::RunPodSandboxResponse response;
          return rt.RunPodSandbox(Context().get(), request, &response);
        }
        case Op::kCreate: {
          v1::CreateContainerRequest request;
          request.set_pod_sandbox_id(before.sandbox_id);
          *request.mutable_config() = ContainerConfig(image_, 1000, 256 << 20, {});
          request.mutable_config()->mutable_metadata()->set_attempt(attempt);
          (*request.mutable_config()->mutable_labels())["pod"] = pod;
          *request.mutable_sandbox_config() = SandboxConfig(pod, 1000, 256 << 20, 1);
          v1::CreateContainerResponse response;
          return rt.CreateContainer(Context().get(), request, &response);
        }
        case Op::kStart:
          return StartContainer(*server_, before.container_id);
        case Op::kStop: {
          v1::StopContainerRequest request;
          request.set_container_id(before.container_id);
          request.set_timeout(0);
          v1::StopContainerResponse response;
          return rt.StopContainer(Context().get(), request, &response);
        }
        case Op::kRemove: {
          v1::RemoveContainerRequest request;
          request.set_container_id(before.container_id);
          v1::RemoveContainerResponse response;
          return rt.RemoveContainer(Context().get(), request, &response);
        }
        case Op::kStopSandbox: {
          v1::StopPodSandboxRequest request;
          request.set_pod_sandbox_id(before.sandbox_id);
          v1::StopPodSandboxResponse response;
          return rt.StopPodSandbox(Context().get(), request, &response);
        }
        case Op::kRemoveSandbox: {
          v1::RemovePodSandboxRequest request;
          request.set_pod_sandbox_id(before.sandbox_id);
          v1::RemovePodSandboxResponse response;
          return rt.RemovePodSandbox(Context().get(), request, &response);
        }
      }
      return grpc::Status(grpc::StatusCode::INTERNAL, "unknown op");
    };
    const auto sent = Clock::now();
    if (!kill) {
      grpc::Status status = send();
      if (status.ok()) took_[op] = Clock::now() - sent;
      return status;
    }
    std::future<grpc::Status> pending = std::async(std::launch::async, send);
    const auto typical = took_.count(op) ? took_[op] : std::chrono::duration<double>(1.0);
    pending.wait_for(std::chrono::duration_cast<Clock::duration>(typical * fraction));
    const bool returned = pending.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    server_->Kill9();
    const grpc::Status status = pending.get();
    std::cout << "  kill -9 " << (returned ? "after " : "inside ") << OpName(op) << " ("
              << static_cast<int>(fraction * 100) << "% of "
              << std::chrono::duration_cast<std::chrono::milliseconds>(typical).count()
              << " ms): " << (status.ok() ? "acknowledged" : status.error_message()) << std::endl;
    ++kills_;
    server_->Start();
    // A call that had returned before the kill answered for itself: an
    // error there is the server's, not the kill's.
    EXPECT_TRUE(!returned || status.ok()) << OpName(op) << ": " << status.error_message();
    return status;
  }

  // Nothing of `pod` is left anywhere (its sandbox id last seen: `sandbox_id`).
  void ExpectNothingLeftOf(const std::string& pod, const std::set<std::string>& sandbox_ids) {
    const PodState state = Observe(pod);
    EXPECT_FALSE(state.sandbox || state.container) << Describe(state);
    EXPECT_EQ(QemuProcesses(pod), 0);
    EXPECT_THAT(LeftoverCgroups(pod), ::testing::IsEmpty());
    EXPECT_FALSE(DirHasEntries(state_dir_ + "/containers")) << "container directories left";
    EXPECT_FALSE(DirHasEntries(state_dir_ + "/agent")) << "agent sockets left";
    for (const std::string& id : sandbox_ids) {
      EXPECT_FALSE(fs::exists("/run/netns/vmmap-" + id.substr(0, 32))) << "netns of " << id;
      EXPECT_NE(ShellStatus("ip link show vmt" + id.substr(0, 12) + " >/dev/null 2>&1"), 0)
          << "tap of " << id << " left in the host namespace";
    }
    // host-local keeps one file per leased IP (plus its lock and
    // last_reserved_ip.* bookkeeping).
    std::error_code ec;
    for (const auto& entry :
         fs::directory_iterator(GetFixtures().work_dir + "/cni/leases/vmmap-e2e", ec)) {
      const std::string name = entry.path().filename().string();
      EXPECT_TRUE(name == "lock" || name.rfind("last_reserved_ip", 0) == 0)
          << "IP lease left: " << name;
    }
  }

  std::string state_dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string image_;
  std::map<Op, std::chrono::duration<double>> took_;
  int kills_ = 0;
};

TEST_F(KillLoopTest, RandomKillsLoseNothingAndLeaveNothing) {
  const int rounds = EnvInt("VMMAP_KILL_LOOP_ROUNDS", 20);
  const uint64_t seed = static_cast<uint64_t>(
      EnvInt("VMMAP_KILL_LOOP_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)));
  std::cout << "kill loop: seed " << seed << " (VMMAP_KILL_LOOP_SEED=" << seed
            << " repeats the choices), " << rounds << " rounds\n";
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::map<std::string, int> outcomes;  // interrupted op → what it left, for the summary

  for (int round = 0; round < rounds; ++round) {
    const std::string pod = "loop" + std::to_string(round);
    SCOPED_TRACE("round " + std::to_string(round) + " (seed " + std::to_string(seed) + ")");
    std::cout << "round " << round << ":" << std::endl;
    // kubelet's two ways down from a running VM: stop and remove the
    // container first, or stop the whole sandbox.
    const bool short_way = unit(rng) < 0.3;
    PodState state;
    std::set<std::string> sandbox_ids;
    bool ran = false;                     // the VM was seen RUNNING
    bool removed = false;                 // the sandbox was seen gone after it existed
    std::set<std::string> container_ids;  // kubelet's attempt: containers made so far
    int round_kills = 0;
    for (int step = 0; step < 40 && !removed; ++step) {
      // The next call, as kubelet would choose it from what it sees.
      Op op;
      if (!state.sandbox) {
        op = Op::kRunSandbox;
      } else if (*state.sandbox == v1::SANDBOX_NOTREADY) {
        op = Op::kRemoveSandbox;
      } else if (!state.container) {
        op = ran ? Op::kStopSandbox : Op::kCreate;
      } else if (*state.container == v1::CONTAINER_CREATED) {
        op = Op::kStart;
      } else if (*state.container == v1::CONTAINER_RUNNING) {
        ran = true;
        op = short_way ? Op::kStopSandbox : Op::kStop;
      } else {  // EXITED: removed; the next attempt if it never ran
        op = Op::kRemove;
      }
      // One kill in three calls, and at least one a round (its last chance:
      // RemovePodSandbox).
      const bool kill = unit(rng) < 1.0 / 3 || (op == Op::kRemoveSandbox && round_kills == 0);
      const double fraction = unit(rng) * 1.2;
      const grpc::Status status =
          Call(op, pod, state, kill, fraction, static_cast<int>(container_ids.size()));
      if (kill) ++round_kills;
      if (!kill) {
        ASSERT_TRUE(status.ok()) << OpName(op) << ": " << status.error_message() << "\n"
                                 << Tail(server_->log(), 60);
      }
      const PodState expected = After(op, state);
      const PodState seen = Observe(pod);
      if (status.ok()) {
        EXPECT_EQ(seen, expected) << OpName(op) << " was acknowledged: expected "
                                  << Describe(expected) << ", listed " << Describe(seen);
      } else {
        // Each object as before or as after: StopPodSandbox and
        // RemovePodSandbox change the container before the sandbox.
        EXPECT_TRUE(seen.sandbox == state.sandbox || seen.sandbox == expected.sandbox)
            << OpName(op) << " was interrupted: expected " << Describe(state) << " or "
            << Describe(expected) << ", listed " << Describe(seen);
        EXPECT_TRUE(seen.container == state.container || seen.container == expected.container)
            << OpName(op) << " was interrupted: expected " << Describe(state) << " or "
            << Describe(expected) << ", listed " << Describe(seen);
        ++outcomes[std::string(OpName(op)) + (seen == expected ? " done" : " undone")];
      }
      EXPECT_FALSE(seen.container && !seen.sandbox) << "a container outlived its sandbox";
      // The true state: a RUNNING container has its VM, no other has one.
      const bool running = seen.container == v1::CONTAINER_RUNNING;
      EXPECT_EQ(QemuProcesses(pod), running ? 1 : 0) << "listed " << Describe(seen);
      // No call is inside a libvirt capability probe now, and a restart
      // kills the probes a killed server left (server/probe_qemus.h).
      EXPECT_EQ(ProbeProcesses(state_dir_), 0) << "a libvirt capability probe outlived its call";
      // An EXITED container's cgroups may wait for RemoveContainer; a
      // container that never ran or is gone has none.
      if (!seen.container || seen.container == v1::CONTAINER_CREATED) {
        EXPECT_THAT(LeftoverCgroups(pod), ::testing::IsEmpty()) << Describe(seen);
      }
      if (::testing::Test::HasFailure()) {
        FAIL() << "after " << OpName(op) << "; server log:\n" << Tail(server_->log(), 60);
      }
      if (seen.sandbox) sandbox_ids.insert(seen.sandbox_id);
      if (seen.container) container_ids.insert(seen.container_id);
      removed = !seen.sandbox && !sandbox_ids.empty();
      state = seen;
    }
    ASSERT_TRUE(removed) << "the pod was not removed in 40 calls";
    ExpectNothingLeftOf(pod, sandbox_ids);
    ASSERT_FALSE(::testing::Test::HasFailure()) << Tail(server_->log(), 60);
  }

  // Whole-loop leftovers, read with the server stopped: rows, domains and
  // libvirt's per-domain files (pid, status XML, monitor socket, QEMU log,
  // persistent XML).
  server_->Terminate();
  const std::string db = state_dir_ + "/state.db";
  EXPECT_EQ(
      Shell("sqlite3 " + db + " 'SELECT count(*) FROM sandbox; SELECT count(*) FROM container'"),
      "0\n0\n");
  EXPECT_EQ(Shell("virsh -c 'qemu:///embed?root=" + state_dir_ +
                  "/libvirt' list --all --name | grep -c vmmap-e2e-loop || true"),
            "0\n");
  EXPECT_EQ(Shell("find " + state_dir_ + "/libvirt/run " + state_dir_ + "/libvirt/log " +
                  state_dir_ + "/libvirt/etc -name '*vmmap-e2e-loop*' 2>/dev/null | head"),
            "");
  // Reported, not failed: libvirt's private directories of a domain whose
  // start a kill interrupted before libvirt saved its status (libvirt then
  // never learns of them; they are named by a 20-character prefix of the
  // domain name, which vmmap cannot safely match). docs/faults.md, "Seen
  // and left open"; the 100-round run saw one.
  EXPECT_EQ(ProbeProcesses(state_dir_), 0) << "a libvirt capability probe outlived the server";
  const std::string private_dirs = Shell("find " + state_dir_ + "/libvirt/lib -name " +
                                         "'domain-*-vmmap-e2e-loop*' 2>/dev/null | head");
  if (!private_dirs.empty()) std::cout << "libvirt private dirs left:\n" << private_dirs;
  std::cout << "kill loop: " << rounds << " rounds, " << kills_ << " kills, seed " << seed
            << "; interrupted calls:";
  for (const auto& [what, n] : outcomes) std::cout << " " << what << " " << n << ";";
  std::cout << "\n";
}

}  // namespace
}  // namespace vmmap::e2e
