//! The conv2d autotuner: tunes a class once, keeps it on disk per adapter, reads it back, falls
//! back to the heuristic when off, and shrugs off a damaged cache. One test in its own binary:
//! it points the cache at a temporary folder through the environment before any Gpu exists.

use wgcnn::ops::conv2d::{
    self, choose_forward, cpu, Conv2dKernel, Conv2dParams, ConvPass, RegisterTile,
};
use wgcnn::testing::{compare, compare_with, to_f64, winograd_bounds, Rng};
use wgcnn::{ConvTuning, Gpu, Padding, Shape, Tensor};

#[test]
fn tuning_is_cached_per_adapter_and_optional() {
    let cache = std::env::temp_dir().join(format!("wgcnn-tune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    std::env::set_var("XDG_CACHE_HOME", &cache);
    std::env::remove_var("WGCNN_AUTOTUNE");

    let gpu = Gpu::new().unwrap();
    assert!(gpu.autotune(), "on by default");
    let p = Conv2dParams::new(3).padding(Padding::Same);
    // Large enough to be tuned (MIN_TUNED_FLOPS); a tiny one is left to the heuristic.
    let (xs, ws) = (Shape::new([8, 32, 24, 24]), Shape::new([32, 32, 3, 3]));
    let g = p.resolve(&xs, &ws).unwrap();
    assert!(g.flops() >= conv2d::tune::MIN_TUNED_FLOPS);
    let tiny = p
        .resolve(&Shape::new([1, 3, 8, 8]), &Shape::new([4, 3, 3, 3]))
        .unwrap();
    gpu.tune_conv2d(&tiny, ConvPass::Forward).unwrap();
    let k = gpu.tune_conv2d(&g, ConvPass::Forward).unwrap();
    assert!(k.supports(&g, ConvPass::Forward));
    assert_eq!(gpu.conv2d_kernel(&g, ConvPass::Forward), k);
    for pass in [ConvPass::BackwardData, ConvPass::BackwardFilter] {
        assert!(gpu.tune_conv2d(&g, pass).unwrap().supports(&g, pass));
    }
    // The tuned kernel computes what the reference does.
    let mut rng = Rng::new(4);
    let (xv, wv) = (rng.vec(xs.numel()), rng.vec(ws.numel()));
    let x = Tensor::from_slice(&gpu, xs.clone(), &xv).unwrap();
    let w = Tensor::from_slice(&gpu, ws.clone(), &wv).unwrap();
    let y = conv2d::conv2d(&x, &w, None, &p).unwrap().to_vec().unwrap();
    let reference = cpu::forward(&g, &to_f64(&xv), &to_f64(&wv), None);
    let r = match k {
        Conv2dKernel::Winograd(m) => {
            let c = conv2d::winograd::WinogradConv::forward(&g, m);
            let bounds = winograd_bounds(&c, &to_f64(&xv), &to_f64(&wv), None);
            compare_with(&y, &reference.values, bounds)
        }
        _ => compare(&y, &reference, g.reduction_len() + 1),
    };
    assert!(r.passed(), "{k:?}: {r}");

    // On disk, one file for this adapter, with the three classes (and not the tiny one's).
    let dir = cache.join("wgcnn").join("autotune");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.contains("fwd:") && text.contains("dx:") && text.contains("dw:"),
        "{text}"
    );
    assert_eq!(text.matches("fwd:").count(), 1, "{text}");

    // A new Gpu starts from the file: plant a choice the heuristic would not make.
    let forced = Conv2dKernel::Gemm(RegisterTile { mr: 16, nr: 4 });
    assert_ne!(choose_forward(&g, gpu.adapter_info()), forced);
    let key = text
        .lines()
        .find(|l| l.contains("\"fwd:"))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string();
    std::fs::write(&files[0], format!("{{\"{key}\": \"gemm16x4\"}}")).unwrap();
    let again = Gpu::new().unwrap();
    assert_eq!(again.conv2d_kernel(&g, ConvPass::Forward), forced);
    again.set_autotune(false);
    assert_eq!(
        again.conv2d_kernel(&g, ConvPass::Forward),
        choose_forward(&g, again.adapter_info())
    );

    // A damaged cache is ignored and rewritten by the next tuning.
    std::fs::write(&files[0], "{ not json").unwrap();
    let fresh = Gpu::new().unwrap();
    assert_eq!(
        fresh.conv2d_kernel(&g, ConvPass::Forward),
        choose_forward(&g, fresh.adapter_info())
    );
    fresh.tune_conv2d(&g, ConvPass::Forward).unwrap();
    assert!(std::fs::read_to_string(&files[0]).unwrap().contains("fwd:"));

    // The driver's pipeline cache is written when the last handle to a Gpu goes, and a
    // damaged file only costs the compilation it would have saved.
    let has_cache = fresh.features().contains(wgpu::Features::PIPELINE_CACHE);
    drop((gpu, again, fresh, x, w));
    let pipes = cache.join("wgcnn").join("pipelines");
    let file = std::fs::read_dir(&pipes)
        .ok()
        .and_then(|mut d| d.next())
        .map(|e| e.unwrap().path());
    assert_eq!(file.is_some(), has_cache, "{pipes:?}");
    if let Some(file) = file {
        let good = std::fs::read(&file).unwrap();
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x40;
        for damaged in [good[..good.len() / 3].to_vec(), flipped, Vec::new()] {
            std::fs::write(&file, &damaged).unwrap();
            let gpu = Gpu::new().unwrap();
            let x = Tensor::from_slice(&gpu, xs.clone(), &xv).unwrap();
            let w = Tensor::from_slice(&gpu, ws.clone(), &wv).unwrap();
            // Pipelines compile and compute right on the Gpu that found the damaged file.
            let direct =
                conv2d::conv2d_with(&x, &w, None, &g, Conv2dKernel::Gemm(RegisterTile::ALL[0]));
            let reference = cpu::forward(&g, &to_f64(&xv), &to_f64(&wv), None);
            let r = compare(
                &direct.unwrap().to_vec().unwrap(),
                &reference,
                g.reduction_len() + 1,
            );
            assert!(r.passed(), "{r}");
        }
    }
    let _ = std::fs::remove_dir_all(&cache);
}
