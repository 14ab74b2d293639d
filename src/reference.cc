#include "reference.h"

#include <cmath>
#include <limits>
#include <vector>

namespace mhsa {
namespace ref {
namespace {

// float accumulates in float, double in long double: the double reference is
// the yardstick, so it buys the extra bits where they are cheap.
template <typename T>
struct Accumulator {
  using type = T;
};
template <>
struct Accumulator<double> {
  using type = long double;
};

}  // namespace

template <typename T>
void MatMulBt(const T* a, size_t lda, const T* b, size_t ldb, T* c, size_t ldc, size_t m, size_t n,
              size_t k) {
  using Acc = typename Accumulator<T>::type;
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      Acc sum = 0;
      for (size_t p = 0; p < k; ++p) {
        sum += static_cast<Acc>(a[i * lda + p]) * static_cast<Acc>(b[j * ldb + p]);
      }
      c[i * ldc + j] = static_cast<T>(sum);
    }
  }
}

template <typename T>
void CausalSoftmax(T* scores, size_t ld, size_t rows, size_t cols, size_t first_query, T divisor) {
  using Acc = typename Accumulator<T>::type;
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
    Acc sum = 0;
    for (size_t j = 0; j < cols; ++j) {
      row[j] = std::exp(row[j] - max);  // exp(-inf) = 0 for masked keys.
      sum += row[j];
    }
    for (size_t j = 0; j < cols; ++j) {
      row[j] = static_cast<T>(row[j] / sum);
    }
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

#define MHSA_REF_INSTANTIATE(T)                                                                 \
  template void MatMulBt<T>(const T*, size_t, const T*, size_t, T*, size_t, size_t, size_t,     \
                            size_t);                                                            \
  template void CausalSoftmax<T>(T*, size_t, size_t, size_t, size_t, T);                        \
  template void Head<T>(const float*, size_t, size_t, const float*, const float*, const float*, \
                        size_t, T*, size_t);                                                    \
  template void Forward<T>(const float*, size_t, size_t, size_t, const float*, size_t, size_t, T*);
MHSA_REF_INSTANTIATE(float)
MHSA_REF_INSTANTIATE(double)
#undef MHSA_REF_INSTANTIATE

}  // namespace ref
}  // namespace mhsa
