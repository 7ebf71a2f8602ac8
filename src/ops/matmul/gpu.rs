//! GPU side of matmul (`shaders/matmul.wgsl`).

use super::MatmulGeometry;
use crate::error::{Error, Result};
use crate::gpu::{uniform_block, Overrides, PipelineKey, Shader};
use crate::ops::conv2d::kernel::{MR_MAX, NR_MAX};
use crate::ops::conv2d::RegisterTile;
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in matmul.wgsl.
pub struct MatmulUniforms {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub has_bias: u32,
    pub a_m: u32,
    pub a_k: u32,
    pub b_k: u32,
    pub b_n: u32,
    pub c_m: u32,
    pub c_n: u32,
    pub bias_m: u32,
    pub bias_n: u32,
}
}

const WG: u32 = 64;

fn key(t: RegisterTile) -> PipelineKey {
    PipelineKey {
        shader: Shader::Matmul,
        entry: "matmul",
        overrides: Overrides::new(&[("WG", WG), ("MR", t.mr), ("NR", t.nr)]),
    }
}

pub fn pipelines() -> Vec<PipelineKey> {
    RegisterTile::ALL.iter().map(|&t| key(t)).collect()
}

pub(crate) fn matmul(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
) -> Result<Tensor> {
    matmul_with(
        a,
        b,
        bias,
        g,
        RegisterTile::for_adapter(a.gpu().adapter_info()),
    )
}

/// Checks a hand-built geometry and tile against the tensors (their fields are public).
fn check(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
    t: RegisterTile,
) -> Result<()> {
    let bad = |what: String| Err(Error::invalid("matmul", "geometry", format!("{g:?}"), what));
    if !(1..=MR_MAX).contains(&t.mr) || !(1..=NR_MAX).contains(&t.nr) {
        return Err(Error::invalid(
            "matmul",
            "register tile",
            format!("{t:?}"),
            "needs 1..=16 rows and columns",
        ));
    }
    if g.m == 0 || g.n == 0 || g.k == 0 {
        return bad("every size must be at least 1".into());
    }
    let last = |rows: usize, rs: usize, cols: usize, cs: usize| {
        (rows - 1)
            .checked_mul(rs)
            .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
    };
    if last(g.m, g.a_m, g.k, g.a_k).is_none_or(|i| i >= a.numel()) {
        return bad(format!("reads past a {}", a.shape()));
    }
    if last(g.k, g.b_k, g.n, g.b_n).is_none_or(|i| i >= b.numel()) {
        return bad(format!("reads past b {}", b.shape()));
    }
    if bias.is_some_and(|bias| bias.numel() < g.n) {
        return bad("bias shorter than n".into());
    }
    if g.m * g.n > u32::MAX as usize || a.numel().max(b.numel()) > u32::MAX as usize {
        return bad("sizes past u32".into());
    }
    let mut all = vec![a, b];
    all.extend(bias);
    crate::ops::same_device("matmul", &all)
}

/// With a chosen register tile (tests force each).
pub fn matmul_with(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
    t: RegisterTile,
) -> Result<Tensor> {
    check(a, b, bias, g, t)?;
    let gpu = a.gpu();
    let c = Tensor::zeros(gpu, Shape::new([g.m, g.n]))?;
    // `MatmulGeometry::new` bounds every size by u32.
    let u32_of = |v: usize| v as u32;
    let mut u = MatmulUniforms {
        m: u32_of(g.m),
        n: u32_of(g.n),
        k: u32_of(g.k),
        has_bias: u32::from(bias.is_some()),
        a_m: u32_of(g.a_m),
        a_k: u32_of(g.a_k),
        b_k: u32_of(g.b_k),
        b_n: u32_of(g.b_n),
        c_m: u32_of(g.n),
        c_n: 1,
        bias_m: 0,
        bias_n: 1,
    };
    let (mut first, mut second) = (a, b);
    // Invocations run along m: when n is the longer side (a dense layer at a small batch),
    // solve Cᵀ = Bᵀ·Aᵀ instead so the work spreads over more of them.
    if g.n > g.m {
        u = MatmulUniforms {
            m: u.n,
            n: u.m,
            a_m: u.b_n,
            a_k: u.b_k,
            b_k: u.a_k,
            b_n: u.a_m,
            c_m: 1,
            c_n: u.n,
            bias_m: 1,
            bias_n: 0,
            ..u
        };
        std::mem::swap(&mut first, &mut second);
    }
    let blocks = u.m.div_ceil(WG * t.mr);
    let z = u.n.div_ceil(t.nr);
    let bufs = [Some(first), Some(second), bias, Some(&c)];
    gpu.dispatch_tensors(&key(t), &u, &bufs, blocks, z)?;
    Ok(c)
}
