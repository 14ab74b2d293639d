// A separate project that links the installed static library, as a user
// would: the problem's first example, the kernel-level Attention on a
// (B, H, T, D) tensor and on a (B, T, H, D) tensor with grouped-query heads,
// a KVCache driven through a prefill, steps and a chunk, and the same layer
// and cache in bfloat16. Each is checked against plain loops written here,
// independently of mhsa's sources.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <mhsa/mhsa.h>

// The installed header's version is the one the installed package reports
// (CMakeLists.txt passes mhsa_VERSION*): a mismatch fails the build.
static_assert(MHSA_VERSION_MAJOR == MHSA_PACKAGE_VERSION_MAJOR, "header and package disagree");
static_assert(MHSA_VERSION_MINOR == MHSA_PACKAGE_VERSION_MINOR, "header and package disagree");
static_assert(MHSA_VERSION_PATCH == MHSA_PACKAGE_VERSION_PATCH, "header and package disagree");

namespace {

int failures = 0;

void Expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

float Value(int i) { return std::sin(0.37f * static_cast<float>(i) + 0.1f); }

// Causal attention of one head, plain loops in double: q [T][D], k, v [T][D]
// with element (t, d) at base[t * stride + d].
void NaiveHead(const float* q, const float* k, const float* v, long stride, int len, int dim,
               std::vector<double>* out) {
  out->assign(static_cast<size_t>(len * dim), 0.0);
  for (int i = 0; i < len; ++i) {
    std::vector<double> s(static_cast<size_t>(i + 1));
    double max = -1e300, sum = 0;
    for (int j = 0; j <= i; ++j) {
      double dot = 0;
      for (int d = 0; d < dim; ++d) dot += double(q[i * stride + d]) * k[j * stride + d];
      s[static_cast<size_t>(j)] = dot / std::sqrt(double(dim));
      max = std::max(max, s[static_cast<size_t>(j)]);
    }
    for (double& x : s) sum += (x = std::exp(x - max));
    for (int j = 0; j <= i; ++j) {
      for (int d = 0; d < dim; ++d) {
        (*out)[static_cast<size_t>(i * dim + d)] +=
            s[static_cast<size_t>(j)] / sum * v[j * stride + d];
      }
    }
  }
}

bool Close(double got, double want) {
  return std::fabs(got - want) <= 1e-5 * (1 + std::fabs(want));
}

void CheckAttentionLayouts() {
  const int B = 2, H = 4, KVH = 2, T = 9, D = 8;
  // (B, H, T, D) tensors, dense, no GQA.
  std::vector<float> q(B * H * T * D), k(q.size()), v(q.size()), out(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    q[i] = Value(int(i));
    k[i] = Value(int(i) + 1000);
    v[i] = Value(int(i) + 2000);
  }
  mhsa::AttentionShape shape;
  shape.batch = B;
  shape.num_heads = H;
  shape.head_dim = D;
  shape.q_len = shape.kv_len = T;
  const mhsa::Strides bhtd = mhsa::StridesBHTD(T, H, D);
  mhsa::Attention(shape, q.data(), bhtd, k.data(), bhtd, v.data(), bhtd, out.data(), bhtd);
  bool ok = true;
  std::vector<double> want;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < H; ++h) {
      const size_t at = static_cast<size_t>((b * H + h) * T * D);
      NaiveHead(&q[at], &k[at], &v[at], D, T, D, &want);
      for (int e = 0; e < T * D; ++e) ok = ok && Close(out[at + size_t(e)], want[size_t(e)]);
    }
  }
  Expect(ok, "Attention on a (B, H, T, D) tensor");

  // (B, T, H, D) queries, (B, T, KVH, D) keys and values: query head h
  // reads K/V head h / (H / KVH).
  std::vector<float> qt(B * T * H * D), kt(B * T * KVH * D), vt(kt.size()), ot(qt.size());
  for (size_t i = 0; i < qt.size(); ++i) qt[i] = Value(int(i) + 3000);
  for (size_t i = 0; i < kt.size(); ++i) {
    kt[i] = Value(int(i) + 4000);
    vt[i] = Value(int(i) + 5000);
  }
  shape.num_kv_heads = KVH;
  mhsa::Attention(shape, qt.data(), mhsa::StridesBTHD(T, H, D), kt.data(),
                  mhsa::StridesBTHD(T, KVH, D), vt.data(), mhsa::StridesBTHD(T, KVH, D), ot.data(),
                  mhsa::StridesBTHD(T, H, D));
  ok = true;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < H; ++h) {
      // Gather head h's rows (and its K/V head's) into [T][D] for the check.
      std::vector<float> qh(T * D), kh(T * D), vh(T * D);
      const int g = h / (H / KVH);
      for (int t = 0; t < T; ++t) {
        for (int d = 0; d < D; ++d) {
          qh[size_t(t * D + d)] = qt[size_t(((b * T + t) * H + h) * D + d)];
          kh[size_t(t * D + d)] = kt[size_t(((b * T + t) * KVH + g) * D + d)];
          vh[size_t(t * D + d)] = vt[size_t(((b * T + t) * KVH + g) * D + d)];
        }
      }
      NaiveHead(qh.data(), kh.data(), vh.data(), D, T, D, &want);
      for (int t = 0; t < T; ++t) {
        for (int d = 0; d < D; ++d) {
          ok = ok && Close(ot[size_t(((b * T + t) * H + h) * D + d)], want[size_t(t * D + d)]);
        }
      }
    }
  }
  Expect(ok, "Attention on (B, T, H, D) tensors with grouped-query heads");
}

