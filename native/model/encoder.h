// The SPLADE encoder: a BERT, DistilBERT or RoBERTa / XLM-RoBERTa masked-LM (post-LN transformer,
// exact-erf GELU, MLM head with the decoder tied to the word embeddings) whose vocabulary logits are pooled into one sparse-able
// vector per sequence. All parameters live in one contiguous float arena owned by the caller (the
// TypeScript side allocates it, so parameters() are zero-copy views); ParamLayout is its table of
// named offsets, in Hugging Face names. Inside the arena, q/k/v of each layer are stored back to back,
// so the QKV projection is one (3C, C) GEMM.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/gemm_bf16.h"
#include "../cpu/gemm_i8.h"
#include "../cpu/splade_pool.h"
#include "../cpu/splade_pool_fused.h"
#include "../cpu/splade_pool_i8.h"
#include "../cpu/splade_pool_screen.h"

namespace splade {

// roberta: RobertaForMaskedLM and XLMRobertaForMaskedLM (BERT's layers under other names; positions
// start past the padding index, see EncoderConfig::position_offset). modernbert: ModernBertForMaskedLM,
// its own layers, layout and backend (modernbert.h, make_modernbert_encoder).
enum class Arch { bert = 0, distilbert = 1, roberta = 2, modernbert = 3 };

// What ModernBERT's config adds (ignored by the other architectures).
struct ModernBertOptions {
  size_t window = 0;               // local_attention / 2: the local layers' half-window
  size_t global_every = 1;         // global_attn_every_n_layers: layer l is global when l % global_every == 0
  float global_theta = 160000.0f;  // rope theta of the global layers
  float local_theta = 10000.0f;    // and of the local ones
  bool global(size_t l) const { return l % global_every == 0; }
};

struct EncoderConfig {
  Arch arch = Arch::bert;
  // max_positions: the longest sequence (for RoBERTa max_position_embeddings - position_offset)
  size_t vocab = 0, hidden = 0, layers = 0, heads = 0, intermediate = 0, max_positions = 0;
  size_t type_vocab = 0;  // 0 for DistilBERT (no token type embeddings)
  // RoBERTa: padding_idx + 1, the position of a sequence's first token (transformers'
  // create_position_ids_from_input_ids; packed sequences hold no padding, so positions are
  // position_offset + 0, 1, ...). The position table has max_positions + position_offset rows.
  size_t position_offset = 0;
  float eps = 1e-12f;
  ModernBertOptions modernbert;  // Arch::modernbert only
};
void validate_config(const EncoderConfig& cfg);  // SpladeError on impossible sizes

struct ParamEntry {
  std::string name;            // Hugging Face state-dict name
  size_t offset = 0;           // in floats from the arena start
  std::vector<size_t> shape;   // as PyTorch has it (Linear weights are (out, in))
  size_t numel() const;
};

struct LayerOffsets {
  size_t qkv_w, qkv_b;      // (3C, C), (3C): q | k | v
  size_t attn_out_w, attn_out_b, ln1_w, ln1_b;
  size_t fc1_w, fc1_b;      // (I, C), (I)
  size_t fc2_w, fc2_b;      // (C, I), (C)
  size_t ln2_w, ln2_b;
};

struct ParamLayout {
  std::vector<ParamEntry> entries;
  size_t total = 0;  // floats
  // wpe: the row of position 0 as the kernels see it (the table's own offset + position_offset rows), so
  // every forward and backward reads and writes the right rows without knowing the offset.
  size_t wte, wpe, wtt = SIZE_MAX, emb_ln_w, emb_ln_b;
  std::vector<LayerOffsets> layer;
  size_t head_w, head_b, head_ln_w, head_ln_b, decoder_bias;
};
ParamLayout make_layout(const EncoderConfig& cfg);  // BERT, DistilBERT, RoBERTa (ModernBERT: modernbert.h)

// A batch of packed sequences: ids (N), type_ids (N) or null (all zero), cu_seqlens (B+1), N = cu_seqlens[B].
struct PackedBatch {
  const int32_t* ids = nullptr;
  const int32_t* type_ids = nullptr;
  const int32_t* cu_seqlens = nullptr;
  int B = 0;
  size_t num_ids = 0;  // length of ids (and type_ids): must equal cu_seqlens[B]
};
void validate_batch(const EncoderConfig& cfg, const PackedBatch& batch);  // SpladeError: what and where

enum class Precision { fp32 = 0, bf16 = 1, int8 = 2 };

// Weights prepared once for the inference forward (pack_encoder), copies of the arena at the time of
// packing: whoever writes the arena afterwards must pack again.
//   fp32: every GEMM weight (QKV, attention output, FFN, MLM transform) packed once into the SGEMM
//         kernel's panel layout (PackedMatrix), so no product packs its weight again; and where AMX-BF16 exists, a bf16 copy of the tied decoder and its row norms, with which max
//         pooling screens tokens in bf16 and scores the contenders in fp32 (splade_pool_max_bf16,
//         exact = true): the fp32 result, with most of the decoder's work done in bf16.
//   bf16: bf16 copies of every GEMM weight (QKV, attention output, FFN, MLM transform) and of the
//         decoder; activations are rounded to bf16 per GEMM, accumulation is fp32; embeddings,
//         attention, LayerNorm and GELU stay fp32. Without AMX the GEMMs take gemm_bf16's portable path
//         and the decoder the fp32 one.
//   Without AMX (and not on generic), every precision's max pooling runs the fused fp32 decoder
//   (splade_pool_fused.h) on a packed copy of the decoder, on x86-64 behind an int16 screen with a rigorous bound
//   (splade_pool_screen.h): the fused decoder's result, bit for bit, with most tokens x terms screened.
//   int8: int8 copies of every GEMM weight (per output channel, gemm_i8.h); activations quantised per
//         token per GEMM, int32 accumulation; the rest as for bf16. The decoder runs as for fp32 with
//         AMX; without it, on x86-64, max pooling runs through the decoder in int8 as a GEMM of the
//         same kind (splade_pool_max_i8: decoder8 only, no fp32 or int16 copy of it).
struct EncoderPacked {
  Precision precision = Precision::fp32;
  std::vector<Bf16Weight> qkv, attn_out, fc1, fc2;  // (L) each; bf16 only
  Bf16Weight head;                                   // bf16 only
  std::vector<PackedMatrix> qkv32, attn_out32, fc1_32, fc2_32;  // (L) each; fp32 only
  PackedMatrix head32;                                           // fp32 only
  std::vector<I8Weight> qkv8, attn_out8, fc1_8, fc2_8;  // (L) each; int8 only
  I8Weight head8;                                        // int8 only
  bool has_decoder = false;                          // the two below exist (AMX only)
  Bf16Weight decoder;                                // (V, C)
  std::vector<float> decoder_norm;                   // (3, V): bf16_row_norms of the decoder
  PoolPanels decoder32;  // without AMX, on avx2 / avx512 (not for int8) and arm64: the decoder packed for splade_pool_max_fused (V = 0: none)
  I8Weight decoder8;  // int8 on x86-64 without AMX: the decoder for splade_pool_max_i8 (N = 0: none)
  ScreenPanels decoder16;  // beside decoder32 on x86-64 (avx2 / avx512): its integer screen (splade_pool_screen.h)
  size_t bytes() const;                              // memory held
};
std::shared_ptr<const EncoderPacked> pack_encoder(const EncoderConfig& cfg, const ParamLayout& layout,
                                                  const float* params, Precision precision);
// The pieces pack_encoder (and ModernBERT's pack_modernbert) build from: a Linear weight W (nout, k) as
// nn.Linear stores it, packed for x W^T on the active ISA; and the decoder copies max pooling takes from
// the tied word embeddings wte (V, C) on this CPU (the bf16 one where AMX exists, else the fp32 panels).
PackedMatrix pack_linear32(const float* W, size_t nout, size_t k);
void pack_decoder(EncoderPacked& out, const float* wte, size_t V, size_t C);

// w is (B, V): the SPLADE vectors; argmax (B, V) or null (see splade_pool.h). reference = true runs the
// plain reference kernels (and sgemm_reference) instead of the fast ones; packed (ignored when
// reference) selects the prepared weights and with them the precision.
// The tied decoder (wte (V, C), bias (V)) fused with SPLADE pooling over the MLM head's output t (N, C):
// on packed's decoder copies where they serve (max pooling; exact unless packed is bf16), else the
// plain or fast splade_pool_forward (reference).
void decoder_pool_forward(float* w, int32_t* argmax, const float* t, const float* wte, const float* bias,
                          const PackedBatch& batch, size_t C, size_t V, Pooling pooling, bool reference,
                          const EncoderPacked* packed);

void encoder_splade_forward(float* w, int32_t* argmax, const EncoderConfig& cfg, const ParamLayout& layout,
                            const float* params, const PackedBatch& batch, Pooling pooling, bool reference,
                            const EncoderPacked* packed = nullptr);

}  // namespace splade

