// The attention problems that the float32 and the bf16 tests of the public
// Attention both run (attention_test.cc, bf16_attention_test.cc): each
// precision's Case extends AttentionCase with what it checks and how.
#ifndef MHSA_TESTS_ATTENTION_CASES_H_
#define MHSA_TESTS_ATTENTION_CASES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "attention_tensor.h"
#include "mhsa/attention.h"

namespace mhsa {
namespace test {

// q, k and v in the given layouts (dense (B, T, H, D) unless told), q and k
// uniform in [-2, 2) and v in [-1, 1) from `seed`, with their shape; Run
// writes a dense (B, T, H, D) out.
struct AttentionInputs {
  AttentionShape shape;
  Tensor q, k, v;

  AttentionInputs(int batch, int heads, int kv_heads, int dim, int q_len, int kv_len, uint32_t seed,
                  Layout q_layout = Layout::kBTHD, Layout kv_layout = Layout::kBTHD)
      : q(q_layout, static_cast<size_t>(batch), static_cast<size_t>(q_len),
          static_cast<size_t>(heads), static_cast<size_t>(dim)),
        k(kv_layout, static_cast<size_t>(batch), static_cast<size_t>(kv_len),
          static_cast<size_t>(kv_heads), static_cast<size_t>(dim)),
        v(k) {
    shape.batch = batch;
    shape.num_heads = heads;
    shape.num_kv_heads = kv_heads;
    shape.head_dim = dim;
    shape.q_len = q_len;
    shape.kv_len = kv_len;
    q.FillRandom(seed, -2.0f, 2.0f);
    k.FillRandom(seed + 1, -2.0f, 2.0f);
    v.FillRandom(seed + 2);
  }
  size_t OutCount() const { return q.batch * q.len * q.heads * q.dim; }
  Strides OutStrides() const { return StridesBTHD(shape.q_len, shape.num_heads, shape.head_dim); }
  void Run(float* out, const AttentionOptions& options = AttentionOptions()) const {
    Attention(shape, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides, out,
              OutStrides(), options);
  }
};

struct AttentionCase {
  int batch = 1, heads = 1, kv_heads = 0, dim = 8, q_len = 1, kv_len = 1;
  Layout q_layout = Layout::kBTHD, kv_layout = Layout::kBTHD, out_layout = Layout::kBTHD;
  bool causal = true;
  std::vector<int> q_lengths, kv_lengths;  // empty: the padded lengths
  bool with_probabilities = false;
  uint32_t seed = 1;
  // Non-zero: scores rise along the keys. q is drawn from [1/2, 3/2)
  // instead, and key j adds key_ramp * j to each of its values, so that a
  // query's score at key j grows by about key_ramp * j * head_dim * scale.
  float key_ramp = 0.0f;

  // The case's q, k and v from `inputs` (AttentionInputs' distributions).
  AttentionInputs MakeInputs(uint32_t inputs) const {
    AttentionInputs in(batch, heads, kv_heads == 0 ? heads : kv_heads, dim, q_len, kv_len, inputs,
                       q_layout, kv_layout);
    if (key_ramp != 0.0f) {
      in.q.FillRandom(inputs, 0.5f, 1.5f);
      for (size_t b = 0; b < in.k.batch; ++b) {
        for (size_t j = 0; j < in.k.len; ++j) {
          for (size_t h = 0; h < in.k.heads; ++h) {
            float* key = &in.k.buffer[in.k.Index(b, j, h)];
            for (size_t d = 0; d < in.k.dim; ++d) key[d] += key_ramp * static_cast<float>(j);
          }
        }
      }
    }
    return in;
  }

