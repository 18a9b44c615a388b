//! Training presets: a `[train]` table (and optionally `[solver]`) in a TOML file. Every key
//! but `task` is optional and defaults to the task's settings ([`TrainConfig::defaults`]);
//! unknown keys are errors, and every error names the file, line and column.
//!
//! ```toml
//! description = "Circles: a plain 2-D neural ODE cannot separate them; one extra dimension can"
//! [train]
//! task = "circles"
//! methods = ["backprop", "adjoint"]
//! optimizer = "adam"          # adam, rmsprop, sgd
//! lr = 0.02
//! iters = 300
//! batch = 64
//! seed = 0
//! eval_every = 10
//! hidden = [16, 16]
//! augment = 1
//! [solver]
//! method = "rk4"
//! h0 = 0.1
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::{Device, TrainConfig};
use super::model::Init;
use super::task::TaskName;
use crate::grad::{AfgeControl, GradMethod};
use crate::nn::{Activation, InputMap};
use crate::optim::OptimizerKind;
use crate::preset::locate::{Key, PresetError, first_non_finite, line_col, locate};
use crate::solver::SolverConfig;

/// The `[train]` table as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Per-method learning rates, e.g. `{ adjoint = 1e-2 }`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub method_lr: std::collections::BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iters: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `f64` (default) or `f32`: the CPU gradient's float type (the GPU is always f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_check_every: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<bool>,
    /// Threads per gradient on the CPU (a shared batch is split over them; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Hidden layer widths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_map: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_input: Option<bool>,
    /// Standard deviation of N(0, σ²) initial weights (absent: Glorot-uniform or the task's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_std: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<usize>,
    /// `digits`: the encoder's dimension (PCA components, default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cheb_nodes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversible_steps: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub afge_control: Option<String>,
    /// A saved model (.json or .safetensors) every method starts from, relative to the preset
    /// file; `--init` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

/// A key of `[train]` that cannot be applied: its path in the table and the message.
pub type KeyError<'a> = (Vec<Key<'a>>, String);

