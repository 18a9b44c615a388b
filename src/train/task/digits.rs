//! The `digits` classification task: the 8×8 handwritten digits ([`crate::train::digits_data`]) through
//! a fixed encoder to `features` dimensions (default 8), the MLP ODE block from t = 0 to t = 1 (the
//! state: the encoding with `augment` zeros appended), a linear read-out to 10 logits, loss
//! cross-entropy — the two-class tasks' machinery with ten classes.
//!
//! - **Split:** the 1,797 images are shuffled by the seed's data stream; the first `points` of
//!   them are used, of which the first `round(points · test_fraction)` are held out.
//! - **Encoder:** PCA fitted on the training split only ([`crate::train::pca`]), pixels scaled to
//!   [0, 1], whitened (unit variance per component on the training split). PCA rather than a
//!   trained linear encoder: it adds no parameters and no gradient path outside the ODE block,
//!   so every gradient method differentiates exactly the same model (the encoder is data
//!   preparation, like the toy sets' scaling), and it keeps most of the variance (8 components:
//!   about two thirds on these images).

use super::{Evaluation, Prediction, TaskSettings, solve_at};
use crate::grad::{BatchSteps, GradProblem, Loss, Readout};
use crate::solver::SolverConfig;
use crate::train::digits_data::{self, CLASSES};
use crate::train::model::{self, Model};
use crate::train::pca::Pca;
use crate::train::rng::{SeedRng, Stream};

/// The encoder's default dimension d.
pub const DEFAULT_FEATURES: usize = 8;
/// Images in the shipped set.
pub const IMAGES: usize = 1797;

/// Encoded images, split into train and test, with the fitted encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitsData {
    pub pca: Pca,
    /// Training images' encodings (`features` numbers each).
    pub train: Vec<Vec<f64>>,
    pub train_labels: Vec<usize>,
    pub test: Vec<Vec<f64>>,
    pub test_labels: Vec<usize>,
    /// Zeros appended to the encoding to form the ODE state.
    pub augment: usize,
}

/// Checks the settings of the digits task.
pub fn validate(s: &TaskSettings) -> Result<(), String> {
    if !(20..=IMAGES).contains(&s.points) {
        return Err(format!(
            "points = {} must be in 20 ..= {IMAGES} (the digits set has {IMAGES} images)",
            s.points
        ));
    }
    s.check_test_fraction()?;
    if !(1..=digits_data::PIXELS).contains(&s.features) {
        return Err(format!(
            "features = {} must be in 1 ..= {} (the encoder's dimension)",
            s.features,
            digits_data::PIXELS
        ));
    }
    if s.augment > 64 {
        return Err(format!("augment = {} is above 64", s.augment));
    }
    Ok(())
}

/// The read-out's logits `W y + b`.
pub fn logits(readout: &Readout, y: &[f64]) -> Vec<f64> {
    readout
        .weight
        .iter()
        .zip(&readout.bias)
        .map(|(w, b)| b + w.iter().zip(y).map(|(a, v)| a * v).sum::<f64>())
        .collect()
}

/// The index of the largest logit (the first one on ties).
pub fn argmax(z: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in z.iter().enumerate() {
        if *v > z[best] {
            best = i;
        }
    }
    best
}

impl DigitsData {
    /// Splits the shipped images by `seed` and fits the encoder on the training part.
    pub fn generate(settings: &TaskSettings, seed: u64) -> Result<Self, String> {
        validate(settings)?;
        let set = digits_data::load()?;
        let mut rng = SeedRng::new(seed, Stream::Data);
        let order = rng.choose(set.len(), set.len());
        let used = &order[..settings.points.min(set.len())];
        let n_test = ((used.len() as f64) * settings.test_fraction).round() as usize;
        let (test_idx, train_idx) = used.split_at(n_test);
        let pixels =
            |i: usize| -> Vec<f64> { set.images[i].iter().map(|&p| f64::from(p) / 16.0).collect() };
        let train_rows: Vec<Vec<f64>> = train_idx.iter().map(|&i| pixels(i)).collect();
        let pca = Pca::fit(&train_rows, settings.features)?;
        Ok(Self {
            train: train_rows.iter().map(|r| pca.encode(r)).collect(),
            train_labels: train_idx.iter().map(|&i| set.labels[i] as usize).collect(),
            test: test_idx.iter().map(|&i| pca.encode(&pixels(i))).collect(),
            test_labels: test_idx.iter().map(|&i| set.labels[i] as usize).collect(),
            augment: settings.augment,
            pca,
        })
    }