void CheckKVCache() {
  const int E = 6, A = 8, H = 2, B = 2, T = 11;
  const mhsa::MultiHeadedSelfAttention layer(E, A, H);
  std::vector<float> x(B * T * E), whole(B * T * A), pieces(whole.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = Value(int(i) + 6000);
  layer.Forward(x.data(), B, T, whole.data());
  mhsa::KVCache cache(layer, B, T);
  int done = 0;
  for (int n : {4, 1, 1, 3, 1, 1}) {  // A prefill, steps, a chunk, steps.
    std::vector<float> xs(size_t(B * n * E)), os(size_t(B * n * A));
    for (int b = 0; b < B; ++b) {
      for (int i = 0; i < n * E; ++i) xs[size_t(b * n * E + i)] = x[size_t((b * T + done) * E + i)];
    }
    layer.Forward(xs.data(), B, n, os.data(), cache);
    for (int b = 0; b < B; ++b) {
      for (int i = 0; i < n * A; ++i)
        pieces[size_t((b * T + done) * A + i)] = os[size_t(b * n * A + i)];
    }
    done += n;
  }
  bool ok = cache.size() == T;
  for (size_t i = 0; i < whole.size(); ++i) ok = ok && Close(pieces[i], whole[i]);
  Expect(ok, "a KVCache through a prefill, steps and a chunk matches the whole sequence");
}

// The layer's output for x ([T][E]) in double, plain loops: per head,
// q, k, v = x·Wᵀ with the weights the layer reports, then NaiveHead.
std::vector<double> NaiveLayer(const mhsa::MultiHeadedSelfAttention& layer,
                               const std::vector<float>& x, int len, double* v_scale) {
  const int E = layer.embedding_dim(), A = layer.attention_dim(), D = layer.head_dim();
  std::vector<double> out(size_t(len * A));
  *v_scale = 0;
  for (int h = 0; h < layer.num_heads(); ++h) {
    std::vector<float> wq(size_t(D * E)), wk(wq.size()), wv(wq.size());
    layer.GetHeadWeights(h, wq.data(), wk.data(), wv.data());
    std::vector<float> q(size_t(len * D)), k(q.size()), v(q.size());
    for (int t = 0; t < len; ++t) {
      for (int d = 0; d < D; ++d) {
        double sq = 0, sk = 0, sv = 0;
        for (int e = 0; e < E; ++e) {
          const double xe = x[size_t(t * E + e)];
          sq += xe * wq[size_t(d * E + e)];
          sk += xe * wk[size_t(d * E + e)];
          sv += xe * wv[size_t(d * E + e)];
        }
        q[size_t(t * D + d)] = float(sq);
        k[size_t(t * D + d)] = float(sk);
        v[size_t(t * D + d)] = float(sv);
        *v_scale = std::max(*v_scale, std::fabs(sv));
      }
    }
    std::vector<double> head;
    NaiveHead(q.data(), k.data(), v.data(), D, len, D, &head);
    for (int t = 0; t < len; ++t) {
      for (int d = 0; d < D; ++d) out[size_t(t * A + h * D + d)] = head[size_t(t * D + d)];
    }
  }
  return out;
}

// The bf16 layer and a bf16 cache. bf16 keeps 8 significant bits: each of
// the values it rounds is off by at most 2^-9 of itself. The output is a
// weighted mean of v, so x and v (rounded once each) move it by 2 x 2^-9 of
// |v|, p's rounding by 2^-9; q * scale and k move each score s by about
// 4 x 2^-9 of |s|, here below 1, and the weights by as much: 7 x 2^-9 in
// all. The check allows 4 x 2^-8 of the largest |v| (plus that much
// absolute): loose, but a wrong head, position or weight is off by far more.
void CheckBf16() {
  const int E = 24, A = 16, H = 2, T = 13;
  const mhsa::MultiHeadedSelfAttention layer(E, A, H, mhsa::Precision::kBFloat16);
  Expect(layer.precision() == mhsa::Precision::kBFloat16, "a bf16 layer says so");
  std::vector<float> wq(size_t(8 * E)), wk(wq.size()), wv(wq.size());
  layer.GetHeadWeights(0, wq.data(), wk.data(), wv.data());
  bool ok = true;
  for (float w : wq) {
    uint32_t bits;
    std::memcpy(&bits, &w, sizeof(bits));
    ok = ok && (bits & 0xFFFFu) == 0;
  }
  Expect(ok, "a bf16 layer's weights are bf16 values");

  std::vector<float> x(size_t(T * E)), whole(size_t(T * A)), pieces(whole.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = Value(int(i) + 7000);
  layer.Forward(x.data(), 1, T, whole.data());
  double v_scale = 0;
  const std::vector<double> want = NaiveLayer(layer, x, T, &v_scale);
  const double tolerance = 4 * std::ldexp(1.0, -8) * (1 + v_scale);
  ok = true;
  for (size_t i = 0; i < whole.size(); ++i) ok = ok && std::fabs(whole[i] - want[i]) <= tolerance;
  Expect(ok, "a bf16 layer matches plain double loops within bf16 rounding");

  mhsa::KVCache cache(layer, 1, T);
  Expect(cache.precision() == mhsa::Precision::kBFloat16 && cache.keys() == nullptr &&
             cache.keys_bf16() != nullptr && cache.values_bf16() != nullptr,
         "a bf16 layer's KVCache holds bf16");
  int done = 0;
  for (int n : {5, 1, 1, 4, 1, 1}) {
    layer.Forward(x.data() + done * E, 1, n, pieces.data() + done * A, cache);
    done += n;
  }
  ok = cache.size() == T;
  for (size_t i = 0; i < pieces.size(); ++i) {
    ok = ok && std::fabs(pieces[i] - want[i]) <= tolerance;
  }
  Expect(ok, "a bf16 KVCache through a prefill, steps and a chunk matches plain double loops");
  // The cached k of position 0, head 0, dimension 0: x·Wkᵀ rounded to bf16.
  double k00 = 0;
  for (int e = 0; e < E; ++e) k00 += double(x[size_t(e)]) * wk[size_t(e)];
  uint32_t bits = uint32_t(cache.keys_bf16()[0].bits) << 16;
  float cached;
  std::memcpy(&cached, &bits, sizeof(cached));
  Expect(std::fabs(cached - k00) <= std::ldexp(std::fabs(k00), -7) + 1e-6,
         "the bf16 cache holds k rounded to bf16");
}

}  // namespace

int main() {
  Expect(std::strcmp(MHSA_VERSION_STRING, MHSA_PACKAGE_VERSION) == 0,
         "MHSA_VERSION_STRING is the package's version");
  mhsa::MultiHeadedSelfAttention layer(/*embedding_dim=*/2, /*attention_dim=*/4,
                                       /*num_heads=*/2);
  const std::vector<float> x = {0.9089f, 5.2716f, 1.1371f, -0.3625f};  // [1][2][2]
  std::vector<float> out(8);                                           // [1][2][4]
  layer.Forward(x.data(), /*batch=*/1, /*context=*/2, out.data());
  mhsa::RoundToDecimals(out.data(), out.size(), 4);
  for (float v : out) std::printf("%.4f ", static_cast<double>(v));
  std::printf("\n");
  // The problem's own output for this input.
  Expect(out[0] == 0.9293f && out[7] == -0.5344f, "the problem's first example");
  CheckAttentionLayouts();
  CheckKVCache();
  CheckBf16();
  return failures == 0 ? 0 : 1;
}