impl TrainSection {
    /// Overrides `c` with every key present but `task` (which chose the defaults), in the
    /// table's order. The preset reader ([`TrainPreset::resolve`]) and the command line
    /// (`nodelab train`'s options) both go through here, so a name means the same in both.
    #[allow(clippy::too_many_lines)] // one `if let` per optional key, in the table's order
    pub fn apply(&self, c: &mut TrainConfig) -> Result<(), KeyError<'_>> {
        use Key::Name;
        fn fail<'a>(path: &[Key<'a>], message: String) -> KeyError<'a> {
            (path.to_vec(), message)
        }
        let t = self;
        if let Some(list) = &t.methods {
            let mut methods = Vec::new();
            for (i, name) in list.iter().enumerate() {
                let at = [Name("train"), Name("methods"), Key::Index(i)];
                let m = GradMethod::parse(name).ok_or_else(|| {
                    fail(
                        &at,
                        format!(
                            "unknown gradient method '{name}' (known: {})",
                            GradMethod::ALL.map(|m| m.name()).join(", ")
                        ),
                    )
                })?;
                if methods.contains(&m) {
                    return Err(fail(
                        &at,
                        format!("gradient method '{name}' is listed twice"),
                    ));
                }
                methods.push(m);
            }
            c.methods = methods;
        }
        if let Some(name) = &t.optimizer {
            c.optimizer.kind = OptimizerKind::parse(name).ok_or_else(|| {
                fail(
                    &[Name("train"), Name("optimizer")],
                    format!("unknown optimizer '{name}' (known: adam, rmsprop, sgd)"),
                )
            })?;
        }
        if let Some(v) = t.lr {
            c.optimizer.lr = v;
        }
        if let Some(v) = t.weight_decay {
            c.optimizer.weight_decay = v;
        }
        for (name, &lr) in &t.method_lr {
            let m = GradMethod::parse(name).ok_or_else(|| {
                fail(
                    &[Name("train"), Name("method_lr"), Name(name)],
                    format!("unknown gradient method '{name}' in method_lr"),
                )
            })?;
            c.method_lr.push((m, lr));
        }
        if let Some(v) = t.iters {
            c.iters = v;
        }
        if let Some(v) = t.batch {
            c.batch = v;
        }
        if let Some(v) = t.seed {
            c.seed = v;
        }
        if let Some(name) = &t.device {
            c.device = Device::parse(name).ok_or_else(|| {
                fail(
                    &[Name("train"), Name("device")],
                    format!("unknown device '{name}' (known: cpu, gpu, auto)"),
                )
            })?;
        }
        if let Some(name) = &t.precision {
            c.precision = crate::grad::Precision::parse(name)
                .map_err(|e| fail(&[Name("train"), Name("precision")], e))?;
        }
        if let Some(v) = t.eval_every {
            c.eval_every = v;
        }
        if let Some(v) = t.grad_check_every {
            c.grad_check_every = v;
        }
        if let Some(v) = t.concurrent {
            c.concurrent = v;
        }
        if let Some(v) = t.threads {
            if v == 0 || v > 1024 {
                return Err(fail(
                    &[Name("train"), Name("threads")],
                    format!("threads = {v} must be in 1 ..= 1024"),
                ));
            }
            c.grad_options.threads = v;
        }
        if let Some(v) = &t.hidden {
            c.model.hidden = v.clone();
        }
        if let Some(name) = &t.activation {
            c.model.activation = Activation::parse(name).ok_or_else(|| {
                fail(
                    &[Name("train"), Name("activation")],
                    format!(
                        "unknown activation '{name}' (known: {})",
                        Activation::ALL.map(|a| a.name()).join(", ")
                    ),
                )
            })?;
        }
        if let Some(name) = &t.input_map {
            c.model.input_map = InputMap::parse(name).ok_or_else(|| {
                fail(
                    &[Name("train"), Name("input_map")],
                    format!("unknown input map '{name}' (known: identity, cube)"),
                )
            })?;
        }
        if let Some(v) = t.time_input {
            c.model.time_input = v;
        }
        if let Some(std) = t.init_std {
            c.model.init = Init::Normal { std };
        }
        if let Some(v) = t.augment {
            c.data.augment = v;
        }
        if let Some(v) = t.features {
            c.data.features = v;
        }
        if let Some(v) = t.noise {
            c.data.noise = v;
        }
        if let Some(v) = t.points {
            c.data.points = v;
        }
        if let Some(v) = t.test_fraction {
            c.data.test_fraction = v;
        }
        if t.checkpoints.is_some() {
            c.grad_options.checkpoints = t.checkpoints;
        }
        if let Some(v) = t.cheb_nodes {
            c.grad_options.cheb_nodes = v;
        }
        if let Some(v) = t.lambda {
            c.grad_options.lambda = v;
        }
        if t.reversible_steps.is_some() {
            c.grad_options.reversible_steps = t.reversible_steps;
        }
        if let Some(name) = &t.afge_control {
            c.grad_options.afge_control = AfgeControl::parse(name).ok_or_else(|| {
                fail(
                    &[Name("train"), Name("afge_control")],
                    format!("unknown afge control '{name}' (known: state, augmented)"),
                )
            })?;
        }
        Ok(())
    }
}

/// A training preset file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainPreset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub train: TrainSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<SolverConfig>,
}

/// Whether a preset text has a `[train]` table (defined with the preset reader, which refuses
/// training presets).
pub use crate::preset::is_train_preset;

