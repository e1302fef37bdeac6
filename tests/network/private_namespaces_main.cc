// gtest main for tests that create bridges, veths, iptables rules and netns
// mounts: first moves the whole process into fresh network and mount
// namespaces (before any thread exists, so every later thread and child
// inherits them). Nothing a test does can reach the host's network or
// mount table, and everything vanishes with the process.
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "gtest/gtest.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
      mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::fprintf(stderr, "cannot enter private network/mount namespaces: %s\n",
                 std::strerror(errno));
    return 1;
  }
  return RUN_ALL_TESTS();
}
