# Included by bench/CMakeLists.txt. Built, not run by ctest (starts a registry,
# moves a few hundred MiB):
#   build/bench/vmmap_pull_bench [--size-mib 128] [--rounds 3]
# PullImage into the image store against `skopeo copy` of the same image to a
# local directory, both from a docker-registry on loopback, in one run.
add_executable(vmmap_pull_bench ${CMAKE_CURRENT_LIST_DIR}/pull_bench.cc)
target_compile_definitions(vmmap_pull_bench PRIVATE VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(vmmap_pull_bench PRIVATE vmmap_images absl::strings)
