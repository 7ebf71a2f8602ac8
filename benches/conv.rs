//! Criterion benches of conv2d on the BENCH.md workloads: forward, and forward + backward
//! (dX, dW, db). Each sample ends with a device sync, so the time covers the GPU work.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wgcnn::ops::conv2d;
use wgcnn::testing::workloads::CONV;
use wgcnn::testing::{shared_gpu, Rng};
use wgcnn::{Shape, Tensor};

fn conv(c: &mut Criterion) {
    let gpu = shared_gpu().expect("benches need an adapter (install mesa-vulkan-drivers)");
    let mut group = c.benchmark_group(format!("conv2d on {}", gpu.describe()));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for wl in &CONV {
        let g = wl.geometry();
        let p = wl.params();
        let mut rng = Rng::new(1);
        let up = |s: Shape, rng: &mut Rng| {
            Tensor::from_slice(&gpu, s.clone(), &rng.vec(s.numel())).unwrap()
        };
        let x = up(g.x_shape(), &mut rng);
        let w = up(g.w_shape(), &mut rng);
        let b = up(Shape::new([g.c_out]), &mut rng);
        let dy = up(g.y_shape(), &mut rng);
        // Throughput in FLOPs: criterion prints it per second (as "elem/s").
        group.throughput(Throughput::Elements(g.flops() as u64));
        group.bench_function(BenchmarkId::new("forward", wl.name), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    conv2d::conv2d(&x, &w, Some(&b), &p).unwrap();
                    gpu.sync().unwrap();
                }
                start.elapsed()
            })
        });
        group.throughput(Throughput::Elements(3 * g.flops() as u64));
        group.bench_function(BenchmarkId::new("forward_backward", wl.name), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    conv2d::conv2d(&x, &w, Some(&b), &p).unwrap();
                    conv2d::conv2d_backward_data(&dy, &w, x.shape(), &p).unwrap();
                    conv2d::conv2d_backward_filter(&x, &dy, &p).unwrap();
                    conv2d::conv2d_backward_bias(&dy).unwrap();
                    gpu.sync().unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, conv);
criterion_main!(benches);
