// Encoder forward (see encoder.h): embeddings -> L x [fused QKV GEMM, unpadded attention, output GEMM
// with fused bias + residual, LayerNorm, FFN GEMM with fused GELU, FFN GEMM with fused residual,
// LayerNorm] -> MLM transform (GEMM + GELU, LayerNorm) -> tied decoder fused with SPLADE pooling.
#include "encoder.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "../common/error.h"
#include "cpu_ops.h"
#include "cross_encoder.h"  // encoder_first_token_forward, defined here on the shared transformer body
#include "encoder_layer.h"

namespace splade {

size_t ParamEntry::numel() const {
  size_t n = 1;
  for (size_t s : shape) n *= s;
  return n;
}

void validate_config(const EncoderConfig& c) {
  auto positive = [](size_t v, const char* name) {
    if (v == 0 || v > (size_t{1} << 24)) fail(kInvalidArgument, std::string("config: ") + name + " must be a positive integer");
  };
  positive(c.vocab, "vocab_size");
  positive(c.hidden, "hidden size");
  positive(c.layers, "number of layers");
  positive(c.heads, "number of attention heads");
  positive(c.intermediate, "intermediate size");
  positive(c.max_positions, "max_position_embeddings");
  if (c.hidden % c.heads != 0) fail(kInvalidArgument, "config: the hidden size is not a multiple of the number of heads");
  if ((c.arch == Arch::bert || c.arch == Arch::roberta) && c.type_vocab == 0) fail(kInvalidArgument, "config: type_vocab_size must be positive for BERT and RoBERTa");
  if (c.arch != Arch::roberta && c.position_offset != 0) fail(kInvalidArgument, "config: a position offset is RoBERTa's alone");
  if (c.position_offset > (size_t{1} << 24)) fail(kInvalidArgument, "config: the position offset (pad_token_id + 1) is too large");
  if (!(c.eps > 0.0f)) fail(kInvalidArgument, "config: layer_norm_eps must be positive");
  if (c.arch != Arch::modernbert) return;
  const ModernBertOptions& m = c.modernbert;
  if (m.global_every == 0 || m.global_every > (size_t{1} << 24))
    fail(kInvalidArgument, "config: global_attn_every_n_layers must be a positive integer");
  if (m.window > (size_t{1} << 24)) fail(kInvalidArgument, "config: local_attention is too large");
  if ((c.hidden / c.heads) % 2 != 0) fail(kInvalidArgument, "config: rotary embeddings need an even head dimension");
  if (!(m.global_theta > 0.0f) || !(m.local_theta > 0.0f)) fail(kInvalidArgument, "config: rope theta must be positive");
}

ParamLayout make_layout(const EncoderConfig& cfg) {
  validate_config(cfg);
  if (cfg.arch == Arch::modernbert) fail(kInvalidArgument, "make_layout: ModernBERT has its own layout (make_modernbert_layout)");
  ParamLayout L;
  const size_t V = cfg.vocab, C = cfg.hidden, I = cfg.intermediate, P = cfg.max_positions + cfg.position_offset;
  auto alloc = [&](size_t n) {  // 16-float (64-byte) aligned slots
    const size_t off = L.total;
    L.total += (n + 15) / 16 * 16;
    return off;
  };
  auto add = [&](const std::string& name, size_t off, std::vector<size_t> shape) {
    L.entries.push_back(ParamEntry{name, off, std::move(shape)});
  };
  // BERT and RoBERTa share the layer names (RoBERTa's under 'roberta.', its head 'lm_head.*')
  const bool bert = cfg.arch != Arch::distilbert, roberta = cfg.arch == Arch::roberta;
  const std::string base = roberta ? "roberta." : bert ? "bert." : "distilbert.";
  const std::string e = base + "embeddings.";
  L.wte = alloc(V * C);
  add(e + "word_embeddings.weight", L.wte, {V, C});
  const size_t wpe_table = alloc(P * C);
  add(e + "position_embeddings.weight", wpe_table, {P, C});
  L.wpe = wpe_table + cfg.position_offset * C;
  if (bert) {
    L.wtt = alloc(cfg.type_vocab * C);
    add(e + "token_type_embeddings.weight", L.wtt, {cfg.type_vocab, C});
  }
  L.emb_ln_w = alloc(C);
  L.emb_ln_b = alloc(C);
  add(e + "LayerNorm.weight", L.emb_ln_w, {C});
  add(e + "LayerNorm.bias", L.emb_ln_b, {C});
  for (size_t l = 0; l < cfg.layers; ++l) {
    LayerOffsets o;
    o.qkv_w = alloc(3 * C * C);
    o.qkv_b = alloc(3 * C);
    o.attn_out_w = alloc(C * C);
    o.attn_out_b = alloc(C);
    o.ln1_w = alloc(C);
    o.ln1_b = alloc(C);
    o.fc1_w = alloc(I * C);
    o.fc1_b = alloc(I);
    o.fc2_w = alloc(C * I);
    o.fc2_b = alloc(C);
    o.ln2_w = alloc(C);
    o.ln2_b = alloc(C);
    L.layer.push_back(o);
    const std::string p = base + (bert ? "encoder.layer." : "transformer.layer.") + std::to_string(l) + ".";
    const char* qkv[3][2] = {{"attention.self.query", "attention.q_lin"},
                             {"attention.self.key", "attention.k_lin"},
                             {"attention.self.value", "attention.v_lin"}};
    for (size_t i = 0; i < 3; ++i) {
      const std::string n = p + qkv[i][bert ? 0 : 1];
      add(n + ".weight", o.qkv_w + i * C * C, {C, C});
      add(n + ".bias", o.qkv_b + i * C, {C});
    }
    const std::string ao = p + (bert ? "attention.output.dense" : "attention.out_lin");
    add(ao + ".weight", o.attn_out_w, {C, C});
    add(ao + ".bias", o.attn_out_b, {C});
    const std::string ln1 = p + (bert ? "attention.output.LayerNorm" : "sa_layer_norm");
    add(ln1 + ".weight", o.ln1_w, {C});
    add(ln1 + ".bias", o.ln1_b, {C});
    const std::string f1 = p + (bert ? "intermediate.dense" : "ffn.lin1");
    add(f1 + ".weight", o.fc1_w, {I, C});
    add(f1 + ".bias", o.fc1_b, {I});
    const std::string f2 = p + (bert ? "output.dense" : "ffn.lin2");
    add(f2 + ".weight", o.fc2_w, {C, I});
    add(f2 + ".bias", o.fc2_b, {C});
    const std::string ln2 = p + (bert ? "output.LayerNorm" : "output_layer_norm");
    add(ln2 + ".weight", o.ln2_w, {C});
    add(ln2 + ".bias", o.ln2_b, {C});
  }
  L.head_w = alloc(C * C);
  L.head_b = alloc(C);
  L.head_ln_w = alloc(C);
  L.head_ln_b = alloc(C);
  L.decoder_bias = alloc(V);
  const std::string hd = roberta ? "lm_head.dense" : bert ? "cls.predictions.transform.dense" : "vocab_transform";
  const std::string hl = roberta ? "lm_head.layer_norm" : bert ? "cls.predictions.transform.LayerNorm" : "vocab_layer_norm";
  add(hd + ".weight", L.head_w, {C, C});
  add(hd + ".bias", L.head_b, {C});
  add(hl + ".weight", L.head_ln_w, {C});
  add(hl + ".bias", L.head_ln_b, {C});
  add(roberta ? "lm_head.bias" : bert ? "cls.predictions.bias" : "vocab_projector.bias", L.decoder_bias, {V});
  return L;
}

void validate_batch(const EncoderConfig& cfg, const PackedBatch& batch) {
  SPLADE_CHECK(batch.B >= 0 && batch.cu_seqlens != nullptr, "encoder: bad batch");
  if (batch.cu_seqlens[0] != 0) fail(kInvalidArgument, "encoder: cu_seqlens[0] must be 0");
  for (int b = 0; b < batch.B; ++b) {  // lengths first, so that the id loop below stays in bounds
    const int64_t len = int64_t{batch.cu_seqlens[b + 1]} - batch.cu_seqlens[b];
    if (len < 1) fail(kInvalidArgument, "encoder: sequence " + std::to_string(b) + " is empty");
    if (static_cast<size_t>(len) > cfg.max_positions)
      fail(kOutOfRange, "encoder: sequence " + std::to_string(b) + " has " + std::to_string(len) +
                            " tokens, more than max_position_embeddings (" + std::to_string(cfg.max_positions) + ")");
  }
  if (static_cast<size_t>(batch.cu_seqlens[batch.B]) != batch.num_ids)
    fail(kInvalidArgument, "encoder: cu_seqlens[B] (" + std::to_string(batch.cu_seqlens[batch.B]) +
                               ") differs from the number of ids (" + std::to_string(batch.num_ids) + ")");
  const size_t types = std::max<size_t>(cfg.type_vocab, 1);
  for (int b = 0; b < batch.B; ++b) {
    for (int32_t n = batch.cu_seqlens[b]; n < batch.cu_seqlens[b + 1]; ++n) {
      const int32_t id = batch.ids[n];
      if (id < 0 || static_cast<size_t>(id) >= cfg.vocab)
        fail(kOutOfRange, "encoder: token id " + std::to_string(id) + " at position " + std::to_string(n - batch.cu_seqlens[b]) +
                              " of sequence " + std::to_string(b) + " is outside the vocabulary [0, " +
                              std::to_string(cfg.vocab) + ")");
      if (batch.type_ids) {
        const int32_t t = batch.type_ids[n];
        if (t < 0 || static_cast<size_t>(t) >= types)
          fail(kOutOfRange, "encoder: token type id " + std::to_string(t) + " of sequence " + std::to_string(b) +
                                " is outside [0, " + std::to_string(types) + ")");
      }
    }
  }
}

size_t EncoderPacked::bytes() const {
  size_t n = decoder.data.size() + head.data.size();
  for (const auto* v : {&qkv, &attn_out, &fc1, &fc2})
    for (const Bf16Weight& w : *v) n += w.data.size();
  size_t f32 = head32.bytes() + head8.bytes();
  for (const auto* v : {&qkv8, &attn_out8, &fc1_8, &fc2_8})
    for (const I8Weight& w : *v) f32 += w.bytes();
  for (const auto* v : {&qkv32, &attn_out32, &fc1_32, &fc2_32})
    for (const PackedMatrix& w : *v) f32 += w.bytes();
  return n * sizeof(uint16_t) + decoder_norm.size() * sizeof(float) + f32 + decoder32.bytes() + decoder16.bytes() +
         decoder8.bytes();
}

std::shared_ptr<const EncoderPacked> pack_encoder(const EncoderConfig& cfg, const ParamLayout& L, const float* P,
                                                  Precision precision) {
  auto out = std::make_shared<EncoderPacked>();
  out->precision = precision;
  const size_t C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  // every Linear weight of the encoder through one packer (W (Nout, K) with stride K)
  auto pack_all = [&](auto pack, auto& qkv, auto& attn_out, auto& fc1, auto& fc2, auto& head) {
    for (const LayerOffsets& o : L.layer) {
      qkv.push_back(pack(P + o.qkv_w, 3 * C, C, C));
      attn_out.push_back(pack(P + o.attn_out_w, C, C, C));
      fc1.push_back(pack(P + o.fc1_w, I, C, C));
      fc2.push_back(pack(P + o.fc2_w, C, I, I));
    }
    head = pack(P + L.head_w, C, C, C);
  };
  if (precision == Precision::bf16) {
    pack_all(bf16_pack_weight, out->qkv, out->attn_out, out->fc1, out->fc2, out->head);
  } else if (precision == Precision::int8) {
    pack_all(i8_pack_weight_active, out->qkv8, out->attn_out8, out->fc1_8, out->fc2_8, out->head8);
  } else {
    auto pack = [&](const float* W, size_t nout, size_t k, size_t) { return pack_linear32(W, nout, k); };
    pack_all(pack, out->qkv32, out->attn_out32, out->fc1_32, out->fc2_32, out->head32);
  }
  pack_decoder(*out, P + L.wte, V, C);
  return out;
}

// W is (Nout, K) as nn.Linear stores it; the product is x W^T, so op(B) = W^T is (K, Nout).
PackedMatrix pack_linear32(const float* W, size_t nout, size_t k) { return PackedMatrix(active_isa(), Trans::yes, k, nout, W, k); }

void pack_decoder(EncoderPacked& out, const float* wte, size_t V, size_t C) {
  if (bf16_fast_available()) {
    out.has_decoder = true;
    out.decoder = bf16_pack_weight(wte, V, C, C);
    out.decoder_norm = bf16_row_norms(wte, V, C, C);
  } else if (active_isa() != Isa::generic) {
    // the screen's kernels are AVX2 (vpmaddubsw, vpmaddwd); elsewhere (arm64) the fused decoder runs alone
    const bool screen = active_isa() == Isa::avx2 || active_isa() == Isa::avx512;
    // int8 on x86-64 max-pools through the decoder in int8 (splade_pool_max_i8): no fp32 or int16 copy
    if (screen && out.precision == Precision::int8) {
      out.decoder8 = i8_pack_weight_active(wte, V, C, C);
      return;
    }
    out.decoder32 = splade_pool_pack(wte, V, C);
    if (screen) out.decoder16 = splade_pool_screen_pack(wte, V, C);
  }
}

void decoder_pool_forward(float* w, int32_t* argmax, const float* t, const float* wte, const float* bias,
                          const PackedBatch& batch, size_t C, size_t V, Pooling pooling, bool reference,
                          const EncoderPacked* packed) {
  if (reference) packed = nullptr;
  const int B = batch.B;
  if (packed && packed->has_decoder && pooling == Pooling::max)
    splade_pool_max_bf16(w, argmax, t, packed->decoder, wte, packed->decoder_norm.data(), bias, batch.cu_seqlens, B,
                         /*exact=*/packed->precision != Precision::bf16);
  else if (packed && packed->decoder8.N && pooling == Pooling::max && active_isa() != Isa::generic)
    splade_pool_max_i8(w, argmax, t, packed->decoder8, bias, batch.cu_seqlens, B);
  else if (packed && packed->decoder16.V && pooling == Pooling::max && active_isa() != Isa::generic)
    splade_pool_max_screen(active_isa(), w, argmax, t, packed->decoder32, packed->decoder16, bias, batch.cu_seqlens, B);
  else if (packed && packed->decoder32.V && pooling == Pooling::max && active_isa() != Isa::generic)
    splade_pool_max_fused(active_isa(), w, argmax, t, packed->decoder32, bias, batch.cu_seqlens, B);
  else
    cpu_ops(reference).splade_pool_forward(w, argmax, t, wte, bias, batch.cu_seqlens, B, C, V, pooling);
}

namespace {

// Activations in one process-wide workspace that only grows (held under a lock for the call): a fresh
// 100 MB per call costs more in page faults than the embeddings and LayerNorms together (measured: 140 ms
// of a 3345-token batch's 2 s). Forwards take turns on the thread pool anyway.
struct Workspace {
  std::mutex lock;
  std::vector<float> x, tmp, att, qkv, h;
};
Workspace& workspace() {
  static Workspace ws;
  return ws;
}

// The transformer body shared by every forward: embeddings -> L x [QKV GEMM, unpadded attention,
// output GEMM + residual, LayerNorm, FFN GEMM + GELU, FFN GEMM + residual, LayerNorm]; leaves the last
// hidden states (N, C) in ws.x. The caller holds ws.lock. packed as encoder_splade_forward.
void transformer_forward(const CpuOps& ops, Workspace& ws, const EncoderConfig& cfg, const ParamLayout& L, const float* P,
                         const PackedBatch& batch, const EncoderPacked* packed, OpTimer& timer) {
  const int B = batch.B;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate;
  for (auto [v, n] : {std::pair{&ws.x, N * C}, {&ws.tmp, N * C}, {&ws.att, N * C}, {&ws.qkv, N * 3 * C}, {&ws.h, N * I}})
    if (v->size() < n) v->resize(n);
  std::vector<float>&x = ws.x, &tmp = ws.tmp, &att = ws.att, &qkv = ws.qkv, &h = ws.h;
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  const int32_t* type_ids = wtt ? batch.type_ids : nullptr;
  ops.embed_forward(tmp.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  timer.lap(kEmbed);
  ops.layernorm_forward(x.data(), nullptr, nullptr, tmp.data(), P + L.emb_ln_w, P + L.emb_ln_b, N, C, cfg.eps);
  timer.lap(kLayerNorm);
  const LayerBuffers buf{x.data(), qkv.data(), att.data(), tmp.data(), x.data(), nullptr, h.data(), tmp.data(), x.data(),
                         nullptr, nullptr, nullptr, nullptr};
  for (size_t l = 0; l < L.layer.size(); ++l) encoder_layer_forward(ops, buf, cfg, L, l, P, batch, nullptr, packed, &timer);
}

}  // namespace

void encoder_splade_forward(float* w, int32_t* argmax, const EncoderConfig& cfg, const ParamLayout& L,
                            const float* params, const PackedBatch& batch, Pooling pooling, bool reference,
                            const EncoderPacked* packed) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  if (B == 0) return;
  if (reference) packed = nullptr;
  const CpuOps& ops = cpu_ops(reference);
  const bool bf16 = packed && packed->precision == Precision::bf16;
  const bool int8 = packed && packed->precision == Precision::int8;
  const bool f32_packed = packed && packed->head32.get();
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, V = cfg.vocab;
  const float* P = params;
  OpTimer timer;
  Workspace& ws = workspace();
  std::lock_guard<std::mutex> hold(ws.lock);
  transformer_forward(ops, ws, cfg, L, P, batch, packed, timer);
  float *x = ws.x.data(), *tmp = ws.tmp.data(), *att = ws.att.data();
  // MLM transform (dense + GELU + LayerNorm), then the tied decoder fused with SPLADE pooling
  linear_forward(ops, tmp, x, P + L.head_w, P + L.head_b, N, C, C, nullptr, Activation::gelu, bf16 ? &packed->head : nullptr,
                 f32_packed ? &packed->head32 : nullptr, int8 ? &packed->head8 : nullptr);
  timer.lap(kGemm);
  ops.layernorm_forward(att, nullptr, nullptr, tmp, P + L.head_ln_w, P + L.head_ln_b, N, C, cfg.eps);
  timer.lap(kLayerNorm);
  decoder_pool_forward(w, argmax, att, P + L.wte, P + L.decoder_bias, batch, C, V, pooling, reference, packed);
  timer.lap(kDecoder);
  timer.report(N);
}

void encoder_first_token_forward(float* hidden, const EncoderConfig& cfg, const ParamLayout& L, const float* params,
                                 const PackedBatch& batch, bool reference) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  if (B == 0) return;
  const size_t C = cfg.hidden;
  OpTimer timer;
  Workspace& ws = workspace();
  std::lock_guard<std::mutex> hold(ws.lock);
  transformer_forward(cpu_ops(reference), ws, cfg, L, params, batch, nullptr, timer);
  for (int b = 0; b < B; ++b) {
    const float* row = ws.x.data() + static_cast<size_t>(batch.cu_seqlens[b]) * C;
    std::copy(row, row + C, hidden + static_cast<size_t>(b) * C);
  }
}

}  // namespace splade
