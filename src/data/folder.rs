//! Datasets from folders of pictures, `root/<class>/**/*.{png,jpg,jpeg}` with the classes in
//! name order (Keras's `image_dataset_from_directory`). [`ImageFolder`] lists the files and
//! streams them: `fit_from` asks its loader threads for batches, each decoded when needed, so
//! memory holds the batches in flight, not the set. Unreadable pictures are skipped and
//! counted (or fail the run, by option).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::picture::{load_picture, PictureOptions, Resize};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::shape::Shape;
use crate::train::{Batch, Dataset, Source, Targets};

/// What happens to a picture that cannot be read or decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum OnError {
    /// Leave it out, log a warning once and count it in [`ImageFolder::skipped`].
    #[default]
    Skip,
    /// Stop with an `Err` naming the file.
    Fail,
}

/// The targets a folder gives (Keras's `label_mode`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum LabelMode {
    /// The class index, for a sparse cross-entropy head.
    #[default]
    Int,
    /// 0 or 1 as one value, for a binary cross-entropy head; the folder must have exactly
    /// two classes.
    Binary,
}

/// Options of [`ImageFolder::open`].
#[derive(Clone, PartialEq, Debug)]
pub struct FolderOptions {
    /// Size, resize mode, colour mode and filter of each sample.
    pub picture: PictureOptions,
    /// The targets.
    pub labels: LabelMode,
    /// What an unreadable picture does.
    pub on_error: OnError,
    /// Threads decoding batches at once (0: one per core). Each holds at most two batches.
    pub loaders: usize,
}

impl FolderOptions {
    /// RGB samples of `height × width`, squashed (Keras's defaults), class-index labels,
    /// unreadable pictures skipped, a loader per core.
    pub fn new(height: u32, width: u32) -> FolderOptions {
        FolderOptions {
            picture: PictureOptions {
                size: (height, width),
                resize: Resize::Squash,
                ..PictureOptions::square(1)
            },
            labels: LabelMode::Int,
            on_error: OnError::Skip,
            loaders: 0,
        }
    }
}

/// A picture left out, and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it could not be read.
    pub reason: String,
}

/// The file list shared by a folder and its splits.
#[derive(Debug)]
struct Files {
    /// Every readable-looking picture with its label, in class then path order.
    files: Vec<(PathBuf, u32)>,
    classes: Vec<String>,
    opts: FolderOptions,
    /// Files left out when listing (their header could not be read).
    at_open: Vec<Skipped>,
    /// Files of `files` that failed to decode since, by index.
    failed: Mutex<BTreeMap<usize, String>>,
}

/// A streamed dataset of pictures in class folders; a [`Source`] for `Model::fit_from` and
/// `Model::evaluate_from`.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    shared: Arc<Files>,
    /// This set's files (indices into `shared.files`): all of them, or one side of a split.
    view: Vec<usize>,
    sample: Shape,
}

