//! What the device layer knows of a shader: its definition. Each op declares the shaders it
//! dispatches beside its dispatch code (`ops/<op>/gpu.rs`) and `ops::SHADERS` lists them; the
//! device compiles whichever module a pipeline key names and knows no op.

use std::hash::{Hash, Hasher};

use super::UniformBlock;

/// One WGSL module: a file under `shaders/`, complete on its own (shared pieces are copies of
/// `shaders/common/*.wgsl` that `tests/shaders.rs` keeps equal to their file).
#[derive(Debug)]
pub struct ShaderDef {
    /// Unique among the crate's shaders; labels and error messages use it.
    pub name: &'static str,
    /// The WGSL text (`include_str!` of the file).
    pub source: &'static str,
    /// The file's compute entry points (the naga test checks this against the file).
    pub entry_points: &'static [&'static str],
    /// The storage buffers at bindings 1, 2, …: `true` = read-only. Binding 0 is always the
    /// uniform `Params` block.
    pub storage_read_only: &'static [bool],
    /// The Rust mirror of the module's `Params`.
    pub uniform: UniformLayout,
    /// The Rust mirror of the per-step block the module reads at the binding after its
    /// storage buffers (`gpu::per_step`), if it has one.
    pub per_step: Option<UniformLayout>,
    /// Whether the module needs the device feature SUBGROUP.
    pub needs_subgroups: bool,
    /// The textures at the bindings after the storage buffers and the per-step block.
    pub textures: &'static [TextureBinding],
}

impl ShaderDef {
    /// The binding of the `i`-th texture: after the storage buffers and the per-step block.
    pub(crate) fn texture_binding(&self, i: usize) -> u32 {
        (self.storage_read_only.len() + 1 + usize::from(self.per_step.is_some()) + i) as u32
    }
}

/// How a shader binds a texture (always a 2D array of `rgba32float` texels).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TextureBinding {
    /// `texture_2d_array<f32>`, read with `textureLoad`.
    Read,
    /// `texture_storage_2d_array<rgba32float, write>`.
    Write,
}

/// Field names and offsets of a uniform block's Rust mirror, and its size.
#[derive(Clone, Copy, Debug)]
pub struct UniformLayout {
    /// Field names and byte offsets, in declaration order (`UniformBlock::FIELDS`).
    pub fields: &'static [(&'static str, usize)],
    /// Size of the whole block in bytes, padding included.
    pub size: usize,
}

impl UniformLayout {
    /// The layout of the uniform block `T`.
    pub const fn of<T: UniformBlock>() -> UniformLayout {
        UniformLayout {
            fields: T::FIELDS,
            size: std::mem::size_of::<T>(),
        }
    }
}

/// A shader as pipeline keys name it: its static definition.
pub type Shader = &'static ShaderDef;

// Names are unique, so a definition is its name.
impl PartialEq for ShaderDef {
    fn eq(&self, other: &ShaderDef) -> bool {
        self.name == other.name
    }
}

impl Eq for ShaderDef {}

impl Hash for ShaderDef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// Whether `def` declares the entry point `entry` (a `const fn`, for `entry_point!`).
pub const fn declares(def: &ShaderDef, entry: &str) -> bool {
    let mut i = 0;
    while i < def.entry_points.len() {
        let (a, b) = (def.entry_points[i].as_bytes(), entry.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// The entry point `$name` of the shader `$def`, checked when the crate compiles: a call site
/// cannot name an entry point its shader's definition lacks, and the naga test checks the
/// definition against the file.
macro_rules! entry_point {
    ($def:path, $name:literal) => {{
        const _: () = assert!(
            $crate::gpu::shaders::declares(&$def, $name),
            concat!("no entry point `", $name, "` in ", stringify!($def))
        );
        $name
    }};
}
pub(crate) use entry_point;
