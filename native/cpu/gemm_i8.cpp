// Int8 GEMM (gemm_i8.h): weight packing, activation quantisation, the plain reference, the generic
// block kernel, and the driver that quantises A, runs a block kernel per (row chunk, column chunk)
// task and dequantises into C with the epilogue.
#include "gemm_i8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "gelu.h"
#include "isa_target.h"

namespace splade {

I8Weight i8_pack_weight(const float* W, size_t N, size_t K, size_t ldw, int qmax) {
  SPLADE_CHECK(N > 0 && K > 0 && ldw >= K && W != nullptr, "i8_pack_weight: bad shape");
  SPLADE_CHECK(qmax == 127 || qmax == 63, "i8_pack_weight: qmax must be 127 or 63");
  I8Weight P;
  P.N = N, P.K = K, P.Np = (N + 15) / 16 * 16, P.Kp = (K + 3) / 4 * 4, P.qmax = qmax;
  const float top = static_cast<float>(qmax);
  P.data.assign(P.Np * P.Kp, 0);
  P.scale.assign(N, 1.0f);
  P.colsum.assign(N, 0);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n) {
      const float* row = W + n * ldw;
      float amax = 0;
      for (size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(row[k]));
      const float s = amax > 0 ? amax / top : 1.0f;
      P.scale[n] = s;
      int32_t sum = 0;
      for (size_t k = 0; k < K; ++k) {
        const int32_t q = static_cast<int32_t>(std::min(top, std::max(-top, std::nearbyint(row[k] / s))));
        P.data[((n / 16) * (P.Kp / 4) + k / 4) * 64 + (n % 16) * 4 + k % 4] = static_cast<int8_t>(q);
        sum += q;
      }
      P.colsum[n] = sum;
    }
  });
  return P;
}

void i8_quantize_row(uint8_t* q, float* scale, int32_t* zp, const float* x, size_t K, size_t Kp) {
  float lo = 0, hi = 0;
  for (size_t k = 0; k < K; ++k) lo = std::min(lo, x[k]), hi = std::max(hi, x[k]);
  float s;
  int32_t z;
  i8::quant_params(lo, hi, &s, &z);
  for (size_t k = 0; k < K; ++k) q[k] = i8::quant_one(x[k], s, z);
  std::memset(q + K, 0, Kp - K);
  *scale = s, *zp = z;
}

const char* i8_kernel_name(I8Kernel k) {
  switch (k) {
    case I8Kernel::avx512_vnni: return "avx512_vnni";
    case I8Kernel::avx_vnni: return "avx_vnni";
    case I8Kernel::avx2: return "avx2";
    default: return "generic";
  }
}

bool i8_kernel_supported(I8Kernel k) {
  switch (k) {
    case I8Kernel::avx512_vnni: return x86_extensions().avx512_vnni;
    case I8Kernel::avx_vnni: return x86_extensions().avx_vnni;
    case I8Kernel::avx2: return isa_supported(Isa::avx2);
    default: return true;
  }
}

I8Kernel i8_active_kernel() {
  static const int forced = [] {
    const char* env = std::getenv("SPLADE_INT8");
    if (!env) return -1;
    for (I8Kernel k : {I8Kernel::generic, I8Kernel::avx2, I8Kernel::avx_vnni, I8Kernel::avx512_vnni})
      if (std::string(env) == i8_kernel_name(k) && i8_kernel_supported(k)) return static_cast<int>(k);
    return -1;
  }();
  if (forced >= 0) return static_cast<I8Kernel>(forced);
  const Isa isa = active_isa();
  if (isa == Isa::avx512 && i8_kernel_supported(I8Kernel::avx512_vnni)) return I8Kernel::avx512_vnni;
  if (isa != Isa::generic && i8_kernel_supported(I8Kernel::avx_vnni)) return I8Kernel::avx_vnni;
  if (isa != Isa::generic) return I8Kernel::avx2;
  return I8Kernel::generic;
}

int i8_weight_qmax(I8Kernel k) { return k == I8Kernel::avx2 ? 63 : 127; }

I8Weight i8_pack_weight_active(const float* W, size_t N, size_t K, size_t ldw) {
  return i8_pack_weight(W, N, K, ldw, i8_weight_qmax(i8_active_kernel()));
}

