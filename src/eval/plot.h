// Line plots rasterised by hand (accuracy vs memory size): log2 x axis with a
// tick per measured size, linear y axis [0, 1], one coloured polyline with
// markers per series, legend and title in a built-in 5x7 bitmap font.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/png.h"

namespace msa::eval {

struct Series {
  std::string name;
  std::vector<double> y;  // one value per x (NaN = missing)
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<double> x;             // > 0, plotted on a log2 scale
  std::vector<std::string> x_ticks;  // label of each x
  std::vector<Series> series;
};

Image render_plot(const LinePlot& p, int width = 900, int height = 560);
// Draws text with the bitmap font (upper-case letters are drawn as lower-case).
void draw_text(Image& img, int x, int y, const std::string& text, uint32_t color, int scale = 2);
int text_width(const std::string& text, int scale = 2);

}  // namespace msa::eval
