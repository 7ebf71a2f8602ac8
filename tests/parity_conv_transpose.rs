//! conv_transpose2d against its definition (a scatter of every input times the kernel), and its
//! gradients against the conv2d references they are the adjoints of.

use wgcnn::ops::conv2d::cpu;
use wgcnn::ops::conv2d::transpose::{self as ct, ConvTranspose2dParams};
use wgcnn::testing::{compare, gpu, to_f64, Rng};
use wgcnn::{Shape, Tensor, HW};

#[test]
fn conv_transpose_matches_the_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(0x7c);
    let mut done = 0;
    let mut past_stride = 0;
    while done < 120 {
        let groups = if rng.chance(0.3) { rng.range(2, 3) } else { 1 };
        let (c_in, cog) = (groups * rng.range(1, 4), rng.range(1, 5));
        let mut p = ConvTranspose2dParams::new((rng.range(1, 5), rng.range(1, 5)));
        p.stride = HW::new(rng.range(1, 3), rng.range(1, 3));
        p.dilation = HW::new(rng.range(1, 3), rng.range(1, 3));
        p.padding = HW::new(rng.range(0, 2), rng.range(0, 2));
        // Below the stride, or below the dilation (PyTorch's rule).
        let max_op = |s: usize, d: usize| s.max(d) - 1;
        p.output_padding = HW::new(
            rng.range(0, max_op(p.stride.h, p.dilation.h)),
            rng.range(0, max_op(p.stride.w, p.dilation.w)),
        );
        p.groups = groups;
        let x_shape = Shape::new([rng.range(1, 3), c_in, rng.range(1, 9), rng.range(1, 9)]);
        let w_shape = Shape::new([c_in, cog, p.kernel.h, p.kernel.w]);
        let Ok(y_shape) = p.output_shape(&x_shape, &w_shape) else {
            continue;
        };
        done += 1;
        past_stride +=
            usize::from(p.output_padding.h >= p.stride.h || p.output_padding.w >= p.stride.w);
        let (xs, ws, bs, dys) = (
            rng.vec(x_shape.numel()),
            rng.vec(w_shape.numel()),
            rng.vec(cog * groups),
            rng.vec(y_shape.numel()),
        );
        let x = Tensor::from_slice(&gpu, x_shape.clone(), &xs).unwrap();
        let w = Tensor::from_slice(&gpu, w_shape.clone(), &ws).unwrap();
        let b = Tensor::from_slice(&gpu, [cog * groups], &bs).unwrap();
        let dy = Tensor::from_slice(&gpu, y_shape.clone(), &dys).unwrap();
        let d = x_shape.dims();
        let yd = y_shape.dims();
        let want = cpu::transpose_forward(
            &to_f64(&xs),
            [d[0], d[1], d[2], d[3]],
            &to_f64(&ws),
            [cog, p.kernel.h, p.kernel.w],
            Some(&to_f64(&bs)),
            &p,
            [yd[2], yd[3]],
        );
        let k = (c_in / groups) * p.kernel.h * p.kernel.w + 1;
        let got = ct::conv_transpose2d(&x, &w, Some(&b), &p).unwrap();
        assert_eq!(got.shape(), &y_shape);
        let r = compare(&got.to_vec().unwrap(), &want, k);
        assert!(r.passed(), "forward x={x_shape} {p:?}: {r}");

        // Gradients are those of the conv2d whose input gradient this op is.
        let g = p.as_conv().resolve(&y_shape, &w_shape).unwrap();
        let dx_ref = cpu::forward(&g, &to_f64(&dys), &to_f64(&ws), None);
        let dx = ct::conv_transpose2d_backward_data(&dy, &w, &x_shape, &p).unwrap();
        let r = compare(&dx.to_vec().unwrap(), &dx_ref, g.reduction_len());
        assert!(r.passed(), "dx x={x_shape} {p:?}: {r}");
        let dw_ref = cpu::backward_filter(&g, &to_f64(&dys), &to_f64(&xs));
        let dw = ct::conv_transpose2d_backward_filter(&x, &dy, &p).unwrap();
        let r = compare(&dw.to_vec().unwrap(), &dw_ref, g.n * g.h_out * g.w_out);
        assert!(r.passed(), "dw x={x_shape} {p:?}: {r}");
    }
    assert!(
        past_stride >= 5,
        "output padding at or past the stride: {past_stride} cases"
    );
}

#[test]
fn bad_transpose_parameters_are_errors() {
    let mut p = ConvTranspose2dParams::new(3);
    p.stride = HW::square(2);
    p.output_padding = HW::square(2);
    assert!(p
        .output_shape(&Shape::new([1, 2, 4, 4]), &Shape::new([2, 3, 3, 3]))
        .is_err());
    let p = ConvTranspose2dParams::new(3);
    assert!(p
        .output_shape(&Shape::new([1, 2, 4, 4]), &Shape::new([3, 3, 3, 3]))
        .is_err());
}
