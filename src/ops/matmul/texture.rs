//! The texture-fed GEMM of software adapters (`shaders/matmul_texture.wgsl`): A and B packed
//! into rgba32float texture arrays (`shaders/matmul_pack.wgsl`), then read as texels, which
//! lavapipe fetches without its per-lane loop of a storage-buffer load.

use super::gpu::MatmulUniforms;
use crate::error::Result;
use crate::gpu::driver::mesa_version;
use crate::gpu::loops::Cost;
use crate::gpu::shaders::entry_point;
use crate::gpu::UniformLayout;
use crate::gpu::{uniform_block, Gpu, Overrides, PipelineKey, ShaderDef, TextureBinding};
use crate::tensor::Tensor;

uniform_block! {
/// Mirror of `struct Params` in matmul_pack.wgsl.
pub(crate) struct PackUniforms {
    /// Rows of the operand (texture rows that hold data; the rest are zero).
    pub rows: u32,
    /// Columns of the operand (4 to a texel; zero past them).
    pub cols: u32,
    /// Element stride along rows.
    pub s_r: u32,
    /// Element stride along columns.
    pub s_c: u32,
    /// Element offset between consecutive products (layers).
    pub s_b: u32,
    /// Element offset of the first element in the bound range.
    pub off: u32,
    /// Texels per texture row.
    pub width: u32,
    /// Texture rows.
    pub height: u32,
}
}

uniform_block! {
/// Mirror of `struct Params` in matmul_texture.wgsl.
pub(crate) struct TextureUniforms {
    /// Rows of C.
    pub m: u32,
    /// Columns of C.
    pub n: u32,
    /// First texel column of this K-slice (k / 4).
    pub k4_begin: u32,
    /// End of this K-slice in texel columns.
    pub k4_end: u32,
    /// 1 adds the bias (first K-slice only).
    pub has_bias: u32,
    /// Element stride of C along m.
    pub c_m: u32,
    /// Element stride of C along n.
    pub c_n: u32,
    /// Offset of C between consecutive products.
    pub c_b: u32,
    /// Element offset of C's first element in its binding.
    pub c_off: u32,
    /// Stride of the bias along m.
    pub bias_m: u32,
    /// Stride of the bias along n.
    pub bias_n: u32,
    /// Element offset of the bias's first element in its binding.
    pub bias_off: u32,
    /// 1 when A's texture has a layer per product, 0 when all share layer 0.
    pub a_layered: u32,
    /// The same for B.
    pub b_layered: u32,
    /// Texels per row of B's texture (clamps the columns past N).
    pub b_width: u32,
    /// Pads the block to a multiple of 16 bytes; unused.
    pub _pad0: u32,
}
}

/// `shaders/matmul_pack.wgsl`: src, then the texture written.
pub static PACK: ShaderDef = ShaderDef {
    name: "matmul_pack",
    source: include_str!("../../../shaders/matmul_pack.wgsl"),
    entry_points: &["pack"],
    storage_read_only: &[true],
    uniform: UniformLayout::of::<PackUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[TextureBinding::Write],
};

/// `shaders/matmul_texture.wgsl`: bias, c, then A's and B's textures.
pub static GEMM: ShaderDef = ShaderDef {
    name: "matmul_texture",
    source: include_str!("../../../shaders/matmul_texture.wgsl"),
    entry_points: &["matmul_texture"],
    storage_read_only: &[true, false],
    uniform: UniformLayout::of::<TextureUniforms>(),
    per_step: None,
    needs_subgroups: false,
    textures: &[TextureBinding::Read, TextureBinding::Read],
};

/// Rows of C one workgroup computes (64 invocations × 8) and columns per invocation.
pub(crate) const ROWS: u32 = 512;
pub(crate) const COLS: u32 = 16;
/// K elements per pass of the kernel's K loop.
pub(crate) const K_STEP: usize = 4;
/// Loop passes (matmul_texture.wgsl's header): one per step of 4 along K, the epilogue's
/// 9 + 8·17 and the K loop's last test outside them.
pub(crate) const COST: Cost = Cost {
    fixed: 146,
    unit: 1,
};

/// Whether an `m` × `n` product gains from the textures on `info`'s adapter.
///
/// Packing reads each element of A (m × K) and B (K × n) once, with the per-lane loads the
/// kernel then avoids; the product does 2·m·n·K flops. On Mesa ≥ 25 below 512 flops per
/// packed element, 2·m·n / (m + n), the packing costs what it saves or more (matmul 1024³,
/// 1,024 a packed element, ran 1.6-1.7× faster; 64×4096×1024, 126, ran 6.7-6.9 GFLOP/s
/// against 6.2-8.9 with the register tile, and LeNet-5's dense layers, ~80, left its step
/// unchanged). Older Mesa (22.3) turns a storage load in a loop into a rolled loop over the
/// lanes, and every product gains there (64×4096×1024 3×, LeNet-5's step 1.2-1.6×); other
/// software adapters were not measured and are treated alike.
pub fn pays(info: &wgpu::AdapterInfo, m: usize, n: usize) -> bool {
    match mesa_version(&info.driver_info) {
        Some((v, _, _)) if v >= 25 => dense_enough(m, n),
        _ => true,
    }
}

