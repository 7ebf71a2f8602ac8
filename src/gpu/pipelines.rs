//! Compute pipelines, compiled once per (shader, entry point, override constants) and cached.
//! Shapes never enter the key: they travel in each dispatch's uniforms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::disk_cache::PipelineDiskCache;
use super::shaders::{Shader, TextureBinding};
use super::Gpu;
use crate::error::{Error, Result};

/// WGSL `override` constants for one pipeline, by name. All of wgcnn's overrides are `u32`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Overrides(pub Vec<(&'static str, u32)>);

impl Overrides {
    /// Overrides of `pairs`, each a WGSL `override` name and its value, in the order given
    /// (the order is part of the pipeline key).
    pub fn new(pairs: &[(&'static str, u32)]) -> Overrides {
        Overrides(pairs.to_vec())
    }
}

impl std::fmt::Display for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            write!(f, "{}{k}={v}", if i > 0 { "," } else { "" })?;
        }
        Ok(())
    }
}

/// Identifies one compiled pipeline.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PipelineKey {
    /// The WGSL module.
    pub shader: Shader,
    /// The compute entry point within it (one of `ShaderDef::entry_points`).
    pub entry: &'static str,
    /// The values of its `override` constants; those not named keep their WGSL defaults.
    pub overrides: Overrides,
}

pub(crate) struct Pipeline {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: Arc<wgpu::BindGroupLayout>,
}

/// A compiled shader module with the bind-group layout all its entry points share.
type Module = (Arc<wgpu::ShaderModule>, Arc<wgpu::BindGroupLayout>);

pub(crate) struct Cache {
    modules: Mutex<HashMap<Shader, Module>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<Pipeline>>>,
    /// The driver's pipeline cache, persisted across processes where the adapter has one.
    pub(crate) disk: Option<PipelineDiskCache>,
}

impl Cache {
    pub(crate) fn new(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Cache {
        Cache {
            modules: Mutex::default(),
            pipelines: Mutex::default(),
            disk: PipelineDiskCache::open(device, info),
        }
    }
}

fn poisoned() -> Error {
    Error::Wgpu {
        op: "pipeline cache".into(),
        message: "a thread panicked while compiling a pipeline".into(),
    }
}

impl Gpu {
    /// The pipeline for `key`, compiling it on first use.
    pub(crate) fn pipeline(&self, key: &PipelineKey) -> Result<Arc<Pipeline>> {
        if let Some(p) = self
            .0
            .pipelines
            .pipelines
            .lock()
            .map_err(|_| poisoned())?
            .get(key)
        {
            return Ok(p.clone());
        }
        let (module, layout) = self.module(key.shader)?;
        let device = &self.0.device;
        let constants: Vec<(&str, f64)> = key
            .overrides
            .0
            .iter()
            .map(|&(k, v)| (k, f64::from(v)))
            .collect();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(key.shader.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(key.entry),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(key.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: self.0.pipelines.disk.as_ref().map(|d| &d.cache),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Wgpu {
                op: format!(
                    "compile {}::{} [{}]",
                    key.shader.name, key.entry, key.overrides
                ),
                message: e.to_string(),
            });
        }
        let p = Arc::new(Pipeline { pipeline, layout });
        self.0
            .pipelines
            .pipelines
            .lock()
            .map_err(|_| poisoned())?
            .insert(key.clone(), p.clone());
        Ok(p)
    }

    fn module(&self, shader: Shader) -> Result<Module> {
        let mut modules = self.0.pipelines.modules.lock().map_err(|_| poisoned())?;
        if let Some(m) = modules.get(&shader) {
            return Ok(m.clone());
        }
        let device = &self.0.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        // SAFETY: these are the crate's own shaders, and every loop in them is bounded by
        // uniform counts that `resolve` validated (non-zero strides, u32-sized tensors). Loop
        // bounding adds a counter to every loop and costs 2.5× on lavapipe; bounds checks and
        // division guards stay on.
        let checks = wgpu::ShaderRuntimeChecks {
            force_loop_bounding: false,
            ..wgpu::ShaderRuntimeChecks::checked()
        };
        let module = unsafe {
            device.create_shader_module_trusted(
                wgpu::ShaderModuleDescriptor {
                    label: Some(shader.name),
                    source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                },
                checks,
            )
        };
        // Binding 0 is the uniform block; 1.. are storage buffers in the shader's order, then
        // the per-step block if the shader has one, then its textures.
        let entry = |binding: usize, ty| wgpu::BindGroupLayoutEntry {
            binding: binding as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = shader.storage_read_only.iter().enumerate();
        let entries: Vec<_> = std::iter::once(entry(0, wgpu::BufferBindingType::Uniform))
            .chain(storage.map(|(i, &read_only)| {
                entry(i + 1, wgpu::BufferBindingType::Storage { read_only })
            }))
            .chain(shader.per_step.map(|_| {
                let at = shader.storage_read_only.len() + 1;
                entry(at, wgpu::BufferBindingType::Uniform)
            }))
            .chain(shader.textures.iter().enumerate().map(|(i, t)| {
                let at = shader.texture_binding(i);
                wgpu::BindGroupLayoutEntry {
                    binding: at,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: match t {
                        TextureBinding::Read => wgpu::BindingType::Texture {
                            sample_type: wgpu::TextureSampleType::Float { filterable: false },
                            view_dimension: wgpu::TextureViewDimension::D2Array,
                            multisampled: false,
                        },
                        TextureBinding::Write => wgpu::BindingType::StorageTexture {
                            access: wgpu::StorageTextureAccess::WriteOnly,
                            format: wgpu::TextureFormat::Rgba32Float,
                            view_dimension: wgpu::TextureViewDimension::D2Array,
                        },
                    },
                    count: None,
                }
            }))
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(shader.name),
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Wgpu {
                op: format!("compile {}", shader.name),
                message: e.to_string(),
            });
        }
        let m = (Arc::new(module), Arc::new(layout));
        modules.insert(shader, m.clone());
        Ok(m)
    }
}
