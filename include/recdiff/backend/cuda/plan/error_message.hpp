#pragma once
/// @file
/// The text of a recdiff::CudaError. Pure host code (no CUDA header), tested on the CPU.

#include <string>

namespace recdiff::cuda {

/// "recdiff: <library> call `<call>` failed at <file>:<line>: <status name>: <reason>".
inline std::string cuda_error_message(const char* library, const char* call, const char* file,
                                      int line, const char* status_name, const char* reason) {
  return std::string("recdiff: ") + library + " call `" + call + "` failed at " + file + ":" +
         std::to_string(line) + ": " + status_name + ": " + reason;
}

}  // namespace recdiff::cuda