    pub fn features(&self) -> usize {
        self.pca.components.len()
    }

    /// State dimension of the ODE block.
    pub fn dim(&self) -> usize {
        self.features() + self.augment
    }

    /// The encoding with `augment` zeros appended.
    pub fn lift(&self, z: &[f64]) -> Vec<f64> {
        let mut y = z.to_vec();
        y.resize(self.dim(), 0.0);
        y
    }

    /// The gradient problem of training images `items`.
    pub fn batch_problem(
        &self,
        items: &[usize],
        model: &Model,
        solver: &SolverConfig,
    ) -> GradProblem {
        GradProblem {
            mlp: model.mlp.clone(),
            y0: items.iter().map(|&i| self.lift(&self.train[i])).collect(),
            t0: 0.0,
            t1: 1.0,
            solver: solver.clone(),
            batch_steps: BatchSteps::Shared,
            loss: Loss::cross_entropy(
                model
                    .readout
                    .clone()
                    .unwrap_or_else(|| model::readout(self.dim(), CLASSES, 0)),
                items.iter().map(|&i| self.train_labels[i]).collect(),
            ),
        }
    }

    /// Mean cross-entropy, predicted classes of `rows` under `model`.
    fn score(
        &self,
        model: &Model,
        readout: &Readout,
        rows: &[Vec<f64>],
        labels: &[usize],
        solver: &SolverConfig,
    ) -> Result<(f64, Vec<usize>), String> {
        if rows.is_empty() {
            return Ok((f64::NAN, Vec::new()));
        }
        let y0: Vec<Vec<f64>> = rows.iter().map(|z| self.lift(z)).collect();
        let end = solve_at(&model.mlp, &y0, &[0.0, 1.0], solver)?;
        let loss = Loss::cross_entropy(readout.clone(), labels.to_vec());
        let mut g = vec![0.0; self.dim()];
        let mut total = 0.0;
        let mut predicted = Vec::with_capacity(rows.len());
        for (b, y) in end[1].iter().enumerate() {
            total += loss.sample_term(0, b, rows.len(), y, &mut g, None);
            predicted.push(argmax(&logits(readout, y)));
        }
        Ok((total, predicted))
    }

    /// Test loss and accuracy (the training set's when there is no test set) and the training
    /// accuracy.
    pub fn evaluate(&self, model: &Model, solver: &SolverConfig) -> Result<Evaluation, String> {
        let readout = model
            .readout
            .as_ref()
            .ok_or("a classification model needs a read-out")?;
        let accuracy = |pred: &[usize], labels: &[usize]| {
            let right = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
            right as f64 / labels.len().max(1) as f64
        };
        let (train_loss, train_pred) =
            self.score(model, readout, &self.train, &self.train_labels, solver)?;
        let train_acc = accuracy(&train_pred, &self.train_labels);
        let (loss, acc) = if self.test.is_empty() {
            (train_loss, train_acc)
        } else {
            let (l, p) = self.score(model, readout, &self.test, &self.test_labels, solver)?;
            (l, accuracy(&p, &self.test_labels))
        };
        Ok(Evaluation {
            loss,
            accuracy: Some(acc),
            train_accuracy: Some(train_acc),
            trajectory: Vec::new(),
        })
    }

