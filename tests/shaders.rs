//! Every shader parses and validates with naga, every file on its own and every pipeline with
//! the override set the crate dispatches; uniform blocks and bindings match their Rust mirrors;
//! the copies of `shaders/common/*.wgsl` equal their files.

use naga::back::pipeline_constants::process_overrides;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, ImageClass, ImageDimension, Module, ShaderStage, StorageAccess};
use naga::{StorageFormat, TypeInner};
use std::path::{Path, PathBuf};

use wgcnn::gpu::{Shader, TextureBinding};
use wgcnn::ops::conv2d::kernel::{RegisterTile, MR_MAX, NR_MAX};
use wgcnn::ops::conv2d::shaders::{self as conv, DEPTHWISE_OWT, TILE};
use wgcnn::ops::{all_pipelines, matmul, SHADERS};

/// The capabilities wgcnn's device may have: none, or SUBGROUP for the shaders that need it.
fn capabilities(shader: Shader) -> Capabilities {
    if shader.needs_subgroups {
        Capabilities::SUBGROUP
    } else {
        Capabilities::empty()
    }
}

fn validate(name: &str, source: &str, caps: Capabilities) -> (Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    (module, info)
}

fn parse(shader: Shader) -> (Module, naga::valid::ModuleInfo) {
    validate(shader.name, shader.source, capabilities(shader))
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
                key.shader.name
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
                key.shader.name, key.entry, key.overrides
            )
        });
        let mut v = Validator::new(ValidationFlags::all(), capabilities(key.shader));
        v.validate(&done).unwrap_or_else(|e| {
            panic!(
                "{}::{} [{}] after overrides: {e:?}",
                key.shader.name, key.entry, key.overrides
            )
        });
    }
}

#[test]
fn every_entry_point_is_declared_and_dispatched() {
    let keys = all_pipelines();
    for &shader in SHADERS {
        let (module, _) = parse(shader);
        let mut found: Vec<&str> = module
            .entry_points
            .iter()
            .filter(|e| e.stage == ShaderStage::Compute)
            .map(|e| e.name.as_str())
            .collect();
        found.sort_unstable();
        let mut declared = shader.entry_points.to_vec();
        declared.sort_unstable();
        assert_eq!(
            found, declared,
            "{}: registry and file disagree",
            shader.name
        );
        for entry in shader.entry_points {
            assert!(
                keys.iter().any(|k| k.shader == shader && k.entry == *entry),
                "{}::{entry} is never dispatched (no pipeline key)",
                shader.name
            );
        }
    }
}

