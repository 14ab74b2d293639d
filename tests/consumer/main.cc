// A separate project that links the installed static library, as a user
// would: the problem's first example, the kernel-level Attention on a
// (B, H, T, D) tensor and on a (B, T, H, D) tensor with grouped-query heads,
// and a KVCache driven through a prefill, steps and a chunk. Each is checked
// against plain loops written here, independently of mhsa's sources.
#include <cmath>
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
  return failures == 0 ? 0 : 1;
}
