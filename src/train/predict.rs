//! `predict` and `activations`: a [`Model`]'s outputs in inference mode.

use super::Model;
use crate::error::{Error, Result};
use crate::shape::Shape;

impl Model {
    /// Outputs (every head, concatenated per output) for `x` (any number of samples), run in
    /// batches of `batch_size` in inference mode.
    pub fn predict(&mut self, x: &[f32], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let per = self.graph.shape(self.graph.inputs[0]).numel();
        if batch_size == 0 || per == 0 || x.is_empty() || !x.len().is_multiple_of(per) {
            return Err(Error::ShapeMismatch {
                op: "predict",
                what: "inputs",
                expected: format!("a non-empty multiple of {per} values and a batch size ≥ 1"),
                got: format!("{} values, batch {batch_size}", x.len()),
            });
        }
        let mut outs = vec![Vec::new(); self.graph.outputs.len()];
        for chunk in x.chunks(batch_size.saturating_mul(per)) {
            let n = chunk.len() / per;
            let dummy: Vec<Vec<f32>> = self
                .heads
                .iter()
                .map(|h| {
                    vec![
                        0.0;
                        n * h
                            .loss
                            .target_len(self.graph.shape(self.graph.outputs[h.output]))
                    ]
                })
                .collect();
            let t: Vec<&[f32]> = dummy.iter().map(|v| v.as_slice()).collect();
            let i = self.plan(false, n)?;
            self.plans[i].step(&[chunk], &t, self.step as u32, None)?;
            for (o, t) in outs.iter_mut().zip(&self.plans[i].outputs) {
                o.extend(t.to_vec()?);
            }
        }
        self.take_sums(false)?;
        Ok(outs)
    }

    /// The outputs of the named layers (inner activations: feature maps) for inputs `x`, in
    /// inference mode, each with its shape (batch axis first). Runs an inference plan of the
    /// part of the graph they need, with the current weights; that plan holds its own copy
    /// of those weights while it runs. An `Err` names a layer the model lacks.
    pub fn activations(
        &mut self,
        x: &[f32],
        layers: &[&str],
        batch_size: usize,
    ) -> Result<Vec<(Shape, Vec<f32>)>> {
        self.sync_params()?;
        let g = self.graph.outputs_of(layers)?;
        let shapes: Vec<Shape> = g.outputs.iter().map(|&v| g.shape(v).clone()).collect();
        let mut part = Model::new(self.gpu(), g)?;
        let outs = part.predict(x, batch_size)?;
        Ok(shapes
            .into_iter()
            .zip(outs)
            .map(|(s, v)| {
                let n = v.len() / s.numel().max(1);
                let dims: Vec<usize> = std::iter::once(n).chain(s.dims().iter().copied()).collect();
                (Shape::new(dims), v)
            })
            .collect())
    }
}
