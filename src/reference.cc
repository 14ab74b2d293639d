#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace mhsa {
namespace ref {

template <typename T>
void MatMulBt(const T* a, size_t lda, const T* b, size_t ldb, T* c, size_t ldc, size_t m, size_t n,
              size_t k) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      T sum = 0;
      for (size_t p = 0; p < k; ++p) sum += a[i * lda + p] * b[j * ldb + p];
      c[i * ldc + j] = sum;
    }
  }
}

template <typename T>
void CausalSoftmax(T* scores, size_t ld, size_t rows, size_t cols, size_t first_query, T divisor) {
  for (size_t r = 0; r < rows; ++r) {
    T* row = scores + r * ld;
    const size_t i = first_query + r;
    // The mask, spelled out as the problem does it: -inf above the diagonal.
    for (size_t j = 0; j < cols; ++j) {
      row[j] = (j <= i) ? row[j] / divisor : -std::numeric_limits<T>::infinity();
    }
    T max = -std::numeric_limits<T>::infinity();
    for (size_t j = 0; j < cols; ++j) {
      // Written so that a NaN score makes the max NaN, as torch's softmax does.
      if (!(row[j] <= max)) max = row[j];
    }
    T sum = 0;
    for (size_t j = 0; j < cols; ++j) {
      row[j] = std::exp(row[j] - max);  // exp(-inf) = 0 for masked keys.
      sum += row[j];
    }
    for (size_t j = 0; j < cols; ++j) row[j] /= sum;
  }
}

template <typename T>
void Head(const float* x, size_t context, size_t embedding_dim, const float* wq, const float* wk,
          const float* wv, size_t head_dim, T* out, size_t ld_out) {
  const size_t n = context, e = embedding_dim, d = head_dim;
  std::vector<T> xt(x, x + n * e);
  std::vector<T> w(3 * d * e);
  for (size_t i = 0; i < d * e; ++i) {
    w[i] = wq[i];
    w[d * e + i] = wk[i];
    w[2 * d * e + i] = wv[i];
  }
  std::vector<T> q(n * d), k(n * d), v(n * d), vt(d * n), s(n * n), o(n * d);
  MatMulBt(xt.data(), e, w.data(), e, q.data(), d, n, d, e);
  MatMulBt(xt.data(), e, w.data() + d * e, e, k.data(), d, n, d, e);
  MatMulBt(xt.data(), e, w.data() + 2 * d * e, e, v.data(), d, n, d, e);
  MatMulBt(q.data(), d, k.data(), d, s.data(), n, n, n, d);
  CausalSoftmax(s.data(), n, n, n, 0, std::sqrt(static_cast<T>(d)));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) vt[j * n + i] = v[i * d + j];
  }
  // Query i weighs values 0..i only: the masked weights are exactly zero, so
  // leaving them out is the same sum, and a NaN in a future value cannot leak
  // back through 0 * NaN.
  for (size_t i = 0; i < n; ++i) {
    MatMulBt(s.data() + i * n, n, vt.data(), n, o.data() + i * d, d, 1, d, i + 1);
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) out[i * ld_out + j] = o[i * d + j];
  }
}

template <typename T>
void Forward(const float* x, size_t batch, size_t context, size_t embedding_dim,
             const float* weights, size_t num_heads, size_t head_dim, T* out) {
  const size_t head_weights = head_dim * embedding_dim;
  const size_t attention_dim = num_heads * head_dim;
  for (size_t b = 0; b < batch; ++b) {
    for (size_t h = 0; h < num_heads; ++h) {
      const float* w = weights + h * 3 * head_weights;
      Head(x + b * context * embedding_dim, context, embedding_dim, w, w + head_weights,
           w + 2 * head_weights, head_dim, out + b * context * attention_dim + h * head_dim,
           attention_dim);
    }
  }
}

template <typename T>
void Gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, T alpha, const float* a,
          size_t lda, const float* b, size_t ldb, T beta, T* c, size_t ldc) {
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      T sum = 0;
      for (size_t p = 0; p < k; ++p) {
        const float x = trans_a ? a[p * lda + i] : a[i * lda + p];
        const float y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += static_cast<T>(x) * static_cast<T>(y);
      }
      T& dst = c[i * ldc + j];
      dst = beta == 0 ? alpha * sum : alpha * sum + beta * dst;
    }
  }
}

