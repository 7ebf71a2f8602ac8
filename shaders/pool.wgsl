// 2-D pooling, forward and backward, NCHW. Direct kernels: one invocation per output element
// (forward) or per input element (backward, which gathers from the windows that contain it, so
// overlapping windows sum without atomics).
//
// Window of output (oh, ow): rows oh·sh − pt + r·dh (r < kh), columns ow·sw − pl + s·dw (s < kw);
// taps outside the input are padding: −∞ for max, 0 for average.
//
// Bands (the loop budget, gpu/loops.rs): each entry walks a range of rows (named below),
// each row a range of columns, as units u = j·segs + g: row j of the range (counted from its
// start) and its g-th segment of `seg` columns (one segment a row unless rows are longer than
// the budget allows). A dispatch runs units [k_begin, k_end); with accumulate = 1 it continues
// from what the previous band stored (the running sum, or the maximum and its index), and the
// averages divide only when finish = 1. Loop passes per invocation:
// (k_end − k_begin)·(seg + 2) + 1; channel_max_forward (its units are channels)
// k_end − k_begin + 1.
//
// max_forward            y = max over the window; idx = flat h·W + w of the maximum in row-major
//                        window order: the first of equal values, a NaN beating every number
//                        and a later NaN replacing an earlier one (PyTorch), decided on the bits
//                        (WGSL leaves NaN comparisons to the implementation); as an exact f32
//                        integer. Rows: the window's kh; columns: its kw taps.
// max_backward           dx[ih, iw] = Σ dy over the windows whose idx is this element. Rows
//                        and columns: of the windows that contain the element.
// max_backward_cells     the same where windows cannot overlap (dilation 1, kernel ≤ stride):
//                        one invocation per output owns its stride cell of dx, rows
//                        [oh·sh − pt, (oh+1)·sh − pt) clipped to the input (the last cells
//                        run to its edge), and writes dy at idx and 0 elsewhere: the cells
//                        tile dx exactly, with no search and a few divisions per output
//                        instead of per input element. Rows and columns: the cell's.
// avg_forward            y = Σ window / divisor: with count_include_pad = 1 the taps inside the
//                        padded input (kh·kw but for a ceil-mode overhang, as PyTorch), else the
//                        real elements; taps dilated as max's (ONNX AveragePool `dilations`).
//                        Rows and columns as max_forward.
// avg_backward           dx = Σ dy / divisor over the windows containing this element. Rows
//                        and columns as max_backward.
// adaptive_forward       window rows [⌊oh·H/Ho⌋, ⌈(oh+1)·H/Ho⌉), likewise columns; y = mean.
//                        Rows and columns: the window's.
// adaptive_backward      dx = Σ dy / window size over the windows containing this element.
//                        Rows and columns: the candidate windows.
// channel_max_forward    y[n, g, h, w] = max over channels g·k … g·k + k − 1; idx = that channel
//                        (NaN as max_forward). Band over the k channels.
// channel_max_backward   dx[n, c, h, w] = dy[n, c / k, h, w] where idx is c, else 0.
//
// Bindings: 0 Params; 1 src (x or dy); 2 aux (idx for the max backwards); 3 dst (y or dx);
//           4 dst_idx (idx for the max forwards).
// Overrides: WG invocations per workgroup. Grid x·y (folded) = ceil(elements / WG), elements
// being the outputs of the forwards and of max_backward_cells, the inputs of the backwards.

