// Depthwise conv2d (groups = c_in, channel multiplier cm = c_out / c_in), direct kernels.
// Output channel co reads input channel co / cm; each dot product is only kh·kw long, so a
// GEMM tile would sit mostly idle.
//
// forward:         y[img, co, oh, ow] = bias[co] + Σ_{r,s} w[co, 0, r, s] · x[img, co/cm, ih, iw]
//                  one invocation per OWT consecutive outputs of a row.
// backward_data:   dx[img, c, ih, iw] = Σ_{k<cm, r, s} w[c·cm + k, 0, r, s] · dy[img, c·cm + k, oh, ow]
//                  over the taps whose (oh, ow) land on the output grid; one invocation per
//                  OWT consecutive inputs of a row.
// backward_filter: parts[split, co, 0, r, s] = Σ over the split's rows (img, oh) and columns ow
//                  (common/conv2d_params.wgsl) of x[img, co/cm, ih, iw] · dy[img, co, oh, ow]; one
//                  invocation per (split, co, r, s); conv2d_reduce.wgsl::sum_splits adds the
//                  splits in order.
// with ih = oh·sh − pt + r·dh, iw = ow·sw − pl + s·dw (0 outside the input).
//
// K-slices (common/conv2d_params.wgsl) and loop passes per invocation (every loop rolled,
// gpu/loops.rs):
//   forward          unit: segments of window rows r, 2 + seg·(OWT + 2) passes each; OWT + 2
//                    outside
//   backward_data    unit: segments of the rows of pairs (r, k) of window row and multiplier,
//                    as forward
//   backward_filter  unit: rows of the split's chunk, cols_per_split + 2 each; 1 outside
//
// Bindings: 0 Params; 1 a (x, or dy for backward_data); 2 b (w, or dy for backward_filter);
//           3 bias (forward only; read when has_bias = 1); 4 out (y, dx or parts).
// Overrides: WG invocations per workgroup. Grid x·y (folded) = ceil(invocations / WG).

// #include common/conv2d_params.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The uniform block of every direct conv2d shader (conv2d_forward, _backward_data,
// _backward_filter, _depthwise, _reduce, _texture, _texture_pack).
//
// K-slices (the loop budget, gpu/loops.rs): a dispatch reduces only [k_begin, k_end) of its
// reduction, in the unit its kernel's header names. The kernels only write: the first slice
// writes the output (with the bias), later ones a temporary that elementwise.wgsl's
// accumulate adds in, applying the activation after the last (sum_splits, memory-bound,
// adds in place when accumulate = 1). act is set only when there is one slice.
// Windowed kernels count units of window-row segments: unit u = row·segs + g is segment g, the
// taps [g·seg, (g + 1)·seg) ∩ [0, kw), of its window row (one segment unless a row is longer
// than the budget allows).
// The filter gradients cut their reduction over output rows and columns into
// splits = row splits · col_splits chunks of rows_per_split rows × cols_per_split columns.
// The texture kernels place image i's padded window extent, cell_w × cell_h texels, at cell
// (i % cells, i / cells) of their input texture.
struct Params {
    n: u32, c_in: u32, h_in: u32, w_in: u32,
    c_out: u32, h_out: u32, w_out: u32, groups: u32,
    kh: u32, kw: u32, stride_h: u32, stride_w: u32,
    dil_h: u32, dil_w: u32, pad_top: u32, pad_left: u32,
    has_bias: u32, splits: u32, rows_per_split: u32, len: u32,
    act: u32, alpha: f32, k_begin: u32, k_end: u32,
    accumulate: u32, col_splits: u32, cols_per_split: u32, seg: u32,
    segs: u32, cells: u32, cell_w: u32, cell_h: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// #end common/conv2d_params.wgsl

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG: u32 = 64u;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

// Consecutive outputs of one row computed by one forward invocation: each tap's weight is
// loaded once for all of them.
const OWT: u32 = 8u;

@compute @workgroup_size(WG)
fn forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_out = p.h_out * p.w_out;
    let segs = (p.w_out + OWT - 1u) / OWT; // row segments per output row
    let idx = linear(wid, nwg, lid, WG);
    if (idx >= p.n * p.c_out * p.h_out * segs) {
        return;
    }
    let ow0 = (idx % segs) * OWT;
    let row = idx / segs; // (img, co, oh)
    let oh = row % p.h_out;
    let co = (row / p.h_out) % p.c_out;
    let img = row / (p.h_out * p.c_out);
    let cm = p.c_out / p.c_in;
    let xbase = (img * p.c_in + co / cm) * p.h_in * p.w_in;
    let ih0 = i32(oh * p.stride_h) - i32(p.pad_top);
    let iw0 = i32(ow0 * p.stride_w) - i32(p.pad_left);
    var acc: array<f32, OWT>;
    // Units u = r·segs + g: segment g of window row r (common/conv2d_params.wgsl).
    var g = p.k_begin % p.segs;
    var r = p.k_begin / p.segs;
    for (var u = p.k_begin; u < p.k_end; u++) {
        let ih = u32(ih0 + i32(r * p.dil_h));
        if (ih < p.h_in) {
            let xrow = xbase + ih * p.w_in;
            let s0 = g * p.seg;
            for (var s = s0; s < min(s0 + p.seg, p.kw); s++) {
                let wv = b[(co * p.kh + r) * p.kw + s];
                let iw_s = iw0 + i32(s * p.dil_w);
                for (var j = 0u; j < OWT; j++) {
                    let iw = u32(iw_s + i32(j * p.stride_w));
                    if (iw < p.w_in) {
                        acc[j] = fma(wv, a[xrow + iw], acc[j]);
                    }
                }
            }
        }
        g++;
        if (g == p.segs) {
            g = 0u;
            r++;
        }
    }
    let bias_v = select(0.0, bias[co], p.has_bias != 0u);
    let out_row = (img * p.c_out + co) * hw_out + oh * p.w_out;
    for (var j = 0u; j < OWT; j++) {
        if (ow0 + j < p.w_out) {
            out[out_row + ow0 + j] = activate(acc[j] + bias_v, p.act, p.alpha);
        }
    }
}

