# Included by bench/CMakeLists.txt. Built, not run by ctest (needs root, libvirtd
# and a few minutes):
#   build/bench/vmmap_stats_bench [--pods 50] [--duration 60] [--requests 10]
add_executable(vmmap_stats_bench ${CMAKE_CURRENT_LIST_DIR}/stats_bench.cc)
target_compile_definitions(vmmap_stats_bench PRIVATE
  VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  VMMAP_BINARY="$<TARGET_FILE:vmmap>")
target_link_libraries(vmmap_stats_bench PRIVATE vmmap_server PkgConfig::LIBVIRT)
add_dependencies(vmmap_stats_bench vmmap)
