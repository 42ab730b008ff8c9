// 64-byte aligned, owning array of trivially copyable elements (activations,
// packed keys). Unlike std::vector it never value-initialises on resize.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace msa {

template <typename T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
    o.data_ = nullptr;
    o.size_ = o.cap_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer& o) { *this = o; }
  AlignedBuffer& operator=(const AlignedBuffer& o) {
    if (this != &o) {
      resize(o.size_);
      if (o.size_) std::memcpy(data_, o.data_, o.size_ * sizeof(T));
    }
    return *this;
  }

  // Grows capacity as needed; keeps existing contents; new elements are uninitialised.
  void resize(size_t n) {
    if (n > cap_) {
      size_t cap = cap_ ? cap_ : 16;
      while (cap < n) cap *= 2;
      size_t bytes = (cap * sizeof(T) + 63) / 64 * 64;
      T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      if (size_) std::memcpy(p, data_, size_ * sizeof(T));
      std::free(data_);
      data_ = p;
      cap_ = cap;
    }
    size_ = n;
  }
  void zero() {
    if (size_) std::memset(data_, 0, size_ * sizeof(T));
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace msa
