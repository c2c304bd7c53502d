#include "crc32c.h"

#include <cstring>

#include "../common/cpu_features.h"

namespace splade::index {
namespace {

#if defined(__x86_64__)
constexpr const char* kHardwareCrc = "sse4.2";
#elif defined(__aarch64__)
constexpr const char* kHardwareCrc = "crc32";
#endif

struct Table {
  uint32_t t[8][256];
  Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};

uint32_t crc_table(const uint8_t* p, size_t n, uint32_t c) {
  static const Table tab;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= c;
    c = tab.t[7][w & 0xFF] ^ tab.t[6][(w >> 8) & 0xFF] ^ tab.t[5][(w >> 16) & 0xFF] ^ tab.t[4][(w >> 24) & 0xFF] ^
        tab.t[3][(w >> 32) & 0xFF] ^ tab.t[2][(w >> 40) & 0xFF] ^ tab.t[1][(w >> 48) & 0xFF] ^ tab.t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ tab.t[0][(c ^ *p++) & 0xFF];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_hw(const uint8_t* p, size_t n, uint32_t c) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
#elif defined(__aarch64__)
// ARMv8's optional CRC32 instructions (every arm64 server and Apple core has them; cpu_features.h
// reports "crc32"). GCC and clang spell the target feature and the builtins differently (arm_acle.h's
// __crc32cd needs the whole file built with +crc under clang, which would let it leak elsewhere).
#if defined(__clang__)
#define SPLADE_CRC32CX __builtin_arm_crc32cd
#define SPLADE_CRC32CB __builtin_arm_crc32cb
__attribute__((target("crc")))
#else
#define SPLADE_CRC32CX __builtin_aarch64_crc32cx
#define SPLADE_CRC32CB __builtin_aarch64_crc32cb
__attribute__((target("+crc")))
#endif
uint32_t crc_hw(const uint8_t* p, size_t n, uint32_t c) {
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = SPLADE_CRC32CX(c, w);
    p += 8;
    n -= 8;
  }
  while (n--) c = SPLADE_CRC32CB(c, *p++);
  return c;
}
#endif

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
#if defined(__x86_64__) || defined(__aarch64__)
  static const bool hw = cpu_has(kHardwareCrc);
  if (hw) return ~crc_hw(p, size, crc);
#endif
  return ~crc_table(p, size, crc);
}

}  // namespace splade::index
