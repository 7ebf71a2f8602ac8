// Local response normalisation across channels (AlexNet), NCHW, one invocation per element:
//   D_i = k + alpha · Σ_{j = max(0, i − r/2)}^{min(C − 1, i + r/2)} a_j²      (channel window)
//   forward:        y_i = a_i · D_i^(−beta)
//   backward_terms: t_i = dy_i · a_i · D_i^(−beta − 1)
//   backward_data:  dx_m = dy_m · D_m^(−beta) − 2·alpha·beta · a_m · Σ_{i in window(m)} t_i
// (the window is symmetric, so m is in window(i) exactly when i is in window(m)).
//
// Loop passes per invocation (gpu/loops.rs): forward window + 1, backward_data 2·(window + 1)
// + 1 (window = min(2·half + 1, c)); the host refuses windows past the loop budget.
// Bindings: 0 Params; 1 a (x); 2 b (dy); 3 t (terms, read by backward_data); 4 out.
// Overrides: WG. Grid x·y (folded) = ceil(n·c·hw / WG).

struct Params {
    n: u32, c: u32, hw: u32, half: u32,
    k: f32, alpha: f32, beta: f32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> t: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG: u32 = 64u;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// First and one-past-last channel of the window around channel `ch`.
fn window(ch: u32) -> vec2<u32> {
    return vec2<u32>(max(ch, p.half) - p.half, min(ch + p.half + 1u, p.c));
}

// D for element i = (img, ch, pix).
fn denom(i: u32) -> f32 {
    let ch = (i / p.hw) % p.c;
    let base = i - ch * p.hw;
    let win = window(ch);
    var s = 0.0;
    for (var j = win.x; j < win.y; j++) {
        let v = a[base + j * p.hw];
        s += v * v;
    }
    return p.k + p.alpha * s;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n * p.c * p.hw) {
        out[i] = a[i] * pow(denom(i), -p.beta);
    }
}

@compute @workgroup_size(WG)
fn backward_terms(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n * p.c * p.hw) {
        out[i] = b[i] * a[i] * pow(denom(i), -p.beta - 1.0);
    }
}

@compute @workgroup_size(WG)
fn backward_data(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let m = index(wid, nwg, lid);
    if (m >= p.n * p.c * p.hw) {
        return;
    }
    let ch = (m / p.hw) % p.c;
    let base = m - ch * p.hw;
    let win = window(ch);
    var s = 0.0;
    for (var j = win.x; j < win.y; j++) {
        s += t[base + j * p.hw];
    }
    out[m] = b[m] * pow(denom(m), -p.beta) - 2.0 * p.alpha * p.beta * a[m] * s;
}