namespace {

// The float nearest to f among the bf16 values, ties to even. Written out
// here rather than taken from the library, which the reference does not
// link: the upper half of f's bits after adding half of the dropped part
// (0x7FFF, or 0x8000 when the kept part is odd); NaN stays NaN.
float Bf16(float f) {
  if (std::isnan(f)) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  bits &= 0xFFFF0000u;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Attention (reference.h) in T, or with kBf16 the bf16 computation
// (T = float): the same loops, the bf16 one rounding q * scale, k, v and p
// to bf16 where the bf16 kernels do, and so scaling q instead of the scores.
template <typename T, bool kBf16>
void AttentionRows(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
                   Strides k_strides, const float* v, Strides v_strides, T* out,
                   Strides out_strides, bool causal, T scale, const int* q_lengths,
                   const int* kv_lengths, T* lse, T* probabilities) {
  static_assert(!kBf16 || std::is_same<T, float>::value, "the bf16 computation is in float");
  // Rounds a kernel input the way this computation does.
  const auto in = [](float x) { return static_cast<T>(kBf16 ? Bf16(x) : x); };
  const T kInf = std::numeric_limits<T>::infinity();
  const T kNaN = std::numeric_limits<T>::quiet_NaN();
  if (shape.num_heads <= 0) return;  // No rows (and no group size to divide by).
  const int kv_heads = shape.num_kv_heads == 0 ? shape.num_heads : shape.num_kv_heads;
  const int group = shape.num_heads / kv_heads;
  const auto at = [](const float* base, Strides s, int b, int i, int h) {
    return base + b * s.batch + i * s.position + h * s.head;
  };
  const auto dim = static_cast<size_t>(shape.head_dim);
  std::vector<T> q_row(dim), acc(dim);
  for (int b = 0; b < shape.batch; ++b) {
    const int q_len = q_lengths != nullptr ? q_lengths[b] : shape.q_len;
    const int kv_len = kv_lengths != nullptr ? kv_lengths[b] : shape.kv_len;
    for (int h = 0; h < shape.num_heads; ++h) {
      const int g = h / group;
      for (int i = 0; i < q_len; ++i) {
        // The mask: keys j < limit, aligned bottom-right when causal.
        const int limit = causal ? std::max(0, std::min(kv_len, i + kv_len - q_len + 1)) : kv_len;
        const float* qi = at(q, q_strides, b, i, h);
        for (size_t d = 0; d < dim; ++d) {
          q_row[d] = kBf16 ? in(qi[d] * static_cast<float>(scale)) : static_cast<T>(qi[d]);
        }
        std::vector<T> s(static_cast<size_t>(limit));
        for (int j = 0; j < limit; ++j) {
          const float* kj = at(k, k_strides, b, j, g);
          T dot = 0;
          for (size_t d = 0; d < dim; ++d) dot += q_row[d] * in(kj[d]);
          s[static_cast<size_t>(j)] = kBf16 ? dot : dot * scale;
        }
        T max = -kInf;
        bool bad = false;
        for (T x : s) {
          if (std::isnan(x) || x == kInf) bad = true;
          max = std::max(max, x);
        }
        T* o = out + b * out_strides.batch + i * out_strides.position + h * out_strides.head;
        const size_t row = (static_cast<size_t>(b) * static_cast<size_t>(shape.num_heads) +
                            static_cast<size_t>(h)) *
                               static_cast<size_t>(shape.q_len) +
                           static_cast<size_t>(i);
        T* p_row = probabilities == nullptr
                       ? nullptr
                       : probabilities + row * static_cast<size_t>(shape.kv_len);
        T row_lse;
        if (limit == 0 || bad || max == -kInf) {
          const T fill = limit == 0 ? T(0) : kNaN;
          for (size_t d = 0; d < dim; ++d) o[d] = fill;
          row_lse = (limit == 0 || !bad) ? -kInf : kNaN;
          if (p_row != nullptr) {
            for (int j = 0; j < shape.kv_len; ++j) p_row[j] = j < limit ? kNaN : T(0);
          }
        } else {
          T sum = 0;
          for (T& x : s) {
            x = std::exp(x - max);
            sum += x;
          }
          // Keys outer, so that v is read along its rows; each o[d] is
          // still its sum over the keys in ascending order.
          std::fill(acc.begin(), acc.end(), T(0));
          for (int j = 0; j < limit; ++j) {
            const T p = s[static_cast<size_t>(j)];
            const T pj = kBf16 ? in(static_cast<float>(p)) : p;
            const float* vj = at(v, v_strides, b, j, g);
            for (size_t d = 0; d < dim; ++d) acc[d] += pj * in(vj[d]);
          }
          for (size_t d = 0; d < dim; ++d) o[d] = acc[d] / sum;
          row_lse = max + std::log(sum);
          if (p_row != nullptr) {
            for (int j = 0; j < shape.kv_len; ++j) {
              p_row[j] = j < limit ? s[static_cast<size_t>(j)] / sum : T(0);
            }
          }
        }
        if (lse != nullptr) lse[row] = row_lse;
      }
    }
  }
}

}  // namespace

template <typename T>
void Attention(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
               Strides k_strides, const float* v, Strides v_strides, T* out, Strides out_strides,
               bool causal, T scale, const int* q_lengths, const int* kv_lengths, T* lse,
               T* probabilities) {
  AttentionRows<T, false>(shape, q, q_strides, k, k_strides, v, v_strides, out, out_strides, causal,
                          scale, q_lengths, kv_lengths, lse, probabilities);
}

void AttentionBf16(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
                   Strides k_strides, const float* v, Strides v_strides, float* out,
                   Strides out_strides, bool causal, float scale, const int* q_lengths,
                   const int* kv_lengths, float* lse, float* probabilities) {
  AttentionRows<float, true>(shape, q, q_strides, k, k_strides, v, v_strides, out, out_strides,
                             causal, scale, q_lengths, kv_lengths, lse, probabilities);
}

void ForwardBf16(const float* x, size_t batch, size_t context, size_t embedding_dim,
                 const float* weights, size_t num_heads, size_t head_dim, float* out) {
  const size_t e = embedding_dim, a = num_heads * head_dim, n = batch * context;
  // q, k, v of every head: [batch][context][3][num_heads][head_dim], the
  // layer's interleaved layout, each a float sum of bf16 products.
  std::vector<float> qkv(n * 3 * a);
  for (size_t t = 0; t < n; ++t) {
    for (size_t h = 0; h < num_heads; ++h) {
      for (size_t projection = 0; projection < 3; ++projection) {
        const float* w = weights + (h * 3 + projection) * head_dim * e;
        for (size_t d = 0; d < head_dim; ++d) {
          float sum = 0;
          for (size_t c = 0; c < e; ++c) sum += Bf16(x[t * e + c]) * Bf16(w[d * e + c]);
          qkv[(t * 3 + projection) * a + h * head_dim + d] = sum;
        }
      }
    }
  }
  AttentionShape shape;
  shape.batch = static_cast<int>(batch);
  shape.num_heads = static_cast<int>(num_heads);
  shape.head_dim = static_cast<int>(head_dim);
  shape.q_len = shape.kv_len = static_cast<int>(context);
  const auto ctx = static_cast<int64_t>(context), aa = static_cast<int64_t>(a);
  const Strides interleaved{ctx * 3 * aa, 3 * aa, static_cast<int64_t>(head_dim)};
  const Strides dense{ctx * aa, aa, static_cast<int64_t>(head_dim)};
  AttentionBf16(shape, qkv.data(), interleaved, qkv.data() + a, interleaved, qkv.data() + 2 * a,
                interleaved, out, dense, /*causal=*/true,
                1.0f / std::sqrt(static_cast<float>(head_dim)), nullptr, nullptr, nullptr, nullptr);
}

#define MHSA_REF_INSTANTIATE(T)                                                                    \
  template void MatMulBt<T>(const T*, size_t, const T*, size_t, T*, size_t, size_t, size_t,        \
                            size_t);                                                               \
  template void CausalSoftmax<T>(T*, size_t, size_t, size_t, size_t, T);                           \
  template void Head<T>(const float*, size_t, size_t, const float*, const float*, const float*,    \
                        size_t, T*, size_t);                                                       \
  template void Forward<T>(const float*, size_t, size_t, size_t, const float*, size_t, size_t,     \
                           T*);                                                                    \
  template void Gemm<T>(bool, bool, size_t, size_t, size_t, T, const float*, size_t, const float*, \
                        size_t, T, T*, size_t);                                                    \
  template void Attention<T>(const AttentionShape&, const float*, Strides, const float*, Strides,  \
                             const float*, Strides, T*, Strides, bool, T, const int*, const int*,  \
                             T*, T*);
MHSA_REF_INSTANTIATE(float)
MHSA_REF_INSTANTIATE(double)
#undef MHSA_REF_INSTANTIATE

}  // namespace ref
}  // namespace mhsa
