// sum_all with subgroup operations, for adapters with the SUBGROUP feature
// (reduce.wgsl::sum_all is the fallback). dst[g] = scale · Σ src over chunk g of `chunk`
// values (the host sums several chunks again: the loop budget, gpu/loops.rs).
// One workgroup per chunk: each invocation sums a fixed stride, each subgroup adds its lanes
// with subgroupAdd, subgroup totals meet in workgroup memory, and every subgroup adds those
// totals again (all invocations stay in uniform control flow); invocation 0 writes. The order
// is fixed for a given adapter, so repeated runs give the same bits. It assumes what Vulkan
// implementations do for a 1-D workgroup whose size is a multiple of the subgroup size: full
// subgroups of consecutive invocation indices (the parity test checks the sum on the adapter).
// Loop passes per invocation: ⌈chunk / WG⌉ + WG / subgroup size + 2.
//
// Bindings: 0 Params; 1 src; 2 aux (unused);
// 3 dst; 4 dst2 (unused).
// Overrides: WG, a multiple of the subgroup size. Grid x·y (folded) = chunks.

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

override WG: u32 = 256u;

var<workgroup> totals: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_all_subgroup(
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let g = wid.x + wid.y * nwg.x;
    let end = min((g + 1u) * p.chunk, p.len);
    var sum = 0.0;
    for (var i = g * p.chunk + lid; i < end; i += WG) {
        sum += src[i];
    }
    let sg_total = subgroupAdd(sum);
    if (lane == 0u) {
        totals[lid / sg_size] = sg_total;
    }
    workgroupBarrier();
    let groups = WG / sg_size;
    var part = 0.0;
    for (var j = lane; j < groups; j += sg_size) {
        part += totals[j];
    }
    let total = subgroupAdd(part);
    if (lid == 0u) {
        dst[g] = total * p.scale;
    }
}
