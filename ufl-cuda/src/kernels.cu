// Kernels of the Unified Focal loss family, float32, in three passes (see geometry.rs):
//   ufl_stats     per-block partial sums of TP, FN, FP and the focal term per (item, class)
//   ufl_finalize  one block: combines the partials in a fixed order, computes the loss and,
//                 per (item, class), the coefficients the gradient needs
//   ufl_gradient  d(loss)/d(input) element by element, in the input's layout
//
// This body is specialised by a header of #defines that source.rs generates per variant:
//   UFL_ORIGINAL (1: original convention, 0: paper), UFL_SYMMETRIC, UFL_FOCAL_ON,
//   UFL_TVERSKY_ON, UFL_CHANNELS_LAST, UFL_CHANNELS (input channels), UFL_CLASSES (classes
//   the loss reads), UFL_GROUP (classes per statistics block), UFL_STATS_VEC, UFL_GRAD_VEC,
//   UFL_STATS_THREADS, UFL_STATS_ITEMS, UFL_FINALIZE_THREADS, UFL_GRAD_THREADS.
//
// Numerics. Every expression is the oracle's (src/original.rs, src/paper.rs, src/terms.rs of
// ufl-oracle), in the same order of operations, in float32; the module is compiled with
// --fmad=false so that each + and * rounds once, as the oracle's float32 error bound models
// them. Library functions (ln, pow) are evaluated in double and rounded once to float: within
// one ulp, as the bound assumes (CUDA's single-precision powf is specified to a few ulps). All
// sums are per-thread sequential sums followed by the fixed tree of ufl_block_sum: no atomics,
// so every result is the same bit for bit from run to run.

struct UflScalars {
    float lo;
    float hi;
    float smooth;
    float delta;
    float gamma;
    float lambda;
    int has_weight;
    int reduction;
    int class_mean;
    unsigned int batch;
    unsigned int spatial;
    unsigned int chunks;
};

#define UFL_REDUCTION_MEAN 0
#define UFL_REDUCTION_SUM 1
#define UFL_REDUCTION_PER_ITEM 2
#define UFL_REDUCTION_PER_ITEM_CLASS 3

#define UFL_GROUPS ((UFL_CLASSES + UFL_GROUP - 1) / UFL_GROUP)
#define UFL_CHUNK_POSITIONS (UFL_STATS_THREADS * UFL_STATS_VEC * UFL_STATS_ITEMS)
#define UFL_SINGLE_CHANNEL (UFL_CHANNELS == 1)

// ---- library functions: double, rounded once ------------------------------------------------

__device__ __forceinline__ float ufl_ln(float x) { return (float)log((double)x); }

// x^e for any x (the Tversky terms: x = 1 - TI may be 0).
__device__ __forceinline__ float ufl_pow(float x, float e) {
    return (float)pow((double)x, (double)e);
}

// x^e for x > 0 (the focal factor's base 1 - q, at least 1 - hi > 0 after the clip).
__device__ __forceinline__ float ufl_pow_positive(float x, float e) {
    return (float)exp((double)e * log((double)x));
}

// ---- building blocks, as src/terms.rs ---------------------------------------------------------

// TensorFlow's K.clip: the value clipped, and the gradient passed on [lo, hi] inclusive.
__device__ __forceinline__ float ufl_clip(float p, float lo, float hi, bool* pass) {
    *pass = (p >= lo) && (p <= hi);
    return p < lo ? lo : (p > hi ? hi : p);
}

// (1-q)^gamma * (-y ln q), or -y ln q alone when not modulated.
__device__ __forceinline__ float ufl_focal_value(float q, float y, bool modulated, float gamma) {
    const float ce = (-y) * ufl_ln(q);
    if (!modulated) return ce;
    const float factor = ufl_pow_positive(1.0f - q, gamma);
    return factor * ce;
}

// d/dq of ufl_focal_value, TensorFlow's pow rule: d(b^g)/db = g * b^(g-1).
__device__ __forceinline__ float ufl_focal_derivative(float q, float y, bool modulated,
                                                      float gamma) {
    const float dce = (-y) * (1.0f / q);
    if (!modulated) return dce;
    const float ce = (-y) * ufl_ln(q);
    const float base = 1.0f - q;
    // base^gamma and base^(gamma-1) from one logarithm: the same values ufl_pow_positive
    // gives, one log cheaper.
    const double log_base = log((double)base);
    const float factor = (float)exp((double)gamma * log_base);
    const float dfactor = -(gamma * (float)exp((double)(gamma - 1.0f) * log_base));
    return factor * dce + ce * dfactor;
}