impl TrainPreset {
    /// Parses preset text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, PresetError> {
        let preset = toml::from_str::<TrainPreset>(text).map_err(|e| PresetError {
            source: source.to_string(),
            location: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        if let Some((span, key)) = first_non_finite(text) {
            return Err(PresetError {
                source: source.to_string(),
                location: Some(line_col(text, span.start)),
                message: format!("{key} is {}: every number must be finite", &text[span]),
            });
        }
        Ok(preset)
    }

    /// Reads, parses and resolves a preset file into a configuration.
    pub fn load(path: &Path) -> Result<(TrainConfig, Option<String>), PresetError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PresetError {
            source: source.clone(),
            location: None,
            message: format!("cannot read the file: {e}"),
        })?;
        let preset = Self::from_toml(&text, &source)?;
        let mut config = preset.resolve(&text, &source)?;
        if let Some(given) = &preset.train.weights {
            config.weights = Some(weights_path(path, given, &text, &source)?);
        }
        Ok((config, preset.description))
    }

    /// The configuration: the task's defaults overridden by every key present. Semantic
    /// errors point at their key.
    pub fn resolve(&self, text: &str, source: &str) -> Result<TrainConfig, PresetError> {
        use Key::Name;
        let err = |path: &[Key<'_>], message: String| PresetError {
            source: source.to_string(),
            location: locate(text, path).map(|s| line_col(text, s.start)),
            message,
        };
        let t = &self.train;
        let task = TaskName::parse(&t.task).ok_or_else(|| {
            err(
                &[Name("train"), Name("task")],
                format!(
                    "unknown task '{}' (known: {})",
                    t.task,
                    TaskName::ALL.map(|t| t.name()).join(", ")
                ),
            )
        })?;
        let mut c = TrainConfig::defaults(task);
        t.apply(&mut c).map_err(|(path, m)| err(&path, m))?;
        if let Some(w) = &t.weights {
            if w.trim().is_empty() {
                return Err(err(
                    &[Name("train"), Name("weights")],
                    "weights is empty: give the path of a saved model (.json or .safetensors)"
                        .into(),
                ));
            }
            c.weights = Some(PathBuf::from(w));
        }
        if let Some(s) = &self.solver {
            c.solver = s.clone();
        }
        c.validate().map_err(|m| {
            // Point at the key the message names when there is one.
            let key = [
                "lr",
                "iters",
                "batch",
                "hidden",
                "augment",
                "features",
                "noise",
                "points",
                "test_fraction",
                "lambda",
                "checkpoints",
                "cheb_nodes",
                "reversible_steps",
                "init_std",
                "weight_decay",
                "method_lr",
                "methods",
            ]
            .into_iter()
            .find(|k| m.contains(k) || m.contains(&k.replace('_', "-")));
            match (key, m.starts_with("solver")) {
                (_, true) => err(&[Name("solver")], m),
                (Some(k), false) => err(&[Name("train"), Name(k)], m),
                (None, false) => err(&[Name("train")], m),
            }
        })?;
        Ok(c)
    }

    /// The preset that reproduces `config` (every key written).
    pub fn from_config(config: &TrainConfig, description: Option<String>) -> Self {
        let o = &config.grad_options;
        Self {
            description,
            train: TrainSection {
                task: config.task.name().into(),
                methods: Some(
                    config
                        .methods
                        .iter()
                        .map(|m| m.name().to_string())
                        .collect(),
                ),
                optimizer: Some(config.optimizer.kind.name().into()),
                lr: Some(config.optimizer.lr),
                weight_decay: Some(config.optimizer.weight_decay),
                method_lr: config
                    .method_lr
                    .iter()
                    .map(|(m, lr)| (m.name().to_string(), *lr))
                    .collect(),
                iters: Some(config.iters),
                batch: Some(config.batch),
                seed: Some(config.seed),
                device: Some(config.device.name().into()),
                precision: Some(config.precision.name().into()),
                eval_every: Some(config.eval_every),
                grad_check_every: Some(config.grad_check_every),
                concurrent: Some(config.concurrent),
                threads: (config.grad_options.threads > 1).then_some(config.grad_options.threads),
                hidden: Some(config.model.hidden.clone()),
                activation: Some(config.model.activation.name().into()),
                input_map: Some(config.model.input_map.name().into()),
                time_input: Some(config.model.time_input),
                init_std: match config.model.init {
                    Init::Normal { std } => Some(std),
                    Init::Glorot => None,
                },
                augment: Some(config.data.augment),
                features: (config.task == TaskName::Digits).then_some(config.data.features),
                noise: Some(config.data.noise),
                points: Some(config.data.points),
                test_fraction: Some(config.data.test_fraction),
                checkpoints: o.checkpoints,
                cheb_nodes: Some(o.cheb_nodes),
                lambda: Some(o.lambda),
                reversible_steps: o.reversible_steps,
                afge_control: Some(
                    match o.afge_control {
                        AfgeControl::State => "state",
                        AfgeControl::Augmented => "augmented",
                    }
                    .into(),
                ),
                weights: config
                    .weights
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
            },
            solver: Some(config.solver.clone()),
        }
    }

    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }
}

