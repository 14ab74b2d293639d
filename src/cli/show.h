// `mhsa show`: the attention maps of a case as heatmaps, one panel per
// (sequence, head), drawn with cairo into a PNG.
#ifndef MHSA_SRC_CLI_SHOW_H_
#define MHSA_SRC_CLI_SHOW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "case_io.h"

namespace mhsa {
namespace cli {

// The largest case `show` draws: beyond it the cells would be under a pixel
// and the panels too many to read.
inline constexpr int kShowMaxContext = 512;
inline constexpr int kShowMaxPanels = 64;

// The problem's layer applied to the case, with its attention probabilities
// kept: [batch][num_heads][context][context], zero above the diagonal.
// Computed with the public API (the layer's weights, Sgemm for q and k,
// Attention with its probabilities output). Refuses (CaseError) a case
// larger than the limits above.
std::vector<float> AttentionMaps(const Case& c);

// Where everything is in the picture, in pixels, from the case's sizes.
// Panels go in reading order, sequence by sequence and head by head, at most
// kColumns to a row: panel p = b * heads + h has its map's top-left corner
// at PanelX(p), PanelY(p), and the cell of query i, key j spans
// [floor(x + j * cell), floor(x + (j + 1) * cell)) horizontally and the
// same with i vertically.
struct HeatmapLayout {
  static constexpr int kColumns = 4;
  HeatmapLayout(int batch, int heads, int context_in) : context(context_in) {
    const int panels = batch * heads;
    columns = panels < kColumns ? panels : kColumns;
    rows = (panels + columns - 1) / columns;
    // A 256-pixel map for any context up to 256, a pixel a position beyond.
    panel = context > 256 ? context : 256;
    cell = static_cast<double>(panel) / context;
    margin_left = 60;  // the "query position" label and its ticks
    margin_top = 40;   // the first row's titles
    gap = 70;          // between panels: the next one's query axis
    gap_rows = 90;     // the key axis under a row of panels, the next titles
    bar_x = margin_left + columns * (panel + gap) - gap + 30;
    bar_width = 20;
    width = bar_x + bar_width + 70;  // the scale's tick labels
    height = margin_top + rows * (panel + gap_rows) - 30;
  }
  int PanelX(int p) const { return margin_left + (p % columns) * (panel + gap); }
  int PanelY(int p) const { return margin_top + (p / columns) * (panel + gap_rows); }

  int context;
  int columns, rows;
  double cell;  // pixels per query or key
  int panel;    // side of a panel's map
  int margin_left, margin_top, gap, gap_rows;
  int bar_x, bar_width;  // the colour scale, right of the panels
  int width, height;
};

// The colour of masked cells (keys a query cannot see): light grey, outside
// the colour scale. RGB in [0, 255].
inline constexpr uint8_t kMaskColour[3] = {217, 217, 217};

// The heatmaps as PNG bytes. maps: as AttentionMaps returns.
std::string DrawHeatmaps(const std::vector<float>& maps, int batch, int heads, int context);

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_SHOW_H_
