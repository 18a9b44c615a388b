//! Model files: the weights JSON ([`WeightsFile`]) and safetensors, chosen by the file
//! extension (`.safetensors`, anything else is JSON).
//!
//! The weights JSON:
//!
//! ```json
//! {"activation": "tanh", "time_input": false, "input_map": "identity",
//!  "layers": [{"weight": [[…], …], "bias": […]}, …]}
//! ```
//!
//! `input_map` is optional (default `identity`); `weight` is stored `[out][in]`, and the flat θ
//! of [`Mlp`] lists, layer by layer, the weight row-major and then the bias.
//!
//! A safetensors model holds `layers.{l}.weight` (`[out, in]`) and `layers.{l}.bias` (`[out]`)
//! in F64 (the CPU path) or F32 (the GPU path), and for a classifier `readout.weight`
//! (`[classes, state]`) and `readout.bias`. Its metadata (string to string) carries
//! `format = "nodelab-mlp"`, `activation`, `sizes` (a JSON list), `input_map`, `time_input`, and
//! whatever the writer adds (`task`, `training`: the training settings as JSON).

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::input_map::InputMap;
use super::mlp::Mlp;
use crate::grad::Readout;

/// Element type of a safetensors model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatKind {
    F64,
    F32,
}

/// Whether `path` names a safetensors file.
pub fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

fn bytes_of(values: &[f64], kind: FloatKind) -> Vec<u8> {
    match kind {
        FloatKind::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        FloatKind::F32 => values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
    }
}

fn values_of(view: &TensorView<'_>) -> Result<Vec<f64>, String> {
    let data = view.data();
    match view.dtype() {
        Dtype::F64 => Ok(data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()),
        Dtype::F32 => Ok(data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()),
        other => Err(format!("tensor type {other:?} is not F64 or F32")),
    }
}

/// Serialises a model to safetensors bytes.
pub fn to_safetensors(
    mlp: &Mlp,
    readout: Option<&Readout>,
    extra: &[(String, String)],
    kind: FloatKind,
) -> Result<Vec<u8>, String> {
    to_safetensors_with(mlp, readout, extra, kind, &[])
}

/// [`to_safetensors`] with more 1-D tensors beside the model's (a run directory's optimiser
/// state: `optim.m`, `optim.v`), stored in `kind` too; readers of the model ignore them.
pub fn to_safetensors_with(
    mlp: &Mlp,
    readout: Option<&Readout>,
    extra: &[(String, String)],
    kind: FloatKind,
    more: &[(&str, &[f64])],
) -> Result<Vec<u8>, String> {
    let dtype = match kind {
        FloatKind::F64 => Dtype::F64,
        FloatKind::F32 => Dtype::F32,
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut offset = 0;
    for l in 0..mlp.n_layers() {
        let (n_in, n_out) = (mlp.sizes[l], mlp.sizes[l + 1]);
        let w = &mlp.params[offset..offset + n_in * n_out];
        let b = &mlp.params[offset + n_in * n_out..offset + n_in * n_out + n_out];
        offset += n_in * n_out + n_out;
        tensors.push((
            format!("layers.{l}.weight"),
            vec![n_out, n_in],
            bytes_of(w, kind),
        ));
        tensors.push((format!("layers.{l}.bias"), vec![n_out], bytes_of(b, kind)));
    }
    if let Some(r) = readout {
        let flat: Vec<f64> = r.weight.iter().flatten().copied().collect();
        tensors.push((
            "readout.weight".into(),
            vec![r.n_classes(), mlp.dim()],
            bytes_of(&flat, kind),
        ));
        tensors.push((
            "readout.bias".into(),
            vec![r.n_classes()],
            bytes_of(&r.bias, kind),
        ));
    }
    for (name, values) in more {
        tensors.push((name.to_string(), vec![values.len()], bytes_of(values, kind)));
    }
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("format".into(), "nodelab-mlp".into());
    meta.insert("activation".into(), mlp.activation.name().into());
    meta.insert(
        "sizes".into(),
        serde_json::to_string(&mlp.sizes).map_err(|e| e.to_string())?,
    );
    meta.insert("input_map".into(), mlp.input_map.name().into());
    meta.insert("time_input".into(), mlp.time_input.to_string());
    for (k, v) in extra {
        meta.insert(k.clone(), v.clone());
    }
    safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())
}

/// A model read from safetensors bytes, with its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedModel {
    pub mlp: Mlp,
    pub readout: Option<Readout>,
    pub metadata: HashMap<String, String>,
}

