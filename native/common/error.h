// Errors thrown by the native core. Every failure the caller can cause (bad shapes, ids out of range,
// corrupt files) is a SpladeError carrying a stable code; the binding turns it into a JavaScript Error
// with that `code` property, so the process never aborts on bad input.
#pragma once
#include <stdexcept>
#include <string>

namespace splade {

// Stable codes, mirrored in lib/errors.ts.
inline constexpr const char* kInvalidArgument = "ERR_SPLADE_INVALID_ARGUMENT";
inline constexpr const char* kOutOfRange = "ERR_SPLADE_OUT_OF_RANGE";
inline constexpr const char* kCorruptFile = "ERR_SPLADE_CORRUPT_FILE";
inline constexpr const char* kIo = "ERR_SPLADE_IO";
inline constexpr const char* kUnsupported = "ERR_SPLADE_UNSUPPORTED";
inline constexpr const char* kCuda = "ERR_SPLADE_CUDA";
inline constexpr const char* kInternal = "ERR_SPLADE_INTERNAL";

class SpladeError : public std::runtime_error {
 public:
  SpladeError(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const noexcept { return code_; }

 private:
  const char* code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) { throw SpladeError(code, message); }

}  // namespace splade

// Checks an argument the caller controls; throws ERR_SPLADE_INVALID_ARGUMENT with the condition text.
#define SPLADE_CHECK(cond, msg)                                                                  \
  do {                                                                                           \
    if (!(cond)) ::splade::fail(::splade::kInvalidArgument, std::string(msg) + " (" #cond ")"); \
  } while (0)
