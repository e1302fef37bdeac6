# Included by bench/CMakeLists.txt. Built, not run by ctest (it boots two TCG
# guests with iperf3): build/bench/vmmap_network_throughput_bench [--seconds N]
# TCP throughput pod to pod vs. two plain netns on the same bridge (issue 10).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()

add_executable(vmmap_network_throughput_bench
  ${CMAKE_CURRENT_LIST_DIR}/network_throughput_bench.cc
  ${PROJECT_SOURCE_DIR}/tests/e2e/harness.cc)
target_include_directories(vmmap_network_throughput_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(vmmap_network_throughput_bench PRIVATE
  VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  VMMAP_BINARY="$<TARGET_FILE:vmmap>")
target_link_libraries(vmmap_network_throughput_bench PRIVATE vmmap_cri_proto vmmap_mapper
  GTest::gtest)
add_dependencies(vmmap_network_throughput_bench vmmap)