// The fixed summation tree (reduce.rs): warp trees, then a tree over the warp sums padded with
// zeros. The result is valid in thread 0; every thread of the block must call it.
__device__ float ufl_block_sum(float v, float* scratch) {
    const unsigned int full = 0xffffffffu;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(full, v, o);
    const unsigned int lane = threadIdx.x & 31u;
    const unsigned int warp = threadIdx.x >> 5;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = (threadIdx.x < (blockDim.x >> 5)) ? scratch[threadIdx.x] : 0.0f;
    if (warp == 0) {
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(full, v, o);
    }
    __syncthreads();
    return v;
}

// Index of element (item b, position s, channel c) of the input.
__device__ __forceinline__ unsigned int ufl_index(unsigned int b, unsigned int s, unsigned int c,
                                                  unsigned int n) {
#if UFL_CHANNELS_LAST
    return (b * n + s) * UFL_CHANNELS + c;
#else
    return (b * UFL_CHANNELS + c) * n + s;
#endif
}

// ---- pass 1: statistics ------------------------------------------------------------------------

// Loads UFL_STATS_VEC positions from s0 of the group's classes: prediction and target per
// class the loss reads (a single channel p stands for [1-p, p], its target t for [1-t, t]).
__device__ __forceinline__ void ufl_load_group(const float* __restrict__ pred,
                                               const float* __restrict__ target, unsigned int b,
                                               unsigned int s0, unsigned int first_class,
                                               unsigned int n,
                                               float p[UFL_STATS_VEC][UFL_GROUP],
                                               float t[UFL_STATS_VEC][UFL_GROUP]) {
#if UFL_SINGLE_CHANNEL
    const unsigned int base = b * n + s0;
#if UFL_STATS_VEC == 4
    const float4 pv = *reinterpret_cast<const float4*>(pred + base);
    const float4 tv = *reinterpret_cast<const float4*>(target + base);
    const float ps[4] = {pv.x, pv.y, pv.z, pv.w};
    const float ts[4] = {tv.x, tv.y, tv.z, tv.w};
#else
    const float ps[1] = {pred[base]};
    const float ts[1] = {target[base]};
#endif
#pragma unroll
    for (int v = 0; v < UFL_STATS_VEC; ++v) {
        p[v][0] = 1.0f - ps[v];
        t[v][0] = 1.0f - ts[v];
        p[v][1] = ps[v];
        t[v][1] = ts[v];
    }
#else
#pragma unroll
    for (int g = 0; g < UFL_GROUP; ++g) {
        const unsigned int c = first_class + g;
        if (c < UFL_CLASSES) {
            const unsigned int base = ufl_index(b, s0, c, n);
#if UFL_STATS_VEC == 4
            const float4 pv = *reinterpret_cast<const float4*>(pred + base);
            const float4 tv = *reinterpret_cast<const float4*>(target + base);
            p[0][g] = pv.x; p[1][g] = pv.y; p[2][g] = pv.z; p[3][g] = pv.w;
            t[0][g] = tv.x; t[1][g] = tv.y; t[2][g] = tv.z; t[3][g] = tv.w;
#else
            p[0][g] = pred[base];
            t[0][g] = target[base];
#endif
        } else {
#pragma unroll
            for (int v = 0; v < UFL_STATS_VEC; ++v) {
                p[v][g] = 0.5f;
                t[v][g] = 0.0f;
            }
        }
    }
#endif
}

