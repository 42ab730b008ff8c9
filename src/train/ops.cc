#include "train/ops.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

extern "C" void openblas_set_num_threads(int);

namespace msa::train {

void init_blas_single_thread() { openblas_set_num_threads(1); }

void linear(const float* x, int64_t T, int64_t K, const float* W, int64_t N, float* y) {
  if (T == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(N), int(K), 1.0f, x, int(K), W, int(K),
              0.0f, y, int(N));
}

void linear_backward(const float* x, const float* dy, int64_t T, int64_t K, const float* W, int64_t N,
                     float* dx, bool accumulate_dx, float* dW) {
  if (T == 0) {
    return;
  }
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(K), int(N), 1.0f, dy, int(N), W, int(K),
                accumulate_dx ? 1.0f : 0.0f, dx, int(K));
  if (dW)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(N), int(K), int(T), 1.0f, dy, int(N), x, int(K),
                1.0f, dW, int(K));
}

void rmsnorm_fwd(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y, float* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float ss = 0.f;
    for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    rstd[r] = inv;
    for (int64_t i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * inv);
  }
}

void rmsnorm_bwd(const float* x, const float* w, const float* rstd, const float* dy, int64_t rows, int64_t n,
                 float* dx, bool accumulate_dx, float* dw) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    const float* g = dy + r * n;
    float* o = dx + r * n;
    const float inv = rstd[r];
    float dot = 0.f;
    for (int64_t i = 0; i < n; ++i) {
      dot += w[i] * g[i] * xr[i];
      dw[i] += g[i] * xr[i] * inv;
    }
    const float c = inv * inv * inv * dot / float(n);
    if (accumulate_dx)
      for (int64_t i = 0; i < n; ++i) o[i] += inv * w[i] * g[i] - xr[i] * c;
    else
      for (int64_t i = 0; i < n; ++i) o[i] = inv * w[i] * g[i] - xr[i] * c;
  }
}

void RopeTable::build(int64_t head_dim, int64_t max_positions, float theta) {
  d = head_dim;
  max_pos = max_positions;
  const int64_t half = d / 2;
  cos.assign(size_t(max_pos * half), 0.f);
  sin.assign(size_t(max_pos * half), 0.f);
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv[size_t(i)] = 1.0f / std::pow(theta, float(2 * i) / float(d));
  for (int64_t p = 0; p < max_pos; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const float a = float(p) * inv[size_t(i)];
      cos[size_t(p * half + i)] = std::cos(a);
      sin[size_t(p * half + i)] = std::sin(a);
    }
}

static void rope_impl(float* x, int64_t T, int64_t heads, const int32_t* pos, const RopeTable& rt, float sign) {
  const int64_t d = rt.d, half = d / 2;
  for (int64_t t = 0; t < T; ++t) {
    const float* c = rt.cos.data() + int64_t(pos[t]) * half;
    const float* s = rt.sin.data() + int64_t(pos[t]) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (t * heads + h) * d;
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half], sn = sign * s[i];
        v[i] = a * c[i] - b * sn;
        v[i + half] = b * c[i] + a * sn;
      }
    }
  }
}

void rope_fwd(float* x, int64_t T, int64_t heads, const int32_t* pos, const RopeTable& rt) {
  rope_impl(x, T, heads, pos, rt, 1.f);
}
void rope_bwd(float* dx, int64_t T, int64_t heads, const int32_t* pos, const RopeTable& rt) {
  rope_impl(dx, T, heads, pos, rt, -1.f);
}

void swiglu_fwd(const float* g, const float* u, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void swiglu_bwd(const float* g, const float* u, const float* dout, int64_t n, float* dg, float* du) {
  for (int64_t i = 0; i < n; ++i) {
    const float sg = 1.0f / (1.0f + std::exp(-g[i]));
    const float silu = g[i] * sg;
    du[i] = dout[i] * silu;
    dg[i] = dout[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
  }
}

void attention_fwd(const float* q, const float* k, const float* v, const AttnDims& s, float* out, float* probs) {
  const int64_t G = s.Hq / s.Hkv, d = s.d, qs = s.Hq * d, ks = s.Hkv * d, off = s.Tk - s.Tq;
  const float scale = 1.0f / std::sqrt(float(d));
  for (int64_t h = 0; h < s.Hq; ++h) {
    const int64_t kh = h / G;
    for (int64_t i = 0; i < s.Tq; ++i) {
      const float* qi = q + i * qs + h * d;
      float* p = probs + (h * s.Tq + i) * s.Tk;
      const int64_t n = off + i + 1;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        const float* kj = k + j * ks + kh * d;
        float dot = 0.f;
        for (int64_t e = 0; e < d; ++e) dot += qi[e] * kj[e];
        p[j] = dot * scale;
        mx = std::max(mx, p[j]);
      }
      float sum = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        p[j] = std::exp(p[j] - mx);
        sum += p[j];
      }
      const float invs = 1.0f / sum;
      for (int64_t j = 0; j < n; ++j) p[j] *= invs;
      for (int64_t j = n; j < s.Tk; ++j) p[j] = 0.f;
      float* o = out + i * qs + h * d;
      for (int64_t e = 0; e < d; ++e) o[e] = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        const float* vj = v + j * ks + kh * d;
        const float pj = p[j];
        for (int64_t e = 0; e < d; ++e) o[e] += pj * vj[e];
      }
    }
  }
}

