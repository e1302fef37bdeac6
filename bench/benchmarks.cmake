# Included by bench/CMakeLists.txt. Benchmarks are built, not run by ctest:
#   build/bench/vmmap_render_bench
#   bench/render_vs_virt_install.sh build
if(NOT TARGET benchmark::benchmark)
  find_package(benchmark REQUIRED)
endif()

add_executable(vmmap_render_bench ${CMAKE_CURRENT_LIST_DIR}/render_bench.cc)
target_link_libraries(vmmap_render_bench PRIVATE vmmap_mapper benchmark::benchmark
  PkgConfig::LIBYAML)  # BM_LibyamlLoad: libyaml alone
