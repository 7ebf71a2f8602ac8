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
