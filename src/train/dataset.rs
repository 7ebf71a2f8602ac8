//! An in-memory dataset: inputs of one per-sample shape and targets for each head.

use crate::error::{Error, Result};
use crate::shape::Shape;

/// Targets of one head.
#[derive(Clone, Debug)]
pub enum Targets {
    /// One class index per sample, each below `classes`.
    Classes {
        /// The class index of each sample.
        labels: Vec<u32>,
        /// Number of classes; every label must be below it.
        classes: usize,
    },
    /// `sample.numel()` values per sample (regression, box coordinates, multi-label).
    Values {
        /// The values, sample after sample, `sample.numel()` each.
        data: Vec<f32>,
        /// Shape of one sample's targets, no batch axis; training needs as many values per
        /// sample as the head's output has.
        sample: Shape,
    },
}

impl Targets {
    fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values { data, sample } => data.len() / sample.numel().max(1),
        }
    }
    fn per_sample(&self) -> usize {
        match self {
            Targets::Classes { .. } => 1,
            Targets::Values { sample, .. } => sample.numel(),
        }
    }
    /// Appends sample `i`'s targets as f32 (class indices are exact in f32 below 2^24).
    fn push(&self, i: usize, out: &mut Vec<f32>) {
        match self {
            Targets::Classes { labels, .. } => out.push(labels[i] as f32),
            Targets::Values { data, sample } => {
                let k = sample.numel();
                out.extend_from_slice(&data[i * k..(i + 1) * k]);
            }
        }
    }
}

/// Samples `x` (`len × sample.numel()` values, NCHW per sample) with targets per head.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The inputs, sample after sample, `sample.numel()` values each.
    pub x: Vec<f32>,
    /// Shape of one input sample, no batch axis (`[c, h, w]` for images); it must be the
    /// model's input shape.
    pub sample: Shape,
    /// One target set per loss head, in the order of the model's heads.
    pub targets: Vec<Targets>,
}

impl Dataset {
    /// Checks that the sizes agree, that there is at least one sample, that every input and
    /// regression target is finite, and that every label is below its class count.
    pub fn new(x: Vec<f32>, sample: impl Into<Shape>, targets: Vec<Targets>) -> Result<Dataset> {
        let d = Dataset {
            x,
            sample: sample.into(),
            targets,
        };
        d.check()?;
        Ok(d)
    }

    /// What [`Dataset::new`] checks, for a set whose public fields were changed after: the
    /// sizes agree, there is a sample, every value is finite, every label below its count.
    pub fn check(&self) -> Result<()> {
        let (x, sample, targets) = (&self.x, &self.sample, &self.targets);
        let per = sample.numel();
        if per == 0 || !x.len().is_multiple_of(per) {
            return Err(Error::ShapeMismatch {
                op: "Dataset",
                what: "inputs",
                expected: format!("a multiple of {per} values ({sample} per sample)"),
                got: x.len().to_string(),
            });
        }
        let n = x.len() / per;
        if n == 0 {
            return Err(Error::invalid(
                "Dataset",
                "samples",
                0,
                "a dataset needs at least one sample",
            ));
        }
        for t in targets {
            let exact = match t {
                Targets::Values { data, sample } => data.len() == n * sample.numel(),
                Targets::Classes { .. } => true,
            };
            if t.len() != n || t.per_sample() == 0 || !exact {
                return Err(Error::ShapeMismatch {
                    op: "Dataset",
                    what: "targets",
                    expected: format!("{n} samples"),
                    got: t.len().to_string(),
                });
            }
            if let Targets::Classes { labels, classes } = t {
                if *classes > 1 << 24 {
                    return Err(Error::invalid(
                        "Dataset",
                        "classes",
                        classes,
                        "at most 2^24",
                    ));
                }
                if let Some((i, l)) = labels
                    .iter()
                    .enumerate()
                    .find(|(_, &l)| l as usize >= *classes)
                {
                    return Err(Error::invalid(
                        "Dataset",
                        "label",
                        format!("{l} at sample {i}"),
                        format!("classes are 0..{classes}"),
                    ));
                }
            }
        }
        self.check_finite()
    }

