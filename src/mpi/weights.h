// The layer's weights as the public API gives them (GetHeadWeights), laid
// out as the B matrix of the projection Sgemm, and their fingerprint.
#ifndef MHSA_SRC_MPI_WEIGHTS_H_
#define MHSA_SRC_MPI_WEIGHTS_H_

#include <cstddef>
#include <cstdint>

#include "mhsa/mhsa.h"

namespace mhsa {
namespace mpi {

// Writes the weights of heads [first, first + count) as rows
// [3][count][head_dim][embedding_dim]: every head's query rows, then its
// key rows, then its value rows. With that B, Sgemm(false, true, ...)
// computes x · Wᵀ = [q | k | v] of those heads, each element summed over
// embedding_dim in the same order as the layer's own projection.
void ProjectionRows(const MultiHeadedSelfAttention& layer, int first, int count, float* rows);

// Floats ProjectionRows writes for `count` heads.
size_t ProjectionFloats(const MultiHeadedSelfAttention& layer, int count);

// A hash of the layer's sizes and of every head's weights, read head by
// head through `scratch` (ProjectionFloats(layer, 1) floats).
uint64_t LayerFingerprint(const MultiHeadedSelfAttention& layer, float* scratch);

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_SRC_MPI_WEIGHTS_H_
