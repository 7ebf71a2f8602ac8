// Reductions and losses. Every sum runs in a fixed order, so results are bit-reproducible.
//
// Rows: `rows` rows of `cols` values, row-major; per-row entries run one invocation per row.
// reduce_axis     x viewed as [outer, len, inner], reduced in chunks of `chunk` along len:
//                 dst[(o·chunks + c)·inner + i] = reduction over l in [c·chunk, (c + 1)·chunk)
//                 ∩ [0, len) of term(o, l, i) (chunks = ⌈len / chunk⌉; one chunk is the whole
//                 axis). The host reduces the chunks again until one is left (the loop
//                 budget, gpu/loops.rs). One invocation per output, in index order.
//                 op 0 sum, 1 mean (the sum / total), 2 max: dst2 = arg-max l, the first
//                 maximum, a NaN counting as larger than any number (torch.max); with carry = 1
//                 src holds an earlier level's maxima and aux their arg-max, 3 Σ exp(x − aux[r])
//                 (softmax denominators, r = o·inner + i the row), 4 the count of l ranking
//                 before the target t = aux[r]: x_l > x_t, or equal with l < t (top-k hits),
//                 5 Σ x·aux over the same index (a softmax backward's row dot product).
//                 Loop passes per invocation: chunk + 1.
// reduce_axis_tree the same for long axes with few outputs: one workgroup per output, each
//                 invocation a fixed stride of the chunk, then a fixed tree (for max: the larger
//                 value, the smaller index on ties, so the first maximum wins). Loop passes
//                 per invocation: ⌈chunk / WG⌉ + 1 (the tree's trip count is constant).
// sum_all         dst[g] = scale · Σ src over chunk g of `chunk` values: one workgroup per
//                 chunk; each invocation sums a fixed stride, then a fixed tree in workgroup
//                 memory. Loop passes per invocation: ⌈chunk / WG⌉ + 1.
// rows_apply      one invocation per element of x [rows, cols] with aux = [row max | row Σexp]
//                 (reduce_axis ops 2 and 3): op 0 softmax, 1 log-softmax, 2 the
//                 cross-entropy gradient (as softmax_xent; dst2[r] = the row's loss, written by
//                 the target's invocation; the targets follow the statistics in aux:
//                 aux[2·rows + r]), 3 top-k hits: dst2[r] = 1 if src[r] < k (src = the counts of
//                 op 4, one invocation per row), 4 the softmax backward: src = y, aux = [row
//                 Σ y·dy | dy], dst[e] = y·(dy − Σ). Long rows take these instead of the
//                 per-row entries below. Op 6 scales rows: dst[e] = src[e] · aux[row] (a
//                 channel gate; its gradient's row sums are reduce_axis op 5).
// softmax         dst = softmax(src) per row (op 0) or log_softmax (op 1), row max subtracted.
// softmax_xent    per row: dst2[r] = logsumexp(x_r) − x_r[t_r] (the row's loss), and
//                 dst[r, c] = (softmax(x_r)[c] − [c = t_r]) / rows (the mean loss's gradient);
//                 aux holds the targets as exact f32 class indices.
// softmax_backward  src = y = softmax(x), aux = dy: dst = y·(dy − Σ_row y·dy) per row.
// topk_hits       dst2[r] = 1 if fewer than k classes rank before the target, else 0: a class
//                 ranks before it with a larger logit, or an equal one and a lower index (ties
//                 go to the lower index, as argmax does; k = 1 is accuracy).
//                 The per-row entries loop 3·cols + 3 passes (topk_hits cols + 1,
//                 softmax_backward 2·cols + 1): the host
//                 takes them only while that fits the loop budget.
// pointwise_loss  op 0 MSE: dst2[i] = (a − b)², dst[i] = 2(a − b)/len;
//                 op 1 BCE with logits: dst2[i] = max(a,0) − a·b + log(1 + e^−|a|),
//                 dst[i] = (σ(a) − b)/len. The mean comes from sum_all.
// pointwise_metric  dst2[i] = op 0: (a − b)²; op 1: |a − b|; op 2: 1 where (a > 0) = (b > 0.5)
//                 (a logit's sigmoid above 0.5 against a target above 0.5; NaN counts as
//                 below), else 0. The mean comes from sum_all.
//
// Bindings: 0 Params; 1 src; 2 aux; 3 dst; 4 dst2. Overrides: WG (a power of two for the tree).
// Grid x·y (folded) = ceil(invocations / WG); one workgroup per output for reduce_axis_tree,
// per chunk for sum_all.

