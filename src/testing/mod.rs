//! Helpers shared by the tests, benches and examples: the error bound and comparison report,
//! a seeded RNG, random conv2d cases, the BENCH.md workloads and the golden-case runner.

pub mod cases;
pub mod golden;
pub mod workloads;

use std::fmt;

use crate::ops::conv2d::ConvTuning;
use crate::ops::Reference;

/// f32 unit roundoff (half an ulp of 1.0).
pub const EPS32: f64 = f32::EPSILON as f64 / 2.0;

/// The allowed error of one f32 result whose exact value is a sum of `k` terms with
/// Σ|terms| = `abs_terms`: any summation order stays within k·ε·Σ|terms| (the classic
/// recursive-summation bound; fused multiply-adds only tighten it), plus ε·|value| for the final
/// rounding. We allow twice that.
pub fn bound(k: usize, abs_terms: f64) -> f64 {
    2.0 * (k as f64 + 1.0) * EPS32 * abs_terms + f64::from(f32::MIN_POSITIVE)
}

/// Per-element error bound of a Winograd convolution `c` (see `ops::conv2d::winograd`): its
/// rounding errors scale with the algorithm run on absolute values, over `error_depth` steps,
/// plus |bias| for the epilogue.
pub fn winograd_bounds(
    c: &crate::ops::conv2d::winograd::WinogradConv,
    src: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
) -> impl Fn(usize) -> f64 {
    let magnitude = crate::ops::conv2d::winograd::reference(c, src, w, true);
    let (depth, plane, c_out) = (c.error_depth() + 1, c.h_out * c.w_out, c.c_out);
    let bias = bias.map(<[f64]>::to_vec);
    move |i| {
        let b = bias.as_ref().map_or(0.0, |b| b[(i / plane) % c_out].abs());
        bound(depth, magnitude[i] + b)
    }
}

/// Per-element error bound of a Winograd filter gradient `c` (`WinogradConv::backward_filter`)
/// of the convolution of `x` with output gradient `dy`, as [`winograd_bounds`].
pub fn winograd_filter_bounds(
    c: &crate::ops::conv2d::winograd::WinogradConv,
    x: &[f64],
    dy: &[f64],
) -> impl Fn(usize) -> f64 {
    let magnitude = crate::ops::conv2d::winograd::reference_filter(c, x, dy, true);
    let depth = c.error_depth() + 1;
    move |i| bound(depth, magnitude[i])
}

/// Outcome of comparing a GPU result with its reference.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Largest |got − expected| / bound over all elements (≤ 1 passes).
    pub worst_ratio: f64,
    pub worst_index: usize,
    pub failures: usize,
    /// The first few failures: (index, got, expected, bound).
    pub first: Vec<(usize, f32, f64, f64)>,
    pub len_mismatch: Option<(usize, usize)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.len_mismatch.is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((got, want)) = self.len_mismatch {
            return write!(f, "length {got}, expected {want}");
        }
        write!(
            f,
            "worst error {:.3} of bound at [{}], {} failures",
            self.worst_ratio, self.worst_index, self.failures
        )?;
        for (i, got, want, b) in &self.first {
            write!(f, "\n    [{i}] got {got:e} expected {want:e} (bound {b:e})")?;
        }
        Ok(())
    }
}

/// Compares `got` element-wise with `expected` under per-element bounds.
pub fn compare_with(got: &[f32], expected: &[f64], bounds: impl Fn(usize) -> f64) -> Report {
    let mut r = Report::default();
    if got.len() != expected.len() {
        r.len_mismatch = Some((got.len(), expected.len()));
        return r;
    }
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let b = bounds(i);
        let err = (f64::from(g) - e).abs();
        // NaN compares false everywhere: count it as a failure explicitly.
        let ratio = if err.is_nan() { f64::INFINITY } else { err / b };
        if ratio > r.worst_ratio {
            r.worst_ratio = ratio;
            r.worst_index = i;
        }
        if ratio > 1.0 {
            r.failures += 1;
            if r.first.len() < 5 {
                r.first.push((i, g, e, b));
            }
        }
    }
    r
}