    /// An `Err` naming the first sample with a NaN or infinite input or regression target: one
    /// such value turns the loss into NaN for the rest of training.
    pub fn check_finite(&self) -> Result<()> {
        let per = self.sample.numel().max(1);
        if let Some(i) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "Dataset",
                "input",
                format!("{} at sample {}, element {}", self.x[i], i / per, i % per),
                "inputs must be finite",
            ));
        }
        for (h, t) in self.targets.iter().enumerate() {
            if let Targets::Values { data, sample } = t {
                if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                    let k = sample.numel().max(1);
                    return Err(Error::invalid(
                        "Dataset",
                        "target",
                        format!("{} at sample {} of head {h}", data[i], i / k),
                        "targets must be finite",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A classification set: one head of class indices.
    pub fn classification(
        x: Vec<f32>,
        sample: impl Into<Shape>,
        labels: Vec<u32>,
        classes: usize,
    ) -> Result<Dataset> {
        Dataset::new(x, sample, vec![Targets::Classes { labels, classes }])
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len() / self.sample.numel().max(1)
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inputs and per-head targets of samples `idx` (each below `len()`), in that order.
    pub(crate) fn gather(&self, idx: &[usize]) -> (Vec<f32>, Vec<Vec<f32>>) {
        let per = self.sample.numel();
        let mut x = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            x.extend_from_slice(&self.x[i * per..(i + 1) * per]);
        }
        let t = self
            .targets
            .iter()
            .map(|t| {
                let mut v = Vec::with_capacity(idx.len() * t.per_sample());
                idx.iter().for_each(|&i| t.push(i, &mut v));
                v
            })
            .collect();
        (x, t)
    }

    /// The first `n` samples (all of them when there are fewer).
    pub fn take(&self, n: usize) -> Result<Dataset> {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// The samples `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Result<Dataset> {
        if let Some(&i) = idx.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid(
                "Dataset::subset",
                "index",
                i,
                format!("the dataset has {} samples", self.len()),
            ));
        }
        let (x, t) = self.gather(idx);
        let targets = self
            .targets
            .iter()
            .zip(t)
            .map(|(old, v)| match old {
                Targets::Classes { classes, .. } => Targets::Classes {
                    labels: v.iter().map(|&l| l as u32).collect(),
                    classes: *classes,
                },
                Targets::Values { sample, .. } => Targets::Values {
                    data: v,
                    sample: sample.clone(),
                },
            })
            .collect();
        Dataset::new(x, self.sample.clone(), targets)
    }

    /// Normalises each channel: `(x − mean[c]) / std[c]` (samples are CHW).
    pub fn normalize(&mut self, mean: &[f32], std: &[f32]) -> Result<()> {
        let c = self.sample.dims().first().copied().unwrap_or(0);
        if c == 0
            || mean.len() != c
            || std.len() != c
            || mean.iter().any(|m| !m.is_finite())
            || std.iter().any(|&s| !s.is_finite() || s <= 0.0)
        {
            return Err(Error::invalid(
                "Dataset::normalize",
                "mean/std",
                format!("{} / {} values", mean.len(), std.len()),
                format!("one per channel ({c}), finite, std > 0"),
            ));
        }
        let plane = self.sample.numel() / c;
        for (i, v) in self.x.iter_mut().enumerate() {
            let ch = (i / plane) % c;
            *v = (*v - mean[ch]) / std[ch];
        }
        Ok(())
    }

    /// Class labels of the first head, if it is a classification head.
    pub fn labels(&self) -> Option<&[u32]> {
        match self.targets.first() {
            Some(Targets::Classes { labels, .. }) => Some(labels),
            _ => None,
        }
    }
}
