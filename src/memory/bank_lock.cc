#include "memory/bank_lock.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"

namespace msa::memory {

BankWriterLock::BankWriterLock(const std::string& bank_dir) {
  const std::string path = (std::filesystem::path(bank_dir) / "LOCK").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  MSA_CHECK(fd_ >= 0, "cannot open '{}': {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK)
      throw_error("bank '{}' is already open for writing by process {} (one writer at a time)", bank_dir,
                  n > 0 ? std::string(buf, size_t(n)) : std::string("?"));
    throw_error("cannot lock '{}': {}", path, std::strerror(e));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

BankWriterLock::~BankWriterLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace msa::memory
