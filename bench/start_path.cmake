# Included by bench/CMakeLists.txt. Built, not run by ctest (it boots real QEMU):
#   bench/start_path.sh build
# Pod start path (RunPodSandbox + CreateContainer + StartContainer against
# `vmmap serve`, embedded driver) vs. its floors: libvirt's minimal domain and a
# bare QEMU of the same guest; and vmmap-serve's RSS with 50 defined pods. Reuses the e2e
# harness (guest bundle, memlock shim, server process, CRI client).
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()

vmmap_add_e2e_suite(vmmap_start_path_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/start_path_bench.cc
  LIBS GTest::gtest PkgConfig::LIBVIRT PkgConfig::PUGIXML
  DEPENDS vmmap-serve)
