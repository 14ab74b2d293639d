#include "weights.h"

#include "agree.h"

namespace mhsa {
namespace mpi {

size_t ProjectionFloats(const MultiHeadedSelfAttention& layer, int count) {
  return 3 * static_cast<size_t>(count) * static_cast<size_t>(layer.head_dim()) *
         static_cast<size_t>(layer.embedding_dim());
}

void ProjectionRows(const MultiHeadedSelfAttention& layer, int first, int count, float* rows) {
  const size_t head = ProjectionFloats(layer, 1) / 3, part = head * static_cast<size_t>(count);
  for (int h = 0; h < count; ++h) {
    float* q = rows + static_cast<size_t>(h) * head;
    layer.GetHeadWeights(first + h, q, q + part, q + 2 * part);
  }
}

uint64_t LayerFingerprint(const MultiHeadedSelfAttention& layer, float* scratch) {
  Hash64 hash;
  hash.Add(static_cast<uint64_t>(layer.embedding_dim()));
  hash.Add(static_cast<uint64_t>(layer.attention_dim()));
  hash.Add(static_cast<uint64_t>(layer.num_heads()));
  const size_t floats = ProjectionFloats(layer, 1);
  for (int h = 0; h < layer.num_heads(); ++h) {
    ProjectionRows(layer, h, 1, scratch);
    hash.AddBytes(scratch, floats * sizeof(float));
  }
  return hash.value();
}

}  // namespace mpi
}  // namespace mhsa