namespace splade {

// Training path: what the forward keeps for backward (one batch). GELU is kept apart from its GEMM so
// the pre-activation survives; nothing O(T^2) or O(N x V) is stored.
struct EncoderActivations {
  struct Layer {
    std::vector<float> in, qkv, att, res1, x1, fc1, gelu, res2;  // (N,C) (N,3C) (N,C) (N,C) (N,C) (N,I) (N,I) (N,C)
    std::vector<float> ln1_mean, ln1_rstd, ln2_mean, ln2_rstd;   // (N)
  };
  std::vector<float> emb, emb_mean, emb_rstd;  // (N,C), (N), (N): the embedding sum before its LayerNorm
  std::vector<Layer> layers;
  std::vector<float> head_in, head_pre, head_gelu, t, head_mean, head_rstd;  // (N,C) x4, (N) x2
  std::vector<int32_t> argmax;                                               // (B,V)
  std::vector<float> w;  // (B,V) the pooled output (max pooling: the sparse head backward reads it)
};

// w is (B,V); acts receives the saved tensors.
// reference = true: the plain reference kernels and sgemm_reference throughout (the tests' baseline).
void encoder_splade_forward_train(float* w, EncoderActivations& acts, const EncoderConfig& cfg, const ParamLayout& layout,
                                  const float* params, const PackedBatch& batch, Pooling pooling, bool reference = false);
// grads is an arena-shaped buffer (layout.total floats) that receives += dLoss/dparams, given dw (B,V) =
// dLoss/dw. The tied decoder's gradient lands in the word embeddings' slot.
void encoder_splade_backward(float* grads, const EncoderActivations& acts, const float* dw, const EncoderConfig& cfg,
                             const ParamLayout& layout, const float* params, const PackedBatch& batch, Pooling pooling,
                             bool reference = false);

}  // namespace splade
