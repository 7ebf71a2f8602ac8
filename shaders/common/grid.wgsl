// The flat invocation index of a grid folded into x·y (grids past 65,535 workgroups), for a
// workgroup of wg invocations.
fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid;
}
