//! matmul (every transpose, every register tile, the texture-fed kernel) and the dense layer
//! against the f64 reference.

use wgcnn::ops::conv2d::RegisterTile;
use wgcnn::ops::matmul::gpu::{matmul_with_kernel, MatmulKernel};
use wgcnn::ops::matmul::{self, cpu, MatmulGeometry};
use wgcnn::testing::cases::ProductCase;
use wgcnn::testing::{compare, gpu, to_f64, under_small_budget, Rng};
use wgcnn::{Gpu, Shape, Tensor};

#[test]
fn matmul_matches_the_reference() {
    check_matmul_matches_the_reference(&gpu());
}

fn check_matmul_matches_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0x3a7);
    let mut bad = Vec::new();
    for case in 0..120 {
        let big = case % 4 == 0;
        let (m, n, k) = if big {
            (rng.range(1, 700), rng.range(1, 40), rng.range(1, 90))
        } else {
            (rng.range(1, 20), rng.range(1, 20), rng.range(1, 20))
        };
        let p = ProductCase::random(gpu, &mut rng, (m, n, k)).unwrap();
        let kernels = RegisterTile::ALL
            .map(MatmulKernel::Register)
            .into_iter()
            .chain([
                MatmulKernel::Tiled,
                MatmulKernel::Texture(RegisterTile::ALL[0]),
            ]);
        for t in kernels {
            let bias = p.with_bias.then_some(&p.bias);
            let c = matmul_with_kernel(&p.a, &p.b, bias, &p.geometry, t).unwrap();
            let r = compare(&c.to_vec().unwrap(), &p.want, k + 1);
            if !r.passed() {
                bad.push(format!("{} {t:?}: {r}", p.name));
            }
        }
        if !p.with_bias {
            let (ta, tb) = p.transposed;
            let c = matmul::matmul(&p.a, ta, &p.b, tb).unwrap();
            assert_eq!(c.dims(), &[m, n]);
        }
    }
    assert!(
        bad.is_empty(),
        "{} failures:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn dense_forward_and_backward_match_the_reference() {
    check_dense_forward_and_backward_match_the_reference(&gpu());
}

fn check_dense_forward_and_backward_match_the_reference(gpu: &Gpu) {
    let mut rng = Rng::new(0x3a8);
    for _ in 0..30 {
        let (n, i, o) = (rng.range(1, 70), rng.range(1, 90), rng.range(1, 40));
        let (xv, wv, bv, dyv) = (rng.vec(n * i), rng.vec(o * i), rng.vec(o), rng.vec(n * o));
        let x = Tensor::from_slice(gpu, [n, i], &xv).unwrap();
        let w = Tensor::from_slice(gpu, [o, i], &wv).unwrap();
        let b = Tensor::from_slice(gpu, [o], &bv).unwrap();
        let dy = Tensor::from_slice(gpu, [n, o], &dyv).unwrap();
        let (x64, w64, dy64) = (to_f64(&xv), to_f64(&wv), to_f64(&dyv));
        // y[n, o] = Σ_i x[n, i] w[o, i] + b[o]
        let gy = MatmulGeometry {
            m: n,
            n: o,
            k: i,
            a_m: i,
            a_k: 1,
            b_k: 1,
            b_n: i,
        };
        let y = matmul::dense(&x, &w, Some(&b)).unwrap().to_vec().unwrap();
        let r = compare(&y, &cpu::matmul(&gy, &x64, &w64, Some(&to_f64(&bv))), i + 1);
        assert!(r.passed(), "dense forward n={n} i={i} o={o}: {r}");
        // dx[n, i] = Σ_o dy[n, o] w[o, i]
        let gx = MatmulGeometry {
            m: n,
            n: i,
            k: o,
            a_m: o,
            a_k: 1,
            b_k: i,
            b_n: 1,
        };
        let dx = matmul::dense_backward_data(&dy, &w)
            .unwrap()
            .to_vec()
            .unwrap();
        assert!(compare(&dx, &cpu::matmul(&gx, &dy64, &w64, None), o).passed());
        // dw[o, i] = Σ_n dy[n, o] x[n, i]
        let gw = MatmulGeometry {
            m: o,
            n: i,
            k: n,
            a_m: 1,
            a_k: o,
            b_k: i,
            b_n: 1,
        };
        let dw = matmul::dense_backward_filter(&x, &dy)
            .unwrap()
            .to_vec()
            .unwrap();
        assert!(compare(&dw, &cpu::matmul(&gw, &dy64, &x64, None), n).passed());
        // db[o] = Σ_n dy[n, o]
        let ones = vec![1.0; n];
        let gb = MatmulGeometry {
            m: 1,
            n: o,
            k: n,
            a_m: n,
            a_k: 1,
            b_k: o,
            b_n: 1,
        };
        let db = matmul::dense_backward_bias(&dy).unwrap().to_vec().unwrap();
        assert!(compare(&db, &cpu::matmul(&gb, &ones, &dy64, None), n).passed());
    }
}