void gemm_i8_reference(float* C, size_t ldc, const float* A, size_t lda, size_t M, const float* W, size_t ldw,
                       size_t N, size_t K, const Epilogue& ep, int qmax) {
  const I8Weight P = i8_pack_weight(W, N, K, ldw, qmax);
  std::vector<uint8_t> q(P.Kp);
  for (size_t m = 0; m < M; ++m) {
    float sa;
    int32_t zp;
    i8_quantize_row(q.data(), &sa, &zp, A + m * lda, K, P.Kp);
    for (size_t n = 0; n < N; ++n) {
      int64_t acc = 0;
      for (size_t k = 0; k < K; ++k) acc += int64_t{q[k]} * P.at(n, k);
      float out = static_cast<float>(acc - int64_t{zp} * P.colsum[n]) * (sa * P.scale[n]);
      if (ep.bias) out += ep.bias[n];
      if (ep.residual) out += ep.residual[m * ep.ldr + n];
      if (ep.activation == Activation::gelu) out = gelu_exact(out);
      C[m * ldc + n] = out;
    }
  }
}

namespace i8 {

void block_generic(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels) {
  const size_t ld = panels * 16;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t p = 0; p < panels; ++p) {
      int32_t s[16] = {};
      const int8_t* w = Wp + p * Kp * 16;
      for (size_t k = 0; k < Kp; k += 4)
        for (size_t c = 0; c < 16; ++c)
          for (size_t e = 0; e < 4; ++e) s[c] += int32_t{Aq[r * Kp + k + e]} * w[k * 16 + c * 4 + e];
      std::memcpy(acc + r * ld + p * 16, s, sizeof s);
    }
  }
}

}  // namespace i8

namespace {

constexpr size_t kTaskRows = 48;    // a multiple of every kernel's register block (6, 4)
constexpr size_t kTaskPanels = 8;   // 128 columns: a W chunk of Kp * 128 bytes stays in L2

// Dequantises rows x cols of acc (ld lda_acc), rows m0.. and columns n0.., into C (at the block's first
// element), then bias and residual. The product and the sum stay separate loops, so that no FMA
// contraction makes the floats differ from the reference's.
SPLADE_INLINE void dequant_body(float* C, size_t ldc, const int32_t* acc, size_t ld_acc, size_t rows, size_t cols,
                                size_t m0, size_t n0, const float* sa, const int32_t* zp, const float* sw,
                                const int32_t* colsum, const Epilogue* ep) {
  for (size_t r = 0; r < rows; ++r) {
    const size_t m = m0 + r;
    float* __restrict c = C + r * ldc;
    const int32_t* __restrict a = acc + r * ld_acc;
    const float s = sa[m];
    const int32_t z = zp[m];
    for (size_t j = 0; j < cols; ++j) c[j] = static_cast<float>(a[j] - z * colsum[n0 + j]) * (s * sw[n0 + j]);
    if (ep->bias)
      for (size_t j = 0; j < cols; ++j) c[j] += ep->bias[n0 + j];
    if (ep->residual) {
      const float* __restrict res = ep->residual + m * ep->ldr + n0;
      for (size_t j = 0; j < cols; ++j) c[j] += res[j];
    }
  }
}
SPLADE_ISA_VARIANTS(dequant, dequant_body,
                    (float* C, size_t ldc, const int32_t* acc, size_t ld_acc, size_t rows, size_t cols, size_t m0,
                     size_t n0, const float* sa, const int32_t* zp, const float* sw, const int32_t* colsum,
                     const Epilogue* ep),
                    (C, ldc, acc, ld_acc, rows, cols, m0, n0, sa, zp, sw, colsum, ep))

void check_gemm(float* C, size_t ldc, const float* A, size_t lda, size_t M, const I8Weight& W, const Epilogue& ep) {
  SPLADE_CHECK(W.N > 0 && W.K > 0 && W.data.size() == W.Np * W.Kp && W.scale.size() == W.N && W.colsum.size() == W.N,
               "gemm_i8: the weight is not packed");
  SPLADE_CHECK(M == 0 || (C != nullptr && A != nullptr), "gemm_i8: A or C is null");
  SPLADE_CHECK(ldc >= W.N && lda >= W.K, "gemm_i8: a leading dimension is too small");
  SPLADE_CHECK(!ep.residual || (ep.ldr >= W.N && ep.residual != C), "gemm_i8: bad residual");
}

}  // namespace

