//! IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::Dataset;

/// Fashion-MNIST's class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Where Debian's `dataset-fashion-mnist` package puts the files.
const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Decompressed size past which a gzip IDX file is refused (MNIST's largest is 47 MB).
const GZIP_LIMIT: u64 = 1 << 30;

/// An unsigned-byte IDX array.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions from the file's header, outermost first (`[n, 28, 28]` for MNIST
    /// images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// The values, row-major (last index fastest); `dims`' product of them.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes (type 0x08), gzip-compressed or not.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(Error::io(path))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(GZIP_LIMIT + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip data: {e}")))?;
        if out.len() as u64 > GZIP_LIMIT {
            return Err(Error::format(path, "decompresses to more than 1 GiB"));
        }
        out
    } else {
        raw
    };
    parse(&bytes).map_err(|what| Error::format(path, what))
}

fn parse(b: &[u8]) -> std::result::Result<IdxArray, String> {
    if b.len() < 4 {
        return Err(format!("{} bytes: too short for an IDX header", b.len()));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(format!(
            "bad magic {:02x}{:02x}: not an IDX file",
            b[0], b[1]
        ));
    }
    if b[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x}: only unsigned bytes (0x08) are supported",
            b[2]
        ));
    }
    let rank = usize::from(b[3]);
    if !(1..=4).contains(&rank) {
        return Err(format!("{rank} dimensions: expected 1 to 4"));
    }
    let head = 4 + 4 * rank;
    if b.len() < head {
        return Err(format!("{} bytes: the header needs {head}", b.len()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes([b[4 + 4 * i], b[5 + 4 * i], b[6 + 4 * i], b[7 + 4 * i]]) as usize
        })
        .collect();
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n == b.len() - head => Ok(IdxArray {
            dims,
            data: b[head..].to_vec(),
        }),
        _ => Err(format!(
            "header says {dims:?} but {} data bytes follow",
            b.len() - head
        )),
    }
}

/// Images `[n, h, w]` and labels `[n]` (each below `classes`) as a dataset of `[1, h, w]`
/// samples scaled to [0, 1].
pub fn idx_dataset(images: &Path, labels: &Path, classes: usize) -> Result<Dataset> {
    let x = read_idx(images)?;
    let y = read_idx(labels)?;
    let &[n, h, w] = x.dims.as_slice() else {
        return Err(Error::format(
            images,
            format!("dimensions {:?}: expected [n, h, w]", x.dims),
        ));
    };
    if y.dims != [n] {
        return Err(Error::format(
            labels,
            format!("dimensions {:?}: expected [{n}] labels", y.dims),
        ));
    }
    if let Some((i, l)) = y
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= classes)
    {
        return Err(Error::format(
            labels,
            format!("label {l} at {i}: classes are 0..{classes}"),
        ));
    }
    let pixels = x.data.iter().map(|&v| f32::from(v) / 255.0).collect();
    Dataset::classification(
        pixels,
        [1, h, w],
        y.data.iter().map(|&l| u32::from(l)).collect(),
        classes,
    )
}

/// The first of `names` that exists in `dir`, with or without `.gz`.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Fashion-MNIST (train, test) from `dir`, else from Debian's `dataset-fashion-mnist`
/// package, else from `<data dir>/fashion-mnist`.
pub fn fashion_mnist(dir: Option<&Path>) -> Result<(Dataset, Dataset)> {
    let candidates: Vec<PathBuf> = match dir {
        Some(d) => vec![d.to_path_buf(), d.join("fashion-mnist")],
        None => vec![
            PathBuf::from(DEBIAN_FASHION_MNIST),
            super::data_dir(None).join("fashion-mnist"),
        ],
    };
    let files = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    for d in &candidates {
        let found: Vec<Option<PathBuf>> = files.iter().map(|f| find(d, f)).collect();
        if let [Some(a), Some(b), Some(c), Some(e)] = found.as_slice() {
            return Ok((idx_dataset(a, b, 10)?, idx_dataset(c, e, 10)?));
        }
    }
    Err(Error::Model(format!(
        "Fashion-MNIST not found in {}: install it with `apt-get install dataset-fashion-mnist` or put {} (optionally .gz) there",
        candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or "),
        files.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn headers_must_match_the_data() {
        let mut ok = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        ok.extend([1, 2, 3, 4, 5, 6]);
        assert_eq!(parse(&ok).unwrap().dims, vec![2, 3]);
        assert!(parse(&ok[..ok.len() - 1]).is_err());
        let mut huge = ok.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&huge).is_err(), "no allocation sized by the header");
        let mut float = ok.clone();
        float[2] = 0x0d;
        assert!(parse(&float).is_err());
    }
}
