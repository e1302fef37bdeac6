# Included by bench/CMakeLists.txt. Built, not run by ctest (it boots two TCG
# guests with iperf3): build/bench/vmmap_network_throughput_bench [--seconds N]
# TCP throughput pod to pod vs. two plain netns on the same bridge (issue 10).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()

vmmap_add_e2e_suite(vmmap_network_throughput_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/network_throughput_bench.cc
  LIBS GTest::gtest)