/// Compares `got` with a CPU reference whose every element sums `k` terms.
pub fn compare(got: &[f32], reference: &Reference, k: usize) -> Report {
    compare_with(got, &reference.values, |i| bound(k, reference.abs_terms[i]))
}

pub use crate::rng::Rng;

/// Widens f32 data for the f64 reference.
pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// One `Gpu` per process for tests and benches. An `Err` (no adapter) is returned, never
/// skipped: a GPU test without a GPU must fail.
pub fn shared_gpu() -> crate::Result<crate::Gpu> {
    use std::sync::OnceLock;
    static GPU: OnceLock<Result<crate::Gpu, String>> = OnceLock::new();
    // The tests pin the heuristic kernels (autotuning off) so their kernel choices and times
    // are the same on every run; tests/autotune.rs covers tuning on its own Gpu.
    GPU.get_or_init(|| {
        crate::Gpu::new()
            .map_err(|e| e.to_string())
            .inspect(|g| g.set_autotune(false))
    })
    .clone()
    .map_err(|e| crate::Error::NoAdapter {
        reason: e,
        hint: String::new(),
    })
}

/// The shared `Gpu` of a GPU test: panics (the test fails) where there is no adapter, with the
/// install hint.
pub fn gpu() -> crate::Gpu {
    shared_gpu().expect("a GPU test needs an adapter (bash tools/install-lavapipe.sh)")
}

/// `f` at `x` with `x[i]` moved by `+h` and by `−h`, `x[i]` restored afterwards: the two sides
/// of a central difference, for checks that need more of `f` than its value.
pub fn both_sides<T>(x: &mut [f64], i: usize, h: f64, mut f: impl FnMut(&[f64]) -> T) -> (T, T) {
    let keep = x[i];
    x[i] = keep + h;
    let plus = f(x);
    x[i] = keep - h;
    let minus = f(x);
    x[i] = keep;
    (plus, minus)
}

/// The central difference `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h`.
pub fn central_difference(x: &mut [f64], i: usize, h: f64, f: impl FnMut(&[f64]) -> f64) -> f64 {
    let (plus, minus) = both_sides(x, i, h, f);
    (plus - minus) / (2.0 * h)
}

/// Central differences of `f` in every element of `x`.
pub fn finite_differences(x: &mut [f64], h: f64, mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| central_difference(x, i, h, &mut f))
        .collect()
}

/// A `Gpu` of its own whose loop budget is lowered to `passes` (autotuning off, as
/// [`shared_gpu`]): ops cut their work into many K-slices, chunks and bands, so the parity
/// tests prove the cutting on small shapes.
pub fn budget_gpu(passes: usize) -> crate::Result<crate::Gpu> {
    let gpu = crate::Gpu::new()?;
    gpu.set_autotune(false);
    gpu.set_loop_budget(passes);
    Ok(gpu)
}

/// A `Gpu` of its own that binds at most `bytes` per storage buffer (autotuning off, as
/// [`shared_gpu`]): ops bind tensors past that in parts, so tests prove it on small shapes.
pub fn binding_limit_gpu(bytes: u64) -> crate::Result<crate::Gpu> {
    let gpu = crate::Gpu::with_binding_limit(bytes)?;
    gpu.set_autotune(false);
    Ok(gpu)
}

/// Runs `cases` on a Gpu with the default loop budget and on one with `passes`, and returns
/// what the second run returned; panics unless the small budget made the cases cut their work
/// (more dispatches), so a parity test under a small budget proves the cutting it names.
pub fn under_small_budget<T>(passes: usize, cases: impl Fn(&crate::Gpu) -> T) -> crate::Result<T> {
    let full = budget_gpu(crate::gpu::loops::LOOP_BUDGET)?;
    let small = budget_gpu(passes)?;
    cases(&full);
    let out = cases(&small);
    let (a, b) = (full.counters().dispatches, small.counters().dispatches);
    assert!(
        b > a,
        "a loop budget of {passes} cut nothing: {b} dispatches against {a}"
    );
    Ok(out)
}

/// Panics with every failure listed when there are any.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The path of example `name` as `cargo test` builds it beside the running test binary
/// (`target/<profile>/examples/<name>`).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let mut p = std::env::current_exe().unwrap_or_default();
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("examples").join(name)
}
