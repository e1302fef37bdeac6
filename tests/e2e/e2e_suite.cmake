# vmmap_add_e2e_suite(): one executable built on the e2e harness
# (tests/e2e/harness.cc: the guest image, memlock shims, `vmmap serve` as a
# process, a CRI client), and its ctest entries. Included by the top-level
# CMakeLists.txt, so tests/ and bench/ share it.
#
#   vmmap_add_e2e_suite(TARGET
#     SOURCES file...          the test's own sources
#     [LIBS target...]         linked beyond the harness's (CRI protos, mapper)
#     [DEPENDS target...]      built first, beyond the vmmap CLI the harness runs
#     [SUITES suite... PREFIX prefix]  one ctest entry per gtest suite,
#                              <prefix><suite> ('/' → '_'), --gtest_filter=<suite>.*
#     [TEST name]              one ctest entry running the whole binary
#     [TIMEOUT seconds]        [1800]: only stops a hung run; the tests wait for events
#     [LABELS label...])       [e2e]
#
# Entries are RUN_SERIAL: they boot guests and share the node partition. A
# suite is one entry, not one per test, because its tests share the guests
# its SetUpTestSuite boots. Without SUITES or TEST (benches) nothing is added
# to ctest.
function(vmmap_add_e2e_suite target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PREFIX;TEST;TIMEOUT"
    "SOURCES;LIBS;DEPENDS;SUITES;LABELS")
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 1800)
  endif()
  if(NOT arg_LABELS)
    set(arg_LABELS e2e)
  endif()
  add_executable(${target} ${PROJECT_SOURCE_DIR}/tests/e2e/harness.cc ${arg_SOURCES})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(${target} PRIVATE
    VMMAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    VMMAP_BINARY="$<TARGET_FILE:vmmap>")
  target_link_libraries(${target} PRIVATE vmmap_cri_proto vmmap_mapper ${arg_LIBS})
  add_dependencies(${target} vmmap ${arg_DEPENDS})
  set(names)
  foreach(suite ${arg_SUITES})
    string(REPLACE "/" "_" name "${arg_PREFIX}${suite}")
    add_test(NAME ${name} COMMAND ${target} --gtest_filter=${suite}.*)
    list(APPEND names ${name})
  endforeach()
  if(arg_TEST)
    add_test(NAME ${arg_TEST} COMMAND ${target})
    list(APPEND names ${arg_TEST})
  endif()
  foreach(name ${names})
    set_tests_properties(${name} PROPERTIES
      TIMEOUT ${arg_TIMEOUT} LABELS "${arg_LABELS}" RUN_SERIAL TRUE)
  endforeach()
endfunction()