#[test]
fn uniform_blocks_and_bindings_match_rust() {
    for &shader in SHADERS {
        let (module, _) = parse(shader);
        let per_step_at = shader.storage_read_only.len() as u32 + 1;
        let (mut storage, mut textures) = (Vec::new(), Vec::new());
        let (mut uniform_seen, mut per_step_seen) = (false, false);
        for (_, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            assert_eq!(
                binding.group, 0,
                "{}: everything lives in group 0",
                shader.name
            );
            match var.space {
                AddressSpace::Uniform => {
                    // Binding 0 is `Params`; the per-step block follows the storage buffers.
                    let (layout, what) = match binding.binding {
                        0 => (shader.uniform, "uniform"),
                        b if b == per_step_at && shader.per_step.is_some() => {
                            (shader.per_step.unwrap(), "per-step block")
                        }
                        b => panic!("{}: a uniform at binding {b}", shader.name),
                    };
                    let TypeInner::Struct { members, span } = &module.types[var.ty].inner else {
                        panic!("{}: {what} is not a struct", shader.name);
                    };
                    assert_eq!(*span as usize, layout.size, "{}: {what} size", shader.name);
                    let wgsl: Vec<(&str, usize)> = members
                        .iter()
                        .map(|m| (m.name.as_deref().unwrap_or(""), m.offset as usize))
                        .collect();
                    assert_eq!(
                        wgsl,
                        layout.fields.to_vec(),
                        "{}: {what} fields",
                        shader.name
                    );
                    match binding.binding {
                        0 => uniform_seen = true,
                        _ => per_step_seen = true,
                    }
                }
                AddressSpace::Storage { access } => {
                    storage.push((binding.binding, !access.contains(StorageAccess::STORE)));
                }
                AddressSpace::Handle => {
                    let TypeInner::Image {
                        dim: ImageDimension::D2,
                        arrayed: true,
                        class,
                    } = module.types[var.ty].inner
                    else {
                        panic!("{}: a handle that is not a 2D texture array", shader.name);
                    };
                    let kind = match class {
                        ImageClass::Sampled { multi: false, .. } => TextureBinding::Read,
                        ImageClass::Storage {
                            format: StorageFormat::Rgba32Float,
                            access,
                        } if !access.contains(StorageAccess::LOAD) => TextureBinding::Write,
                        other => panic!("{}: texture class {other:?}", shader.name),
                    };
                    textures.push((binding.binding, kind));
                }
                _ => {}
            }
        }
        assert!(uniform_seen, "{}: no uniform block", shader.name);
        assert_eq!(
            per_step_seen,
            shader.per_step.is_some(),
            "{}: the per-step block at binding {per_step_at}",
            shader.name
        );
        storage.sort_unstable();
        let expected: Vec<(u32, bool)> = shader
            .storage_read_only
            .iter()
            .enumerate()
            .map(|(i, &ro)| (i as u32 + 1, ro))
            .collect();
        assert_eq!(storage, expected, "{}: storage bindings", shader.name);
        // Textures follow the storage buffers and the per-step block (gpu/pipelines.rs).
        textures.sort_unstable_by_key(|t| t.0);
        let first = per_step_at + u32::from(shader.per_step.is_some());
        let expected: Vec<(u32, TextureBinding)> =
            (first..).zip(shader.textures.to_vec()).collect();
        assert_eq!(textures, expected, "{}: textures", shader.name);
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
            &conv::FORWARD,
            &[
                ("MR_MAX", MR_MAX),
                ("NR_MAX", NR_MAX),
                ("BM", TILE),
                ("BN", TILE),
            ][..],
        ),
        (&conv::BACKWARD_DATA, &gemm[..]),
        (&conv::BACKWARD_FILTER, &gemm[..]),
        (&conv::DEPTHWISE, &[("OWT", DEPTHWISE_OWT)][..]),
        (&matmul::gpu::SHADER, &gemm[..]),
    ] {
        let shader: Shader = shader;
        let (module, _) = parse(shader);
        for &(name, want) in consts {
            let (_, c) = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{}: no const {name}", shader.name));
            let got = match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                ref e => panic!("{}: const {name} is {e:?}", shader.name),
            };
            assert_eq!(got, want, "{}: const {name}", shader.name);
        }
    }
}

fn shader_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