/// Reads a model from safetensors bytes, checking every shape.
pub fn from_safetensors(bytes: &[u8]) -> Result<LoadedModel, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("safetensors: {e}"))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("safetensors: {e}"))?;
    let get = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| format!("safetensors metadata has no '{key}'"))
    };
    let activation = Activation::parse(get("activation")?)
        .ok_or_else(|| format!("unknown activation '{}'", metadata["activation"]))?;
    let sizes: Vec<usize> =
        serde_json::from_str(get("sizes")?).map_err(|e| format!("metadata 'sizes': {e}"))?;
    let input_map = match metadata.get("input_map") {
        None => InputMap::Identity,
        Some(m) => InputMap::parse(m).ok_or_else(|| format!("unknown input map '{m}'"))?,
    };
    let time_input = metadata.get("time_input").is_some_and(|v| v == "true");
    if sizes.len() < 2 {
        return Err("metadata 'sizes' needs at least an input and an output width".into());
    }
    let mut params = Vec::new();
    for l in 0..sizes.len() - 1 {
        let (n_in, n_out) = (sizes[l], sizes[l + 1]);
        for (part, shape) in [("weight", vec![n_out, n_in]), ("bias", vec![n_out])] {
            let name = format!("layers.{l}.{part}");
            let view = st
                .tensor(&name)
                .map_err(|_| format!("safetensors: no tensor '{name}'"))?;
            if view.shape() != shape.as_slice() {
                return Err(format!(
                    "tensor '{name}' has shape {:?}; the sizes {sizes:?} need {shape:?}",
                    view.shape()
                ));
            }
            params.extend(values_of(&view)?);
        }
    }
    let readout = match (st.tensor("readout.weight"), st.tensor("readout.bias")) {
        (Ok(w), Ok(b)) => {
            let d = *sizes.last().unwrap_or(&0);
            let c = b.shape().first().copied().unwrap_or(0);
            if w.shape() != [c, d] {
                return Err(format!(
                    "tensor 'readout.weight' must have shape [{c}, {d}]"
                ));
            }
            let flat = values_of(&w)?;
            Some(Readout {
                weight: flat.chunks(d.max(1)).map(<[f64]>::to_vec).collect(),
                bias: values_of(&b)?,
            })
        }
        _ => None,
    };
    // Shapes and finiteness are checked once, by the weights-file path.
    let mlp = Mlp {
        activation,
        time_input,
        input_map,
        sizes,
        params,
    };
    let mlp = Mlp::from_file(&mlp.to_file())?;
    Ok(LoadedModel {
        mlp,
        readout,
        metadata,
    })
}

/// A 1-D tensor `name` of a safetensors file (None: the file has none).
pub fn read_tensor(bytes: &[u8], name: &str) -> Result<Option<Vec<f64>>, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("safetensors: {e}"))?;
    match st.tensor(name) {
        Ok(view) => values_of(&view).map(Some),
        Err(_) => Ok(None),
    }
}

