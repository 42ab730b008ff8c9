#include "distributed/mpi_comm.h"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace msa::distributed {

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr;
}

struct Comm::Posted {
  MPI_Request req;
  std::vector<uint8_t> bytes;
  int dst = 0;
  std::chrono::steady_clock::time_point deadline;
};

Comm::Comm() {
  if (!launched_by_mpi()) return;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  }
  // Errors come back as codes (turned into msa::Error) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  mpi_ = true;
}

Comm::~Comm() {
  if (!mpi_) return;
  for (auto& p : posted_) {  // best effort: a peer that never took a message must not keep us
    int flag = 0;
    MPI_Test(&p->req, &flag, MPI_STATUS_IGNORE);
    if (!flag) MPI_Cancel(&p->req);
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

namespace {

using Clock = std::chrono::steady_clock;

// Polls `done` until it returns true or the deadline passes: spins briefly
// (low latency for the routing rounds), then sleeps between polls (an idle
// rank must not eat a core).
template <class F>
bool poll_until(F done, double timeout_s) {
  const auto t0 = Clock::now();
  for (int i = 0;; ++i) {
    if (done()) return true;
    const double el = std::chrono::duration<double>(Clock::now() - t0).count();
    if (timeout_s >= 0 && el > timeout_s) return false;
    if (i > 2000) std::this_thread::sleep_for(std::chrono::microseconds(el < 1.0 ? 20 : 1000));
  }
}

void check(int rc, const char* what, int peer) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, msg, &n);
  throw Error(fmt::format("MPI {} with rank {} failed: {}", what, peer, std::string(msg, size_t(n))));
}

// Receives the message MPI_(I)probe just found (its size is in `st`).
std::vector<uint8_t> receive_probed(MPI_Status& st, int src, int tag) {
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  std::vector<uint8_t> b(size_t(n > 0 ? n : 0));
  check(MPI_Recv(b.data(), n, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "recv", src);
  return b;
}

}  // namespace

void Comm::send(int dst, int tag, const std::vector<uint8_t>& bytes, double timeout_s) {
  MSA_CHECK(mpi_, "internal: send without MPI");
  MSA_CHECK(bytes.size() < size_t(1) << 31, "message to rank {} too large ({} bytes)", dst, bytes.size());
  MPI_Request req;
  check(MPI_Isend(bytes.data(), int(bytes.size()), MPI_BYTE, dst, tag, MPI_COMM_WORLD, &req), "send", dst);
  int flag = 0;
  const bool ok = poll_until(
      [&] {
        check(MPI_Test(&req, &flag, MPI_STATUS_IGNORE), "send", dst);
        return flag != 0;
      },
      timeout_s);
  if (!ok) {
    MPI_Cancel(&req);
    broken = true;
    throw Error(fmt::format("rank {} did not take a message within {:.0f} s (dead or hung?)", dst, timeout_s));
  }
  bytes_sent += bytes.size();
  ++messages_sent;
}

std::vector<uint8_t> Comm::recv(int src, int tag, double timeout_s) {
  MSA_CHECK(mpi_, "internal: recv without MPI");
  MPI_Status st;
  int flag = 0;
  const bool ok = poll_until(
      [&] {
        check(MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st), "probe", src);
        return flag != 0;
      },
      timeout_s);
  if (!ok) broken = true;
  if (!ok) throw Error(fmt::format("rank {} did not answer within {:.0f} s (dead or hung?)", src, timeout_s));
  std::vector<uint8_t> b = receive_probed(st, src, tag);
  bytes_received += b.size();
  return b;
}

void Comm::post(int dst, int tag, std::vector<uint8_t> bytes, double timeout_s) {
  MSA_CHECK(mpi_, "internal: post without MPI");
  MSA_CHECK(bytes.size() < size_t(1) << 31, "message to rank {} too large ({} bytes)", dst, bytes.size());
  auto p = std::make_unique<Posted>();
  p->bytes = std::move(bytes);
  p->dst = dst;
  p->deadline = Clock::now() + std::chrono::microseconds(int64_t(timeout_s * 1e6));
  check(MPI_Isend(p->bytes.data(), int(p->bytes.size()), MPI_BYTE, dst, tag, MPI_COMM_WORLD, &p->req), "send", dst);
  bytes_sent += p->bytes.size();
  ++messages_sent;
  posted_.push_back(std::move(p));
  progress();
}

void Comm::progress() {
  const auto now = Clock::now();
  for (size_t i = 0; i < posted_.size();) {
    int flag = 0;
    check(MPI_Test(&posted_[i]->req, &flag, MPI_STATUS_IGNORE), "send", posted_[i]->dst);
    if (flag) {
      posted_.erase(posted_.begin() + long(i));
      continue;
    }
    if (now > posted_[i]->deadline) {
      broken = true;
      throw Error(fmt::format("rank {} did not take a message in time (dead or hung?)", posted_[i]->dst));
    }
    ++i;
  }
}

std::optional<std::vector<uint8_t>> Comm::try_recv(int src, int tag) {
  MSA_CHECK(mpi_, "internal: recv without MPI");
  MPI_Status st;
  int flag = 0;
  check(MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st), "probe", src);
  if (!flag) return std::nullopt;
  std::vector<uint8_t> b = receive_probed(st, src, tag);
  bytes_received += b.size();
  return b;
}

void Comm::abort(int code) {
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

}  // namespace msa::distributed
