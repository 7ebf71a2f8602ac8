//! Hand-made convolution filters through the GPU conv2d, as in the seeds: a vertical-line and
//! a horizontal-line filter (7×7, Géron's), Sobel Gx, Gy and their magnitude, a 5×5 box blur.
//! Writes one PNG per filter; with `--checkpoint`, also a grid of the model's first-layer
//! learned filters, and with `--feature-maps LAYER` a grid of that layer's response maps to
//! the picture.
//!
//! `cargo run --release --example filters [-- picture.png --out filters_out]`
//!
//! With no picture it uses `examples/data/sample.png`, a picture drawn by this program
//! (`--draw-sample` writes it again).

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use clap::Parser;
use std::collections::HashMap;

use image::{GrayImage, Luma, Rgb, RgbImage};
use wgcnn::nn::Layer;
use wgcnn::train::checkpoint::read_metadata;
use wgcnn::train::plot::{grid_png, Tile};
use wgcnn::train::Model;
use wgcnn::{conv2d, Conv2dParams, Gpu, Padding, Tensor};

#[derive(Parser)]
struct Args {
    #[arg(default_value = "examples/data/sample.png")]
    image: PathBuf,
    #[arg(long, default_value = "filters_out")]
    out: PathBuf,
    /// A checkpoint whose first conv layer's filters to draw as a grid.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// With --checkpoint: also the picture's feature maps at this layer (e.g. conv2d_2).
    #[arg(long)]
    feature_maps: Option<String>,
    /// Draw the sample picture to `image` first.
    #[arg(long)]
    draw_sample: bool,
}

fn main() {
    common::exit_on_error(run(Args::parse()));
}

/// A 160×120 scene with vertical and horizontal edges, a disc and a diagonal: stripes on the
/// left, a bright window grid on the right, a sun.
fn draw_sample(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (160u32, 120u32);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let sky = Rgb([40 + (y / 2) as u8, 80 + (y / 3) as u8, 160]);
        let sun = (fx - 120.0).powi(2) + (fy - 28.0).powi(2) < 14.0f32.powi(2);
        let tower = (20..60).contains(&x) && y > 40;
        let stripes = tower && (x / 5) % 2 == 0;
        let house = (80..150).contains(&x) && y > 64;
        let window = house && (x - 80) % 14 > 4 && (y - 64) % 14 > 5 && y < 110;
        let ground = fy > 110.0 - (fx - 80.0) * 0.1;
        match () {
            _ if sun => Rgb([250, 220, 60]),
            _ if window => Rgb([255, 250, 200]),
            _ if house => Rgb([150, 60, 50]),
            _ if stripes => Rgb([230, 230, 230]),
            _ if tower => Rgb([60, 60, 70]),
            _ if ground => Rgb([60, 120, 50]),
            _ => sky,
        }
    });
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    img.save(path)?;
    Ok(())
}

