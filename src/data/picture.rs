//! One picture file to a CHW tensor in [0, 1]: decoding, the colour mode, and Keras's three
//! ways to reach a target size (squash, crop to the aspect ratio, pad to it).

use std::path::Path;

use image::imageops::FilterType;
use image::DynamicImage;

use crate::error::{Error, Result};

/// How a picture reaches the target size.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
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
    /// The ImageNet evaluation transform (torchvision's `Resize(256)` + `CenterCrop(224)`,
    /// timm's `crop_pct`): resized keeping the aspect ratio so that the target fits in the
    /// centre `crop_fraction` of it, then that centre cut out. `crop_fraction` is in (0, 1].
    ResizeThenCrop {
        /// The fraction of the resized picture the target covers (0.875 for 224 of 256).
        crop_fraction: f32,
    },
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

/// Per-channel `(x − mean) / std` after scaling to [0, 1] (a pretrained model's preset).
#[derive(Clone, PartialEq, Debug)]
pub struct Normalize {
    /// One mean per channel.
    pub mean: Vec<f32>,
    /// One standard deviation per channel, each > 0.
    pub std: Vec<f32>,
}

/// How a picture file becomes a sample: `[channels, height, width]` values in [0, 1], or
/// normalised.
#[derive(Clone, PartialEq, Debug)]
pub struct PictureOptions {
    /// Target (height, width), each at least 1.
    pub size: (u32, u32),
    /// How the picture reaches `size`.
    pub resize: Resize,
    /// The channels kept.
    pub color: ColorMode,
    /// The resampling filter.
    pub interpolation: Interpolation,
    /// Normalisation after scaling to [0, 1]; `None` keeps [0, 1].
    pub normalize: Option<Normalize>,
}

impl PictureOptions {
    /// An RGB `side × side` sample from the picture's centre square, bilinear.
    pub fn square(side: u32) -> PictureOptions {
        PictureOptions {
            size: (side, side),
            resize: Resize::CropToAspect,
            color: ColorMode::Rgb,
            interpolation: Interpolation::Bilinear,
            normalize: None,
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
        if u64::from(self.size.0) * u64::from(self.size.1) > MAX_PIXELS {
            return Err(Error::invalid(
                op,
                "size",
                format!("{:?}", self.size),
                "at most 2^28 pixels per sample",
            ));
        }
        if let Resize::ResizeThenCrop { crop_fraction: f } = self.resize {
            if !(f > 0.0 && f <= 1.0) {
                return Err(Error::invalid(op, "crop_fraction", f, "must be in (0, 1]"));
            }
        }
        if let Some(n) = &self.normalize {
            let c = self.color.channels();
            if n.mean.len() != c
                || n.std.len() != c
                || n.mean.iter().any(|m| !m.is_finite())
                || n.std.iter().any(|&s| !s.is_finite() || s <= 0.0)
            {
                return Err(Error::invalid(
                    op,
                    "normalize",
                    format!("{} means, {} stds", n.mean.len(), n.std.len()),
                    format!("one finite mean and one std > 0 per channel ({c})"),
                ));
            }
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
    to_sample(&img, opts).ok_or_else(|| {
        Error::invalid(
            "load_picture",
            "size",
            format!("{:?}", opts.size),
            format!(
                "resizing this {}×{} picture needs more than 2^28 pixels",
                img.width(),
                img.height()
            ),
        )
    })
}

/// Most pixels of a sample or of the resized picture it is cut from (a 1 GiB f32 plane).
const MAX_PIXELS: u64 = 1 << 28;

/// The sample of a decoded, non-empty picture; `None` when it, or the resized picture it is
/// cut from, would pass [`MAX_PIXELS`].
pub(crate) fn to_sample(img: &DynamicImage, opts: &PictureOptions) -> Option<Vec<f32>> {
    let (th, tw) = (opts.size.0, opts.size.1);
    let (w, h) = (img.width(), img.height());
    let filter = opts.interpolation.filter();
    // Crop before resizing and resize before padding: a long thin picture never becomes a
    // large intermediate image (the ImageNet transform resizes first, as its reference does).
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
        Resize::ResizeThenCrop { crop_fraction } => {
            // timm: the shorter side becomes ⌊target / crop_fraction⌋ (256 for 224 at 0.875),
            // the other keeps the ratio; then the centre target is cut.
            let side = (f64::from(th.max(tw)) / f64::from(crop_fraction)).floor();
            let scale = side / f64::from(h.min(w));
            let (rh, rw) = (f64::from(h) * scale, f64::from(w) * scale);
            if rh * rw > MAX_PIXELS as f64 {
                return None;
            }
            let rh = (rh.round() as u32).max(th);
            let rw = (rw.round() as u32).max(tw);
            let resized = img.resize_exact(rw, rh, filter);
            (resized.crop_imm((rw - tw) / 2, (rh - th) / 2, tw, th), 0, 0)
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
    if let Some(n) = &opts.normalize {
        for (c, plane) in out.chunks_mut(th * tw).enumerate() {
            plane
                .iter_mut()
                .for_each(|v| *v = (*v - n.mean[c]) / n.std[c]);
        }
    }
    Some(out)
}
