// CRC-32C (Castagnoli): SSE4.2 instruction when the CPU has it, a table otherwise; same result.
#pragma once
#include <cstddef>
#include <cstdint>

namespace splade::index {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace splade::index
