// PCG hash (O'Neill), one 32-bit state step: the counter-based random numbers of dropout
// and augmentation (the CPU references hash the same way).
fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}
