# Included by bench/CMakeLists.txt. Built, not run by ctest (it boots real QEMU):
#   bench/start_path.sh build
# Pod start path (RunPodSandbox + CreateContainer + StartContainer against
# `vmmap serve`, embedded driver) vs. its floors: libvirt's minimal domain and a
# bare QEMU of the same guest; and vmmap-serve's RSS with 50 defined pods. Reuses the e2e
# harness (guest bundle, memlock shim, server process, CRI client).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()

add_executable(vmmap_start_path_bench
  ${CMAKE_CURRENT_LIST_DIR}/start_path_bench.cc
  ${PROJECT_SOURCE_DIR}/tests/e2e/harness.cc)
target_include_directories(vmmap_start_path_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(vmmap_start_path_bench PRIVATE
  VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  VMMAP_BINARY="$<TARGET_FILE:vmmap>")
target_link_libraries(vmmap_start_path_bench PRIVATE
  vmmap_cri_proto vmmap_mapper GTest::gtest PkgConfig::LIBVIRT PkgConfig::PUGIXML)
add_dependencies(vmmap_start_path_bench vmmap vmmap-serve)
