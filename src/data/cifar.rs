//! CIFAR-10 in its binary form: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`,
//! records of one label byte and 3 × 32 × 32 pixel bytes (red, green, blue planes: CHW).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::Dataset;

/// CIFAR-10's class names, by label.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const RECORD: usize = 1 + 3 * 32 * 32;
const TRAIN: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST: &str = "test_batch.bin";
/// The folder the official archive extracts to.
const FOLDER: &str = "cifar-10-batches-bin";

/// Reads one batch file: (pixels, `n · 3072` bytes CHW per image; labels, `n` bytes).
pub fn read_cifar_batch(path: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let b = std::fs::read(path).map_err(Error::io(path))?;
    if b.is_empty() || b.len() % RECORD != 0 {
        return Err(Error::format(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte records",
                b.len()
            ),
        ));
    }
    let n = b.len() / RECORD;
    let (mut pixels, mut labels) = (Vec::with_capacity(n * (RECORD - 1)), Vec::with_capacity(n));
    for (i, rec) in b.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(Error::format(
                path,
                format!("record {i} has label {}: classes are 0..10", rec[0]),
            ));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}

fn dataset(files: &[PathBuf]) -> Result<Dataset> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for f in files {
        let (p, l) = read_cifar_batch(f)?;
        x.extend(p.iter().map(|&v| f32::from(v) / 255.0));
        y.extend(l.iter().map(|&l| u32::from(l)));
    }
    Dataset::classification(x, [3, 32, 32], y, 10)
}

/// The folder of `dir` that holds the batch files (`dir` itself or its `cifar-10-batches-bin`).
fn batches_in(dir: &Path) -> Option<PathBuf> {
    [dir.join(FOLDER), dir.to_path_buf()]
        .into_iter()
        .find(|d| TRAIN.iter().chain([&TEST]).all(|f| d.join(f).is_file()))
}

/// CIFAR-10 (train: 50,000, test: 10,000), pixels scaled to [0, 1], from `dir` or its
/// `cifar-10-batches-bin` folder. Missing files are an `Err` that says where to put them.
pub fn cifar10(dir: &Path) -> Result<(Dataset, Dataset)> {
    let d = batches_in(dir).ok_or_else(|| {
        Error::Model(format!(
            "CIFAR-10 not found: put {} and {TEST} (the binary version) in {}",
            TRAIN.join(", "),
            dir.join(FOLDER).display()
        ))
    })?;
    let train: Vec<PathBuf> = TRAIN.iter().map(|f| d.join(f)).collect();
    Ok((dataset(&train)?, dataset(&[d.join(TEST)])?))
}

#[cfg(feature = "download")]
mod download {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};

    use md5::{Digest, Md5};

    use super::{batches_in, FOLDER};
    use crate::error::{Error, Result};

    const URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    /// Published on the CIFAR page.
    const MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";

    /// Makes sure CIFAR-10 is in `dir`: if not, downloads the official archive, checks its
    /// MD5, and extracts it into a temporary folder that is renamed into place. `progress`
    /// gets (bytes so far, total if known). Returns the folder of batch files.
    pub fn download_cifar10(
        dir: &Path,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<PathBuf> {
        if let Some(d) = batches_in(dir) {
            return Ok(d);
        }
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let offline = |e: String| {
            Error::Model(format!(
                "CIFAR-10 is not in {} and downloading {URL} failed ({e}). Without network, put the binary batches (data_batch_1.bin … test_batch.bin) in {}",
                dir.display(),
                dir.join(FOLDER).display()
            ))
        };
        let mut resp = ureq::get(URL).call().map_err(|e| offline(e.to_string()))?;
        let total = resp.body().content_length();
        let mut body = resp.body_mut().as_reader();
        let archive = dir.join(format!(
            ".cifar-10-binary.tar.gz.part-{}",
            std::process::id()
        ));
        let mut file = std::fs::File::create(&archive).map_err(Error::io(&archive))?;
        let (mut hash, mut got, mut buf) = (Md5::new(), 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = body.read(&mut buf).map_err(|e| offline(e.to_string()))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(Error::io(&archive))?;
            got += n as u64;
            progress(got, total);
        }
        drop(file);
        let sum: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if sum != MD5 {
            let _ = std::fs::remove_file(&archive);
            return Err(Error::format(
                &archive,
                format!("MD5 {sum} differs from the published {MD5}: the download is corrupt"),
            ));
        }
        let tmp = dir.join(format!(".cifar-extract-{}", std::process::id()));
        let unpack = (|| {
            let f = std::fs::File::open(&archive).map_err(Error::io(&archive))?;
            tar::Archive::new(flate2::read::GzDecoder::new(f))
                .unpack(&tmp)
                .map_err(|e| Error::format(&archive, format!("cannot extract: {e}")))?;
            std::fs::rename(tmp.join(FOLDER), dir.join(FOLDER))
                .map_err(Error::io(&dir.join(FOLDER)))
        })();
        let _ = std::fs::remove_file(&archive);
        let _ = std::fs::remove_dir_all(&tmp);
        unpack?;
        batches_in(dir)
            .ok_or_else(|| Error::format(dir, "the archive did not contain the CIFAR-10 batches"))
    }
}

#[cfg(feature = "download")]
pub use download::download_cifar10;
