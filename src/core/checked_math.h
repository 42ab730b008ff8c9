// Overflow-checked arithmetic for sizes that come from files or the network
// (safetensors shapes, bank sections, JSON numbers, MPI frames): a product or
// sum that does not fit is reported, never wrapped.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace msa {

// a * b, or nullopt when it does not fit in T.
template <class T>
constexpr std::optional<T> mul_checked(T a, T b) {
  T r{};
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// a + b, or nullopt when it does not fit in T.
template <class T>
constexpr std::optional<T> add_checked(T a, T b) {
  T r{};
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// The product of all factors; throws msa::Error "<what>: size overflows (...)"
// when it does not fit in T (or a factor is negative for a signed T).
template <class T>
T checked_product(std::initializer_list<T> factors, std::string_view what) {
  T p = 1;
  for (T f : factors) {
    if constexpr (std::is_signed_v<T>) MSA_CHECK(f >= 0, "{}: negative size {}", what, f);
    auto r = mul_checked(p, f);
    MSA_CHECK(r.has_value(), "{}: size overflows ({} x {} does not fit in {} bits)", what, p, f, sizeof(T) * 8);
    p = *r;
  }
  return p;
}

}  // namespace msa
