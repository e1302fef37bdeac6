# Included by bench/CMakeLists.txt. Built, not run by ctest (needs root, libvirtd
# and a few minutes):
#   build/bench/vmmap_stats_bench [--pods 50] [--duration 60] [--requests 10]
# Reuses the e2e harness (guest bundle, shims, `vmmap serve` process).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()
add_executable(vmmap_stats_bench ${CMAKE_CURRENT_LIST_DIR}/stats_bench.cc
  ${PROJECT_SOURCE_DIR}/tests/e2e/harness.cc)
target_include_directories(vmmap_stats_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(vmmap_stats_bench PRIVATE
  VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  VMMAP_BINARY="$<TARGET_FILE:vmmap>")
target_link_libraries(vmmap_stats_bench PRIVATE vmmap_server PkgConfig::LIBVIRT GTest::gtest)
add_dependencies(vmmap_stats_bench vmmap)
