#include "codec.h"

#include <cstring>

namespace splade::index {
namespace {

template <unsigned B>
void unpack_bits(const uint8_t* in, uint32_t n, uint32_t* out) {
  if constexpr (B == 0) {
    std::memset(out, 0, sizeof(uint32_t) * n);
  } else {
    constexpr uint64_t mask = (uint64_t{1} << B) - 1;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8, in += B, out += 8) {
#pragma GCC unroll 8
      for (unsigned j = 0; j < 8; ++j) {
        uint64_t w;
        std::memcpy(&w, in + (j * B) / 8, 8);
        out[j] = static_cast<uint32_t>((w >> ((j * B) % 8)) & mask);
      }
    }
    for (uint32_t j = 0; i < n; ++i, ++j) {
      uint64_t w;
      std::memcpy(&w, in + (j * B) / 8, 8);
      *out++ = static_cast<uint32_t>((w >> ((j * B) % 8)) & mask);
    }
  }
}


}  // namespace

const UnpackFn kUnpack[33] = {
    unpack_bits<0>,  unpack_bits<1>,  unpack_bits<2>,  unpack_bits<3>,  unpack_bits<4>,  unpack_bits<5>,
    unpack_bits<6>,  unpack_bits<7>,  unpack_bits<8>,  unpack_bits<9>,  unpack_bits<10>, unpack_bits<11>,
    unpack_bits<12>, unpack_bits<13>, unpack_bits<14>, unpack_bits<15>, unpack_bits<16>, unpack_bits<17>,
    unpack_bits<18>, unpack_bits<19>, unpack_bits<20>, unpack_bits<21>, unpack_bits<22>, unpack_bits<23>,
    unpack_bits<24>, unpack_bits<25>, unpack_bits<26>, unpack_bits<27>, unpack_bits<28>, unpack_bits<29>,
    unpack_bits<30>, unpack_bits<31>, unpack_bits<32>,
};

void pack(const uint32_t* values, uint32_t n, uint32_t bits, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  const size_t bytes = packed_bytes(n, bits);
  out.resize(start + bytes + 8, 0);  // 8 bytes of slack for the 64-bit stores, trimmed below
  uint8_t* base = out.data() + start;
  if (bits > 0) {
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t bp = static_cast<uint64_t>(i) * bits;
      uint64_t w;
      std::memcpy(&w, base + (bp >> 3), 8);
      w |= static_cast<uint64_t>(values[i]) << (bp & 7);
      std::memcpy(base + (bp >> 3), &w, 8);
    }
  }
  out.resize(start + bytes);
}

}  // namespace splade::index
