//! Criterion benches of the other BENCH.md kernels: max pooling, matmul, softmax cross-entropy
//! and batch norm (forward + backward where they have both). Each sample ends with a device
//! sync. Throughput is FLOPs for matmul and bytes of tensor traffic for the others (criterion
//! prints both as "elem/s").

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wgcnn::testing::shared_gpu;
use wgcnn::testing::workloads::OTHER;

fn ops(c: &mut Criterion) {
    let gpu = shared_gpu().expect("benches need an adapter (install mesa-vulkan-drivers)");
    let mut group = c.benchmark_group(format!("ops on {}", gpu.describe()));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, wl) in &OTHER {
        let mut run = wl.prepare(&gpu).unwrap();
        group.throughput(Throughput::Elements(wl.work().0 as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    run().unwrap();
                    gpu.sync().unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ops);
criterion_main!(benches);
