// Point-to-point MPI messaging with a deadline on every operation, so a rank
// that died or hangs yields an msa::Error naming it — never a hang.
//
// MPI is initialised only by code that needs it (a sharded bank under mpirun);
// a single-process run never touches MPI. Messages are byte strings built with
// Writer and read with Reader (little-endian host layout: all ranks of a job
// run the same binary on the same architecture).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace msa::distributed {

// True when this process was started by mpirun / an MPI launcher.
bool launched_by_mpi();

class Comm {
 public:
  // Initialises MPI (MPI_THREAD_SERIALIZED) if launched_by_mpi(); otherwise a
  // world of one rank with no MPI calls at all.
  Comm();
  ~Comm();  // MPI_Finalize if it initialised MPI
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool uses_mpi() const { return mpi_; }

  // Sends bytes to `dst` (tag); waits for local completion at most timeout_s.
  void send(int dst, int tag, const std::vector<uint8_t>& bytes, double timeout_s);
  // Receives one message from `src` (tag). timeout_s < 0: wait forever (a
  // worker idling between commands); polls with a short sleep, not a busy spin.
  std::vector<uint8_t> recv(int src, int tag, double timeout_s);
  // Starts sending bytes to `dst` and returns at once (the bytes are kept until
  // MPI took them): a rank that talks to several peers from several threads
  // never blocks on one peer while another waits for it to receive. Each
  // posted message must complete within timeout_s; progress() checks.
  void post(int dst, int tag, std::vector<uint8_t> bytes, double timeout_s);
  // Completes posted messages; throws (broken) if one missed its deadline.
  void progress();
  // One message from `src` (tag) if one has arrived, without waiting.
  std::optional<std::vector<uint8_t>> try_recv(int src, int tag);
  // Ends the whole job (after an unrecoverable error on rank 0).
  [[noreturn]] void abort(int code);

  // Bytes this rank sent / received so far (the benchmark's "bytes moved").
  uint64_t bytes_sent = 0, bytes_received = 0;
  uint64_t messages_sent = 0;
  // Set when a peer missed a deadline or MPI failed: the job cannot shut down
  // in order (MPI_Finalize would wait for that peer), so rank 0 aborts it.
  bool broken = false;

 private:
  struct Posted;
  bool mpi_ = false;
  int rank_ = 0, size_ = 1;
  std::vector<std::unique_ptr<Posted>> posted_;
};

class Writer {
 public:
  template <class T>
  Writer& put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return raw(&v, sizeof(T));
  }
  Writer& str(const std::string& s) {
    put<uint64_t>(s.size());
    return raw(s.data(), s.size());
  }
  template <class T>
  Writer& array(const T* p, size_t n) {
    put<uint64_t>(n);
    return raw(p, n * sizeof(T));
  }
  // resize + memcpy rather than vector::insert of a byte range, which GCC 12
  // at -O3 misreports as -Wstringop-overflow.
  Writer& raw(const void* p, size_t n) {
    const size_t at = b_.size();
    b_.resize(at + n);
    if (n) std::memcpy(b_.data() + at, p, n);
    return *this;
  }
  std::vector<uint8_t>& bytes() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

class Reader {
 public:
  Reader(const std::vector<uint8_t>& b, const char* what) : b_(b), what_(what) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const uint64_t n = get<uint64_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  template <class T>
  std::vector<T> array() {
    const uint64_t n = get<uint64_t>();
    MSA_CHECK(n <= (b_.size() - pos_) / sizeof(T), "malformed {} message: array of {} elements", what_, n);
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), b_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }

  size_t remaining() const { return b_.size() - pos_; }
  const char* what() const { return what_; }

 private:
  void need(uint64_t n) {
    MSA_CHECK(n <= b_.size() - pos_, "malformed {} message ({} bytes, need {} more at {})", what_, b_.size(), n, pos_);
  }
  const std::vector<uint8_t>& b_;
  const char* what_;
  size_t pos_ = 0;
};

}  // namespace msa::distributed