/// Writes `v` (`w × h`) as grey, scaled so its range fills 0..255.
fn save_grey(v: &[f32], w: usize, h: usize, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let span = (hi - lo).max(1e-6);
    let img = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([(255.0 * (v[y as usize * w + x as usize] - lo) / span) as u8])
    });
    img.save(path)?;
    Ok(())
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    if a.draw_sample || (!a.image.exists() && a.image == Path::new("examples/data/sample.png")) {
        draw_sample(&a.image)?;
        println!("drew {}", a.image.display());
    }
    let rgb = image::open(&a.image)
        .map_err(|e| format!("{}: {e}", a.image.display()))?
        .to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let grey: Vec<f32> = rgb
        .pixels()
        .map(|p| {
            (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0
        })
        .collect();
    let gpu = Gpu::new()?;
    let x = Tensor::from_slice(&gpu, [1, 1, h, w], &grey)?;
    std::fs::create_dir_all(&a.out)?;
    let line = |vertical: bool| -> Vec<f32> {
        (0..49)
            .map(|i| {
                if (if vertical { i % 7 } else { i / 7 }) == 3 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    };
    let sobel_x = vec![-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0];
    let sobel_y = vec![-1.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 1.0];
    let filters: Vec<(&str, usize, Vec<f32>)> = vec![
        ("vertical_lines", 7, line(true)),
        ("horizontal_lines", 7, line(false)),
        ("sobel_gx", 3, sobel_x),
        ("sobel_gy", 3, sobel_y),
        ("box_blur", 5, vec![1.0 / 25.0; 25]),
    ];
    save_grey(&grey, w, h, &a.out.join("input_grey.png"))?;
    let mut outputs = Vec::new();
    for (name, k, taps) in &filters {
        let wt = Tensor::from_slice(&gpu, [1, 1, *k, *k], taps)?;
        let y = conv2d(&x, &wt, None, &Conv2dParams::new(*k).padding(Padding::Same))?.to_vec()?;
        let path = a.out.join(format!("{name}.png"));
        save_grey(&y, w, h, &path)?;
        println!("wrote {}", path.display());
        outputs.push(y);
    }
    let magnitude: Vec<f32> = outputs[2]
        .iter()
        .zip(&outputs[3])
        .map(|(gx, gy)| (gx * gx + gy * gy).sqrt())
        .collect();
    let path = a.out.join("sobel_magnitude.png");
    save_grey(&magnitude, w, h, &path)?;
    println!("wrote {}", path.display());
    if let Some(ck) = &a.checkpoint {
        let (mut model, meta) = load_model(ck)?;
        let path = a.out.join("learned_filters.png");
        learned_grid(&model, &path)?;
        println!("wrote {}", path.display());
        if let Some(layer) = &a.feature_maps {
            let path = a.out.join(format!("feature_maps_{layer}.png"));
            feature_maps(&mut model, &meta, &a.image, layer, &path)?;
            println!("wrote {}", path.display());
        }
    } else if a.feature_maps.is_some() {
        return Err("--feature-maps needs --checkpoint".into());
    }
    Ok(())
}

/// A checkpoint's model, rebuilt from its metadata, with its weights.
fn load_model(ck: &Path) -> Result<(Model, HashMap<String, String>), Box<dyn std::error::Error>> {
    let meta = read_metadata(ck)?;
    let name = meta
        .get("model")
        .ok_or("the checkpoint does not name its model")?;
    let classes: Vec<String> =
        serde_json::from_str(meta.get("classes").map_or("[]", |s| s.as_str()))?;
    let graph = common::zoo(name, classes.len().max(1), 0)?;
    let mut model = Model::new(&Gpu::new()?, graph)?;
    model.load(ck)?;
    Ok((model, meta))
}

/// The first conv layer's filters of a checkpoint as a grid of enlarged tiles.
fn learned_grid(model: &Model, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let graph = model.graph();
    let node = graph
        .nodes()
        .iter()
        .find(|n| matches!(n.layer, Layer::Conv2d(_)))
        .ok_or("the model has no conv layer")?;
    let wname = format!("{}.weight", node.name);
    let (_, w) = model
        .parameters()?
        .into_iter()
        .find(|(n, _)| *n == wname)
        .ok_or("no first-layer weights")?;
    let shape = graph.params()[node.params[0]].spec.shape.dims().to_vec();
    let (o, c, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    // RGB filters in colour; otherwise each filter's first input channel.
    let shown = if c == 3 { 3 } else { 1 };
    let tiles: Vec<Tile<'_>> = w
        .chunks(c * kh * kw)
        .take(o)
        .enumerate()
        .map(|(f, taps)| Tile {
            label: format!("{f}"),
            shape: [shown, kh, kw],
            data: &taps[..shown * kh * kw],
        })
        .collect();
    let cols = (o as f64).sqrt().ceil() as usize;
    let title = format!("{}: {o} learned {kh}×{kw} filters", node.name);
    grid_png(out, &tiles, cols, 48, true, &title)?;
    Ok(())
}

/// The feature maps of `layer` for the picture: one grey tile per channel (64 at most).
fn feature_maps(
    model: &mut Model,
    meta: &HashMap<String, String>,
    picture: &Path,
    layer: &str,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let x = common::picture_input(model.graph(), meta, picture)?;
    let (shape, maps) = model.activations(&x, &[layer], 1)?.swap_remove(0);
    let &[_, c, h, w] = shape.dims() else {
        return Err(format!("{layer} outputs {shape}, not feature maps [1, c, h, w]").into());
    };
    let tiles: Vec<Tile<'_>> = maps
        .chunks(h * w)
        .take(64)
        .enumerate()
        .map(|(i, m)| Tile {
            label: format!("{i}"),
            shape: [1, h, w],
            data: m,
        })
        .collect();
    let cols = (tiles.len() as f64).sqrt().ceil() as usize;
    let title = format!("{layer}: {} of {c} maps, {h}×{w}", tiles.len());
    let px = (4 * h.max(w)).clamp(48, 96) as u32;
    grid_png(out, &tiles, cols, px, true, &title)?;
    Ok(())
}
