//! One picture file to a CHW tensor in [0, 1]: decoding, the colour mode, and Keras's three
//! ways to reach a target size (squash, crop to the aspect ratio, pad to it).

use std::path::Path;

use image::imageops::FilterType;
use image::DynamicImage;

use crate::error::{Error, Result};

/// How a picture reaches the target size.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Resize {
    /// Resized to the target size, the aspect ratio not kept (Keras's default).
    #[default]
    Squash,
    /// The largest centred window of the target's aspect ratio, resized (Keras's
    /// `crop_to_aspect_ratio=True`).
    CropToAspect,
    /// Resized to fit inside the target keeping its aspect ratio, centred, the rest zeros
    /// (Keras's `pad_to_aspect_ratio=True`).
    PadToAspect,
}

/// Channels of the decoded picture (Keras's `color_mode`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ColorMode {
    /// One channel, the luma.
    Grayscale,
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
}

impl ColorMode {
    /// Channels per pixel.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// The resampling filter of a resize. Shrinking filters over the whole source window (the
/// `image` crate's resize), so a large picture made small does not alias.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Interpolation {
    /// Nearest neighbour.
    Nearest,
    /// Linear (a triangle filter).
    #[default]
    Bilinear,
    /// Catmull–Rom cubic.
    Bicubic,
    /// Lanczos with a window of 3.
    Lanczos3,
}

impl Interpolation {
    fn filter(self) -> FilterType {
        match self {
            Interpolation::Nearest => FilterType::Nearest,
            Interpolation::Bilinear => FilterType::Triangle,
            Interpolation::Bicubic => FilterType::CatmullRom,
            Interpolation::Lanczos3 => FilterType::Lanczos3,
        }
    }
}

/// How a picture file becomes a sample: `[channels, height, width]` values in [0, 1].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PictureOptions {
    /// Target (height, width), each at least 1.
    pub size: (u32, u32),
    /// How the picture reaches `size`.
    pub resize: Resize,
    /// The channels kept.
    pub color: ColorMode,
    /// The resampling filter.
    pub interpolation: Interpolation,
}

impl PictureOptions {
    /// An RGB `side × side` sample from the picture's centre square, bilinear.
    pub fn square(side: u32) -> PictureOptions {
        PictureOptions {
            size: (side, side),
            resize: Resize::CropToAspect,
            color: ColorMode::Rgb,
            interpolation: Interpolation::Bilinear,
        }
    }

    /// Values per sample.
    pub fn numel(&self) -> usize {
        self.color.channels() * self.size.0 as usize * self.size.1 as usize
    }

    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        if self.size.0 == 0 || self.size.1 == 0 {
            return Err(Error::invalid(
                op,
                "size",
                format!("{:?}", self.size),
                "height and width must be at least 1",
            ));
        }
        Ok(())
    }
}

/// One picture as `[3, size, size]` values in [0, 1] (CHW): the centre square, resized to
/// `size × size`.
pub fn load_image(path: &Path, size: u32) -> Result<Vec<f32>> {
    load_picture(path, &PictureOptions::square(size))
}

/// One picture file (PNG or JPEG, the format read from its bytes) as a CHW sample.
pub fn load_picture(path: &Path, opts: &PictureOptions) -> Result<Vec<f32>> {
    opts.check("load_picture")?;
    let img = image::ImageReader::open(path)
        .map_err(Error::io(path))?
        .with_guessed_format()
        .map_err(Error::io(path))?
        .decode()
        .map_err(|e| Error::format(path, format!("cannot decode the picture: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::format(path, "the picture is empty"));
    }
    Ok(to_sample(&img, opts))
}

/// The sample of a decoded, non-empty picture.
pub(crate) fn to_sample(img: &DynamicImage, opts: &PictureOptions) -> Vec<f32> {
    let (th, tw) = (opts.size.0, opts.size.1);
    let (w, h) = (img.width(), img.height());
    let filter = opts.interpolation.filter();
    // Crop before resizing and resize before padding: a long thin picture never becomes a
    // large intermediate image.
    let (resized, top, left) = match opts.resize {
        Resize::Squash => (img.resize_exact(tw, th, filter), 0, 0),
        Resize::CropToAspect => {
            // Keras's window: as tall as the width allows at the target ratio, then as wide.
            let ch = ((u64::from(w) * u64::from(th) / u64::from(tw)) as u32).clamp(1, h);
            let cw = ((u64::from(h) * u64::from(tw) / u64::from(th)) as u32).clamp(1, w);
            let window = img.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch);
            (window.resize_exact(tw, th, filter), 0, 0)
        }
        Resize::PadToAspect => {
            let scale = (f64::from(th) / f64::from(h)).min(f64::from(tw) / f64::from(w));
            let rh = ((f64::from(h) * scale).round() as u32).clamp(1, th);
            let rw = ((f64::from(w) * scale).round() as u32).clamp(1, tw);
            (
                img.resize_exact(rw, rh, filter),
                (th - rh) / 2,
                (tw - rw) / 2,
            )
        }
    };
    let (th, tw) = (th as usize, tw as usize);
    let channels = opts.color.channels();
    let mut out = vec![0.0; channels * th * tw];
    let (rw, rh) = (resized.width() as usize, resized.height() as usize);
    let mut put = |bytes: &[u8], per: usize| {
        for y in 0..rh {
            for x in 0..rw {
                let p = &bytes[(y * rw + x) * per..][..per];
                for (c, &v) in p.iter().enumerate() {
                    out[(c * th + top as usize + y) * tw + left as usize + x] =
                        f32::from(v) / 255.0;
                }
            }
        }
    };
    match opts.color {
        ColorMode::Grayscale => put(resized.to_luma8().as_raw(), 1),
        ColorMode::Rgb => put(resized.to_rgb8().as_raw(), 3),
        ColorMode::Rgba => put(resized.to_rgba8().as_raw(), 4),
    }
    out
}
