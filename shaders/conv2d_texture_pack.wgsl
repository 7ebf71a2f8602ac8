// The operands of conv2d_texture.wgsl, packed into rgba32float texture arrays.
//
// pack_input   x of group grp, channels 4·c4 .. 4·c4 + 3, at layer grp·cg4 + c4 (cg4 = ⌈cg / 4⌉).
//              Image i fills cell (i % cells, i / cells), cell_w × cell_h texels: the part of
//              its padded plane that the windows reach, texel (u, v) of a cell holding
//              x[i, c, (v − pad_top) / stride_h, (u − pad_left) / stride_w] where both divide,
//              else 0 (the padding, the gaps, past the channels and in cells past the last
//              image). The forward packs x with strides 1; dX packs dy spread by the conv's
//              strides, the input of the stride-1 conv that dX is (gpu/texture.rs). Neighbouring
//              invocations take neighbouring texels of a row (neighbouring elements of x).
//              Grid: x·y (folded) = ⌈width · height / 64⌉, z = groups · cg4.
// pack_filter  w of group grp at layer grp: texel (x, y) holds output channels 4x .. 4x + 3 of
//              the group at row y = ((r·kw + s)·cg4 + c4)·4 + e, that is input channel
//              4·c4 + e at tap (r, s); 0 past the group's channels (in and out).
//              Grid: x·y (folded) = ⌈width · height / 64⌉, z = groups.
// pack_filter_flipped  the same for dX's conv, whose Params swap c_in and c_out: its output
//              channel co is the conv's input channel, its input channel c the conv's output
//              channel, and its tap (r, s) the conv's tap (kh − 1 − r, kw − 1 − s).
// Loop passes per invocation: 5 (the 4 channels).
//
// Bindings: 0 Params; 1 src (x or w); 2 the texture (write).

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

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

@compute @workgroup_size(64)
fn pack_input(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let width = p.cells * p.cell_w;
    let height = ((p.n + p.cells - 1u) / p.cells) * p.cell_h;
    let e = linear(wid, nwg, lid, 64u);
    if (e >= width * height) {
        return;
    }
    let tx = e % width;
    let ty = e / width;
    let img = (ty / p.cell_h) * p.cells + tx / p.cell_w;
    let vh = ty % p.cell_h;
    let vw = tx % p.cell_w;
    // In the padding vh < pad_top: the difference wraps to a huge u32, clamped here so that
    // the quotient cannot come back in range; `inside` rejects it.
    let sh = min(vh - p.pad_top, p.cell_h);
    let sw = min(vw - p.pad_left, p.cell_w);
    let ih = sh / p.stride_h;
    let iw = sw / p.stride_w;
    let inside = vh >= p.pad_top && vw >= p.pad_left && sh % p.stride_h == 0u
        && sw % p.stride_w == 0u && ih < p.h_in && iw < p.w_in;
    let cg = p.c_in / p.groups;
    let cg4 = (cg + 3u) / 4u;
    let grp = wid.z / cg4;
    let c0 = (wid.z % cg4) * 4u;
    var v = vec4<f32>();
    if (img < p.n && inside) {
        let base = ((img * p.c_in + grp * cg + c0) * p.h_in + ih) * p.w_in + iw;
        for (var i = 0u; i < 4u; i++) {
            if (c0 + i < cg) {
                v[i] = src[base + i * p.h_in * p.w_in];
            }
        }
    }
    textureStore(dst, vec2<u32>(tx, ty), wid.z, v);
}

@compute @workgroup_size(64)
fn pack_filter(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    pack_filter_texel(linear(wid, nwg, lid, 64u), wid.z, false);
}

@compute @workgroup_size(64)
fn pack_filter_flipped(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    pack_filter_texel(linear(wid, nwg, lid, 64u), wid.z, true);
}

// Texel e of group grp's layer; `flipped`: of dX's conv (the header).
fn pack_filter_texel(e: u32, grp: u32, flipped: bool) {
    let cg = p.c_in / p.groups;
    let cog = p.c_out / p.groups;
    let cg4 = (cg + 3u) / 4u;
    let width = (cog + 3u) / 4u;
    let height = p.kh * p.kw * cg4 * 4u;
    if (e >= width * height) {
        return;
    }
    let tx = e % width;
    let ty = e / width;
    let c = ((ty / 4u) % cg4) * 4u + ty % 4u;
    let tap = ty / (4u * cg4);
    var v = vec4<f32>();
    if (c < cg) {
        let khkw = p.kh * p.kw;
        for (var i = 0u; i < 4u; i++) {
            let co = 4u * tx + i;
            if (co < cog) {
                // w[grp·cog + co, c, tap], or for dX w[grp·cg + c, co, khkw − 1 − tap].
                var at = ((grp * cog + co) * cg + c) * khkw + tap;
                if (flipped) {
                    at = ((grp * cg + c) * cog + co) * khkw + khkw - 1u - tap;
                }
                v[i] = src[at];
            }
        }
    }
    textureStore(dst, vec2<u32>(tx, ty), grp, v);
}