/// Every `.wgsl` file under `shaders/`, by its path relative to that folder.
fn wgsl_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![shader_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                let rel = path.strip_prefix(shader_dir()).unwrap();
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_file_validates_on_its_own_and_is_registered() {
    let files = wgsl_files();
    assert!(files.len() >= SHADERS.len());
    for (name, text) in &files {
        let def = SHADERS.iter().find(|s| s.source == text.as_str());
        let caps = def.map_or(Capabilities::empty(), |&s| capabilities(s));
        validate(name, text, caps);
        if name.starts_with("common/") {
            let marker = format!("// #include {name} ");
            assert!(
                files.iter().any(|(_, t)| t.contains(&marker)),
                "{name} is included nowhere"
            );
        } else {
            assert!(
                def.is_some(),
                "{name} is the source of no registered shader"
            );
        }
    }
    for shader in SHADERS {
        assert_eq!(
            SHADERS.iter().filter(|s| s.name == shader.name).count(),
            1,
            "{}: two shaders share the name",
            shader.name
        );
    }
}

/// The copies of `shaders/common/*.wgsl` in the kernels: `// #include <file> …` line, the
/// file's text, `// #end <file>`. `WGCNN_SYNC_SHADERS=1` rewrites them from their files
/// instead of failing.
#[test]
fn shared_pieces_equal_their_files() {
    let sync = std::env::var("WGCNN_SYNC_SHADERS").is_ok_and(|v| v == "1");
    for (name, text) in wgsl_files() {
        let mut out = String::new();
        let mut lines = text.split_inclusive('\n');
        while let Some(line) = lines.next() {
            out.push_str(line);
            let Some(rest) = line.strip_prefix("// #include ") else {
                continue;
            };
            let piece = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let want = std::fs::read_to_string(shader_dir().join(&piece))
                .unwrap_or_else(|e| panic!("{name}: includes {piece}: {e}"));
            let end = format!("// #end {piece}");
            let mut got = String::new();
            loop {
                let l = lines
                    .next()
                    .unwrap_or_else(|| panic!("{name}: no `{end}` line"));
                if l.trim_end() == end {
                    out.push_str(&want);
                    out.push_str(l);
                    break;
                }
                got.push_str(l);
            }
            assert!(
                sync || got == want,
                "{name}: its copy of {piece} differs from the file \
                 (WGCNN_SYNC_SHADERS=1 cargo test --test shaders rewrites it)"
            );
        }
        if sync && out != text {
            std::fs::write(shader_dir().join(&name), out).unwrap();
        }
    }
}

/// Every `.rs` file under `src/ops`, with the op family (its first folder) it belongs to.
fn op_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&root).unwrap();
                let family = rel.iter().next().unwrap().to_string_lossy().into_owned();
                out.push((family, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out
}

/// The quoted strings after `start` up to the matching `)` / `}`, e.g. the two arguments of
/// `entry_point!(FORWARD, "forward")`.
fn macro_args<'a>(text: &'a str, start: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for piece in text.split(start).skip(1) {
        let Some((ident, rest)) = piece.split_once(',') else {
            continue;
        };
        let Some(name) = rest
            .trim_start()
            .strip_prefix('"')
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        out.push((ident.trim(), name));
    }
    out
}

/// A declared entry point that no call site names is a kernel nobody runs: every one must
/// appear in an `entry_point!(DEF, "name")` of its op family, `DEF` being the static that
/// defines its shader.
#[test]
fn every_entry_point_is_named_by_a_call_site() {
    let sources = op_sources();
    // (family, static ident) → shader name, from `static IDENT: ShaderDef = ShaderDef { name: "…"`.
    let mut defs = Vec::new();
    for (family, text) in &sources {
        for piece in text.split("static ").skip(1) {
            let Some((ident, rest)) = piece.split_once(": ShaderDef = ShaderDef {") else {
                continue;
            };
            let name = rest.split('"').nth(1).unwrap();
            let ident = ident.trim().to_string();
            assert!(
                !defs.iter().any(|(f, i, _)| f == family && *i == ident),
                "two shaders named {ident} in ops::{family}: call sites could not tell them apart"
            );
            defs.push((family.clone(), ident, name.to_string()));
        }
    }
    assert_eq!(
        defs.len(),
        SHADERS.len(),
        "one static ShaderDef per registered shader"
    );
    let mut named = Vec::new();
    for (family, text) in &sources {
        for (ident, entry) in macro_args(text, "entry_point!(") {
            let ident = ident.rsplit("::").next().unwrap();
            let def = defs
                .iter()
                .find(|(f, i, _)| f == family && i == ident)
                .unwrap_or_else(|| {
                    panic!("entry_point!({ident}, \"{entry}\"): no such shader in ops::{family}")
                });
            named.push((def.2.clone(), entry.to_string()));
        }
    }
    for shader in SHADERS {
        for entry in shader.entry_points {
            assert!(
                named.iter().any(|(s, e)| s == shader.name && e == entry),
                "{}::{entry} is named by no call site (entry_point!)",
                shader.name
            );
        }
    }
}
