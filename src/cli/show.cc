#include "show.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "mhsa/mhsa.h"

namespace mhsa {
namespace cli {

std::vector<float> AttentionMaps(const Case& c) {
  if (c.context > kShowMaxContext) {
    throw CaseError("expected a context of at most " + std::to_string(kShowMaxContext) +
                    " positions to draw, got " + std::to_string(c.context));
  }
  if (static_cast<long long>(c.batch) * c.num_heads > kShowMaxPanels) {
    throw CaseError("expected at most " + std::to_string(kShowMaxPanels) +
                    " maps (batch x num_heads) to draw, got " + std::to_string(c.batch) + " x " +
                    std::to_string(c.num_heads));
  }
  const MultiHeadedSelfAttention layer(c.embedding_dim, c.attention_dim, c.num_heads);
  const int rows = c.batch * c.context, e = c.embedding_dim, a = c.attention_dim,
            d = layer.head_dim();
  // q, k and v of every head: [batch][context][num_heads][head_dim].
  std::vector<float> q(static_cast<size_t>(rows) * static_cast<size_t>(a)), k(q.size()),
      v(q.size()), out(q.size());
  std::vector<float> wq(static_cast<size_t>(d) * static_cast<size_t>(e)), wk(wq.size()),
      wv(wq.size());
  for (int h = 0; h < c.num_heads; ++h) {
    layer.GetHeadWeights(h, wq.data(), wk.data(), wv.data());
    const float* x = c.embedded.data();
    const size_t column = static_cast<size_t>(h) * static_cast<size_t>(d);
    Sgemm(false, true, rows, d, e, 1.0f, x, e, wq.data(), e, 0.0f, q.data() + column, a);
    Sgemm(false, true, rows, d, e, 1.0f, x, e, wk.data(), e, 0.0f, k.data() + column, a);
    Sgemm(false, true, rows, d, e, 1.0f, x, e, wv.data(), e, 0.0f, v.data() + column, a);
  }
  AttentionShape shape;
  shape.batch = c.batch;
  shape.num_heads = c.num_heads;
  shape.head_dim = d;
  shape.q_len = shape.kv_len = c.context;
  std::vector<float> maps(static_cast<size_t>(c.batch) * static_cast<size_t>(c.num_heads) *
                          static_cast<size_t>(c.context) * static_cast<size_t>(c.context));
  AttentionOptions options;
  options.probabilities = maps.data();
  const Strides s = StridesBTHD(c.context, c.num_heads, d);
  Attention(shape, q.data(), s, k.data(), s, v.data(), s, out.data(), s, options);
  return maps;
}

namespace {

// Viridis (matplotlib's default map, perceptually uniform and readable in
// grey), through five of its points, linearly in between.
void Viridis(double t, double rgb[3]) {
  static const double kAnchors[5][3] = {{0x44, 0x01, 0x54},
                                        {0x3b, 0x52, 0x8b},
                                        {0x21, 0x91, 0x8c},
                                        {0x5e, 0xc9, 0x62},
                                        {0xfd, 0xe7, 0x25}};
  t = std::min(1.0, std::max(0.0, t)) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  for (int c = 0; c < 3; ++c) {
    rgb[c] = ((1 - f) * kAnchors[i][c] + f * kAnchors[i + 1][c]) / 255.0;
  }
}

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

void Text(cairo_t* cr, double x, double y, const std::string& text, double align) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  cairo_move_to(cr, x - align * extents.width - extents.x_bearing, y);
  cairo_show_text(cr, text.c_str());
}

cairo_status_t Append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

std::string DrawHeatmaps(const std::vector<float>& maps, int batch, int heads, int context) {
  const HeatmapLayout layout(batch, heads, context);
  const std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, layout.width, layout.height),
      cairo_surface_destroy);
  const std::unique_ptr<cairo_t, decltype(&cairo_destroy)> context_owner(
      cairo_create(surface.get()), cairo_destroy);
  cairo_t* cr = context_owner.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  // The scale runs from 0 to the largest probability drawn.
  const float top = std::max(1e-30f, *std::max_element(maps.begin(), maps.end()));
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 12);
  const auto n = static_cast<size_t>(context);
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const int p = b * heads + h;
      const double x0 = layout.PanelX(p), y0 = layout.PanelY(p);
      const float* map =
          maps.data() +
          (static_cast<size_t>(b) * static_cast<size_t>(heads) + static_cast<size_t>(h)) * n * n;
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = 0; j < n; ++j) {
          double rgb[3] = {kMaskColour[0] / 255.0, kMaskColour[1] / 255.0, kMaskColour[2] / 255.0};
          if (j <= i) Viridis(map[i * n + j] / top, rgb);
          cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
          // Whole pixels, so that neighbouring cells do not blend.
          const double left = std::floor(x0 + static_cast<double>(j) * layout.cell);
          const double right = std::floor(x0 + static_cast<double>(j + 1) * layout.cell);
          const double upper = std::floor(y0 + static_cast<double>(i) * layout.cell);
          const double lower = std::floor(y0 + static_cast<double>(i + 1) * layout.cell);
          cairo_rectangle(cr, left, upper, right - left, lower - upper);
          cairo_fill(cr);
        }
      }
      cairo_set_source_rgb(cr, 0, 0, 0);
      Text(cr, x0 + layout.panel / 2.0, y0 - 12,
           "sequence " + std::to_string(b) + ", head " + std::to_string(h), 0.5);
      // Axes: first and last position on each.
      Text(cr, x0, y0 + layout.panel + 16, "0", 0.5);
      Text(cr, x0 + layout.panel, y0 + layout.panel + 16, std::to_string(context - 1), 0.5);
      Text(cr, x0 + layout.panel / 2.0, y0 + layout.panel + 36, "key position", 0.5);
      Text(cr, x0 - 6, y0 + 10, "0", 1.0);
      Text(cr, x0 - 6, y0 + layout.panel, std::to_string(context - 1), 1.0);
      cairo_save(cr);
      cairo_move_to(cr, x0 - 30, y0 + layout.panel / 2.0 + 45);
      cairo_rotate(cr, -M_PI / 2);
      cairo_show_text(cr, "query position");
      cairo_restore(cr);
    }
  }
  // The colour scale, top = largest probability.
  const double y0 = layout.margin_top, span = layout.panel;
  for (int p = 0; p < layout.panel; ++p) {
    double rgb[3];
    Viridis(1.0 - static_cast<double>(p) / (layout.panel - 1), rgb);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle(cr, layout.bar_x, y0 + p, layout.bar_width, 1);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  for (double f : {0.0, 0.5, 1.0}) {
    Text(cr, layout.bar_x + layout.bar_width + 4, y0 + (1 - f) * span + 4,
         Number(f * static_cast<double>(top)), 0.0);
  }
  Text(cr, layout.bar_x, y0 - 12, "probability", 0.0);
  cairo_surface_flush(surface.get());
  std::string png;
  if (cairo_surface_write_to_png_stream(surface.get(), Append, &png) != CAIRO_STATUS_SUCCESS) {
    throw CaseError("cannot encode the heatmaps as PNG");
  }
  return png;
}

}  // namespace cli
}  // namespace mhsa
