// Links the installed mhsa::mpi and runs the problem's first example
// head-parallel on however many ranks it is given (one without mpirun).
#include <mpi.h>

#include <cstdio>
#include <vector>

#include <mhsa/mpi.h>

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  mhsa::MultiHeadedSelfAttention layer(/*embedding_dim=*/2, /*attention_dim=*/4,
                                       /*num_heads=*/2);
  const std::vector<float> x = {0.9089f, 5.2716f, 1.1371f, -0.3625f};  // [1][2][2]
  std::vector<float> out(8);                                           // [1][2][4]
  mhsa::mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), /*batch=*/1, /*context=*/2, out.data());
  mhsa::RoundToDecimals(out.data(), out.size(), 4);
  MPI_Finalize();
  for (float v : out) std::printf("%.4f ", static_cast<double>(v));
  std::printf("\n");
  return out[0] == 0.9293f && out[7] == -0.5344f ? 0 : 1;
}
