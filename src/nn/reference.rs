//! The f64 reference backend: every op of [`Backend`] through the plain loops in
//! `ops::<op>::cpu`. Slow and exact; it proves graph training on the GPU and gives the finite
//! differences their function.

use super::backend::Backend;
pub use super::host::HostTensor;
use super::host::{class_targets, dims4, nc_hw, per_channel, same_shape, t, w_shape};
use crate::error::{Error, Result};
use crate::ops::augment::{self, AugmentParams};
use crate::ops::conv2d::{self, Conv2dParams};
use crate::ops::elementwise::{self, Activation};
use crate::ops::lrn::{self, LrnParams};
use crate::ops::matmul::{self, MatmulGeometry};
use crate::ops::norm::{self, BatchNormParams};
use crate::ops::pool::{self, AdaptiveGeometry, Pool2dParams};
use crate::ops::reduce::{self, PointwiseLoss};
use crate::shape::{Shape, HW};

/// The reference backend (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    type T = HostTensor;
    fn reshape(&self, x: &HostTensor, s: Shape) -> Result<HostTensor> {
        if s.numel() != x.shape.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                what: "element count",
                expected: x.shape.numel().to_string(),
                got: s.to_string(),
            });
        }
        Ok(HostTensor {
            shape: s,
            data: x.data.clone(),
        })
    }
    fn conv2d(
        &self,
        x: &HostTensor,
        w: &HostTensor,
        b: Option<&HostTensor>,
        p: &Conv2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(&x.shape, &w.shape)?;
        let bias = b.map(|b| b.to_vec());
        t(
            g.y_shape(),
            conv2d::cpu::forward(&g, &x.v(), &w.v(), bias.as_deref()).values,
        )
    }
    fn conv2d_activated(
        &self,
        x: &HostTensor,
        w: &HostTensor,
        b: Option<&HostTensor>,
        p: &Conv2dParams,
        f: Activation,
    ) -> Result<HostTensor> {
        let z = self.conv2d(x, w, b, p)?;
        self.activation(&z, f)
    }
    fn conv2d_backward_data(
        &self,
        dy: &HostTensor,
        w: &HostTensor,
        x: &Shape,
        p: &Conv2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(x, &w.shape)?;
        t(
            x.clone(),
            conv2d::cpu::backward_data(&g, &dy.v(), &w.v()).values,
        )
    }
    fn conv2d_backward_filter(
        &self,
        x: &HostTensor,
        dy: &HostTensor,
        p: &Conv2dParams,
    ) -> Result<HostTensor> {
        dims4(&dy.shape)?;
        let g = p.resolve(&x.shape, &w_shape(&x.shape, &dy.shape, p))?;
        t(
            g.w_shape(),
            conv2d::cpu::backward_filter(&g, &x.v(), &dy.v()).values,
        )
    }
    fn bias_backward(&self, dy: &HostTensor) -> Result<HostTensor> {
        let dims = nc_hw(&dy.shape);
        t(Shape::new([dims[1]]), conv2d::cpu::bias_sums(&dy.v(), dims))
    }
    fn dense(&self, x: &HostTensor, w: &HostTensor, b: Option<&HostTensor>) -> Result<HostTensor> {
        let g = MatmulGeometry::new(&x.shape, false, &w.shape, true)?;
        let bias = b.map(|b| b.to_vec());
        t(
            Shape::new([g.m, g.n]),
            matmul::cpu::matmul(&g, &x.v(), &w.v(), bias.as_deref()).values,
        )
    }
    fn dense_backward_data(&self, dy: &HostTensor, w: &HostTensor) -> Result<HostTensor> {
        let g = MatmulGeometry::new(&dy.shape, false, &w.shape, false)?;
        t(
            Shape::new([g.m, g.n]),
            matmul::cpu::matmul(&g, &dy.v(), &w.v(), None).values,
        )
    }
    fn dense_backward_filter(&self, x: &HostTensor, dy: &HostTensor) -> Result<HostTensor> {
        let g = MatmulGeometry::new(&dy.shape, true, &x.shape, false)?;
        t(
            Shape::new([g.m, g.n]),
            matmul::cpu::matmul(&g, &dy.v(), &x.v(), None).values,
        )
    }
    fn max_pool(
        &self,
        x: &HostTensor,
        p: &Pool2dParams,
        with_idx: bool,
    ) -> Result<(HostTensor, Option<HostTensor>)> {
        let g = p.resolve(&x.shape)?;
        let (y, idx) = pool::cpu::max_forward(&g, &x.v());
        Ok((
            t(g.y_shape(), y)?,
            with_idx.then(|| t(g.y_shape(), idx)).transpose()?,
        ))
    }
    fn max_pool_backward(
        &self,
        dy: &HostTensor,
        idx: &HostTensor,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(x)?;
        t(
            x.clone(),
            pool::cpu::max_backward(&g, &dy.v(), &idx.v()).values,
        )
    }
    fn avg_pool(&self, x: &HostTensor, p: &Pool2dParams) -> Result<HostTensor> {
        let g = p.resolve(&x.shape)?;
        t(g.y_shape(), pool::cpu::avg_forward(&g, &x.v()).values)
    }
    fn avg_pool_backward(
        &self,
        dy: &HostTensor,
        x: &Shape,
        p: &Pool2dParams,
    ) -> Result<HostTensor> {
        let g = p.resolve(x)?;
        t(x.clone(), pool::cpu::avg_backward(&g, &dy.v()).values)
    }
    fn global_avg_pool(&self, x: &HostTensor) -> Result<HostTensor> {
        let g = AdaptiveGeometry::resolve(&x.shape, HW::new(1, 1))?;
        t(g.y_shape(), pool::cpu::adaptive_forward(&g, &x.v()).values)
    }
    fn global_avg_pool_backward(&self, dy: &HostTensor, x: &Shape) -> Result<HostTensor> {
        let g = AdaptiveGeometry::resolve(x, HW::new(1, 1))?;
        t(x.clone(), pool::cpu::adaptive_backward(&g, &dy.v()).values)
    }
    fn channel_max_pool(&self, x: &HostTensor, k: usize) -> Result<(HostTensor, HostTensor)> {
        let [n, c, h, w] = dims4(&x.shape)?;
        if k == 0 || c % k != 0 {
            return Err(Error::invalid(
                "channel_max_pool",
                "k",
                k,
                "must divide the channels",
            ));
        }
        let (y, idx) = pool::cpu::channel_max_forward(&x.v(), [n, c, h, w], k);
        let s = Shape::new([n, c / k, h, w]);
        Ok((t(s.clone(), y)?, t(s, idx)?))
    }
    fn channel_max_pool_backward(
        &self,
        dy: &HostTensor,
        idx: &HostTensor,
        x: &Shape,
        k: usize,
    ) -> Result<HostTensor> {
        let d = dims4(x)?;
        t(
            x.clone(),
            pool::cpu::channel_max_backward(&dy.v(), &idx.v(), d, k),
        )
    }
    fn batch_norm_train(
        &self,
        x: &HostTensor,
        [g, b]: [&HostTensor; 2],
        [rm, rv]: [&HostTensor; 2],
        p: &BatchNormParams,
    ) -> Result<[HostTensor; 3]> {
        let dims = nc_hw(&x.shape);
        per_channel(dims[1], &[g, b, rm, rv])?;
        let stats = norm::cpu::stats(&x.v(), dims);
        let y = norm::cpu::normalize(&x.v(), dims, &stats, &g.v(), &b.v(), f64::from(p.eps));
        let m = (dims[0] * dims[2]) as f64;
        let (new_rm, new_rv) =
            norm::cpu::running_update([&rm.v(), &rv.v()], &stats, m, f64::from(p.momentum));
        rm.set(new_rm);
        rv.set(new_rv);
        let (mean, var): (Vec<f64>, Vec<f64>) = stats.into_iter().unzip();
        let c = Shape::new([dims[1]]);
        Ok([t(x.shape.clone(), y)?, t(c.clone(), mean)?, t(c, var)?])
    }
    fn batch_norm_eval(
        &self,
        x: &HostTensor,
        [g, b]: [&HostTensor; 2],
        [rm, rv]: [&HostTensor; 2],
        eps: f32,
    ) -> Result<HostTensor> {
        let dims = nc_hw(&x.shape);
        per_channel(dims[1], &[g, b, rm, rv])?;
        let stats: Vec<(f64, f64)> = rm.v().iter().copied().zip(rv.v().iter().copied()).collect();
        t(
            x.shape.clone(),
            norm::cpu::normalize(&x.v(), dims, &stats, &g.v(), &b.v(), f64::from(eps)),
        )
    }
    fn batch_norm_backward(
        &self,
        dy: &HostTensor,
        x: &HostTensor,
        gamma: &HostTensor,
        [mean, var]: [&HostTensor; 2],
        eps: f32,
        training: bool,
    ) -> Result<[HostTensor; 3]> {
        let dims = nc_hw(&x.shape);
        per_channel(dims[1], &[gamma, mean, var])?;
        same_shape(dy, x)?;
        let stats: Vec<(f64, f64)> = mean
            .v()
            .iter()
            .copied()
            .zip(var.v().iter().copied())
            .collect();
        let (dx, dg, db) = norm::cpu::backward(
            &dy.v(),
            &x.v(),
            dims,
            &stats,
            &gamma.v(),
            f64::from(eps),
            training,
        );
        let c = Shape::new([dims[1]]);
        Ok([t(x.shape.clone(), dx)?, t(c.clone(), dg)?, t(c, db)?])
    }
    fn fold_batch_norm(
        &self,
        w: &HostTensor,
        b: Option<&HostTensor>,
        [g, be]: [&HostTensor; 2],
        [rm, rv]: [&HostTensor; 2],
        eps: f32,
    ) -> Result<(HostTensor, HostTensor)> {
        let c = dims4(&w.shape)?[0];
        let stats = [g, be, rm, rv].into_iter().chain(b);
        if stats.into_iter().any(|s| s.shape.numel() != c) {
            return Err(Error::invalid(
                "fold_batch_norm",
                "statistics",
                "length",
                format!("{c} values each"),
            ));
        }
        let bias = b.map(|b| b.to_vec());
        let (wf, bf) = norm::cpu::fold_conv(
            &w.v(),
            bias.as_deref(),
            [&g.v(), &be.v(), &rm.v(), &rv.v()],
            f64::from(eps),
        );
        Ok((t(w.shape.clone(), wf)?, t(Shape::new([c]), bf)?))
    }
    fn activation(&self, x: &HostTensor, f: Activation) -> Result<HostTensor> {
        t(
            x.shape.clone(),
            x.v()
                .iter()
                .map(|&v| elementwise::cpu::activation(v, f))
                .collect(),
        )
    }
    fn activation_backward(
        &self,
        dy: &HostTensor,
        x: &HostTensor,
        f: Activation,
    ) -> Result<HostTensor> {
        same_shape(dy, x)?;
        let v = x
            .v()
            .iter()
            .zip(dy.v().iter())
            .map(|(&x, &d)| d * elementwise::cpu::activation_grad(x, f))
            .collect();
        t(x.shape.clone(), v)
    }
    fn activation_backward_from_output(
        &self,
        dy: &HostTensor,
        y: &HostTensor,
        f: Activation,
    ) -> Result<HostTensor> {
        same_shape(dy, y)?;
        let v = y
            .v()
            .iter()
            .zip(dy.v().iter())
            .map(|(&y, &d)| d * elementwise::cpu::activation_grad_from_output(y, f))
            .collect();
        t(y.shape.clone(), v)
    }
    fn dropout(&self, x: &HostTensor, rate: f32, seed: u32, step: u32) -> Result<HostTensor> {
        t(
            x.shape.clone(),
            elementwise::cpu::dropout(&x.v(), rate, seed, step),
        )
    }
    fn dropout_backward(
        &self,
        dy: &HostTensor,
        rate: f32,
        seed: u32,
        step: u32,
    ) -> Result<HostTensor> {
        self.dropout(dy, rate, seed, step)
    }
    fn augment(
        &self,
        x: &HostTensor,
        p: &AugmentParams,
        seed: u32,
        step: u32,
    ) -> Result<HostTensor> {
        p.validate()?;
        let d = dims4(&x.shape)?;
        t(
            x.shape.clone(),
            augment::cpu::forward(&x.v(), d, p, seed, step),
        )
    }
    fn lrn(&self, x: &HostTensor, p: &LrnParams) -> Result<HostTensor> {
        t(
            x.shape.clone(),
            lrn::cpu::forward(&x.v(), nc_hw(&x.shape), p),
        )
    }
    fn lrn_backward(&self, dy: &HostTensor, x: &HostTensor, p: &LrnParams) -> Result<HostTensor> {
        same_shape(dy, x)?;
        t(
            x.shape.clone(),
            lrn::cpu::backward(&dy.v(), &x.v(), nc_hw(&x.shape), p),
        )
    }
    fn axpby(&self, alpha: f32, a: &HostTensor, beta: f32, b: &HostTensor) -> Result<HostTensor> {
        if a.shape != b.shape {
            return Err(Error::ShapeMismatch {
                op: "axpby",
                what: "b",
                expected: a.shape.to_string(),
                got: b.shape.to_string(),
            });
        }
        let (al, be) = (f64::from(alpha), f64::from(beta));
        t(
            a.shape.clone(),
            elementwise::cpu::axpby(al, &a.v(), be, &b.v()),
        )
    }
    fn add_relu(&self, a: &HostTensor, b: &HostTensor) -> Result<HostTensor> {
        let sum = self.axpby(1.0, a, 1.0, b)?;
        let relu = |v: f64| crate::ops::elementwise::cpu::activation(v, Activation::Relu);
        let y: Vec<f64> = sum.v().iter().map(|&v| relu(v)).collect();
        t(sum.shape.clone(), y)
    }
    fn concat(&self, parts: &[&HostTensor]) -> Result<HostTensor> {
        let first = dims4(
            &parts
                .first()
                .ok_or_else(|| Error::invalid("concat", "parts", 0, "needs at least one"))?
                .shape,
        )?;
        let mut c = 0;
        for p in parts {
            let [n, pc, h, w] = dims4(&p.shape)?;
            if [n, h, w] != [first[0], first[2], first[3]] {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    what: "part",
                    expected: format!("[{}, any, {}, {}]", first[0], first[2], first[3]),
                    got: p.shape.to_string(),
                });
            }
            c += pc;
        }
        let values: Vec<_> = parts.iter().map(|p| p.v()).collect();
        let channels: Vec<(&[f64], usize)> = values
            .iter()
            .zip(parts)
            .map(|(v, p)| (&v[..], p.shape.dims()[1]))
            .collect();
        let out = elementwise::cpu::concat_channels(&channels, first[0], first[2] * first[3]);
        t(Shape::new([first[0], c, first[2], first[3]]), out)
    }
    fn split(&self, x: &HostTensor, sizes: &[usize]) -> Result<Vec<HostTensor>> {
        let [n, c, h, w] = dims4(&x.shape)?;
        if sizes.iter().sum::<usize>() != c {
            return Err(Error::invalid(
                "split",
                "sizes",
                format!("{sizes:?}"),
                format!("must add up to the {c} channels"),
            ));
        }
        elementwise::cpu::split_channels(&x.v(), [n, c, h * w], sizes)
            .into_iter()
            .zip(sizes)
            .map(|(part, &s)| t(Shape::new([n, s, h, w]), part))
            .collect()
    }
    fn softmax_cross_entropy(
        &self,
        logits: &HostTensor,
        targets: &HostTensor,
    ) -> Result<(HostTensor, HostTensor)> {
        let (classes, tg) = class_targets("softmax_cross_entropy", logits, targets)?;
        let (loss, grad) = reduce::cpu::softmax_cross_entropy(&logits.v(), &tg, classes);
        Ok((
            t(Shape::new([1]), vec![loss])?,
            t(logits.shape.clone(), grad)?,
        ))
    }
    fn pointwise_loss(
        &self,
        pred: &HostTensor,
        target: &HostTensor,
        loss: PointwiseLoss,
    ) -> Result<(HostTensor, HostTensor)> {
        if pred.shape != target.shape {
            return Err(Error::ShapeMismatch {
                op: "loss",
                what: "target",
                expected: pred.shape.to_string(),
                got: target.shape.to_string(),
            });
        }
        let (total, grad) = reduce::cpu::pointwise_loss(&pred.v(), &target.v(), loss);
        Ok((
            t(Shape::new([1]), vec![total])?,
            t(pred.shape.clone(), grad)?,
        ))
    }
    fn hits(&self, logits: &HostTensor, targets: &HostTensor) -> Result<HostTensor> {
        let (classes, tg) = class_targets("hits", logits, targets)?;
        let hits = reduce::cpu::hits(&logits.v(), &tg, classes);
        t(Shape::new([1]), vec![hits as f64])
    }
}
