// A minimal PNG encoder (8-bit RGB, no interlace) over zlib: enough for the
// evaluator's plots without a plotting dependency.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace msa::eval {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel
  Image(int w, int h, uint32_t fill = 0xFFFFFF);
  void set(int x, int y, uint32_t color);  // 0xRRGGBB; ignores pixels outside
  uint32_t get(int x, int y) const;
};

// The PNG file bytes of an image.
std::string encode_png(const Image& img);

}  // namespace msa::eval