struct Params {
    n: u32, c: u32, h_in: u32, w_in: u32,
    h_out: u32, w_out: u32, kh: u32, kw: u32,
    stride_h: u32, stride_w: u32, dil_h: u32, dil_w: u32,
    pad_top: u32, pad_left: u32, pad_bottom: u32, pad_right: u32,
    count_include_pad: u32, k: u32, len: u32, no_idx: u32,
    k_begin: u32, k_end: u32, accumulate: u32, finish: u32,
    seg: u32, segs: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst_idx: array<f32>;

override WG: u32 = 64u;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

// Where a band's walk stands: row j of the range, column segment g of the row.
struct Cursor {
    j: u32,
    g: u32,
}

fn first_unit() -> Cursor {
    return Cursor(p.k_begin / p.segs, p.k_begin % p.segs);
}

fn next_unit(c: Cursor) -> Cursor {
    if (c.g + 1u == p.segs) {
        return Cursor(c.j + 1u, 0u);
    }
    return Cursor(c.j, c.g + 1u);
}

// Columns of segment g within a row's columns [first, end).
fn seg_cols(g: u32, first: u32, end: u32) -> vec2<u32> {
    let lo = min(first + g * p.seg, end);
    return vec2<u32>(lo, min(lo + p.seg, end));
}

// NaN from its bits: comparisons with NaN are left to the implementation in WGSL.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Whether tap value v replaces the running maximum `best` (PyTorch: a greater value or any NaN).
fn beats(v: f32, best: f32) -> bool {
    return is_nan(v) || (!is_nan(best) && v > best);
}

// The windows along one axis that contain padded coordinate t = i + pad: outputs o in
// [lo, hi] with tap (t − o·stride)/dil < k landing exactly. Returns (lo, hi + 1); one division
// per axis instead of one per tap (integer division is slow on SIMD CPUs).
fn windows_of(t: u32, stride: u32, dil: u32, k: u32, size: u32) -> vec2<u32> {
    let hi = min(t / stride + 1u, size);
    let reach = (k - 1u) * dil; // a window starting at o·stride covers up to o·stride + reach
    let lo = select(0u, (t - reach + stride - 1u) / stride, t > reach);
    return vec2<u32>(min(lo, hi), hi);
}

// Tap index of padded coordinate t in the window of output o, or k when t is between taps.
fn tap_of(t: u32, o: u32, stride: u32, dil: u32, k: u32) -> u32 {
    let off = t - o * stride;
    if (dil == 1u) {
        return min(off, k);
    }
    return select(k, off / dil, off % dil == 0u);
}

@compute @workgroup_size(WG)
fn max_forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_out = p.h_out * p.w_out;
    if (idx >= p.n * p.c * hw_out) {
        return;
    }
    let base = (idx / hw_out) * p.h_in * p.w_in;
    let oh = (idx % hw_out) / p.w_out;
    let ow = idx % p.w_out;
    var best = 0.0;
    var at = -1;
    if (p.accumulate != 0u) {
        best = dst[idx];
        at = i32(dst_idx[idx]);
    }
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let ih = u32(i32(oh * p.stride_h + cur.j * p.dil_h) - i32(p.pad_top));
        let taps = seg_cols(cur.g, 0u, p.kw);
        if (ih < p.h_in) {
            for (var s = taps.x; s < taps.y; s++) {
                let iw = u32(i32(ow * p.stride_w + s * p.dil_w) - i32(p.pad_left));
                if (iw >= p.w_in) {
                    continue;
                }
                let v = src[base + ih * p.w_in + iw];
                if (at < 0 || beats(v, best)) {
                    best = v;
                    at = i32(ih * p.w_in + iw);
                }
            }
        }
        cur = next_unit(cur);
    }
    dst[idx] = best;
    // Inference needs no arg-max: skip the index store (and its buffer).
    if (p.no_idx == 0u) {
        dst_idx[idx] = f32(at);
    }
}

@compute @workgroup_size(WG)
fn max_backward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_in = p.h_in * p.w_in;
    if (idx >= p.n * p.c * hw_in) {
        return;
    }
    let plane_out = (idx / hw_in) * p.h_out * p.w_out;
    let pix = idx % hw_in;
    let th = pix / p.w_in + p.pad_top;
    let tw = pix % p.w_in + p.pad_left;
    let rows = windows_of(th, p.stride_h, p.dil_h, p.kh, p.h_out);
    let cols = windows_of(tw, p.stride_w, p.dil_w, p.kw, p.w_out);
    var sum = select(0.0, dst[idx], p.accumulate != 0u);
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let oh = rows.x + cur.j;
        let seg = seg_cols(cur.g, cols.x, cols.y);
        if (oh < rows.y && tap_of(th, oh, p.stride_h, p.dil_h, p.kh) < p.kh) {
            for (var ow = seg.x; ow < seg.y; ow++) {
                if (tap_of(tw, ow, p.stride_w, p.dil_w, p.kw) >= p.kw) {
                    continue;
                }
                let o = plane_out + oh * p.w_out + ow;
                if (u32(aux[o]) == pix) {
                    sum += src[o];
                }
            }
        }
        cur = next_unit(cur);
    }
    dst[idx] = sum;
}

// Cell [start, end) along one axis of output o (see max_backward_cells); empty (end = start)
// for a cell wholly in the padding.
fn cell(o: u32, stride: u32, pad: u32, size: u32, outputs: u32) -> vec2<u32> {
    let start = max(i32(o * stride) - i32(pad), 0);
    let end = select(i32((o + 1u) * stride) - i32(pad), i32(size), o + 1u == outputs);
    return vec2<u32>(u32(start), u32(clamp(end, start, i32(size))));
}