/// The model file `given` by a preset's `weights` key, relative to the preset file `preset`
/// (made absolute, so that a written setup finds it from anywhere), read once to refuse a
/// missing or broken file at the key.
fn weights_path(
    preset: &Path,
    given: &str,
    text: &str,
    source: &str,
) -> Result<PathBuf, PresetError> {
    let err = |message: String| PresetError {
        source: source.to_string(),
        location: locate(text, &[Key::Name("train"), Key::Name("weights")])
            .map(|s| line_col(text, s.start)),
        message,
    };
    let joined = preset.parent().unwrap_or(Path::new("")).join(given);
    let full = std::fs::canonicalize(&joined).map_err(|e| {
        err(format!(
            "weights = \"{given}\": cannot read {}: {e}",
            joined.display()
        ))
    })?;
    super::model::load_initial(&full)
        .map_err(|e| err(format!("weights = \"{given}\" is not a model file: {e}")))?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_is_absent_and_keys_override() {
        let text = "[train]\ntask = \"moons\"\nlr = 0.5\nhidden = [8]\n";
        let p = TrainPreset::from_toml(text, "t.toml").unwrap();
        let c = p.resolve(text, "t.toml").unwrap();
        let d = TrainConfig::defaults(TaskName::Moons);
        assert_eq!(c.optimizer.lr, 0.5);
        assert_eq!(c.model.hidden, vec![8]);
        assert_eq!(c.iters, d.iters);
        assert_eq!(c.solver, d.solver);
    }

    #[test]
    fn errors_point_at_the_key() {
        let text = "[train]\ntask = \"circles\"\nmethods = [\"backprop\", \"bakprop\"]\n";
        let p = TrainPreset::from_toml(text, "t.toml").unwrap();
        let e = p.resolve(text, "t.toml").unwrap_err();
        assert_eq!(e.location, Some((3, 24)), "{e}");
        assert!(e.message.contains("bakprop"));
        let text = "[train]\ntask = \"circles\"\nlr = -1.0\n";
        let p = TrainPreset::from_toml(text, "t.toml").unwrap();
        let e = p.resolve(text, "t.toml").unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
        let e = TrainPreset::from_toml("[train]\ntask = \"xor\"\nlr2 = 1\n", "t.toml").unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
        let e =
            TrainPreset::from_toml("[train]\ntask = \"xor\"\nlr = nan\n", "t.toml").unwrap_err();
        assert_eq!(e.location, Some((3, 6)), "{e}");
        assert!(e.message.contains("finite"), "{e}");
        let text = "[train]\ntask = \"xor\"\nprecision = \"f16\"\n";
        let p = TrainPreset::from_toml(text, "t.toml").unwrap();
        let e = p.resolve(text, "t.toml").unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
        assert!(
            e.message.contains("f16") && e.message.contains("f32"),
            "{e}"
        );
        // A repeated method is named, at its own line.
        let text = "[train]\ntask = \"xor\"\nmethods = [\n  \"adjoint\",\n  \"adjoint\",\n]\n";
        let p = TrainPreset::from_toml(text, "t.toml").unwrap();
        let e = p.resolve(text, "t.toml").unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(5), "{e}");
        assert!(e.message.contains("'adjoint' is listed twice"), "{e}");
        // threads is a key, bounded.
        let text = "[train]\ntask = \"xor\"\nthreads = 4\n";
        let c = TrainPreset::from_toml(text, "t")
            .unwrap()
            .resolve(text, "t")
            .unwrap();
        assert_eq!(c.grad_options.threads, 4);
        let text = "[train]\ntask = \"xor\"\nthreads = 0\n";
        let e = TrainPreset::from_toml(text, "t")
            .unwrap()
            .resolve(text, "t")
            .unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
    }

    #[test]
    fn a_written_preset_reads_back_to_the_same_config() {
        let mut c = TrainConfig::defaults(TaskName::SpiralFit);
        c.seed = 42;
        c.methods = vec![GradMethod::Afge, GradMethod::Checkpoint];
        c.grad_options.checkpoints = Some(3);
        c.precision = crate::grad::Precision::F32;
        let text = TrainPreset::from_config(&c, Some("x".into()))
            .to_toml()
            .unwrap();
        let back = TrainPreset::from_toml(&text, "t")
            .unwrap()
            .resolve(&text, "t")
            .unwrap();
        assert_eq!(back, c);
        assert!(is_train_preset(&text));
        assert!(!is_train_preset("[problem]\nname = \"lorenz\"\n"));
    }

    /// `weights` is read relative to the preset file and every method starts from it; a
    /// missing or broken file is refused at the key's line and column; `resolve` alone keeps
    /// the path as written.
    #[test]
    fn weights_start_every_method_from_the_file_relative_to_the_preset() {
        use crate::train::Trainer;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("presets");
        std::fs::create_dir(&sub).unwrap();
        // A model of the preset's network with weights unlike the seeded ones.
        let mut c = TrainConfig::defaults(TaskName::Xor);
        c.model.hidden = vec![4];
        c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
        let seeded = Trainer::new(c.clone()).unwrap().runs()[0].model.clone();
        let mut mlp = seeded.mlp.clone();
        for (k, p) in mlp.params.iter_mut().enumerate() {
            *p = 0.01 * k as f64 - 0.2;
        }
        crate::nn::model_file::save(&sub.join("w.json"), &mlp, seeded.readout.as_ref(), &[])
            .unwrap();
        let text = "[train]\ntask = \"xor\"\nhidden = [4]\nweights = \"w.json\"\n";
        let preset = sub.join("p.toml");
        std::fs::write(&preset, text).unwrap();
        let (config, _) = TrainPreset::load(&preset).unwrap();
        let want = std::fs::canonicalize(sub.join("w.json")).unwrap();
        assert_eq!(config.weights.as_deref(), Some(want.as_path()));
        let trainer = Trainer::new(config.clone()).unwrap();
        for run in trainer.runs() {
            assert_eq!(run.model.mlp.params, mlp.params, "{}", run.method);
            assert_ne!(run.model.mlp.params, seeded.mlp.params);
        }
        // The written setup carries it and reads back to the same configuration.
        let again = TrainPreset::from_config(&config, None).to_toml().unwrap();
        let back = TrainPreset::from_toml(&again, "s")
            .unwrap()
            .resolve(&again, "s")
            .unwrap();
        assert_eq!(back, config);
        // resolve alone keeps the path as written.
        let c = TrainPreset::from_toml(text, "t")
            .unwrap()
            .resolve(text, "t")
            .unwrap();
        assert_eq!(c.weights.as_deref(), Some(Path::new("w.json")));
        // A missing file, a file that is no model, an empty path: located at `weights`.
        let cases = [
            ("gone.json", "cannot read"),
            ("p.toml", "is not a model file"),
            ("", "weights is empty"),
        ];
        for (name, says) in cases {
            let text = format!("[train]\ntask = \"xor\"\n\n  weights = \"{name}\"\n");
            std::fs::write(&preset, &text).unwrap();
            let e = TrainPreset::load(&preset).unwrap_err();
            assert_eq!(e.location, Some((4, 3)), "{e}");
            assert!(e.message.contains(says), "{name}: {e}");
            assert!(e.to_string().contains("p.toml:4:3: "), "{e}");
        }
        // A model of another shape is refused when the run is set up, naming the file.
        let text = "[train]\ntask = \"xor\"\nhidden = [5]\nweights = \"w.json\"\n";
        std::fs::write(&preset, text).unwrap();
        let (config, _) = TrainPreset::load(&preset).unwrap();
        let e = Trainer::new(config).unwrap_err();
        assert!(e.contains("w.json") && e.contains("does not fit"), "{e}");
    }
}