// #include common/reduce_params.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The uniform block of reduce.wgsl and reduce_subgroup.wgsl.
// chunk: values per chunk of a chunked reduction; total: the axis length a mean divides by;
// carry: 1 when aux holds an earlier level's arg-max (reduce.wgsl's header).
struct Params {
    rows: u32, cols: u32, outer: u32, len: u32,
    inner: u32, op: u32, k: u32, chunk: u32,
    scale: f32, total: u32, carry: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// #end common/reduce_params.wgsl
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst2: array<f32>;

override WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial_idx: array<u32, WG>;

// #include common/grid.wgsl (tests/shaders.rs keeps this copy equal to that file)
// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
// #end common/grid.wgsl

// #include common/rolled.wgsl (tests/shaders.rs keeps this copy equal to that file)
// n, in a form the driver's compiler cannot fold to a constant (nwg.x ≥ 1 in any dispatch),
// for the bound of a loop that should stay rolled. Lavapipe unrolls every loop of constant
// trip count, and each memory access in the copies becomes a loop over the SIMD lanes, so
// compile time at the first dispatch grows with the copies: a 256-invocation tree reduction
// unrolled into its 8 levels took 0.8 s to compile, rolled 0.15 s (Mesa 25), and unrolling
// buys nothing there, each level ending at a barrier.
fn rolled(n: u32, nwg: vec3<u32>) -> u32 {
    return min(n, n * nwg.x);
}
// #end common/rolled.wgsl

// NaN from its bits: comparisons with NaN are left to the implementation in WGSL.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Whether a candidate v beats the running maximum `best` (a NaN beats every number and is
// never beaten; ties keep the earlier).
fn beats(v: f32, best: f32) -> bool {
    return !is_nan(best) && (is_nan(v) || v > best);
}

// One output's chunk: src offset of l = 0, the row r = o·inner + i and l's range.
struct Span {
    base: u32,
    row: u32,
    l0: u32,
    l1: u32,
}

fn span(out: u32) -> Span {
    let chunks = (p.len + p.chunk - 1u) / p.chunk;
    let o = out / (chunks * p.inner);
    let i = out % p.inner;
    let c = (out / p.inner) % chunks;
    let l0 = c * p.chunk;
    return Span(o * p.len * p.inner + i, o * p.inner + i, l0, min(l0 + p.chunk, p.len));
}

// Term l of a sum (ops 0, 1, 3, 4, 5).
fn term(sp: Span, l: u32) -> f32 {
    let v = src[sp.base + l * p.inner];
    if (p.op == 5u) {
        return v * aux[sp.base + l * p.inner];
    }
    if (p.op == 3u) {
        return exp(v - aux[sp.row]);
    }
    if (p.op == 4u) {
        let t = u32(aux[sp.row]);
        let tv = src[sp.base + t * p.inner];
        return select(0.0, 1.0, v > tv || (v == tv && l < t));
    }
    return v;
}

// The arg-max l that element l of src stands for.
fn arg_of(sp: Span, l: u32) -> u32 {
    return select(l, u32(aux[sp.base + l * p.inner]), p.carry != 0u);
}

fn finish(sum: f32) -> f32 {
    return select(sum, sum / f32(p.total), p.op == 1u);
}

@compute @workgroup_size(WG)
fn reduce_axis(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let out = linear(wid, nwg, lid, WG);
    if (out >= p.outer * ((p.len + p.chunk - 1u) / p.chunk) * p.inner) {
        return;
    }
    let sp = span(out);
    if (p.op == 2u) {
        var best = src[sp.base + sp.l0 * p.inner];
        var at = arg_of(sp, sp.l0);
        for (var l = sp.l0 + 1u; l < sp.l1; l++) {
            let v = src[sp.base + l * p.inner];
            if (beats(v, best)) {
                best = v;
                at = arg_of(sp, l);
            }
        }
        dst[out] = best;
        dst2[out] = f32(at);
        return;
    }
    var sum = 0.0;
    for (var l = sp.l0; l < sp.l1; l++) {
        sum += term(sp, l);
    }
    dst[out] = finish(sum);
}

@compute @workgroup_size(WG)
fn reduce_axis_tree(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    let out = wid.x + wid.y * nwg.x;
    if (out >= p.outer * ((p.len + p.chunk - 1u) / p.chunk) * p.inner) {
        return;
    }
    let sp = span(out);
    let is_max = p.op == 2u;
    var acc = 0.0;
    let first = min(sp.l0 + lid, sp.l1 - 1u);
    var at = arg_of(sp, first);
    if (is_max) {
        acc = src[sp.base + first * p.inner];
        for (var l = sp.l0 + lid + WG; l < sp.l1; l += WG) {
            let v = src[sp.base + l * p.inner];
            if (beats(v, acc)) {
                acc = v;
                at = arg_of(sp, l);
            }
        }
    } else {
        for (var l = sp.l0 + lid; l < sp.l1; l += WG) {
            acc += term(sp, l);
        }
    }
    partial[lid] = acc;
    partial_idx[lid] = at;
    workgroupBarrier();
    // The levels stay rolled (common/rolled.wgsl).
    for (var half = rolled(WG / 2u, nwg); half > 0u; half /= 2u) {
        if (lid < half) {
            let v = partial[lid + half];
            let i = partial_idx[lid + half];
            let mine = partial[lid];
            if (!is_max) {
                partial[lid] = mine + v;
            } else if (beats(v, mine) || (!beats(mine, v) && i < partial_idx[lid])) {
                // The larger value wins; between equals (or two NaNs) the smaller index.
                partial[lid] = v;
                partial_idx[lid] = i;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[out] = select(finish(partial[0]), partial[0], is_max);
        if (is_max) {
            dst2[out] = f32(partial_idx[0]);
        }
    }
}

@compute @workgroup_size(WG)
fn sum_all(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    let end = min((g + 1u) * p.chunk, p.len);
    var sum = 0.0;
    for (var i = g * p.chunk + lid; i < end; i += WG) {
        sum += src[i];
    }
    partial[lid] = sum;
    workgroupBarrier();
    // The levels stay rolled (common/rolled.wgsl).
    for (var half = rolled(WG / 2u, nwg); half > 0u; half /= 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        dst[g] = partial[0] * p.scale;
    }
}

@compute @workgroup_size(WG)
fn rows_apply(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear(wid, nwg, lid, WG);
    if (p.op == 3u) {
        if (e < p.rows) {
            dst2[e] = select(0.0, 1.0, src[e] < f32(p.k));
        }
        return;
    }
    if (e >= p.rows * p.cols) {
        return;
    }
    let r = e / p.cols;
    if (p.op == 4u) {
        dst[e] = src[e] * (aux[p.rows + e] - aux[r]);
        return;
    }
    // After op 4, so the softmax backward's path is the one it was.
    if (p.op == 6u) {
        dst[e] = src[e] * aux[r];
        return;
    }
    let z = src[e] - aux[r];
    let s = aux[p.rows + r];
    if (p.op == 0u) {
        dst[e] = exp(z) / s;
    } else if (p.op == 1u) {
        dst[e] = z - log(s);
    } else {
        let t = u32(aux[2u * p.rows + r]);
        let c = e - r * p.cols;
        dst[e] = (exp(z) / s - select(0.0, 1.0, c == t)) / f32(p.rows);
        if (c == t) {
            dst2[r] = log(s) - z;
        }
    }
}

fn row_max(base: u32) -> f32 {
    var m = src[base];
    for (var c = 1u; c < p.cols; c++) {
        m = max(m, src[base + c]);
    }
    return m;
}

fn row_sum_exp(base: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        s += exp(src[base + c] - m);
    }
    return s;
}

@compute @workgroup_size(WG)
fn softmax(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid, WG);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    let m = row_max(base);
    let s = row_sum_exp(base, m);
    let log_s = log(s);
    for (var c = 0u; c < p.cols; c++) {
        let z = src[base + c] - m;
        dst[base + c] = select(exp(z) / s, z - log_s, p.op == 1u);
    }
}

@compute @workgroup_size(WG)
fn softmax_xent(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid, WG);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    let t = u32(aux[r]);
    let m = row_max(base);
    let s = row_sum_exp(base, m);
    dst2[r] = log(s) + m - src[base + t];
    let inv_rows = 1.0 / f32(p.rows);
    for (var c = 0u; c < p.cols; c++) {
        let sm = exp(src[base + c] - m) / s;
        dst[base + c] = (sm - select(0.0, 1.0, c == t)) * inv_rows;
    }
}