/// At least 512 flops per packed element: 2·m·n / (m + n) ≥ 512.
pub fn dense_enough(m: usize, n: usize) -> bool {
    let (m, n) = (m as u64, n as u64);
    m * n >= 256 * (m + n)
}

pub(crate) fn pack_key() -> PipelineKey {
    PipelineKey {
        shader: &PACK,
        entry: entry_point!(PACK, "pack"),
        overrides: Overrides::default(),
    }
}

pub(crate) fn gemm_key() -> PipelineKey {
    PipelineKey {
        shader: &GEMM,
        entry: entry_point!(GEMM, "matmul_texture"),
        overrides: Overrides::default(),
    }
}

/// A and B of one product, packed into textures.
pub(crate) struct Packed {
    a: wgpu::TextureView,
    b: wgpu::TextureView,
    a_layered: u32,
    b_layered: u32,
    b_width: u32,
}

/// Packs the operands of `u` (the product as the kernel solves it, after any swap to Cᵀ):
/// `first` is A's range and offset, `second` B's, `k` the length of the dot products.
/// `None` when a texture would pass the adapter's texture limits: the caller runs the
/// register-tile kernel instead.
pub(crate) fn pack(
    gpu: &Gpu,
    u: &MatmulUniforms,
    first: &(Tensor, u32),
    second: &(Tensor, u32),
    k: usize,
) -> Result<Option<Packed>> {
    let k4 = k.div_ceil(K_STEP);
    let layers = |stride: u32| {
        if u.batch > 1 && stride != 0 {
            u.batch
        } else {
            1
        }
    };
    let a = PackUniforms {
        rows: u.m,
        cols: k as u32,
        s_r: u.a_m,
        s_c: u.a_k,
        s_b: u.a_b,
        off: first.1,
        width: k4 as u32,
        height: u.m,
    };
    let b = PackUniforms {
        rows: k as u32,
        cols: u.n,
        s_r: u.b_k,
        s_c: u.b_n,
        s_b: u.b_b,
        off: second.1,
        width: u.n.div_ceil(K_STEP as u32),
        height: (k4 * K_STEP) as u32,
    };
    let fits = |p: &PackUniforms, layers: u32| gpu.texture_fits(p.width, p.height, layers);
    let (a_layers, b_layers) = (layers(u.a_b), layers(u.b_b));
    if !fits(&a, a_layers) || !fits(&b, b_layers) {
        return Ok(None);
    }
    let a_view = packed(gpu, &a, &first.0, a_layers)?;
    let b_view = packed(gpu, &b, &second.0, b_layers)?;
    Ok(Some(Packed {
        a: a_view,
        b: b_view,
        a_layered: u32::from(a_layers > 1),
        b_layered: u32::from(b_layers > 1),
        b_width: b.width,
    }))
}

/// A texture of `p`'s size, and the dispatch that fills it from `src`.
fn packed(gpu: &Gpu, p: &PackUniforms, src: &Tensor, layers: u32) -> Result<wgpu::TextureView> {
    let view = gpu.texture_array("matmul operand", p.width, p.height, layers);
    // One invocation per texel: width·height fits u32 (both within the texture limit).
    let blocks = (p.width * p.height).div_ceil(64);
    gpu.dispatch_with_textures(&pack_key(), p, &[Some(src)], &[&view], blocks, layers)?;
    Ok(view)
}

/// Records one K-slice of the packed product into `out` with the uniforms `s` (the
/// register-tile kernel's, whose K range is a multiple of [`K_STEP`] but at the end).
pub(crate) fn dispatch(
    p: &Packed,
    s: &MatmulUniforms,
    bias: Option<&Tensor>,
    out: &Tensor,
    blocks: u32,
    z: u32,
) -> Result<()> {
    let step = K_STEP as u32;
    let u = TextureUniforms {
        m: s.m,
        n: s.n,
        k4_begin: s.k_begin / step,
        k4_end: s.k_end.div_ceil(step),
        has_bias: s.has_bias,
        c_m: s.c_m,
        c_n: s.c_n,
        c_b: s.c_b,
        c_off: s.c_off,
        bias_m: s.bias_m,
        bias_n: s.bias_n,
        bias_off: s.bias_off,
        a_layered: p.a_layered,
        b_layered: p.b_layered,
        b_width: p.b_width,
        _pad0: 0,
    };
    out.gpu().dispatch_with_textures(
        &gemm_key(),
        &u,
        &[bias, Some(out)],
        &[&p.a, &p.b],
        blocks,
        z,
    )
}