  std::string Describe() const {
    return "B=" + std::to_string(batch) + " H=" + std::to_string(heads) +
           " Hkv=" + std::to_string(kv_heads) + " D=" + std::to_string(dim) +
           " Tq=" + std::to_string(q_len) + " Tkv=" + std::to_string(kv_len) +
           " q:" + Name(q_layout) + " kv:" + Name(kv_layout) + " out:" + Name(out_layout) +
           (causal ? " causal" : " full") + (q_lengths.empty() ? "" : " ragged") +
           (key_ramp != 0.0f ? " rising" : "");
  }
};

// Every pair of q and k/v layouts (both PyTorch layouts, the layer's
// interleaved buffer, padded and negative strides), on the decode path
// (3 rows) and the flash path (61).
inline std::vector<AttentionCase> EveryLayoutCases() {
  const Layout layouts[] = {Layout::kBTHD, Layout::kBHTD, Layout::kInterleaved, Layout::kPadded,
                            Layout::kReversed};
  std::vector<AttentionCase> cases;
  uint32_t seed = 10;
  for (Layout q : layouts) {
    for (Layout kv : layouts) {
      for (int q_len : {3, 61}) {
        AttentionCase c;
        c.batch = 2;
        c.heads = 3;
        c.dim = 13;
        c.q_len = c.kv_len = q_len;
        c.q_layout = q;
        c.kv_layout = kv;
        c.out_layout = q == Layout::kInterleaved ? Layout::kBHTD : q;
        c.seed = seed++;
        cases.push_back(c);
      }
    }
  }
  return cases;
}

// Grouped-query heads: 1 K/V head (multi-query), 2, and one per query head;
// with one token and with a block of tokens.
inline std::vector<AttentionCase> GroupedQueryCases() {
  std::vector<AttentionCase> cases;
  for (int kv_heads : {1, 2, 8}) {
    for (int q_len : {1, 2, 50}) {
      AttentionCase c;
      c.heads = 8;
      c.kv_heads = kv_heads;
      c.dim = 16;
      c.q_len = q_len;
      c.kv_len = 70;
      c.seed = static_cast<uint32_t>(kv_heads * 100 + q_len);
      cases.push_back(c);
    }
  }
  return cases;
}

// q_len < kv_len (bottom-right causal), q_len > kv_len (the first rows see
// nothing), and non-causal, across the key block (256) and the decode
// chunk (512) boundaries; with the probabilities.
inline std::vector<AttentionCase> LengthsDifferCases() {
  struct Lengths {
    int q, kv;
  };
  std::vector<AttentionCase> cases;
  for (Lengths l : {Lengths{1, 1025}, Lengths{5, 600}, Lengths{49, 300}, Lengths{97, 97},
                    Lengths{100, 257}, Lengths{30, 10}, Lengths{9, 0}}) {
    for (bool causal : {true, false}) {
      AttentionCase c;
      c.heads = 2;
      c.dim = 24;
      c.q_len = l.q;
      c.kv_len = l.kv;
      c.causal = causal;
      c.with_probabilities = true;
      c.seed = static_cast<uint32_t>(l.q * 7 + l.kv);
      cases.push_back(c);
    }
  }
  return cases;
}

// Lengths of 0, 1 and full in one batch, on both paths, causal or not.
inline std::vector<AttentionCase> PerSequenceLengthCases() {
  std::vector<AttentionCase> cases;
  for (int q_len : {4, 60}) {
    for (bool causal : {true, false}) {
      AttentionCase c;
      c.batch = 5;
      c.heads = 2;
      c.dim = 8;
      c.q_len = q_len;
      c.kv_len = 70;
      c.q_lengths = {0, 1, q_len, q_len / 2, 1};
      c.kv_lengths = {0, 1, 70, 40, 0};
      c.causal = causal;
      c.with_probabilities = true;
      cases.push_back(c);
    }
  }
  return cases;
}

// Awkward sizes: context 1, 7, 97, 1025; head_dim 1, 3, 59, 64 (the small
// head sizes at 1025 add nothing the others do not cover).
inline std::vector<AttentionCase> AwkwardSizeCases() {
  std::vector<AttentionCase> cases;
  uint32_t seed = 300;
  for (int context : {1, 7, 97, 1025}) {
    for (int dim : {1, 3, 59, 64}) {
      if (context == 1025 && dim < 59) continue;
      AttentionCase c;
      c.heads = 2;
      c.dim = dim;
      c.q_len = c.kv_len = context;
      c.seed = seed++;
      cases.push_back(c);
    }
  }
  return cases;
}

// Scores rising along the keys by about 0.16 per key (head_dim 16, scale
// 1/4, key_ramp 0.04): each block of keys the softmax takes at once (64 on
// the decode path, 256 on the flash paths; the float32 flash tiles take 32)
// passes the reference the blocks before it set by more than its headroom
// (8 ln 2) part-way through, so the rows raise their reference in the
// middle of a block and must rescale what they wrote before it in that
// block, their sums and their output. Decode (3 rows) and flash (61), over
// 700 keys; with lse, whose error the raises would show too.
inline std::vector<AttentionCase> RisingScoreCases() {
  std::vector<AttentionCase> cases;
  uint32_t seed = 400;
  for (int q_len : {3, 61}) {
    AttentionCase c;
    c.heads = 2;
    c.dim = 16;
    c.q_len = q_len;
    c.kv_len = 700;
    c.key_ramp = 0.04f;
    c.seed = seed++;
    cases.push_back(c);
  }
  return cases;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_ATTENTION_CASES_H_
