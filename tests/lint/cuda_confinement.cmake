# cmake -DINCLUDE_ROOT=<folder holding recdiff/> -P cuda_confinement.cmake
#
# Fails (lists file:line) when CUDA leaks out of include/recdiff/backend/cuda/:
#   - outside recdiff/backend/cuda/ and recdiff/backend/cuda.hpp: a CUDA runtime or cuBLAS include,
#     __global__, a <<<...>>> launch, an #include of a .cuh file, or an #include of
#     recdiff/backend/cuda/ (other than its pure-host plan/);
#   - recdiff/backend/cuda.hpp, the entry point: the same, except that it includes the backend's
#     own headers (.cuh kernels included);
#   - recdiff/backend/cuda/plan/ (pure host code, tested on the CPU): any of the above.
# The umbrella header may include recdiff/backend/cuda.hpp (under `#if defined(__CUDACC__)`; the
# cpu_only_headers test proves that guard). `//` comments are ignored, so prose may name these.
cmake_policy(VERSION 3.21)
if(NOT INCLUDE_ROOT OR NOT IS_DIRECTORY "${INCLUDE_ROOT}/recdiff")
  message(FATAL_ERROR "cuda_confinement: INCLUDE_ROOT must hold recdiff/, got '${INCLUDE_ROOT}'")
endif()

set(cuda_header_re "#[ \t]*include[ \t]*[<\"][^>\"]*(cuda_runtime|cuda_runtime_api|cuda|cublas_v2|cublas_api|cublasLt|cuda_fp16|curand)\\.h[>\"]")
set(kernel_re "__global__|<<<")
set(cuh_re "#[ \t]*include[ \t]*[<\"][^>\"]*\\.cuh[>\"]")
set(backend_include_re "#[ \t]*include[ \t]*[<\"]recdiff/backend/cuda/")
set(plan_include_re "#[ \t]*include[ \t]*[<\"]recdiff/backend/cuda/plan/")
set(entry_include_re "#[ \t]*include[ \t]*[<\"]recdiff/backend/cuda\\.hpp[>\"]")

file(GLOB_RECURSE headers RELATIVE "${INCLUDE_ROOT}" "${INCLUDE_ROOT}/recdiff/*")
set(violations "")
set(checked 0)
foreach(rel IN LISTS headers)
  if(rel MATCHES "^recdiff/backend/cuda/plan/")
    set(zone plan)
  elseif(rel MATCHES "^recdiff/backend/cuda/")
    continue()  # the backend proper: CUDA is allowed here
  elseif(rel STREQUAL "recdiff/backend/cuda.hpp")
    set(zone entry)
  else()
    set(zone host)
  endif()
  math(EXPR checked "${checked} + 1")
  file(READ "${INCLUDE_ROOT}/${rel}" text)
  # One list element per line: neutralise the characters that CMake's list splitting treats specially.
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "[" "<lbracket>" text "${text}")
  string(REPLACE "]" "<rbracket>" text "${text}")
  string(REPLACE "\\" "<backslash>" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    string(REGEX REPLACE "//.*$" "" code "${line}")
    set(why "")
    if(code MATCHES "${cuda_header_re}")
      set(why "CUDA header")
    elseif(code MATCHES "${kernel_re}")
      set(why "kernel code")
    elseif(code MATCHES "${cuh_re}" AND NOT zone STREQUAL "entry")
      set(why ".cuh include")
    elseif(code MATCHES "${backend_include_re}" AND NOT code MATCHES "${plan_include_re}"
           AND NOT zone STREQUAL "entry")
      set(why "include of the CUDA backend")
    elseif(code MATCHES "${entry_include_re}" AND NOT rel STREQUAL "recdiff/recdiff.hpp")
      set(why "include of recdiff/backend/cuda.hpp")
    endif()
    if(why)
      string(STRIP "${line}" shown)
      string(REPLACE "<semicolon>" ";" shown "${shown}")
      string(REPLACE "<lbracket>" "[" shown "${shown}")
      string(REPLACE "<rbracket>" "]" shown "${shown}")
      string(REPLACE "<backslash>" "\\" shown "${shown}")
      if(zone STREQUAL "plan")
        set(where "in the pure-host plan/")
      else()
        set(where "outside recdiff/backend/cuda/")
      endif()
      string(APPEND violations "  ${rel}:${number}: ${why} ${where}: ${shown}\n")
    endif()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "cuda_confinement: no headers found under ${INCLUDE_ROOT}/recdiff")
endif()
if(violations)
  message(FATAL_ERROR "cuda_confinement: CUDA code outside include/recdiff/backend/cuda/ "
                      "(the CPU-only build must never see it):\n${violations}")
endif()
message(STATUS "cuda_confinement: ${checked} headers outside the CUDA backend are CUDA-free")