    /// The view's data: the held-out images' confusion matrix and their first two encoder
    /// coordinates (the training images when nothing is held out).
    pub fn predict(&self, model: &Model, solver: &SolverConfig) -> Result<Prediction, String> {
        let readout = model
            .readout
            .as_ref()
            .ok_or("a classification model needs a read-out")?;
        let (rows, labels) = if self.test.is_empty() {
            (&self.train, &self.train_labels)
        } else {
            (&self.test, &self.test_labels)
        };
        let (_, predicted) = self.score(model, readout, rows, labels, solver)?;
        let mut confusion = vec![vec![0u32; CLASSES]; CLASSES];
        for (&l, &p) in labels.iter().zip(&predicted) {
            confusion[l][p] += 1;
        }
        let right = labels
            .iter()
            .zip(&predicted)
            .filter(|(l, p)| l == p)
            .count();
        Ok(Prediction::Digits {
            confusion,
            accuracy: right as f64 / labels.len().max(1) as f64,
            points: rows.iter().map(|z| plane(z)).collect(),
            labels: labels.clone(),
            predicted,
        })
    }
}

/// The first two coordinates of an encoding (the second 0 when d = 1).
pub fn plane(z: &[f64]) -> [f64; 2] {
    [
        z.first().copied().unwrap_or(0.0),
        z.get(1).copied().unwrap_or(0.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TaskSettings {
        TaskSettings {
            points: IMAGES,
            noise: 0.0,
            test_fraction: 0.25,
            augment: 0,
            features: DEFAULT_FEATURES,
        }
    }

    #[test]
    fn the_split_is_seeded_disjoint_and_complete() {
        let a = DigitsData::generate(&settings(), 0).unwrap();
        let b = DigitsData::generate(&settings(), 0).unwrap();
        let c = DigitsData::generate(&settings(), 1).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.test_labels, c.test_labels);
        assert_eq!(a.test.len(), 449);
        assert_eq!(a.train.len() + a.test.len(), IMAGES);
        assert_eq!(a.dim(), 8);
        // Every class is in both parts, in roughly its share.
        for k in 0..CLASSES {
            let n = a.test_labels.iter().filter(|&&l| l == k).count();
            assert!((25..=65).contains(&n), "class {k}: {n} test images");
        }
        let mut s = settings();
        s.points = 19;
        assert!(DigitsData::generate(&s, 0).is_err());
        s.points = 100;
        s.features = 65;
        assert!(DigitsData::generate(&s, 0).is_err());
    }

    #[test]
    fn the_encoder_is_fitted_on_the_training_images_only() {
        let d = DigitsData::generate(&settings(), 0).unwrap();
        let n = d.train.len() as f64;
        for j in 0..d.features() {
            let mean = d.train.iter().map(|z| z[j]).sum::<f64>() / n;
            let var = d.train.iter().map(|z| (z[j] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            assert!(
                mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9,
                "{mean} {var}"
            );
        }
        // The test images were not fitted: their spread differs from exactly 1.
        let m = d.test.len() as f64;
        let var0 = d.test.iter().map(|z| z[0] * z[0]).sum::<f64>() / m;
        assert!(
            (var0 - 1.0).abs() > 1e-6 && (0.5..2.0).contains(&var0),
            "{var0}"
        );
        // Eight components keep most of the variance, in decreasing order.
        assert!(d.pca.variances.windows(2).all(|w| w[0] >= w[1]));
        assert!(
            (0.6..0.9).contains(&d.pca.explained()),
            "{}",
            d.pca.explained()
        );
        let mut s = settings();
        s.augment = 2;
        let a = DigitsData::generate(&s, 0).unwrap();
        assert_eq!(a.lift(&a.train[0]).len(), 10);
        assert_eq!(a.lift(&a.train[0])[8..], [0.0, 0.0]);
    }

    #[test]
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[3.0]), 0);
    }
}
