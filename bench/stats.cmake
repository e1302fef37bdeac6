# Included by bench/CMakeLists.txt. Built, not run by ctest (needs root and
# starts up to 100 QEMU processes):
#   build/bench/vmmap_stats_bench [--domains 10,50,100] [--requests 20]
add_executable(vmmap_stats_bench ${CMAKE_CURRENT_LIST_DIR}/stats_bench.cc)
target_include_directories(vmmap_stats_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(vmmap_stats_bench PRIVATE vmmap_stats vmmap_virt PkgConfig::LIBVIRT
  absl::strings)