extern "C" __global__ void __launch_bounds__(UFL_STATS_THREADS)
ufl_stats(const float* __restrict__ pred, const float* __restrict__ target,
          const int* __restrict__ rare, const UflScalars sc, float* __restrict__ partial) {
    __shared__ float scratch[32];
    const unsigned int chunk = blockIdx.x % sc.chunks;
    const unsigned int rest = blockIdx.x / sc.chunks;
    const unsigned int group = rest % UFL_GROUPS;
    const unsigned int b = rest / UFL_GROUPS;
    const unsigned int n = sc.spatial;
    const unsigned int first_class = group * UFL_GROUP;
    const float one = 1.0f;

    float tp[UFL_GROUP], fn[UFL_GROUP], fp[UFL_GROUP], fo[UFL_GROUP];
    bool modulated[UFL_GROUP];
#pragma unroll
    for (int g = 0; g < UFL_GROUP; ++g) {
        tp[g] = 0.0f;
        fn[g] = 0.0f;
        fp[g] = 0.0f;
        fo[g] = 0.0f;
        const unsigned int c = first_class + g;
#if UFL_ORIGINAL
        modulated[g] = UFL_SYMMETRIC || c == 0;
#else
        modulated[g] = UFL_SYMMETRIC || (c < UFL_CLASSES && rare[c] == 0);
#endif
    }

    const unsigned int first = chunk * UFL_CHUNK_POSITIONS;
    for (unsigned int it = 0; it < UFL_STATS_ITEMS; ++it) {
        const unsigned int s0 = first + (it * UFL_STATS_THREADS + threadIdx.x) * UFL_STATS_VEC;
        if (s0 >= n) break;
        float p[UFL_STATS_VEC][UFL_GROUP], t[UFL_STATS_VEC][UFL_GROUP];
        ufl_load_group(pred, target, b, s0, first_class, n, p, t);
#pragma unroll
        for (int v = 0; v < UFL_STATS_VEC; ++v) {
            float q[UFL_GROUP];
#pragma unroll
            for (int g = 0; g < UFL_GROUP; ++g) {
                bool pass;
                q[g] = ufl_clip(p[v][g], sc.lo, sc.hi, &pass);
#if UFL_TVERSKY_ON
                tp[g] = tp[g] + t[v][g] * q[g];
                fn[g] = fn[g] + t[v][g] * (one - q[g]);
                fp[g] = fp[g] + (one - t[v][g]) * q[g];
#endif
            }
#if UFL_FOCAL_ON
#if UFL_ORIGINAL
            // (1-δ)·back + δ·fore per position, as the original sums it.
            const float back = ufl_focal_value(q[0], t[v][0], true, sc.gamma);
            const float fore = ufl_focal_value(q[1], t[v][1], UFL_SYMMETRIC, sc.gamma);
            fo[0] = fo[0] + ((one - sc.delta) * back + sc.delta * fore);
#else
#pragma unroll
            for (int g = 0; g < UFL_GROUP; ++g) {
                if (first_class + g < UFL_CLASSES) {
                    fo[g] = fo[g] + ufl_focal_value(q[g], t[v][g], modulated[g], sc.gamma);
                }
            }
#endif
#endif
        }
    }

#pragma unroll
    for (int g = 0; g < UFL_GROUP; ++g) {
        const unsigned int c = first_class + g;
        if (c >= UFL_CLASSES) break;  // uniform across the block
        const unsigned int plane = b * UFL_CLASSES + c;
        float* out = partial + ((size_t)plane * sc.chunks + chunk) * 4;
#if UFL_TVERSKY_ON
        const float s_tp = ufl_block_sum(tp[g], scratch);
        const float s_fn = ufl_block_sum(fn[g], scratch);
        const float s_fp = ufl_block_sum(fp[g], scratch);
#else
        const float s_tp = 0.0f, s_fn = 0.0f, s_fp = 0.0f;
#endif
#if UFL_FOCAL_ON
        const float s_fo = ufl_block_sum(fo[g], scratch);
#else
        const float s_fo = 0.0f;
#endif
        if (threadIdx.x == 0) {
            out[0] = s_tp;
            out[1] = s_fn;
            out[2] = s_fp;
            out[3] = s_fo;
        }
    }
}

// ---- pass 2: finalize ---------------------------------------------------------------------------

// The Tversky index of one (item, class) and the gradients of its statistics for an upstream
// g_ti, as Tversky::statistic_gradients: (g_TP, g_FN, g_FP).
struct UflTversky {
    float num;
    float den;
    float ti;
};

__device__ __forceinline__ UflTversky ufl_tversky(const float* st, float delta, float smooth) {
    UflTversky r;
    r.num = st[0] + smooth;
    r.den = ((st[0] + delta * st[1]) + (1.0f - delta) * st[2]) + smooth;
    r.ti = r.num / r.den;
    return r;
}

__device__ __forceinline__ void ufl_statistic_gradients(const UflTversky& tv, float delta,
                                                        float g_ti, float* coef) {
    const float g_num = g_ti / tv.den;
    const float g_den = g_ti * ((-tv.num / tv.den) / tv.den);
    coef[0] = g_num + g_den;
    coef[1] = delta * g_den;
    coef[2] = (1.0f - delta) * g_den;
}