@compute @workgroup_size(WG)
fn max_backward_cells(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_out = p.h_out * p.w_out;
    if (idx >= p.n * p.c * hw_out) {
        return;
    }
    let plane = idx / hw_out;
    let pix = idx - plane * hw_out;
    let oh = pix / p.w_out;
    let ow = pix - oh * p.w_out;
    let rows = cell(oh, p.stride_h, p.pad_top, p.h_in, p.h_out);
    let cols = cell(ow, p.stride_w, p.pad_left, p.w_in, p.w_out);
    let at = i32(aux[idx]);
    let g = src[idx];
    let base = plane * p.h_in * p.w_in;
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let r = rows.x + cur.j;
        let seg = seg_cols(cur.g, cols.x, cols.y);
        if (r < rows.y) {
            for (var c = seg.x; c < seg.y; c++) {
                let e = r * p.w_in + c;
                dst[base + e] = select(0.0, g, i32(e) == at);
            }
        }
        cur = next_unit(cur);
    }
}

// Taps t < k of a window starting at padded coordinate `start`, spaced `dil`, that land in
// the padded coordinates [lo, hi).
fn taps_in(start: u32, dil: u32, k: u32, lo: u32, hi: u32) -> u32 {
    if (hi <= start) {
        return 0u;
    }
    let first = select(0u, (lo - start + dil - 1u) / dil, lo > start);
    let end = min(k, (hi - start + dil - 1u) / dil);
    return select(0u, end - first, end > first);
}

// Divisor of average window (oh, ow).
fn divisor(oh: u32, ow: u32) -> f32 {
    let h0 = oh * p.stride_h;
    let w0 = ow * p.stride_w;
    if (p.count_include_pad != 0u) {
        let rows = taps_in(h0, p.dil_h, p.kh, 0u, p.h_in + p.pad_top + p.pad_bottom);
        let cols = taps_in(w0, p.dil_w, p.kw, 0u, p.w_in + p.pad_left + p.pad_right);
        return f32(rows * cols);
    }
    let rows = taps_in(h0, p.dil_h, p.kh, p.pad_top, p.pad_top + p.h_in);
    let cols = taps_in(w0, p.dil_w, p.kw, p.pad_left, p.pad_left + p.w_in);
    return f32(rows * cols);
}

@compute @workgroup_size(WG)
fn avg_forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_out = p.h_out * p.w_out;
    if (idx >= p.n * p.c * hw_out) {
        return;
    }
    let base = (idx / hw_out) * p.h_in * p.w_in;
    let oh = (idx % hw_out) / p.w_out;
    let ow = idx % p.w_out;
    var sum = select(0.0, dst[idx], p.accumulate != 0u);
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let ih = u32(i32(oh * p.stride_h + cur.j * p.dil_h) - i32(p.pad_top));
        let taps = seg_cols(cur.g, 0u, p.kw);
        if (ih < p.h_in) {
            for (var s = taps.x; s < taps.y; s++) {
                let iw = u32(i32(ow * p.stride_w + s * p.dil_w) - i32(p.pad_left));
                if (iw < p.w_in) {
                    sum += src[base + ih * p.w_in + iw];
                }
            }
        }
        cur = next_unit(cur);
    }
    dst[idx] = select(sum, sum / divisor(oh, ow), p.finish != 0u);
}

@compute @workgroup_size(WG)
fn avg_backward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_in = p.h_in * p.w_in;
    if (idx >= p.n * p.c * hw_in) {
        return;
    }
    let plane_out = (idx / hw_in) * p.h_out * p.w_out;
    let pix = idx % hw_in;
    let th = pix / p.w_in + p.pad_top;
    let tw = pix % p.w_in + p.pad_left;
    let rows = windows_of(th, p.stride_h, p.dil_h, p.kh, p.h_out);
    let cols = windows_of(tw, p.stride_w, p.dil_w, p.kw, p.w_out);
    var sum = select(0.0, dst[idx], p.accumulate != 0u);
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let oh = rows.x + cur.j;
        let seg = seg_cols(cur.g, cols.x, cols.y);
        if (oh < rows.y && tap_of(th, oh, p.stride_h, p.dil_h, p.kh) < p.kh) {
            for (var ow = seg.x; ow < seg.y; ow++) {
                if (tap_of(tw, ow, p.stride_w, p.dil_w, p.kw) < p.kw) {
                    sum += src[plane_out + oh * p.w_out + ow] / divisor(oh, ow);
                }
            }
        }
        cur = next_unit(cur);
    }
    dst[idx] = sum;
}