void attention_bwd(const float* q, const float* k, const float* v, const AttnDims& s, const float* probs,
                   const float* dout, float* dq, float* dk, float* dv) {
  const int64_t G = s.Hq / s.Hkv, d = s.d, qs = s.Hq * d, ks = s.Hkv * d, off = s.Tk - s.Tq;
  const float scale = 1.0f / std::sqrt(float(d));
  std::vector<float> dp(size_t(s.Tk));
  for (int64_t h = 0; h < s.Hq; ++h) {
    const int64_t kh = h / G;
    for (int64_t i = 0; i < s.Tq; ++i) {
      const float* qi = q + i * qs + h * d;
      const float* go = dout + i * qs + h * d;
      const float* p = probs + (h * s.Tq + i) * s.Tk;
      const int64_t n = off + i + 1;
      float pdp = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        const float* vj = v + j * ks + kh * d;
        float* dvj = dv + j * ks + kh * d;
        float dot = 0.f;
        for (int64_t e = 0; e < d; ++e) {
          dot += go[e] * vj[e];
          dvj[e] += p[j] * go[e];
        }
        dp[size_t(j)] = dot;
        pdp += p[j] * dot;
      }
      float* dqi = dq + i * qs + h * d;
      for (int64_t e = 0; e < d; ++e) dqi[e] = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        const float ds = p[j] * (dp[size_t(j)] - pdp) * scale;
        const float* kj = k + j * ks + kh * d;
        float* dkj = dk + j * ks + kh * d;
        for (int64_t e = 0; e < d; ++e) {
          dqi[e] += ds * kj[e];
          dkj[e] += ds * qi[e];
        }
      }
    }
  }
}

void l2norm_fwd(const float* x, int64_t rows, int64_t d, float* y, float* norms) {
  for (int64_t r = 0; r < rows; ++r) {
    float ss = 0.f;
    for (int64_t i = 0; i < d; ++i) ss += x[r * d + i] * x[r * d + i];
    const float nrm = std::max(std::sqrt(ss), 1e-12f);
    norms[r] = nrm;
    for (int64_t i = 0; i < d; ++i) y[r * d + i] = x[r * d + i] / nrm;
  }
}

void l2norm_bwd(const float* y, const float* norms, const float* dy, int64_t rows, int64_t d, float* dx) {
  for (int64_t r = 0; r < rows; ++r) {
    float dot = 0.f;
    for (int64_t i = 0; i < d; ++i) dot += y[r * d + i] * dy[r * d + i];
    const float inv = 1.0f / norms[r];
    for (int64_t i = 0; i < d; ++i) dx[r * d + i] += (dy[r * d + i] - y[r * d + i] * dot) * inv;
  }
}

double softmax_xent(const float* logits, int64_t V, int32_t target, float scale, float* dlogits) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < V; ++i) {
    const float e = std::exp(logits[i] - mx);
    dlogits[i] = e;
    sum += e;
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < V; ++i) dlogits[i] *= inv * scale;
  dlogits[target] -= scale;
  return -(double(logits[target]) - double(mx) - std::log(sum));
}

double infonce_decouple(const float* s, const uint8_t* positive, int64_t N, float tau, float scale, float* ds) {
  for (int64_t i = 0; i < N; ++i) ds[i] = 0.f;
  int64_t npos = 0;
  double mx = -1e300;
  for (int64_t i = 0; i < N; ++i) {
    npos += positive[i] ? 1 : 0;
    mx = std::max(mx, double(s[i]) / tau);
  }
  if (npos == 0) return 0.0;
  std::vector<double> e(static_cast<size_t>(N));
  double neg = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    e[size_t(i)] = std::exp(double(s[i]) / tau - mx);
    if (!positive[i]) neg += e[size_t(i)];
  }
  double loss = 0.0;
  const double w = double(scale) / double(npos);
  for (int64_t i = 0; i < N; ++i) {
    if (!positive[i]) continue;
    const double Z = e[size_t(i)] + neg;
    loss += -std::log(e[size_t(i)] / Z + 1e-10);  // reference adds 1e-10 inside the log
    // d/ds_i = −(1 − p_i)/τ ; d/ds_j (neg) = (e_j / Z)/τ   (ignoring the 1e-10)
    ds[i] += float(-w * (1.0 - e[size_t(i)] / Z) / tau);
    for (int64_t j = 0; j < N; ++j)
      if (!positive[j]) ds[j] += float(w * (e[size_t(j)] / Z) / tau);
  }
  return loss / double(npos);
}

}  // namespace msa::train