extern "C" __global__ void __launch_bounds__(UFL_FINALIZE_THREADS)
ufl_finalize(const float* __restrict__ partial, const int* __restrict__ rare,
             const UflScalars sc, float* __restrict__ stats, float* __restrict__ coef,
             float* __restrict__ loss) {
    __shared__ float scratch[32];
    const unsigned int planes = sc.batch * UFL_CLASSES;
    for (unsigned int plane = 0; plane < planes; ++plane) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            float v = 0.0f;
            for (unsigned int k = threadIdx.x; k < sc.chunks; k += blockDim.x) {
                v = v + partial[((size_t)plane * sc.chunks + k) * 4 + j];
            }
            v = ufl_block_sum(v, scratch);
            if (threadIdx.x == 0) stats[plane * 4 + j] = v;
        }
    }
    if (threadIdx.x != 0) return;

    const float one = 1.0f;
    const float delta = sc.delta;
#if UFL_ORIGINAL
    float w_tversky = one, w_focal = one;
    if (sc.has_weight) {
        w_tversky = sc.lambda;
        w_focal = one - sc.lambda;
    }
    float tversky_part = 0.0f, focal_part = 0.0f;
#if UFL_TVERSKY_ON
    {
        const float count = (float)(2u * sc.batch);
        const float neg_gamma = -sc.gamma;
        float total = 0.0f;
        for (unsigned int b = 0; b < sc.batch; ++b) {
            for (unsigned int c = 0; c < 2; ++c) {
                const unsigned int plane = b * 2 + c;
                const UflTversky tv = ufl_tversky(stats + plane * 4, delta, sc.smooth);
                const float x = one - tv.ti;
                float value, dx;
                if (UFL_SYMMETRIC || c == 1) {
                    // x · x^(-γ), differentiated by the product rule as TensorFlow does.
                    const float f = ufl_pow(x, neg_gamma);
                    value = x * f;
                    dx = f + x * (neg_gamma * ufl_pow(x, neg_gamma - one));
                } else {
                    value = x;
                    dx = one;
                }
                total = total + value;
                const float g_ti = -(w_tversky * (dx / count));
                ufl_statistic_gradients(tv, delta, g_ti, coef + plane * 4);
            }
        }
        tversky_part = total / count;
    }
#endif
#if UFL_FOCAL_ON
    {
        const float count = (float)((unsigned long long)sc.batch * sc.spatial);
        float total = 0.0f;
        for (unsigned int b = 0; b < sc.batch; ++b) total = total + stats[(b * 2) * 4 + 3];
        focal_part = total / count;
        const float g_position = w_focal / count;
        for (unsigned int plane = 0; plane < planes; ++plane) coef[plane * 4 + 3] = g_position;
    }
#endif
#if UFL_TVERSKY_ON && UFL_FOCAL_ON
    loss[0] = sc.has_weight ? (w_tversky * tversky_part + w_focal * focal_part)
                            : (tversky_part + focal_part);
#elif UFL_TVERSKY_ON
    loss[0] = tversky_part;
#else
    loss[0] = focal_part;
#endif

#else  // paper
    const float lambda = sc.lambda;
    const float outer = (sc.reduction == UFL_REDUCTION_MEAN) ? one / (float)sc.batch : one;
    const float region = sc.class_mean ? one / (float)UFL_CLASSES : one;
    const float n = (float)sc.spatial;
    float total = 0.0f;
    for (unsigned int b = 0; b < sc.batch; ++b) {
        float item = 0.0f;
        for (unsigned int c = 0; c < UFL_CLASSES; ++c) {
            const unsigned int plane = b * UFL_CLASSES + c;
            const bool is_rare = rare[c] != 0;
            const float w = is_rare ? delta : one - delta;
            float value = 0.0f;
#if UFL_FOCAL_ON
            coef[plane * 4 + 3] = ((outer * lambda) * w) / n;
            value = value + lambda * ((w * stats[plane * 4 + 3]) / n);
#endif
#if UFL_TVERSKY_ON
            const UflTversky tv = ufl_tversky(stats + plane * 4, delta, sc.smooth);
            const float xr = one - tv.ti;
            float term, dterm;
            if (UFL_SYMMETRIC || is_rare) {
                const float e = one - sc.gamma;
                term = ufl_pow(xr, e);
                dterm = e * ufl_pow(xr, e - one);
            } else {
                term = xr;
                dterm = one;
            }
            value = value + (one - lambda) * (region * term);
            const float g_ti = -(((outer * (one - lambda)) * region) * dterm);
            ufl_statistic_gradients(tv, delta, g_ti, coef + plane * 4);
#endif
            if (sc.reduction == UFL_REDUCTION_PER_ITEM_CLASS) loss[plane] = value;
            item = item + value;
            total = total + value;
        }
        if (sc.reduction == UFL_REDUCTION_PER_ITEM) loss[b] = item;
    }
    if (sc.reduction == UFL_REDUCTION_MEAN) loss[0] = total / (float)sc.batch;
    if (sc.reduction == UFL_REDUCTION_SUM) loss[0] = total;
