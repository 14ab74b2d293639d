#include "agree.h"

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace mhsa {
namespace mpi {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Status words of the all-gather.
constexpr uint64_t kFine = 0, kInvalid = 1, kOutOfMemory = 2;

// "mhsa: expected ..." from rank r becomes "mhsa: rank r: expected ...".
std::string OnRank(int rank, const std::string& message) {
  const std::string prefix = "mhsa: ";
  const std::string body =
      message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
  return prefix + "rank " + std::to_string(rank) + ": " + body;
}

// "2", "2 and 5", "2, 5 and 7", "2, 5, 7 and 12 more".
std::string RankList(const std::vector<int>& ranks) {
  constexpr size_t kNamed = 3;
  std::string list;
  const size_t named = ranks.size() > kNamed + 1 ? kNamed : ranks.size();
  for (size_t i = 0; i < named; ++i) {
    if (i > 0) list += i + 1 == ranks.size() ? " and " : ", ";
    list += std::to_string(ranks[i]);
  }
  if (named < ranks.size()) list += " and " + std::to_string(ranks.size() - named) + " more";
  return list;
}

}  // namespace

void Hash64::Add(uint64_t word) {
  uint64_t& lane = lanes_[count_ % 4];
  lane = Mix(lane ^ word);
  ++count_;
}

void Hash64::AddBytes(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    Add(word);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, bytes - i);
  Add(tail);
  Add(bytes);  // So that trailing zero bytes still change the hash.
}

uint64_t Hash64::value() const {
  uint64_t h = count_;
  for (const uint64_t lane : lanes_) h = Mix(h ^ lane);
  return h;
}

void CheckCommunicator(MPI_Comm comm, int* size, int* rank) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) {
    throw std::invalid_argument(std::string("mhsa: expected MPI to be initialised (MPI_Init) ") +
                                "and not finalised, got " +
                                (finalized ? "MPI finalised" : "MPI not initialised"));
  }
  if (comm == MPI_COMM_NULL) {
    throw std::invalid_argument("mhsa: expected a communicator, got MPI_COMM_NULL");
  }
  int inter = 0;
  MPI_Comm_test_inter(comm, &inter);
  if (inter) {
    throw std::invalid_argument("mhsa: expected an intracommunicator, got an intercommunicator");
  }
  MPI_Comm_size(comm, size);
  MPI_Comm_rank(comm, rank);
}

void Agree(MPI_Comm comm, const LocalVerdict& mine) {
  int size = 0, rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  constexpr int kWords = 1 + LocalVerdict::kFingerprints;
  uint64_t words[kWords] = {mine.error.empty() ? (mine.out_of_memory ? kOutOfMemory : kFine)
                                               : kInvalid};
  for (int i = 0; i < LocalVerdict::kFingerprints; ++i) words[1 + i] = mine.fingerprint[i];
  // size x 32 bytes: allocated by every rank; should even this fail, the
  // rank cannot take part and the job cannot be saved by agreeing.
  std::vector<uint64_t> all(static_cast<size_t>(size) * kWords);
  MPI_Allgather(words, kWords, MPI_UINT64_T, all.data(), kWords, MPI_UINT64_T, comm);

  int first_invalid = -1;
  bool out_of_memory = false;
  for (int r = 0; r < size; ++r) {
    const uint64_t status = all[static_cast<size_t>(r) * kWords];
    if (status == kInvalid && first_invalid < 0) first_invalid = r;
    if (status == kOutOfMemory) out_of_memory = true;
  }
  if (first_invalid >= 0) {
    // The faulty rank's message, to everyone: its length, then its text.
    std::string message = rank == first_invalid ? mine.error : std::string();
    auto length = static_cast<unsigned long long>(message.size());
    MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, first_invalid, comm);
    message.resize(static_cast<size_t>(length));
    MPI_Bcast(message.data(), static_cast<int>(length), MPI_CHAR, first_invalid, comm);
    throw std::invalid_argument(OnRank(first_invalid, message));
  }
  if (out_of_memory) throw std::bad_alloc();

  for (int i = 0; i < LocalVerdict::kFingerprints; ++i) {
    if (mine.what[i] == nullptr) continue;
    std::vector<int> differ;
    for (int r = 1; r < size; ++r) {
      if (all[static_cast<size_t>(r) * kWords + 1 + static_cast<size_t>(i)] !=
          all[1 + static_cast<size_t>(i)]) {
        differ.push_back(r);
      }
    }
    if (!differ.empty()) {
      throw std::invalid_argument(std::string("mhsa: expected the same ") + mine.what[i] +
                                  " on every rank, got different ones on rank" +
                                  (differ.size() > 1 ? "s " : " ") + RankList(differ) +
                                  " than on rank 0");
    }
  }
}

}  // namespace mpi
}  // namespace mhsa
