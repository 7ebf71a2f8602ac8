//! Datasets from folders of pictures: `root/<class>/*.{png,jpg,jpeg}`, classes in name order,
//! each picture centre-cropped to a square and resized.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::error::{Error, Result};
use crate::train::Dataset;

fn is_picture(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// One picture as `[3, size, size]` values in [0, 1] (CHW): the centre square, resized to
/// `size × size`.
pub fn load_image(path: &Path, size: u32) -> Result<Vec<f32>> {
    if size == 0 {
        return Err(Error::invalid(
            "load_image",
            "size",
            0,
            "must be at least 1",
        ));
    }
    let img = image::ImageReader::open(path)
        .map_err(Error::io(path))?
        .with_guessed_format()
        .map_err(Error::io(path))?
        .decode()
        .map_err(|e| Error::format(path, format!("cannot decode the picture: {e}")))?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(Error::format(path, "the picture is empty"));
    }
    // The centre square first, then one resize: a long thin picture never becomes a huge
    // intermediate image.
    let side = w.min(h);
    let square = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    let rgb = square
        .resize_exact(size, size, FilterType::Triangle)
        .to_rgb8();
    let s = size as usize;
    let mut out = vec![0.0; 3 * s * s];
    for y in 0..s {
        for x in 0..s {
            let p = rgb.get_pixel(x as u32, y as u32);
            for c in 0..3 {
                out[(c * s + y) * s + x] = f32::from(p[c]) / 255.0;
            }
        }
    }
    Ok(out)
}

/// A dataset from `root/<class>/<pictures>` at `size × size`, with the class names by label.
pub fn image_folder(root: &Path, size: u32) -> Result<(Dataset, Vec<String>)> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(Error::io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(Error::format(
            root,
            "no class folders (expected root/<class>/<pictures>)",
        ));
    }
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for (label, dir) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(Error::io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_picture(p))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::format(
                dir,
                "no .png, .jpg or .jpeg pictures in this class folder",
            ));
        }
        for f in files {
            x.extend(load_image(&f, size)?);
            labels.push(label as u32);
        }
    }
    let names = classes
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let s = size as usize;
    Ok((
        Dataset::classification(x, [3, s, s], labels, classes.len())?,
        names,
    ))
}
