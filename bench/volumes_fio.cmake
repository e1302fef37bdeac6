# Included by bench/CMakeLists.txt. Built, not run by ctest (it boots two TCG
# guests): build/bench/vmmap_volumes_fio_bench [--seconds N] [--size-mib M] [--overhead-milli E]
# fio on a virtio-fs share, a 9p share and the host directory, in one run (issue 12).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()
find_package(nlohmann_json 3 REQUIRED)

vmmap_add_e2e_suite(vmmap_volumes_fio_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/volumes_fio_bench.cc
    ${PROJECT_SOURCE_DIR}/tests/volumes/pod_probes.cc
  LIBS nlohmann_json::nlohmann_json GTest::gtest)
