//! Datasets from files: CIFAR-10 binary batches (with download), IDX files (MNIST,
//! Fashion-MNIST, raw or gzip), folders of PNG/JPEG images, in memory or streamed. Every
//! reader checks what a header claims against the file before it allocates, and a bad file is
//! an `Err` naming the file and the reason.

mod cifar;
mod folder;
mod idx;
mod picture;

#[cfg(feature = "download")]
pub use cifar::download_cifar10;
pub use cifar::{cifar10, read_cifar_batch, CIFAR10_CLASSES};
pub use folder::{image_folder, FolderOptions, ImageFolder, LabelMode, OnError, Skipped};
pub use idx::{fashion_mnist, idx_dataset, read_idx, IdxArray, FASHION_MNIST_CLASSES};
pub use picture::{
    load_image, load_picture, ColorMode, Interpolation, Normalize, PictureOptions, Resize,
};

use std::path::{Path, PathBuf};

/// Where datasets live: `explicit` (a `--data-dir`), else `$WGCNN_DATA`, else the user cache
/// directory (`$XDG_CACHE_HOME/wgcnn` or `~/.cache/wgcnn`), else `./data`.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("WGCNN_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    crate::gpu::disk_cache::cache_dir().unwrap_or_else(|| PathBuf::from("data"))
}
