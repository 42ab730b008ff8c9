#pragma once
namespace msa {
inline constexpr const char* kVersion = "0.1.0";
}
