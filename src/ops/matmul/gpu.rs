//! GPU side of matmul (`shaders/matmul.wgsl`).

use super::{blocks, texture, MatmulGeometry};
use crate::error::{Error, Result};
use crate::gpu::loops::{slices, Cost};
use crate::gpu::shaders::entry_point;
use crate::gpu::{uniform_block, Overrides, PipelineKey, ShaderDef, UniformLayout};
use crate::ops::backend::{GpuBackend, MatmulBackend};
use crate::ops::conv2d::kernel::{MR_MAX, NR_MAX};
use crate::ops::conv2d::RegisterTile;
use crate::shape::Shape;
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in matmul.wgsl.
pub(crate) struct MatmulUniforms {
    /// Rows of C (after the host's swap to Cᵀ = Bᵀ·Aᵀ, when it makes one).
    pub m: u32,
    /// Columns of C.
    pub n: u32,
    /// End of this dispatch's K-slice (K for the last one).
    pub k_end: u32,
    /// 1 adds `bias[m·bias_m + n·bias_n]`; set on the first K-slice only.
    pub has_bias: u32,
    /// Element stride of A along m.
    pub a_m: u32,
    /// Element stride of A along k.
    pub a_k: u32,
    /// Element stride of B along k.
    pub b_k: u32,
    /// Element stride of B along n.
    pub b_n: u32,
    /// Element stride of C along m.
    pub c_m: u32,
    /// Element stride of C along n.
    pub c_n: u32,
    /// Stride of the bias along m (0: one bias per column).
    pub bias_m: u32,
    /// Stride of the bias along n (0 after the swap to Cᵀ: one bias per row).
    pub bias_n: u32,
    /// Independent products in one dispatch, offset by these strides (1 and 0s for one).
    pub batch: u32,
    /// Offset of A between consecutive products of the batch.
    pub a_b: u32,
    /// Offset of B between consecutive products of the batch.
    pub b_b: u32,
    /// Offset of C between consecutive products of the batch.
    pub c_b: u32,
    /// Start of this dispatch's K-slice.
    pub k_begin: u32,
    /// Element offset of A's first element in its binding (a block's aligned range).
    pub a_off: u32,
    /// Element offset of B's first element in its binding.
    pub b_off: u32,
    /// Element offset of C's first element in its binding.
    pub c_off: u32,
    /// Element offset of the bias's first element in its binding.
    pub bias_off: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad1: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad2: u32,
}
}

/// `count` products of one geometry, the i-th reading a and b and writing c at i·stride;
/// C's element (row, col) at `row·c_m + col·c_n` within its product.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Batch {
    pub count: usize,
    pub a: usize,
    pub b: usize,
    pub c: usize,
    pub c_m: usize,
    pub c_n: usize,
}

impl Batch {
    /// One row-major `[m, n]` product.
    pub(crate) fn one(g: &MatmulGeometry) -> Batch {
        Batch {
            count: 1,
            a: 0,
            b: 0,
            c: 0,
            c_m: g.n,
            c_n: 1,
        }
    }
}

const WG: u32 = 64;
/// Side of `matmul_tiled`'s output tile (`TBM`, `TBN`).
const TILE: u32 = 64;
/// K depth of one `matmul_tiled` step (`TBK`).
const TILE_K: usize = 16;
/// Loop passes of `matmul_tiled` (matmul.wgsl's header): per step of TBK, and outside them.
const TILED_COST: Cost = Cost {
    fixed: 36,
    unit: 508,
};

/// Which kernel runs a product.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MatmulKernel {
    /// Register-blocked, no workgroup memory: the choice on software adapters.
    Register(RegisterTile),
    /// Double-buffered workgroup-memory tiles: the choice on hardware GPUs.
    Tiled,
    /// A and B packed into textures, 8 × 16 sums per invocation (`texture.rs`): the choice
    /// on software adapters. A product whose operands pass the adapter's texture limits, or
    /// that runs in blocks along K, runs with this register tile instead.
    Texture(RegisterTile),
}

