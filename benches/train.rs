//! Criterion benches of whole training steps (BENCH.md: lenet5, simple_cnn, resnet20, vgg11
//! at batch 64): forward, loss, backward and the optimiser update, one submit each, ended by a
//! device sync. Throughput is images.
//!
//! `cargo bench --bench train`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wgcnn::testing::shared_gpu;
use wgcnn::testing::workloads::{TRAIN, TRAIN_BATCH};

fn train(c: &mut Criterion) {
    let gpu = shared_gpu().expect("benches need an adapter (install mesa-vulkan-drivers)");
    let mut group = c.benchmark_group(format!("training step on {}", gpu.describe()));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (name, wl) in &TRAIN {
        let mut t = wl.prepare(&gpu, TRAIN_BATCH).unwrap();
        group.throughput(Throughput::Elements(TRAIN_BATCH as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    t.step().unwrap();
                    gpu.sync().unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, train);
criterion_main!(benches);