@compute @workgroup_size(WG)
fn softmax_backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid, WG);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    var dot = 0.0;
    for (var c = 0u; c < p.cols; c++) {
        dot += src[base + c] * aux[base + c];
    }
    for (var c = 0u; c < p.cols; c++) {
        dst[base + c] = src[base + c] * (aux[base + c] - dot);
    }
}

@compute @workgroup_size(WG)
fn topk_hits(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(wid, nwg, lid, WG);
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;
    let t = u32(aux[r]);
    let target_logit = src[base + t];
    var above = 0u;
    for (var c = 0u; c < p.cols; c++) {
        let v = src[base + c];
        above += select(0u, 1u, v > target_logit || (v == target_logit && c < t));
    }
    dst2[r] = select(0.0, 1.0, above < p.k);
}

@compute @workgroup_size(WG)
fn pointwise_metric(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i >= p.len) {
        return;
    }
    let d = src[i] - aux[i];
    if (p.op == 0u) {
        dst2[i] = d * d;
    } else if (p.op == 1u) {
        dst2[i] = abs(d);
    } else {
        dst2[i] = select(0.0, 1.0, (src[i] > 0.0) == (aux[i] > 0.5));
    }
}

@compute @workgroup_size(WG)
fn pointwise_loss(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(wid, nwg, lid, WG);
    if (i >= p.len) {
        return;
    }
    let a = src[i];
    let b = aux[i];
    let inv = 1.0 / f32(p.len);
    if (p.op == 0u) {
        let d = a - b;
        dst2[i] = d * d;
        dst[i] = 2.0 * d * inv;
    } else {
        let e = exp(-abs(a));
        dst2[i] = max(a, 0.0) - a * b + log(1.0 + e);
        let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), a >= 0.0);
        dst[i] = (sig - b) * inv;
    }
}
