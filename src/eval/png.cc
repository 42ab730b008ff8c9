// PNG = signature + IHDR + IDAT (zlib stream of filter-0 scanlines) + IEND,
// every chunk with its CRC-32 (zlib's crc32, the PNG polynomial).
#include "eval/png.h"

#include <zlib.h>

#include "core/error.h"

namespace msa::eval {

Image::Image(int w, int h, uint32_t fill) : width(w), height(h), rgb(size_t(w) * size_t(h) * 3) {
  MSA_CHECK(w > 0 && h > 0, "image size {}x{} is empty", w, h);
  for (size_t i = 0; i < size_t(w) * size_t(h); ++i) {
    rgb[3 * i] = uint8_t(fill >> 16);
    rgb[3 * i + 1] = uint8_t(fill >> 8);
    rgb[3 * i + 2] = uint8_t(fill);
  }
}

void Image::set(int x, int y, uint32_t c) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  uint8_t* p = &rgb[(size_t(y) * size_t(width) + size_t(x)) * 3];
  p[0] = uint8_t(c >> 16);
  p[1] = uint8_t(c >> 8);
  p[2] = uint8_t(c);
}

uint32_t Image::get(int x, int y) const {
  const uint8_t* p = &rgb[(size_t(y) * size_t(width) + size_t(x)) * 3];
  return (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
}

namespace {

void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += char((v >> shift) & 0xFF);
}

void chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, uint32_t(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  put_u32(out, uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
}

}  // namespace

std::string encode_png(const Image& img) {
  std::string raw;
  raw.reserve(size_t(img.height) * (size_t(img.width) * 3 + 1));
  for (int y = 0; y < img.height; ++y) {
    raw += char(0);  // filter type 0 (none)
    raw.append(reinterpret_cast<const char*>(&img.rgb[size_t(y) * size_t(img.width) * 3]), size_t(img.width) * 3);
  }
  uLongf zlen = compressBound(uLong(raw.size()));
  std::string z(zlen, '\0');
  int rc = compress2(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()),
                     uLong(raw.size()), 9);
  MSA_CHECK(rc == Z_OK, "zlib compress2 failed ({})", rc);
  z.resize(zlen);

  std::string out = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_u32(ihdr, uint32_t(img.width));
  put_u32(ihdr, uint32_t(img.height));
  ihdr += char(8);  // bit depth
  ihdr += char(2);  // colour type: RGB
  ihdr += char(0);  // compression
  ihdr += char(0);  // filter
  ihdr += char(0);  // interlace
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", z);
  chunk(out, "IEND", "");
  return out;
}

}  // namespace msa::eval
