# cmake -DCOMPILER=<c++> -DFLAGS_FILE=<file> -DINCLUDE_ROOT=<include dir> -DFOLDER=<recdiff/area>
#         -DPROBE_DIR=<scratch dir> -P header_self_contained.cmake
#
# Every public header must compile on its own: for each header of FOLDER (CUDA headers excepted,
# they need nvcc), a translation unit holding nothing but `#include <header>` goes through the host
# compiler with -fsyntax-only and the library's flags. Fails naming the first header that does not.
cmake_policy(VERSION 3.21)
foreach(var COMPILER FLAGS_FILE INCLUDE_ROOT FOLDER PROBE_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "header_self_contained: -D${var}=... is required")
  endif()
endforeach()
file(STRINGS "${FLAGS_FILE}" flags)
list(FILTER flags EXCLUDE REGEX "^-[ID]?$")
file(GLOB_RECURSE headers RELATIVE "${INCLUDE_ROOT}" "${INCLUDE_ROOT}/${FOLDER}/*.hpp")
if(FOLDER STREQUAL "recdiff")
  # The top folder itself: only its own files (the sub-folders have their own tests).
  file(GLOB headers RELATIVE "${INCLUDE_ROOT}" "${INCLUDE_ROOT}/recdiff/*.hpp")
endif()
list(FILTER headers EXCLUDE REGEX "^recdiff/backend/cuda")
list(LENGTH headers count)
if(count EQUAL 0)
  message(FATAL_ERROR "header_self_contained: no headers under ${INCLUDE_ROOT}/${FOLDER}")
endif()
foreach(header ${headers})
  file(WRITE "${PROBE_DIR}/self_contained_probe.cpp" "#include <${header}>\n")
  execute_process(COMMAND "${COMPILER}" -I${INCLUDE_ROOT} ${flags} -fsyntax-only -Wall -Wextra
                          -Wpedantic "${PROBE_DIR}/self_contained_probe.cpp"
                  ERROR_VARIABLE errors RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR errors MATCHES "warning:")
    # The marker has no spaces, so CMake never wraps it: tests match it.
    message(FATAL_ERROR "header_self_contained: NOT-SELF-CONTAINED:<${header}>\n${errors}")
  endif()
endforeach()
message(STATUS "header_self_contained: ${count} headers of ${FOLDER} compile on their own")
