// Hand-rolled rasteriser for eval plots (see plot.h).
#include "eval/plot.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace msa::eval {
namespace {

struct Glyph {
  char c;
  uint8_t rows[7];  // 5 bits per row, bit 4 = leftmost pixel
};

// A classic 5x7 character-LCD style font, for the characters plot labels use.
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}}, {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}}, {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}}, {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}}, {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}}, {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}}, {'p', {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}}, {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}}, {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}}, {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}}, {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'z', {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'@', {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}}, {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}}, {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
};

const Glyph* glyph(char c) {
  c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& g : kFont)
    if (g.c == c) return &g;
  return nullptr;  // space and unknown characters: blank
}

// Distinct, colour-blind-friendly line colours (Okabe-Ito).
constexpr uint32_t kColors[] = {0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7, 0xE69F00, 0x56B4E9, 0x000000, 0xF0E442};

void fill_rect(Image& img, int x0, int y0, int x1, int y1, uint32_t c) {
  for (int y = std::min(y0, y1); y <= std::max(y0, y1); ++y)
    for (int x = std::min(x0, x1); x <= std::max(x0, x1); ++x) img.set(x, y, c);
}

// Bresenham with a square pen of `thick` pixels.
void line(Image& img, int x0, int y0, int x1, int y1, uint32_t c, int thick = 1) {
  int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
  const int lo = -(thick / 2), hi = lo + thick - 1;
  for (;;) {
    fill_rect(img, x0 + lo, y0 + lo, x0 + hi, y0 + hi, c);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

void dashed_hline(Image& img, int x0, int x1, int y, uint32_t c) {
  for (int x = x0; x <= x1; ++x)
    if ((x / 4) % 2 == 0) img.set(x, y, c);
}

}  // namespace

int text_width(const std::string& text, int scale) { return int(text.size()) * 6 * scale; }

void draw_text(Image& img, int x, int y, const std::string& text, uint32_t color, int scale) {
  for (char ch : text) {
    if (const Glyph* g = glyph(ch))
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col)
          if (g->rows[r] & (0x10 >> col)) fill_rect(img, x + col * scale, y + r * scale, x + col * scale + scale - 1,
                                                    y + r * scale + scale - 1, color);
    x += 6 * scale;
  }
}

Image render_plot(const LinePlot& p, int width, int height) {
  Image img(width, height, 0xFFFFFF);
  const int left = 90, right = width - 300, top = 60, bottom = height - 80;
  const uint32_t axis = 0x202020, grid = 0xC8C8C8;
  draw_text(img, (width - text_width(p.title)) / 2, 18, p.title, axis);

  // x: log2 scale over the measured range (padded by half an octave).
  double lo = 1, hi = 2;
  if (!p.x.empty()) {
    lo = *std::min_element(p.x.begin(), p.x.end());
    hi = *std::max_element(p.x.begin(), p.x.end());
  }
  double l0 = std::log2(std::max(lo, 1e-9)) - 0.5, l1 = std::log2(std::max(hi, 1e-9)) + 0.5;
  auto px = [&](double x) { return left + int(std::lround((std::log2(x) - l0) / (l1 - l0) * (right - left))); };
  auto py = [&](double y) { return bottom - int(std::lround(std::clamp(y, 0.0, 1.0) * (bottom - top))); };

  for (int i = 0; i <= 4; ++i) {  // y grid 0, .25, .5, .75, 1
    double y = i / 4.0;
    dashed_hline(img, left, right, py(y), grid);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", y);
    draw_text(img, left - 10 - text_width(buf), py(y) - 7, buf, axis);
  }
  line(img, left, top, left, bottom, axis, 2);
  line(img, left, bottom, right, bottom, axis, 2);
  for (size_t i = 0; i < p.x.size(); ++i) {
    int x = px(p.x[i]);
    line(img, x, bottom, x, bottom + 6, axis, 2);
    const std::string& t = i < p.x_ticks.size() ? p.x_ticks[i] : "";
    draw_text(img, x - text_width(t) / 2, bottom + 12, t, axis);
  }
  draw_text(img, (left + right - text_width(p.x_label)) / 2, bottom + 44, p.x_label, axis);
  draw_text(img, 8, top - 30, p.y_label, axis);

  for (size_t s = 0; s < p.series.size(); ++s) {
    const uint32_t c = kColors[s % (sizeof kColors / sizeof kColors[0])];
    int prev_x = 0, prev_y = 0;
    bool have_prev = false;
    for (size_t i = 0; i < p.x.size() && i < p.series[s].y.size(); ++i) {
      double y = p.series[s].y[i];
      if (std::isnan(y)) { have_prev = false; continue; }
      int x1 = px(p.x[i]), y1 = py(y);
      if (have_prev) line(img, prev_x, prev_y, x1, y1, c, 3);
      fill_rect(img, x1 - 4, y1 - 4, x1 + 4, y1 + 4, c);
      prev_x = x1;
      prev_y = y1;
      have_prev = true;
    }
    // Legend right of the plot area, one row per series.
    int lx = right + 24, ly = top + 8 + int(s) * 22;
    fill_rect(img, lx, ly + 4, lx + 24, ly + 8, c);
    draw_text(img, lx + 32, ly, p.series[s].name, axis);
  }
  return img;
}

}  // namespace msa::eval
