// The uniform block of reduce.wgsl and reduce_subgroup.wgsl.
// chunk: values per chunk of a chunked reduction; total: the axis length a mean divides by;
// carry: 1 when aux holds an earlier level's arg-max (reduce.wgsl's header).
struct Params {
    rows: u32, cols: u32, outer: u32, len: u32,
    inner: u32, op: u32, k: u32, chunk: u32,
    scale: f32, total: u32, carry: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
