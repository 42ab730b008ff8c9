// The single-writer lock of a bank: an exclusive, non-blocking flock(2) on
// <bank>/LOCK, held for the writer's lifetime and released by the kernel when
// the process dies (SIGKILL included), so a crash never leaves a stale lock.
// The holder's pid is written into the file for the error message.
#pragma once

#include <string>

namespace msa::memory {

class BankWriterLock {
 public:
  // Throws msa::Error "bank '<dir>' is already open for writing by process N" when held.
  explicit BankWriterLock(const std::string& bank_dir);
  ~BankWriterLock();
  BankWriterLock(const BankWriterLock&) = delete;
  BankWriterLock& operator=(const BankWriterLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace msa::memory
