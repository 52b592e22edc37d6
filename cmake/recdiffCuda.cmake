# The CUDA backend's build: RECDIFF_CUDA=AUTO|ON|OFF. Included by the top-level CMakeLists.txt after
# the `recdiff` target exists. Sets RECDIFF_CUDA_ENABLED and, when it is ON, defines the INTERFACE
# target recdiff_cuda (recdiff::cuda) and its own export set recdiffCudaTargets.
#
# With RECDIFF_CUDA=OFF nothing here looks for nvcc or a CUDA header: the CPU-only build never
# needs either.

set(RECDIFF_CUDA AUTO CACHE STRING
    "Build the CUDA backend's tests, examples and benchmarks: AUTO (when nvcc is found), ON, OFF")
set_property(CACHE RECDIFF_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${RECDIFF_CUDA}" _recdiff_cuda_mode)
if(NOT _recdiff_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "RECDIFF_CUDA must be AUTO, ON or OFF, got '${RECDIFF_CUDA}'")
endif()

set(RECDIFF_CUDA_ENABLED OFF)
if(NOT _recdiff_cuda_mode STREQUAL "OFF")
  # nvcc is often installed outside PATH (/usr/local/cuda/bin); point CMake at it when neither
  # CMAKE_CUDA_COMPILER nor CUDACXX says where it is.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(RECDIFF_NVCC nvcc HINTS ENV CUDA_PATH ENV CUDA_HOME PATH_SUFFIXES bin
                 PATHS /usr/local/cuda/bin)
    if(RECDIFF_NVCC)
      set(CMAKE_CUDA_COMPILER "${RECDIFF_NVCC}" CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(RECDIFF_CUDA_ENABLED ON)
  elseif(_recdiff_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "RECDIFF_CUDA=ON but no working nvcc was found "
                        "(set CMAKE_CUDA_COMPILER or CUDACXX, or use RECDIFF_CUDA=AUTO|OFF)")
  endif()
endif()

if(NOT RECDIFF_CUDA_ENABLED)
  message(STATUS "recdiff: CUDA backend OFF (RECDIFF_CUDA=${RECDIFF_CUDA})")
  return()
endif()

# sm_80 (A100) and sm_90 (H100/H200) by default; -DCMAKE_CUDA_ARCHITECTURES=... overrides (e.g.
# "native" on a machine with a GPU, or one architecture to halve device compilation time).
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures to compile for")
endif()
enable_language(CUDA)
# C++20 in device code. CMake < 3.26 has no cuda_std_20 (CMAKE_CUDA_STANDARD 20 is refused there), so
# recdiff_cuda below also passes -std=c++20 itself; with a newer CMake both say the same.
if(NOT DEFINED CMAKE_CUDA_STANDARD AND DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION
   AND NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION STREQUAL "")
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
endif()
set(CMAKE_CUDA_EXTENSIONS OFF)
# One CUDA runtime per program: recdiff::cuda links the shared cudart (CUDA::cudart), so nvcc-built
# targets here do not add CMake's default static one next to it.
if(NOT DEFINED CMAKE_CUDA_RUNTIME_LIBRARY)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
endif()
find_package(CUDAToolkit REQUIRED)
message(STATUS "recdiff: CUDA backend ON: nvcc ${CMAKE_CUDA_COMPILER_VERSION} "
               "(${CMAKE_CUDA_COMPILER}), architectures ${CMAKE_CUDA_ARCHITECTURES}")

# The usage requirements every nvcc translation unit that includes recdiff needs: the headers are
# C++20, call constexpr host functions (Eigen, std) from device code and use OpenMP on the host.
# FindOpenMP's flags are guarded to CXX compilations, so the CUDA ones pass -fopenmp to the host
# compiler themselves. 20012: Eigen's "__host__ __device__ annotation is ignored on a defaulted
# function" warnings, which say nothing about recdiff.
add_library(recdiff_cuda INTERFACE)
add_library(recdiff::cuda ALIAS recdiff_cuda)
set_target_properties(recdiff_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(recdiff_cuda INTERFACE recdiff CUDA::cudart CUDA::cublas)
target_compile_definitions(recdiff_cuda INTERFACE RECDIFF_ENABLE_CUDA)
target_compile_options(recdiff_cuda INTERFACE
                       $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>
                       $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>
                       "$<$<COMPILE_LANGUAGE:CUDA>:SHELL:-diag-suppress 20012>"
                       "$<$<COMPILE_LANGUAGE:CUDA>:SHELL:-Xcompiler -fopenmp>")

install(TARGETS recdiff_cuda EXPORT recdiffCudaTargets)
install(EXPORT recdiffCudaTargets NAMESPACE recdiff:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/recdiff)
export(EXPORT recdiffCudaTargets NAMESPACE recdiff:: FILE ${PROJECT_BINARY_DIR}/recdiffCudaTargets.cmake)
