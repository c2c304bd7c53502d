// Max pooling through the tied decoder in int8, for precision 'int8' on x86-64 without AMX: the logits
// are computed as gemm_i8 computes a Linear layer (the decoder E (V, C) quantised
// once per term, the tokens t (N, C) per token, exact int32 sums, the bias in the epilogue; gemm_i8.h),
// then reduced into each sequence's running maximum per term: w = log1p(relu(max logit)), argmax its
// first token (ties go to the first). vpmaddubsw's 32 products an instruction against the int16
// screen's 16 (splade_pool_screen.h), with no bound and no fp32 re-score: an approximation of the fp32
// decoder at the int8 GEMMs' precision. Every x86 variant computes the same integers and floats as the
// reference (gemm_i8_reference on the fp32 decoder, the same reduction).
#pragma once
#include <cstddef>
#include <cstdint>

#include "gemm_i8.h"

namespace splade {

// w, argmax (B, V) (argmax may be null); t (N, C) with N = cu_seqlens[B]; E packed by i8_pack_weight
// from the decoder (V, C) (either qmax); bias (V). The logits never leave a 48 x 128 tile.
void splade_pool_max_i8(float* w, int32_t* argmax, const float* t, const I8Weight& E, const float* bias,
                        const int32_t* cu_seqlens, int B);
// The reference: the same with gemm_i8_reference on the decoder E (V, C) in fp32, quantised with qmax.
void splade_pool_max_i8_ref(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                            const int32_t* cu_seqlens, int B, size_t C, size_t V, int qmax = 127);

}  // namespace splade