/// The texture-fed kernel where the crate picks it (products large enough that packing
/// pays, every transpose, K not a multiple of 4), and where it cannot run: a forced request
/// with A taller than the adapter's largest texture runs with its register tile.
#[test]
fn texture_kernel_where_chosen_and_past_the_texture_limits() {
    use wgcnn::ops::matmul::texture::{dense_enough, pays};
    assert!(dense_enough(1024, 1024) && dense_enough(600, 530));
    assert!(!dense_enough(64, 4096) && !dense_enough(64, 120) && !dense_enough(1, 1 << 20));
    let gpu = gpu();
    assert!(pays(gpu.adapter_info(), 600, 530));
    let mut rng = Rng::new(0x3a9);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (m, n, k) = (600, 530, rng.range(17, 40));
        let av = rng.vec(m * k);
        let bv = rng.vec(k * n);
        let a_dims = if ta { [k, m] } else { [m, k] };
        let b_dims = if tb { [n, k] } else { [k, n] };
        let a = Tensor::from_slice(&gpu, a_dims, &av).unwrap();
        let b = Tensor::from_slice(&gpu, b_dims, &bv).unwrap();
        let g = MatmulGeometry::new(a.shape(), ta, b.shape(), tb).unwrap();
        let c = matmul::matmul(&a, ta, &b, tb).unwrap().to_vec().unwrap();
        let want = cpu::matmul(&g, &to_f64(&av), &to_f64(&bv), None);
        let r = compare(&c, &want, k + 1);
        assert!(r.passed(), "{m}x{n}x{k} ta={ta} tb={tb}: {r}");
    }
    let tall = gpu.limits().max_texture_dimension_2d as usize + 3;
    let (m, n, k) = (tall, 5, 7);
    let (av, bv) = (rng.vec(m * k), rng.vec(k * n));
    let a = Tensor::from_slice(&gpu, [m, k], &av).unwrap();
    let b = Tensor::from_slice(&gpu, [k, n], &bv).unwrap();
    let g = MatmulGeometry::new(a.shape(), false, b.shape(), false).unwrap();
    let kernel = MatmulKernel::Texture(RegisterTile::ALL[0]);
    let c = matmul_with_kernel(&a, &b, None, &g, kernel).unwrap();
    let want = cpu::matmul(&g, &to_f64(&av), &to_f64(&bv), None);
    let r = compare(&c.to_vec().unwrap(), &want, k + 1);
    assert!(r.passed(), "A of {m} rows: {r}");
}

#[test]
fn bad_shapes_are_errors() {
    let gpu = gpu();
    let t = |d: &[usize]| {
        Tensor::from_slice(&gpu, Shape::new(d), &vec![0.0; d.iter().product()]).unwrap()
    };
    assert!(matmul::matmul(&t(&[3, 4]), false, &t(&[5, 2]), false).is_err());
    assert!(matmul::matmul(&t(&[3, 4, 1]), false, &t(&[4, 2]), false).is_err());
    assert!(matmul::dense(&t(&[3, 4]), &t(&[2, 5]), None).is_err());
    assert!(matmul::dense(&t(&[3, 4]), &t(&[2, 4]), Some(&t(&[3]))).is_err());
    assert!(matmul::dense_backward_bias(&t(&[3, 4, 1])).is_err());
}

/// The same cases on a Gpu whose loop budget is 1536 passes: the ops run in many K-slices,
/// chunks and levels (gpu::loops).
#[test]
fn small_loop_budget_matches_the_reference() {
    under_small_budget(1536, |gpu| {
        check_matmul_matches_the_reference(gpu);
        check_dense_forward_and_backward_match_the_reference(gpu);
    })
    .expect("a GPU test needs an adapter");
}
