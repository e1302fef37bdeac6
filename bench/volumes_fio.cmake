# Included by bench/CMakeLists.txt. Built, not run by ctest (it boots two TCG
# guests): build/bench/vmmap_volumes_fio_bench [--seconds N] [--size-mib M] [--overhead-milli E]
# fio on a virtio-fs share, a 9p share and the host directory, in one run (issue 12).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()
find_package(nlohmann_json 3 REQUIRED)

add_executable(vmmap_volumes_fio_bench
  ${CMAKE_CURRENT_LIST_DIR}/volumes_fio_bench.cc
  ${PROJECT_SOURCE_DIR}/tests/e2e/harness.cc
  ${PROJECT_SOURCE_DIR}/tests/volumes/pod_probes.cc)
target_include_directories(vmmap_volumes_fio_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(vmmap_volumes_fio_bench PRIVATE
  VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  VMMAP_BINARY="$<TARGET_FILE:vmmap>")
target_link_libraries(vmmap_volumes_fio_bench PRIVATE vmmap_cri_proto vmmap_mapper
  nlohmann_json::nlohmann_json GTest::gtest)
add_dependencies(vmmap_volumes_fio_bench vmmap)