impl MatmulKernel {
    /// Texture-fed sums where a storage-buffer load costs a loop over the SIMD lanes
    /// (software adapters), workgroup-memory tiles elsewhere.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> MatmulKernel {
        match info.device_type {
            wgpu::DeviceType::Cpu => MatmulKernel::Texture(RegisterTile::for_adapter(info)),
            _ => MatmulKernel::Tiled,
        }
    }

    /// [`MatmulKernel::for_adapter`]'s kernel for one product of `g`'s shape: the
    /// texture-fed kernel only where packing the operands pays ([`texture::pays`]), its
    /// register tile elsewhere.
    pub fn for_product(info: &wgpu::AdapterInfo, g: &MatmulGeometry) -> MatmulKernel {
        match MatmulKernel::for_adapter(info) {
            MatmulKernel::Texture(t) if !texture::pays(info, g.m, g.n) => MatmulKernel::Register(t),
            k => k,
        }
    }
}

/// `shaders/matmul.wgsl`: a, b, bias, c.
pub static SHADER: ShaderDef = ShaderDef {
    name: "matmul",
    source: include_str!("../../../shaders/matmul.wgsl"),
    entry_points: &["matmul", "matmul_tiled", "accumulate"],
    storage_read_only: &[true, true, true, false],
    uniform: UniformLayout::of::<MatmulUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[],
};

fn key(k: MatmulKernel) -> PipelineKey {
    let (entry, overrides) = match k {
        MatmulKernel::Register(t) => (
            entry_point!(SHADER, "matmul"),
            vec![("WG", WG), ("MR", t.mr), ("NR", t.nr)],
        ),
        MatmulKernel::Tiled => (entry_point!(SHADER, "matmul_tiled"), Vec::new()),
        MatmulKernel::Texture(_) => return texture::gemm_key(),
    };
    PipelineKey {
        shader: &SHADER,
        entry,
        overrides: Overrides::new(&overrides),
    }
}

/// Every pipeline this module dispatches: `matmul` with each register tile the crate uses
/// (conv2d's and the Winograd filter gradient's), `matmul_tiled`, and `accumulate`.
pub fn pipelines() -> Vec<PipelineKey> {
    let mut tiles = RegisterTile::ALL.to_vec();
    for t in crate::ops::conv2d::winograd::FILTER_TILES {
        if !tiles.contains(&t) {
            tiles.push(t);
        }
    }
    let mut keys: Vec<PipelineKey> = tiles
        .into_iter()
        .map(|t| key(MatmulKernel::Register(t)))
        .collect();
    keys.push(key(MatmulKernel::Tiled));
    keys.push(accumulate_key());
    keys.push(texture::gemm_key());
    keys.push(texture::pack_key());
    keys
}

pub(crate) fn matmul(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
) -> Result<Tensor> {
    let k = MatmulKernel::for_product(a.gpu().adapter_info(), g);
    matmul_with_kernel(a, b, bias, g, k)
}

