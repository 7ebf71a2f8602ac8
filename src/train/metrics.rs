//! What training and evaluation report: [`Metrics`], the logged sums of a model's plans, and
//! the names they are logged under.

use super::Model;
use crate::error::Result;
use crate::nn::loss::Metric;

/// The loss and every head's metrics over some samples, each a per-sample mean (each batch's
/// mean weighted by its size).
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// The total loss `Σ weight · loss` over the heads.
    pub loss: f64,
    /// The first head's accuracy ([`crate::nn::loss::Metric::Accuracy`]), if a head reports
    /// one: the fraction in [0, 1] of samples whose target class has the largest logit.
    pub accuracy: Option<f64>,
    /// Samples the metrics are over.
    pub samples: usize,
    /// Everything logged, by Keras's names ([`Model::log_names`]): `loss`, each head's loss
    /// when there are several (`class_loss`), each head's metrics (`accuracy`, `box_mse`).
    pub values: Vec<(String, f64)>,
}

impl Metrics {
    /// The value logged as `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|v| v.1)
    }
}

impl Model {
    /// Reads and resets the logged sums of the plans of one mode: per [`Model::log_names`]
    /// entry, Σ batch · batch mean.
    pub(super) fn take_sums(&mut self, training: bool) -> Result<Vec<f64>> {
        let mut sums = vec![0.0; self.log_names().len()];
        for p in self.plans.iter().filter(|p| p.training == training) {
            for (s, v) in sums.iter_mut().zip(p.take_metrics()?) {
                *s += v * p.batch as f64;
            }
        }
        self.in_flight.clear();
        Ok(sums)
    }

    /// What the model logs, in order: `loss`, each head's loss when there are several, then
    /// each head's metrics, named as Keras names them ([`crate::nn::loss::log_names`]).
    pub fn log_names(&self) -> Vec<String> {
        self.log_entries().into_iter().map(|e| e.0).collect()
    }

    fn log_entries(&self) -> Vec<(String, Option<Metric>)> {
        let outputs: Vec<String> = self
            .graph
            .outputs
            .iter()
            .map(|&v| {
                let node = self.graph.nodes.iter().find(|n| n.output == v);
                node.map_or_else(|| "output".to_string(), |n| n.name.clone())
            })
            .collect();
        crate::nn::loss::log_entries(&self.heads, &outputs)
    }

    pub(super) fn metrics(&self, sums: &[f64], samples: usize) -> Metrics {
        let s = samples.max(1) as f64;
        let entries = self.log_entries();
        // The first head's accuracy, for the field that predates per-head metrics.
        let accuracy = entries
            .iter()
            .zip(sums)
            .find(|(e, _)| e.1 == Some(Metric::Accuracy))
            .map(|(_, v)| v / s);
        let values: Vec<(String, f64)> = entries
            .into_iter()
            .zip(sums)
            .map(|(e, v)| (e.0, v / s))
            .collect();
        Metrics {
            loss: values.first().map_or(0.0, |v| v.1),
            accuracy,
            samples,
            values,
        }
    }
}
