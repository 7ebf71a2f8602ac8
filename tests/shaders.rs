//! Every shader parses and validates with naga, for every override set the crate dispatches;
//! uniform blocks and bindings match their Rust mirrors.

use naga::back::pipeline_constants::process_overrides;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, Module, ShaderStage, StorageAccess, TypeInner};
use wgcnn::gpu::shaders::all_pipelines;
use wgcnn::gpu::Shader;
use wgcnn::ops::conv2d::gpu::{DEPTHWISE_OWT, TILE};
use wgcnn::ops::conv2d::kernel::{RegisterTile, MR_MAX, NR_MAX};

/// The capabilities wgcnn's device may have: none, or SUBGROUP for the shaders that need it.
fn capabilities(shader: Shader) -> Capabilities {
    if shader.needs_subgroups() {
        Capabilities::SUBGROUP
    } else {
        Capabilities::empty()
    }
}

fn parse(shader: Shader) -> (Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(shader.source())
        .unwrap_or_else(|e| panic!("{}: {}", shader.name(), e.emit_to_string(shader.source())));
    let info = Validator::new(ValidationFlags::all(), capabilities(shader))
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", shader.name(), e.emit_to_string(shader.source())));
    (module, info)
}

#[test]
fn every_pipeline_validates_with_its_overrides() {
    let keys = all_pipelines();
    assert!(!keys.is_empty());
    for key in &keys {
        let (module, info) = parse(key.shader);
        let mut constants = naga::back::PipelineConstants::default();
        for &(name, value) in &key.overrides.0 {
            assert!(
                module
                    .overrides
                    .iter()
                    .any(|(_, o)| o.name.as_deref() == Some(name)),
                "{}: no override named {name}",
                key.shader.name()
            );
            constants.insert(name.to_string(), f64::from(value));
        }
        let (done, _) = process_overrides(
            &module,
            &info,
            Some((ShaderStage::Compute, key.entry)),
            &constants,
        )
        .unwrap_or_else(|e| {
            panic!(
                "{}::{} [{}]: {e:?}",
                key.shader.name(),
                key.entry,
                key.overrides
            )
        });
        let mut v = Validator::new(ValidationFlags::all(), capabilities(key.shader));
        v.validate(&done).unwrap_or_else(|e| {
            panic!(
                "{}::{} [{}] after overrides: {e:?}",
                key.shader.name(),
                key.entry,
                key.overrides
            )
        });
    }
}

#[test]
fn every_entry_point_is_declared_and_dispatched() {
    let keys = all_pipelines();
    for &shader in Shader::ALL {
        let (module, _) = parse(shader);
        let mut found: Vec<&str> = module
            .entry_points
            .iter()
            .filter(|e| e.stage == ShaderStage::Compute)
            .map(|e| e.name.as_str())
            .collect();
        found.sort_unstable();
        let mut declared = shader.entry_points().to_vec();
        declared.sort_unstable();
        assert_eq!(
            found,
            declared,
            "{}: registry and file disagree",
            shader.name()
        );
        for entry in shader.entry_points() {
            assert!(
                keys.iter().any(|k| k.shader == shader && k.entry == *entry),
                "{}::{entry} is never dispatched (no pipeline key)",
                shader.name()
            );
        }
    }
}

#[test]
fn uniform_blocks_and_bindings_match_rust() {
    for &shader in Shader::ALL {
        let (module, _) = parse(shader);
        let (fields, size) = shader.uniform_layout();
        let mut storage = Vec::new();
        let mut uniform_seen = false;
        for (_, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            assert_eq!(
                binding.group,
                0,
                "{}: everything lives in group 0",
                shader.name()
            );
            match var.space {
                AddressSpace::Uniform => {
                    assert_eq!(
                        binding.binding,
                        0,
                        "{}: the uniform block is binding 0",
                        shader.name()
                    );
                    let TypeInner::Struct { members, span } = &module.types[var.ty].inner else {
                        panic!("{}: uniform is not a struct", shader.name());
                    };
                    assert_eq!(*span as usize, size, "{}: uniform size", shader.name());
                    let wgsl: Vec<(&str, usize)> = members
                        .iter()
                        .map(|m| (m.name.as_deref().unwrap_or(""), m.offset as usize))
                        .collect();
                    assert_eq!(wgsl, fields.to_vec(), "{}: uniform fields", shader.name());
                    uniform_seen = true;
                }
                AddressSpace::Storage { access } => {
                    storage.push((binding.binding, !access.contains(StorageAccess::STORE)));
                }
                _ => {}
            }
        }
        assert!(uniform_seen, "{}: no uniform block", shader.name());
        storage.sort_unstable();
        let expected: Vec<(u32, bool)> = shader
            .storage_read_only()
            .iter()
            .enumerate()
            .map(|(i, &ro)| (i as u32 + 1, ro))
            .collect();
        assert_eq!(storage, expected, "{}: storage bindings", shader.name());
    }
}

/// Tile sizes are `const`s in the shaders and in Rust (which sizes the grids from them); every
/// register tile the crate dispatches fits the shaders' arrays.
#[test]
fn register_tiles_match_rust() {
    assert!(RegisterTile::ALL
        .iter()
        .all(|t| t.mr <= MR_MAX && t.nr <= NR_MAX));
    let gemm = [("MR_MAX", MR_MAX), ("NR_MAX", NR_MAX)];
    for (shader, consts) in [
        (
            Shader::Conv2dForward,
            &[
                ("MR_MAX", MR_MAX),
                ("NR_MAX", NR_MAX),
                ("BM", TILE),
                ("BN", TILE),
            ][..],
        ),
        (Shader::Conv2dBackwardData, &gemm[..]),
        (Shader::Conv2dBackwardFilter, &gemm[..]),
        (Shader::Conv2dDepthwise, &[("OWT", DEPTHWISE_OWT)][..]),
        (Shader::Matmul, &gemm[..]),
    ] {
        let (module, _) = parse(shader);
        for &(name, want) in consts {
            let (_, c) = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{}: no const {name}", shader.name()));
            let got = match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref e => panic!("{}: const {name} is {e:?}", shader.name()),
            };
            assert_eq!(got, want, "{}: const {name}", shader.name());
        }
    }
}