@compute @workgroup_size(WG)
fn adaptive_forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_out = p.h_out * p.w_out;
    if (idx >= p.n * p.c * hw_out) {
        return;
    }
    let base = (idx / hw_out) * p.h_in * p.w_in;
    let oh = (idx % hw_out) / p.w_out;
    let ow = idx % p.w_out;
    let h0 = oh * p.h_in / p.h_out;
    let h1 = ((oh + 1u) * p.h_in + p.h_out - 1u) / p.h_out;
    let w0 = ow * p.w_in / p.w_out;
    let w1 = ((ow + 1u) * p.w_in + p.w_out - 1u) / p.w_out;
    var sum = select(0.0, dst[idx], p.accumulate != 0u);
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let ih = h0 + cur.j;
        let seg = seg_cols(cur.g, w0, w1);
        if (ih < h1) {
            for (var iw = seg.x; iw < seg.y; iw++) {
                sum += src[base + ih * p.w_in + iw];
            }
        }
        cur = next_unit(cur);
    }
    dst[idx] = select(sum, sum / f32((h1 - h0) * (w1 - w0)), p.finish != 0u);
}

@compute @workgroup_size(WG)
fn adaptive_backward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw_in = p.h_in * p.w_in;
    if (idx >= p.n * p.c * hw_in) {
        return;
    }
    // Global pooling (1×1 output): every element's one window is its plane, and the search
    // below (eight divisions) reduces to one.
    if (p.h_out == 1u && p.w_out == 1u) {
        dst[idx] = src[idx / hw_in] / f32(hw_in);
        return;
    }
    let plane_out = (idx / hw_in) * p.h_out * p.w_out;
    let ih = (idx % hw_in) / p.w_in;
    let iw = idx % p.w_in;
    // The windows that can contain ih lie within one of ih·Ho/H.
    let oh_lo = max(ih * p.h_out / p.h_in, 1u) - 1u;
    let oh_hi = min(((ih + 1u) * p.h_out + p.h_in - 1u) / p.h_in + 1u, p.h_out);
    let ow_lo = max(iw * p.w_out / p.w_in, 1u) - 1u;
    let ow_hi = min(((iw + 1u) * p.w_out + p.w_in - 1u) / p.w_in + 1u, p.w_out);
    var sum = select(0.0, dst[idx], p.accumulate != 0u);
    var cur = first_unit();
    for (var u = p.k_begin; u < p.k_end; u++) {
        let oh = oh_lo + cur.j;
        let seg = seg_cols(cur.g, ow_lo, ow_hi);
        let h0 = oh * p.h_in / p.h_out;
        let h1 = ((oh + 1u) * p.h_in + p.h_out - 1u) / p.h_out;
        if (oh < oh_hi && ih >= h0 && ih < h1) {
            for (var ow = seg.x; ow < seg.y; ow++) {
                let w0 = ow * p.w_in / p.w_out;
                let w1 = ((ow + 1u) * p.w_in + p.w_out - 1u) / p.w_out;
                if (iw >= w0 && iw < w1) {
                    sum += src[plane_out + oh * p.w_out + ow] / f32((h1 - h0) * (w1 - w0));
                }
            }
        }
        cur = next_unit(cur);
    }
    dst[idx] = sum;
}

@compute @workgroup_size(WG)
fn channel_max_forward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw = p.h_in * p.w_in;
    let groups = p.c / p.k;
    if (idx >= p.n * groups * hw) {
        return;
    }
    let pix = idx % hw;
    let grp = (idx / hw) % groups;
    let img = idx / (hw * groups);
    var best = 0.0;
    var at = 0u;
    let first = select(p.k_begin, p.k, p.accumulate != 0u);
    if (p.accumulate != 0u) {
        best = dst[idx];
        at = u32(dst_idx[idx]);
    }
    for (var j = p.k_begin; j < p.k_end; j++) {
        let ch = grp * p.k + j;
        let v = src[(img * p.c + ch) * hw + pix];
        if (j == first || beats(v, best)) {
            best = v;
            at = ch;
        }
    }
    dst[idx] = best;
    // Inference needs no arg-max: skip the index store (and its buffer).
    if (p.no_idx == 0u) {
        dst_idx[idx] = f32(at);
    }
}

@compute @workgroup_size(WG)
fn channel_max_backward(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear(wid, nwg, lid, WG);
    let hw = p.h_in * p.w_in;
    if (idx >= p.n * p.c * hw) {
        return;
    }
    let pix = idx % hw;
    let ch = (idx / hw) % p.c;
    let img = idx / (hw * p.c);
    let o = (img * (p.c / p.k) + ch / p.k) * hw + pix;
    dst[idx] = select(0.0, src[o], u32(aux[o]) == ch);
}