fn is_picture(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The picture files under `dir`, any depth (at most 32 folders down, which also ends a loop
/// of links), sorted.
fn pictures(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth < 32 {
            pictures(&p, depth + 1, out)?;
        } else if p.is_file() && is_picture(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads only the header: a file that is empty, not a picture, or claims no pixels fails here
/// without being decoded.
fn check_header(path: &Path) -> std::result::Result<(), String> {
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot read the file: {e}"))?;
    match reader.into_dimensions() {
        Ok((w, h)) if w > 0 && h > 0 => Ok(()),
        Ok(_) => Err("the picture is empty".into()),
        Err(e) => Err(format!("not a readable picture: {e}")),
    }
}

impl ImageFolder {
    /// Lists `root/<class>/…` (every picture under each class folder, sorted) and reads each
    /// file's header; nothing is decoded yet. Pictures whose header cannot be read are
    /// skipped (or, with [`OnError::Fail`], the first is an `Err`). An `Err` too when there
    /// are no class folders, a class has no readable picture, or `LabelMode::Binary` meets
    /// other than two classes.
    pub fn open(root: &Path, opts: &FolderOptions) -> Result<ImageFolder> {
        opts.picture.check("ImageFolder")?;
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(Error::io(root))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(Error::format(
                root,
                "no class folders (expected root/<class>/<pictures>)",
            ));
        }
        if opts.labels == LabelMode::Binary && dirs.len() != 2 {
            return Err(Error::invalid(
                "ImageFolder",
                "labels",
                format!("Binary with {} class folders", dirs.len()),
                "binary labels need exactly two classes",
            ));
        }
        let (mut files, mut at_open) = (Vec::new(), Vec::new());
        for (label, dir) in dirs.iter().enumerate() {
            let mut found = Vec::new();
            pictures(dir, 0, &mut found)?;
            let before = files.len();
            for path in found {
                match check_header(&path) {
                    Ok(()) => files.push((path, label as u32)),
                    Err(reason) if opts.on_error == OnError::Skip => {
                        log::warn!("skipping {}: {reason}", path.display());
                        at_open.push(Skipped { path, reason });
                    }
                    Err(reason) => return Err(Error::format(&path, reason)),
                }
            }
            if files.len() == before {
                return Err(Error::format(
                    dir,
                    "no readable .png, .jpg or .jpeg picture in this class folder",
                ));
            }
        }
        let classes = dirs
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let p = &opts.picture;
        let sample = Shape::new(vec![
            p.color.channels(),
            p.size.0 as usize,
            p.size.1 as usize,
        ]);
        Ok(ImageFolder {
            view: (0..files.len()).collect(),
            shared: Arc::new(Files {
                files,
                classes,
                opts: opts.clone(),
                at_open,
                failed: Mutex::new(BTreeMap::new()),
            }),
            sample,
        })
    }

    /// (training, validation) as Keras's `validation_split` with a `seed`: the files are
    /// shuffled by the seed, and the last `⌊fraction · len⌋` validate. Both sides share the
    /// file list and the count of skipped files.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(ImageFolder, ImageFolder)> {
        let n = self.view.len();
        let val = if (0.0..1.0).contains(&fraction) {
            (fraction * n as f64).floor() as usize
        } else {
            0
        };
        if val == 0 || val == n {
            return Err(Error::invalid(
                "ImageFolder::split",
                "fraction",
                fraction,
                format!("must be in (0, 1) and leave both sides of {n} pictures non-empty"),
            ));
        }
        let mut order = self.view.clone();
        Rng::new(seed).shuffle(&mut order);
        let side = |view: &[usize]| ImageFolder {
            shared: self.shared.clone(),
            view: view.to_vec(),
            sample: self.sample.clone(),
        };
        Ok((side(&order[..n - val]), side(&order[n - val..])))
    }

    /// The class names (folder names), by label.
    pub fn class_names(&self) -> &[String] {
        &self.shared.classes
    }

    /// The files of this set with their labels, in sample order.
    pub fn files(&self) -> impl Iterator<Item = (&Path, u32)> + '_ {
        self.view.iter().map(|&i| {
            let (p, l) = &self.shared.files[i];
            (p.as_path(), *l)
        })
    }

    /// Every picture left out so far: those whose header failed when listing, and those that
    /// failed to decode in a batch since (shared with the other side of a split).
    pub fn skipped(&self) -> Vec<Skipped> {
        let mut out = self.shared.at_open.clone();
        let failed = self.shared.failed.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(failed.iter().map(|(&i, reason)| Skipped {
            path: self.shared.files[i].0.clone(),
            reason: reason.clone(),
        }));
        out
    }

    /// The whole set decoded into memory (on the loader threads), the unreadable pictures
    /// left out (or an `Err`, by the options).
    pub fn load(&self) -> Result<Dataset> {
        let idx: Vec<usize> = (0..self.view.len()).collect();
        let chunk = idx.len().div_ceil(self.loaders()).max(1);
        let parts = std::thread::scope(|s| {
            let handles: Vec<_> = idx
                .chunks(chunk)
                .map(|c| s.spawn(move || self.batch(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| Error::Model("a picture loader thread panicked".into()))?
                })
                .collect::<Result<Vec<Batch>>>()
        })?;
        let mut x = Vec::new();
        let mut t = Vec::new();
        for mut b in parts {
            x.append(&mut b.x);
            t.append(&mut b.targets[0]);
        }
        let targets = match self.shared.opts.labels {
            LabelMode::Int => Targets::Classes {
                labels: t.iter().map(|&l| l as u32).collect(),
                classes: self.shared.classes.len(),
            },
            LabelMode::Binary => Targets::Values {
                data: t,
                sample: Shape::new(vec![1]),
            },
        };
        Dataset::new(x, self.sample.clone(), vec![targets])
    }

    /// Decodes file `i` of the shared list, or says it is to be left out (`None`).
    fn decode(&self, i: usize) -> Result<Option<Vec<f32>>> {
        let lock = || self.shared.failed.lock().unwrap_or_else(|p| p.into_inner());
        if lock().contains_key(&i) {
            return Ok(None);
        }
        let path = &self.shared.files[i].0;
        match load_picture(path, &self.shared.opts.picture) {
            Ok(v) => Ok(Some(v)),
            Err(e) if self.shared.opts.on_error == OnError::Skip => {
                let reason = match e {
                    Error::Format { what, .. } => what,
                    Error::Io { source, .. } => source.to_string(),
                    e => e.to_string(),
                };
                log::warn!("skipping {}: {reason}", path.display());
                lock().insert(i, reason);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl Source for ImageFolder {
    fn len(&self) -> usize {
        self.view.len()
    }
    fn sample(&self) -> &Shape {
        &self.sample
    }
    fn heads(&self) -> usize {
        1
    }
    fn batch(&self, idx: &[usize]) -> Result<Batch> {
        let mut b = Batch {
            x: Vec::with_capacity(idx.len() * self.sample.numel()),
            targets: vec![Vec::with_capacity(idx.len())],
        };
        for &k in idx {
            let &i = self.view.get(k).ok_or_else(|| {
                Error::invalid(
                    "ImageFolder",
                    "index",
                    k,
                    format!("the set has {} pictures", self.view.len()),
                )
            })?;
            if let Some(v) = self.decode(i)? {
                b.x.extend(v);
                b.targets[0].push(self.shared.files[i].1 as f32);
            }
        }
        Ok(b)
    }
    /// Decoded pictures are bytes / 255, normalised by a finite mean and a std > 0
    /// (`PictureOptions` checks both when the folder opens): always finite.
    fn validate(&self) -> Result<bool> {
        Ok(true)
    }
    fn loaders(&self) -> usize {
        match self.shared.opts.loaders {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// A dataset from `root/<class>/<pictures>` at `size × size` (each picture's centre square),
/// decoded into memory, with the class names by label. The first unreadable picture is an
/// `Err` naming it; [`ImageFolder`] streams instead and can skip them.
pub fn image_folder(root: &Path, size: u32) -> Result<(Dataset, Vec<String>)> {
    let opts = FolderOptions {
        picture: PictureOptions::square(size),
        on_error: OnError::Fail,
        ..FolderOptions::new(size, size)
    };
    let folder = ImageFolder::open(root, &opts)?;
    Ok((folder.load()?, folder.class_names().to_vec()))
}