/// The start state and time span recorded in a safetensors model's metadata (`y0`, `t_span`,
/// JSON lists written by `nodelab train` for trajectory tasks).
pub fn start_hint(path: &Path) -> Option<(Vec<f64>, Vec<f64>)> {
    if !is_safetensors(path) {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let (_, header) = SafeTensors::read_metadata(&bytes).ok()?;
    let meta = header.metadata().as_ref()?;
    let y0: Vec<f64> = serde_json::from_str(meta.get("y0")?).ok()?;
    let span: Vec<f64> = serde_json::from_str(meta.get("t_span")?).ok()?;
    (span.len() == 2 && y0.iter().chain(&span).all(|v| v.is_finite())).then_some((y0, span))
}

/// Loads a model file (safetensors or JSON by extension).
pub fn load(path: &Path) -> Result<Mlp, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if is_safetensors(path) {
        from_safetensors(&bytes)
            .map(|m| m.mlp)
            .map_err(|e| format!("{}: {e}", path.display()))
    } else {
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{}: the weights file is not UTF-8 text", path.display()))?;
        Mlp::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Writes `bytes` to `path` atomically ([`crate::output::write_bytes`]), the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::output::write_bytes(path, bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Saves a model: safetensors (F64, with `extra` metadata) or the weights JSON by extension.
pub fn save(
    path: &Path,
    mlp: &Mlp,
    readout: Option<&Readout>,
    extra: &[(String, String)],
) -> Result<(), String> {
    let bytes = if is_safetensors(path) {
        to_safetensors(mlp, readout, extra, FloatKind::F64)?
    } else {
        let mut text = serde_json::to_string_pretty(&mlp.to_file()).map_err(|e| e.to_string())?;
        text.push('\n');
        text.into_bytes()
    };
    write_atomic(path, &bytes)
}

/// One layer as stored in the weights file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    /// `[out][in]`.
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

/// The weights file as serialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsFile {
    pub activation: String,
    #[serde(default)]
    pub time_input: bool,
    /// The map applied to y before the first layer (default identity).
    #[serde(default, skip_serializing_if = "InputMap::is_identity")]
    pub input_map: InputMap,
    pub layers: Vec<LayerFile>,
}

impl Mlp {
    /// Builds an MLP from the parsed weights file, checking every shape.
    pub fn from_file(file: &WeightsFile) -> Result<Self, String> {
        let activation = Activation::parse(&file.activation).ok_or_else(|| {
            format!(
                "unknown activation '{}' (known: {})",
                file.activation,
                Activation::ALL.map(|a| a.name()).join(", ")
            )
        })?;
        if file.layers.is_empty() {
            return Err("the network has no layers".into());
        }
        let mut sizes = Vec::with_capacity(file.layers.len() + 1);
        let mut params: Vec<f64> = Vec::new();
        for (l, layer) in file.layers.iter().enumerate() {
            let n_out = layer.weight.len();
            if n_out == 0 {
                return Err(format!("layer {l}: weight has no rows"));
            }
            let n_in = layer.weight[0].len();
            if n_in == 0 {
                return Err(format!("layer {l}: weight rows are empty"));
            }
            if let Some(r) = layer.weight.iter().position(|row| row.len() != n_in) {
                return Err(format!(
                    "layer {l}: weight row {r} has {} entries, row 0 has {n_in}",
                    layer.weight[r].len()
                ));
            }
            if layer.bias.len() != n_out {
                return Err(format!(
                    "layer {l}: bias has {} entries but weight has {n_out} rows",
                    layer.bias.len()
                ));
            }
            if let Some(&prev) = sizes.last() {
                if prev != n_in {
                    return Err(format!(
                        "layer {l} takes {n_in} inputs but layer {} gives {prev} outputs",
                        l - 1
                    ));
                }
            } else {
                sizes.push(n_in);
            }
            sizes.push(n_out);
            params.extend(layer.weight.iter().flatten());
            params.extend(&layer.bias);
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(format!("parameter {i} is not finite"));
        }
        let mlp = Self {
            activation,
            time_input: file.time_input,
            input_map: file.input_map,
            sizes,
            params,
        };
        let state_in = mlp.sizes[0] - usize::from(mlp.time_input);
        if state_in != mlp.dim() {
            return Err(format!(
                "the network maps {} inputs{} to {} outputs; a vector field needs as many state \
                 inputs as outputs",
                mlp.sizes[0],
                if mlp.time_input {
                    " (state + time)"
                } else {
                    ""
                },
                mlp.dim()
            ));
        }
        Ok(mlp)
    }

    /// Parses and checks a weights JSON document.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: WeightsFile = serde_json::from_str(text)
            .map_err(|e| format!("weights file, line {} column {}: {e}", e.line(), e.column()))?;
        Self::from_file(&file)
    }

    /// Serializes back to the weights file format.
    pub fn to_file(&self) -> WeightsFile {
        let mut layers = Vec::with_capacity(self.n_layers());
        let mut offset = 0;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let weight = (0..n_out)
                .map(|r| self.params[offset + r * n_in..offset + (r + 1) * n_in].to_vec())
                .collect();
            offset += n_in * n_out;
            let bias = self.params[offset..offset + n_out].to_vec();
            offset += n_out;
            layers.push(LayerFile { weight, bias });
        }
        WeightsFile {
            activation: self.activation.name().to_string(),
            time_input: self.time_input,
            input_map: self.input_map,
            layers,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const TINY: &str = r#"{"activation":"tanh","time_input":false,"layers":[
        {"weight":[[1.0,2.0],[0.5,-1.0],[0.0,0.3]],"bias":[0.1,0.2,-0.3]},
        {"weight":[[1.0,-1.0,2.0],[0.5,0.5,0.5]],"bias":[0.01,-0.02]}]}"#;

    #[test]
    fn flat_order_is_weight_row_major_then_bias() {
        let mlp = Mlp::from_json(TINY).unwrap();
        assert_eq!(
            &mlp.params[..9],
            &[1.0, 2.0, 0.5, -1.0, 0.0, 0.3, 0.1, 0.2, -0.3]
        );
        assert_eq!(mlp.layer_offset(1), 9);
        assert_eq!(Mlp::from_file(&mlp.to_file()).unwrap(), mlp);
    }

    #[test]
    fn time_input_appends_t() {
        let mut file: WeightsFile = serde_json::from_str(TINY).unwrap();
        file.time_input = true;
        // 2 inputs with time → state dimension 1, but the output has 2: rejected.
        assert!(Mlp::from_file(&file).unwrap_err().contains("state inputs"));
        let mlp = Mlp::random(&[2, 5, 2], Activation::Softplus, true, 1.0, 7);
        assert_eq!(mlp.sizes, vec![3, 5, 2]);
        let a = mlp.forward(0.0, &[0.1, 0.2]);
        let b = mlp.forward(1.0, &[0.1, 0.2]);
        assert_ne!(a, b);
    }

    #[test]
    fn bad_files_are_explained() {
        assert!(Mlp::from_json("{").unwrap_err().contains("line 1"));
        let bad = TINY.replace("[0.1,0.2,-0.3]", "[0.1,0.2]");
        assert!(Mlp::from_json(&bad).unwrap_err().contains("bias"));
        let bad = TINY.replace("tanh", "swish");
        assert!(
            Mlp::from_json(&bad)
                .unwrap_err()
                .contains("unknown activation")
        );
    }
}