#endif
}

// ---- pass 3: gradient ---------------------------------------------------------------------------

// d(loss)/dq of one element of class c of item b, masked by the clip.
__device__ __forceinline__ float ufl_class_gradient(unsigned int b, unsigned int c, float p,
                                                    float t, const UflScalars& sc,
                                                    const float* __restrict__ coef,
                                                    const int* __restrict__ rare) {
    bool pass;
    const float q = ufl_clip(p, sc.lo, sc.hi, &pass);
    if (!pass) return 0.0f;
    const float* k = coef + (b * UFL_CLASSES + c) * 4;
    const float one = 1.0f;
    float g = 0.0f;
#if UFL_ORIGINAL
#if UFL_TVERSKY_ON
    g = g + ((t * k[0] - t * k[1]) + (one - t) * k[2]);
#endif
#if UFL_FOCAL_ON
    const float d = ufl_focal_derivative(q, t, UFL_SYMMETRIC || c == 0, sc.gamma);
    const float w = (c == 0) ? (one - sc.delta) : sc.delta;
    g = g + k[3] * (w * d);
#endif
#else
#if UFL_FOCAL_ON
    const float d = ufl_focal_derivative(q, t, UFL_SYMMETRIC || rare[c] == 0, sc.gamma);
    g = g + k[3] * d;
#endif
#if UFL_TVERSKY_ON
    g = g + ((t * k[0] - t * k[1]) + (one - t) * k[2]);
#endif
#endif
    return g;
}

// The gradient of element e of the input (in its layout).
__device__ __forceinline__ float ufl_element_gradient(unsigned int e, float p, float t,
                                                      const UflScalars& sc,
                                                      const float* __restrict__ coef,
                                                      const int* __restrict__ rare) {
    const unsigned int n = sc.spatial;
#if UFL_SINGLE_CHANNEL
    const unsigned int b = e / n;
    const float g1 = ufl_class_gradient(b, 1, p, t, sc, coef, rare);
    const float g0 = ufl_class_gradient(b, 0, 1.0f - p, 1.0f - t, sc, coef, rare);
    return g1 - g0;
#else
#if UFL_CHANNELS_LAST
    const unsigned int c = e % UFL_CHANNELS;
    const unsigned int b = (e / UFL_CHANNELS) / n;
#else
    const unsigned int c = (e / n) % UFL_CHANNELS;
    const unsigned int b = (e / n) / UFL_CHANNELS;
#endif
    if (c >= UFL_CLASSES) return 0.0f;  // original: classes >= 2 are never read
    return ufl_class_gradient(b, c, p, t, sc, coef, rare);
#endif
}

extern "C" __global__ void __launch_bounds__(UFL_GRAD_THREADS)
ufl_gradient(const float* __restrict__ pred, const float* __restrict__ target,
             const int* __restrict__ rare, const UflScalars sc, const float* __restrict__ coef,
             float* __restrict__ grad) {
    const unsigned int elements = sc.batch * sc.spatial * UFL_CHANNELS;
    const unsigned int e0 = (blockIdx.x * UFL_GRAD_THREADS + threadIdx.x) * UFL_GRAD_VEC;
    if (e0 >= elements) return;
#if UFL_GRAD_VEC == 4
    const float4 pv = *reinterpret_cast<const float4*>(pred + e0);
    const float4 tv = *reinterpret_cast<const float4*>(target + e0);
    float4 out;
    out.x = ufl_element_gradient(e0, pv.x, tv.x, sc, coef, rare);
    out.y = ufl_element_gradient(e0 + 1, pv.y, tv.y, sc, coef, rare);
    out.z = ufl_element_gradient(e0 + 2, pv.z, tv.z, sc, coef, rare);
    out.w = ufl_element_gradient(e0 + 3, pv.w, tv.w, sc, coef, rare);
    *reinterpret_cast<float4*>(grad + e0) = out;
#else
    grad[e0] = ufl_element_gradient(e0, pred[e0], target[e0], sc, coef, rare);
#endif
}