namespace i8 {

BlockFn block_for(I8Kernel k, const I8Weight& W) {
  switch (k) {
#if defined(__x86_64__) || defined(_M_X64)
    case I8Kernel::avx512_vnni: return block_avx512_vnni;
    case I8Kernel::avx_vnni: return block_avx_vnni;
    case I8Kernel::avx2: return W.qmax <= 63 ? block_avx2_pairs : block_avx2;
#endif
    default: (void)W; return block_generic;
  }
}

void quantize_rows(I8Kernel kernel, uint8_t* q, float* sa, int32_t* zp, const float* A, size_t lda, size_t M, size_t K,
                   size_t Kp) {
  parallel_range(M, [&](size_t m0, size_t m1, int) {
    for (size_t m = m0; m < m1; ++m) {
#if defined(__x86_64__) || defined(_M_X64)
      if (kernel != I8Kernel::generic) {
        quantize_row_avx2(q + m * Kp, sa + m, zp + m, A + m * lda, K, Kp);
        continue;
      }
#endif
      (void)kernel;
      i8_quantize_row(q + m * Kp, sa + m, zp + m, A + m * lda, K, Kp);
    }
  });
}

void dequant_block(I8Kernel k, float* C, size_t ldc, const int32_t* acc, size_t ld_acc, size_t rows, size_t cols,
                   size_t m0, size_t n0, const float* sa, const int32_t* zp, const I8Weight& W, const Epilogue& ep) {
  auto dq = SPLADE_PICK_ISA(k == I8Kernel::generic ? Isa::generic : Isa::avx2, dequant);
  dq(C, ldc, acc, ld_acc, rows, cols, m0, n0, sa, zp, W.scale.data(), W.colsum.data(), &ep);
}

}  // namespace i8

void gemm_i8_variant(I8Kernel kernel, float* C, size_t ldc, const float* A, size_t lda, size_t M, const I8Weight& W,
                     const Epilogue& ep) {
  check_gemm(C, ldc, A, lda, M, W, ep);
  if (M == 0) return;
  if (!i8_kernel_supported(kernel))
    fail(kUnsupported, std::string("this CPU cannot run the ") + i8_kernel_name(kernel) + " int8 kernels");
  const size_t Kp = W.Kp, panels = W.Np / 16;
  thread_local std::vector<uint8_t> q;
  thread_local std::vector<float> sa;
  thread_local std::vector<int32_t> zp;
  if (q.size() < M * Kp) q.resize(M * Kp);
  if (sa.size() < M) sa.resize(M), zp.resize(M);
  uint8_t* qd = q.data();
  float* sad = sa.data();
  int32_t* zpd = zp.data();
  i8::quantize_rows(kernel, qd, sad, zpd, A, lda, M, W.K, Kp);
  const i8::BlockFn block = i8::block_for(kernel, W);
  const size_t mt = (M + kTaskRows - 1) / kTaskRows, nt = (panels + kTaskPanels - 1) / kTaskPanels;
  parallel_for(mt * nt, [&](size_t task, int) {
    thread_local std::vector<int32_t> acc(kTaskRows * kTaskPanels * 16);
    // column-chunk major: consecutive tasks share a W chunk and stream A's row chunks
    const size_t m0 = (task % mt) * kTaskRows, p0 = (task / mt) * kTaskPanels;
    const size_t rows = std::min(kTaskRows, M - m0), np = std::min(kTaskPanels, panels - p0);
    block(acc.data(), qd + m0 * Kp, Kp, rows, W.data.data() + p0 * Kp * 16, np);
    const size_t n0 = p0 * 16, cols = std::min(np * 16, W.N - n0);
    i8::dequant_block(kernel, C + m0 * ldc + n0, ldc, acc.data(), np * 16, rows, cols, m0, n0, sad, zpd, W, ep);
    if (ep.activation == Activation::gelu) {
      for (size_t r = 0; r < rows; ++r) {
        float* c = C + (m0 + r) * ldc + n0;
#if defined(__x86_64__) || defined(_M_X64)
        if (kernel != I8Kernel::generic) {
          avx2::gelu_forward_range(c, c, cols);
          continue;
        }
#endif
        gelu_forward_ref(c, c, cols);
      }
    }
  });
}

void gemm_i8(float* C, size_t ldc, const float* A, size_t lda, size_t M, const I8Weight& W, const Epilogue& ep) {
  gemm_i8_variant(i8_active_kernel(), C, ldc, A, lda, M, W, ep);
}

}  // namespace splade