/// Checks a hand-built geometry and tile against the tensors (their fields are public).
fn check(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
    k: MatmulKernel,
    batch: Batch,
) -> Result<()> {
    let bad = |what: String| Err(Error::invalid("matmul", "geometry", format!("{g:?}"), what));
    let fits = |t: RegisterTile| (1..=MR_MAX).contains(&t.mr) && (1..=NR_MAX).contains(&t.nr);
    if let MatmulKernel::Register(t) | MatmulKernel::Texture(t) = k {
        if !fits(t) {
            return Err(Error::invalid(
                "matmul",
                "register tile",
                format!("{t:?}"),
                "needs 1..=16 rows and columns",
            ));
        }
    }
    if g.m == 0 || g.n == 0 || g.k == 0 || batch.count == 0 {
        return bad("every size must be at least 1".into());
    }
    let last = |rows: usize, rs: usize, cols: usize, cs: usize| {
        (rows - 1)
            .checked_mul(rs)
            .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
    };
    let last_batch = |end: Option<usize>, stride: usize| {
        end.and_then(|e| (batch.count - 1).checked_mul(stride)?.checked_add(e))
    };
    if last_batch(last(g.m, g.a_m, g.k, g.a_k), batch.a).is_none_or(|i| i >= a.numel()) {
        return bad(format!("reads past a {}", a.shape()));
    }
    if last_batch(last(g.k, g.b_k, g.n, g.b_n), batch.b).is_none_or(|i| i >= b.numel()) {
        return bad(format!("reads past b {}", b.shape()));
    }
    if bias.is_some_and(|bias| bias.numel() < g.n) {
        return bad("bias shorter than n".into());
    }
    let c_len = (batch.count - 1)
        .checked_mul(batch.c)
        .and_then(|o| o.checked_add(last(g.m, batch.c_m, g.n, batch.c_n)? + 1));
    if c_len.is_none_or(|l| l > u32::MAX as usize) || a.numel().max(b.numel()) > u32::MAX as usize {
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
    matmul_with_kernel(a, b, bias, g, MatmulKernel::Register(t))
}

/// With a chosen kernel (tests force each).
pub fn matmul_with_kernel(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    g: &MatmulGeometry,
    k: MatmulKernel,
) -> Result<Tensor> {
    check(a, b, bias, g, k, Batch::one(g))?;
    let c = Tensor::uninit(a.gpu(), Shape::new([g.m, g.n]))?;
    blocks::dispatch(a, b, bias, &c, g, k, Batch::one(g))?;
    Ok(c)
}

/// `batch.count` products `C[i] = A[i]·B[i]` of one geometry in one dispatch, into `c` where
/// `batch`'s strides put them.
pub(crate) fn matmul_batched(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    g: &MatmulGeometry,
    k: MatmulKernel,
    batch: Batch,
) -> Result<()> {
    check(a, b, None, g, k, batch)?;
    let last = (batch.count - 1) * batch.c + (g.m - 1) * batch.c_m + (g.n - 1) * batch.c_n;
    if last >= c.numel() {
        return Err(Error::invalid(
            "matmul",
            "output",
            c.shape(),
            format!(
                "too small for {} products of [{}, {}]",
                batch.count, g.m, g.n
            ),
        ));
    }
    blocks::dispatch(a, b, None, c, g, k, batch)
}

/// One block's operands: A's and B's ranges along one stretch of K (with the offsets of
/// their first elements), and its length.
pub(crate) struct Part {
    pub a: (Tensor, u32),
    pub b: (Tensor, u32),
    pub k: usize,
}

/// Records one block: `parts` along K, each cut into K-slices within the loop budget.
pub(crate) fn dispatch_block(
    parts: &[Part],
    bias: Option<&(Tensor, u32)>,
    (c, c_off): &(Tensor, u32),
    g: &MatmulGeometry,
    k: MatmulKernel,
    batch: Batch,
) -> Result<()> {
    let gpu = c.gpu();
    // `MatmulGeometry::new` bounds every size by u32.
    let u32_of = |v: usize| v as u32;
    let mut u = MatmulUniforms {
        m: u32_of(g.m),
        n: u32_of(g.n),
        k_end: u32_of(g.k),
        has_bias: u32::from(bias.is_some()),
        a_m: u32_of(g.a_m),
        a_k: u32_of(g.a_k),
        b_k: u32_of(g.b_k),
        b_n: u32_of(g.b_n),
        c_m: u32_of(batch.c_m),
        c_n: u32_of(batch.c_n),
        bias_m: 0,
        bias_n: 1,
        batch: u32_of(batch.count),
        a_b: u32_of(batch.a),
        b_b: u32_of(batch.b),
        c_b: u32_of(batch.c),
        c_off: *c_off,
        bias_off: bias.map_or(0, |b| b.1),
        ..MatmulUniforms::default()
    };
    // Invocations run along m: when n is the longer side (a dense layer at a small batch),
    // solve Cᵀ = Bᵀ·Aᵀ instead so the work spreads over more of them.
    let swap = g.n > g.m;
    if swap {
        u = MatmulUniforms {
            m: u.n,
            n: u.m,
            a_m: u.b_n,
            a_k: u.b_k,
            b_k: u.a_k,
            b_n: u.a_m,
            c_m: u.c_n,
            c_n: u.c_m,
            bias_m: 1,
            bias_n: 0,
            a_b: u.b_b,
            b_b: u.a_b,
            ..u
        };
    }
    // Textures for a product in one part; past the texture limits, the register tile.
    let packed = match (k, parts) {
        (MatmulKernel::Texture(_), [part]) => {
            let (first, second) = if swap {
                (&part.b, &part.a)
            } else {
                (&part.a, &part.b)
            };
            texture::pack(gpu, &u, first, second, part.k)?
        }
        _ => None,
    };
    let k = match (k, &packed) {
        (MatmulKernel::Texture(t), None) => MatmulKernel::Register(t),
        (k, _) => k,
    };
    let (rows, cols) = match k {
        MatmulKernel::Register(t) => (WG * t.mr, t.nr),
        MatmulKernel::Tiled => (TILE, TILE),
        MatmulKernel::Texture(_) => (texture::ROWS, texture::COLS),
    };
    let blocks = u.m.div_ceil(rows);
    let z =
        u.n.div_ceil(cols)
            .checked_mul(u.batch)
            .ok_or_else(|| Error::TooLarge {
                what: "matmul dispatch".into(),
                bytes: u64::from(u.n.div_ceil(cols)) * u64::from(u.batch),
                limit: u64::from(u32::MAX),
            })?;
    // K-slices within the loop budget (passes per invocation: see the shader's header).
    let cost = match k {
        MatmulKernel::Register(t) => Cost {
            fixed: t.fixed_passes() + 1,
            unit: t.step_passes() + 1,
        },
        MatmulKernel::Tiled => TILED_COST,
        MatmulKernel::Texture(_) => texture::COST,
    };
    let budget = gpu.loop_budget();
    let steps = cost.per_dispatch(budget).ok_or(Error::LoopBudget {
        op: "matmul",
        what: "one K step".into(),
        passes: cost.fixed + cost.unit,
        budget,
    })?;
    let per = match k {
        MatmulKernel::Register(_) => steps,
        MatmulKernel::Tiled => steps * TILE_K,
        MatmulKernel::Texture(_) => steps * texture::K_STEP,
    };
    // The first slice writes C with the bias; each later one a dense temporary that
    // `accumulate` adds in (the GEMM kernels never read C).
    let ranges: Vec<_> = parts
        .iter()
        .flat_map(|p| slices(p.k, per).map(move |ks| (p, ks)))
        .collect();
    let temp = match ranges.len() {
        0 | 1 => None,
        _ => Some(Tensor::uninit(
            gpu,
            Shape::new([u.batch as usize, u.m as usize, u.n as usize]),
        )?),
    };
    let bias = bias.map(|b| &b.0);
    let gemm = |s: &MatmulUniforms, first: &Tensor, second: &Tensor, out: &Tensor| match &packed {
        Some(p) => texture::dispatch(p, s, bias, out, blocks, z),
        None => {
            let bufs = [Some(first), Some(second), bias, Some(out)];
            gpu.dispatch_tensors(&key(k), s, &bufs, blocks, z)
        }
    };
    for (i, (part, ks)) in ranges.iter().enumerate() {
        let (first, second) = match swap {
            false => (&part.a, &part.b),
            true => (&part.b, &part.a),
        };
        let mut slice = MatmulUniforms {
            k_begin: u32_of(ks.start),
            k_end: u32_of(ks.end),
            has_bias: u.has_bias * u32::from(i == 0),
            a_off: first.1,
            b_off: second.1,
            ..u
        };
        let (first, second) = (&first.0, &second.0);
        match (i, &temp) {
            (0, _) | (_, None) => gemm(&slice, first, second, c)?,
            (_, Some(t)) => {
                (slice.c_m, slice.c_n, slice.c_b, slice.c_off) = (u.n, 1, u.m * u.n, 0);
                gemm(&slice, first, second, t)?;
                let elements = t.numel().div_ceil(64);
                let blocks = u32::try_from(elements).map_err(|_| too_large(t))?;
                gpu.dispatch_tensors(
                    &accumulate_key(),
                    &u,
                    &[Some(t), None, None, Some(c)],
                    blocks,
                    1,
                )?;
            }
        }
    }
    Ok(())
}

fn accumulate_key() -> PipelineKey {
    PipelineKey {
        shader: &SHADER,
        entry: entry_point!(SHADER, "accumulate"),
        overrides: Overrides::default(),
    }
}

fn too_large(t: &Tensor) -> Error {
    Error::TooLarge {
        what: format!("matmul accumulation of {}", t.shape()),
        bytes: t.numel() as u64 * 4,
        limit: u64::from(u32::MAX) * 64,
    }
}

impl MatmulBackend for GpuBackend {
    fn dense(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
        super::dense(x, w, b)
    }
    fn dense_backward_data(&self, dy: &Tensor, w: &Tensor) -> Result<Tensor> {
        super::dense_backward_data(dy, w)
    }
    fn dense_backward_filter(&self, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        super::dense_backward_filter(x, dy)
    }
    fn dense_backward_bias(&self, dy: &Tensor) -> Result<Tensor> {
        super::dense_backward_bias(dy)
    }
}