@compute @workgroup_size(WG)
fn backward_data(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let segs = (p.w_in + OWT - 1u) / OWT; // row segments per input row
    let idx = linear(wid, nwg, lid, WG);
    if (idx >= p.n * p.c_in * p.h_in * segs) {
        return;
    }
    let iw0 = (idx % segs) * OWT;
    let row = idx / segs; // (img, c, ih)
    let ih = row % p.h_in;
    let c = (row / p.h_in) % p.c_in;
    let img = row / (p.h_in * p.c_in);
    let cm = p.c_out / p.c_in;
    let th = i32(ih + p.pad_top);
    let tw0 = i32(iw0 + p.pad_left);
    var acc: array<f32, OWT>;
    // Units u = (r·cm + k)·segs + g: segment g of the taps of window row r for multiplier k.
    var g = p.k_begin % p.segs;
    let pair = p.k_begin / p.segs;
    var r = pair / cm;
    var k = pair % cm;
    for (var u = p.k_begin; u < p.k_end; u++) {
        // The output row tap r reads this input row from, if it lands on the grid.
        let t = th - i32(r * p.dil_h);
        let oh = u32(t) / p.stride_h;
        if (t >= 0 && u32(t) % p.stride_h == 0u && oh < p.h_out) {
            let co = c * cm + k;
            let dyrow = (img * p.c_out + co) * hw_out + oh * p.w_out;
            let s0 = g * p.seg;
            for (var s = s0; s < min(s0 + p.seg, p.kw); s++) {
                let wv = b[(co * p.kh + r) * p.kw + s];
                let t0 = tw0 - i32(s * p.dil_w);
                for (var j = 0u; j < OWT; j++) {
                    let t = t0 + i32(j);
                    let ow = u32(t) / p.stride_w;
                    if (t >= 0 && u32(t) % p.stride_w == 0u && ow < p.w_out) {
                        acc[j] = fma(wv, a[dyrow + ow], acc[j]);
                    }
                }
            }
        }
        g++;
        if (g == p.segs) {
            g = 0u;
            k++;
            if (k == cm) {
                k = 0u;
                r++;
            }
        }
    }
    let out_row = (img * p.c_in + c) * hw_in + ih * p.w_in;
    for (var j = 0u; j < OWT; j++) {
        if (iw0 + j < p.w_in) {
            out[out_row + iw0 + j] = acc[j];
        }
    }
}

@compute @workgroup_size(WG)
fn backward_filter(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let khkw = p.kh * p.kw;
    let len = p.c_out * khkw;
    let idx = linear(wid, nwg, lid, WG);
    if (idx >= p.splits * len) {
        return;
    }
    let split = idx / len;
    let e = idx % len;
    let co = e / khkw;
    let r = (e % khkw) / p.kw;
    let s = e % p.kw;
    let cm = p.c_out / p.c_in;
    let hw_in = p.h_in * p.w_in;
    let hw_out = p.h_out * p.w_out;
    let dr = i32(r * p.dil_h) - i32(p.pad_top);
    let ds = i32(s * p.dil_w) - i32(p.pad_left);
    let chunk0 = (split / p.col_splits) * p.rows_per_split;
    let row0 = chunk0 + p.k_begin;
    let row1 = min(chunk0 + p.k_end, p.n * p.h_out);
    let ow0 = (split % p.col_splits) * p.cols_per_split;
    let ow1 = min(ow0 + p.cols_per_split, p.w_out);
    var sum = 0.0;
    for (var row = row0; row < row1; row++) {
        let img = row / p.h_out;
        let oh = row % p.h_out;
        let ih = u32(i32(oh * p.stride_h) + dr);
        if (ih >= p.h_in) {
            continue;
        }
        let xrow = (img * p.c_in + co / cm) * hw_in + ih * p.w_in;
        let dyrow = (img * p.c_out + co) * hw_out + oh * p.w_out;
        for (var ow = ow0; ow < ow1; ow++) {
            let iw = u32(i32(ow * p.stride_w) + ds);
            if (iw < p.w_in) {
                sum = fma(a[xrow + iw], b[dyrow + ow], sum);
            }
        }
    }
    out[idx] = sum;
}

// #include common/activation.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The fused activation of the conv epilogues (act: 0 none, 1 ReLU, 2 LeakyReLU(alpha),
// 3 ELU(alpha), 4 tanh, 5 sigmoid, 6 ReLU6), in the same overflow-free forms as elementwise.wgsl.
// A NaN stays NaN for every activation (PyTorch); tested on the bits, since WGSL leaves NaN
// comparisons and max / min to the implementation, and chosen with a select (no per-lane
// branch in the epilogue).
fn activate(v: f32, act: u32, alpha: f32) -> f32 {
    var y = v;
    switch act {
        case 0u: { y = v; }
        case 1u: { y = max(v, 0.0); }
        case 2u: { y = select(alpha * v, v, v > 0.0); }
        case 3u: { y = select(alpha * (exp(min(v, 0.0)) - 1.0), v, v > 0.0); }
        case 4u: { let e = exp(-2.0 * abs(v)); y = sign(v) * (1.0 - e) / (1.0 + e); }
        case 6u: { y = min(max(v, 0.0), 6.0); }
        default: { let e = exp(-abs(v)); y = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0); }
    }
    return select(y, v, (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u);
}
// #end common/activation.wgsl
