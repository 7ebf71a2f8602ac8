//! One picture under N random draws of the GPU augmentation, as a grid PNG: what the
//! tutorials' `RandomFlip` / `RandomRotation` / `RandomZoom` / `RandomTranslation` /
//! `RandomContrast` / `RandomBrightness` stack (and `ImageDataGenerator`'s shear and fill
//! modes) will feed a model.
//!
//! `cargo run --release --example augment_preview [-- picture.png --draws 12 --fill reflect]`

use std::path::PathBuf;

use clap::Parser;
use wgcnn::ops::augment::{augment, AugmentParams, FillMode};
use wgcnn::train::plot::{grid_png, Tile};
use wgcnn::{Gpu, Tensor};

#[derive(Parser)]
struct Args {
    /// A PNG or JPEG picture (its centre square is used).
    #[arg(default_value = "examples/data/sample.png")]
    image: PathBuf,
    /// How many draws to show (the first tile is the picture itself).
    #[arg(long, default_value_t = 11)]
    draws: usize,
    /// Side of the square the picture is resized to.
    #[arg(long, default_value_t = 128)]
    size: u32,
    /// Horizontal flips (RandomFlip("horizontal")).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    flip: bool,
    /// Vertical flips as well.
    #[arg(long)]
    vflip: bool,
    /// RandomRotation factor: up to factor · 360° either way.
    #[arg(long, default_value_t = 0.05)]
    rotation: f32,
    /// RandomZoom height factor: zoom by 1 + z, z in [−f, f].
    #[arg(long, default_value_t = 0.2)]
    zoom: f32,
    /// RandomTranslation factor, of the height and width.
    #[arg(long, default_value_t = 0.1)]
    translate: f32,
    /// ImageDataGenerator shear_range, in degrees.
    #[arg(long, default_value_t = 10.0)]
    shear: f32,
    /// RandomContrast factor.
    #[arg(long, default_value_t = 0.2)]
    contrast: f32,
    /// RandomBrightness factor (of the 0..1 value range).
    #[arg(long, default_value_t = 0.2)]
    brightness: f32,
    /// constant, nearest, reflect, wrap or mirror.
    #[arg(long, default_value = "reflect")]
    fill: String,
    #[arg(long, default_value_t = 1)]
    seed: u32,
    #[arg(long, default_value = "augment_preview.png")]
    out: PathBuf,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fill = match a.fill.as_str() {
        "constant" => FillMode::Constant(0.0),
        "nearest" => FillMode::Nearest,
        "reflect" => FillMode::Reflect,
        "wrap" => FillMode::Wrap,
        "mirror" => FillMode::Mirror,
        other => {
            return Err(
                format!("--fill {other}: use constant, nearest, reflect, wrap or mirror").into(),
            )
        }
    };
    let p = AugmentParams {
        flip: a.flip,
        vflip: a.vflip,
        translate: (a.translate, a.translate),
        max_angle: a.rotation * 2.0 * std::f32::consts::PI,
        zoom: (-a.zoom, a.zoom),
        max_shear: a.shear.to_radians(),
        contrast: a.contrast,
        brightness: a.brightness,
        fill,
        ..AugmentParams::default()
    };
    p.validate()?;
    if a.draws == 0 {
        return Err("--draws must be at least 1".into());
    }
    let picture = wgcnn::data::load_image(&a.image, a.size)?;
    let s = a.size as usize;
    let batch: Vec<f32> = picture
        .iter()
        .copied()
        .cycle()
        .take(a.draws * picture.len())
        .collect();
    let gpu = Gpu::new()?;
    let x = Tensor::from_slice(&gpu, [a.draws, 3, s, s], &batch)?;
    // Each image of a batch gets its own draws.
    let y = augment(&x, &p, a.seed, 0)?.to_vec()?;
    let mut tiles = vec![Tile {
        label: "original".into(),
        shape: [3, s, s],
        data: &picture,
    }];
    tiles.extend(y.chunks(picture.len()).enumerate().map(|(i, d)| Tile {
        label: format!("draw {}", i + 1),
        shape: [3, s, s],
        data: d,
    }));
    let title = format!("{} random draws, fill {}", a.draws, a.fill);
    println!(
        "flip {}, vflip {}, rotation {}, zoom {}, translation {}, shear {}°, contrast {}, brightness {}",
        a.flip, a.vflip, a.rotation, a.zoom, a.translate, a.shear, a.contrast, a.brightness
    );
    grid_png(&a.out, &tiles, 4, a.size, false, &title)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
