// n, in a form the driver's compiler cannot fold to a constant (nwg.x ≥ 1 in any dispatch),
// for the bound of a loop that should stay rolled. Lavapipe unrolls every loop of constant
// trip count, and each memory access in the copies becomes a loop over the SIMD lanes, so
// compile time at the first dispatch grows with the copies: a 256-invocation tree reduction
// unrolled into its 8 levels took 0.8 s to compile, rolled 0.15 s (Mesa 25), and unrolling
// buys nothing there, each level ending at a barrier.
fn rolled(n: u32, nwg: vec3<u32>) -> u32 {
    return min(n, n * nwg.x);
}
