// PyTorch's weight initialisation, reproduced bit for bit, so that the layer
// starts from the very numbers the problem's code starts from.
#ifndef MHSA_SRC_TORCH_INIT_H_
#define MHSA_SRC_TORCH_INIT_H_

#include <cstddef>
#include <random>

namespace mhsa {

// nn.Linear(in_features, out_features).reset_parameters() on PyTorch's CPU
// generator: kaiming_uniform_(a = sqrt(5)), i.e. uniform(-b, b) with
// b = 1/sqrt(in_features) as torch computes it in double, one 32-bit draw per
// weight in row-major order.
// weight: [out_features][in_features].
void TorchLinearInit(std::mt19937& generator, size_t in_features, size_t out_features,
                     float* weight);

// The problem's heads: for every head, torch.manual_seed(0), then key_gen,
// query_gen, value_gen, each nn.Linear(embedding_dim, head_dim).
// weights: [num_heads][3][head_dim][embedding_dim] in the order query, key,
// value (storage order; the draw order is key, query, value).
void ProblemInitWeights(size_t embedding_dim, size_t head_dim, size_t num_heads, float* weights);

}  // namespace mhsa

#endif  // MHSA_SRC_TORCH_INIT_H_
