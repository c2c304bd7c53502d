// The index's block codec, runnable without Node (ctest): bit packing round trips for every width and
// block length, and the decoder's gap-to-document prefix sum (NEON on arm64) against its reference,
// on seeded random blocks (the seed is printed on failure); and the file checksum (CRC-32C, hardware
// instructions where the CPU has them) against the standard check value and a bitwise reference.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "../index/codec.h"
#include "../index/crc32c.h"

using namespace splade::index;

int main() {
  const uint32_t seed = 20261207;
  std::mt19937 rng(seed);
  int failures = 0;
  for (uint32_t bits = 0; bits <= 32; ++bits) {
    for (uint32_t n : {1u, 3u, 4u, 7u, 8u, 9u, 64u, 127u, 128u}) {
      std::vector<uint32_t> values(n);
      const uint64_t limit = bits == 32 ? 0xFFFFFFFFull : (uint64_t{1} << bits) - 1;
      for (auto& v : values) v = static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(0, limit)(rng));
      std::vector<uint8_t> packed;
      pack(values.data(), n, bits, packed);
      packed.resize(packed.size() + 8, 0);  // the decoder's read-ahead padding
      std::vector<uint32_t> out(n, 0xDEADBEEF);
      unpack(packed.data(), n, bits, out.data());
      if (out != values) {
        std::printf("FAIL unpack bits=%u n=%u (seed %u)\n", bits, n, seed);
        ++failures;
      }
    }
  }
  for (uint32_t n : {0u, 1u, 3u, 4u, 5u, 8u, 13u, 128u}) {
    for (uint32_t prev : {0xFFFFFFFFu, 0u, 1000u}) {
      std::vector<uint32_t> gaps(n);
      for (auto& g : gaps) g = std::uniform_int_distribution<uint32_t>(0, 1u << 20)(rng);
      std::vector<uint32_t> fast = gaps, ref = gaps;
      undelta(fast.data(), n, prev);
      undelta_ref(ref.data(), n, prev);
      if (fast != ref) {
        std::printf("FAIL undelta n=%u prev=%u (seed %u)\n", n, prev, seed);
        ++failures;
      }
    }
  }
  const char check[] = "123456789";
  if (crc32c(check, 9) != 0xE3069283u) {
    std::printf("FAIL crc32c check value: %08x\n", crc32c(check, 9));
    ++failures;
  }
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{13}, size_t{1000}}) {
    std::vector<uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    uint32_t ref = 0xFFFFFFFFu;  // bitwise CRC-32C (Castagnoli, reflected)
    for (uint8_t b : bytes) {
      ref ^= b;
      for (int k = 0; k < 8; ++k) ref = (ref & 1) ? (ref >> 1) ^ 0x82F63B78u : ref >> 1;
    }
    ref = ~ref;
    if (crc32c(bytes.data(), n) != ref) {
      std::printf("FAIL crc32c n=%zu (seed %u)\n", n, seed);
      ++failures;
    }
  }
  std::printf("%s\n", failures ? "FAILED" : "codec ok");
  return failures ? 1 : 0;
}
