//! Reading a problem preset: parsing with located errors, refusing training presets and
//! non-finite numbers, and the [`LoadedPreset`] that keeps the text for later errors.

use std::path::{Path, PathBuf};

use super::locate::{
    Key, PresetError, first_non_finite, is_train_preset, key_at, line_col, locate,
};
use super::schema::Preset;

impl Preset {
    /// Parses preset text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, PresetError> {
        if is_train_preset(text) {
            return Err(PresetError {
                source: source.to_string(),
                location: None,
                message: "this is a training preset ([train] table); run it with `nodelab \
                          train` (it describes no single ODE to solve)"
                    .into(),
            });
        }
        let preset = toml::from_str::<Preset>(text).map_err(|e| {
            let message = e.message().trim().to_string();
            // serde's messages ("invalid type: string, expected f64") do not say which key:
            // name the one whose value holds the error.
            let message = match e.span().and_then(|s| key_at(text, s.start)) {
                Some(key) if !message.contains(key.rsplit(['.', '[']).next().unwrap_or(&key)) => {
                    format!("{key}: {message}")
                }
                _ => message,
            };
            PresetError {
                source: source.to_string(),
                location: e.span().map(|s| line_col(text, s.start)),
                message,
            }
        })?;
        // Every number must be finite: a `nan` target or an `inf` tolerance would otherwise
        // flow into a result that looks valid.
        if let Some((span, key)) = first_non_finite(text) {
            return Err(PresetError {
                source: source.to_string(),
                location: Some(line_col(text, span.start)),
                message: format!("{key} is {}: every number must be finite", &text[span]),
            });
        }
        Ok(preset)
    }

    /// Reads and parses a preset file.
    pub fn load(path: &Path) -> Result<LoadedPreset, PresetError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PresetError {
            source: source.clone(),
            location: None,
            message: format!("cannot read the file: {e}"),
        })?;
        let preset = Self::from_toml(&text, &source)?;
        Ok(LoadedPreset {
            preset,
            text,
            source,
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// Serializes to TOML.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }
}

/// A parsed preset with its text, so that later errors can be located too.
#[derive(Clone, Debug)]
pub struct LoadedPreset {
    pub preset: Preset,
    pub text: String,
    pub source: String,
    /// Directory relative paths (weights) are resolved against.
    pub base_dir: PathBuf,
}

impl LoadedPreset {
    /// Wraps text that came from no file (tests, the app's editor).
    pub fn from_text(text: &str, source: &str, base_dir: &Path) -> Result<Self, PresetError> {
        Ok(Self {
            preset: Preset::from_toml(text, source)?,
            text: text.to_string(),
            source: source.to_string(),
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// An error located at `path` in the preset text.
    pub fn error_at(&self, path: &[Key<'_>], message: impl Into<String>) -> PresetError {
        PresetError {
            source: self.source.clone(),
            // Text that came from no file (a name on the command line) has no position.
            location: locate(&self.text, path)
                .filter(|_| !self.text.trim().is_empty())
                .map(|s| line_col(&self.text, s.start)),
            message: message.into(),
        }
    }

    /// The checks every user of a preset makes (the CLI and the app alike), beyond what
    /// parsing caught: each solver setting of `[solver]` and `[[compare]]`, located at its key.
    pub fn validate(&self) -> Result<(), PresetError> {
        let configs = std::iter::once(&self.preset.solver).chain(&self.preset.compare);
        for (i, config) in configs.enumerate() {
            if let Err((key, message)) = config.check() {
                let path = if i == 0 {
                    vec![Key::Name("solver"), Key::Name(key)]
                } else {
                    vec![Key::Name("compare"), Key::Index(i - 1), Key::Name(key)]
                };
                return Err(self.error_at(&path, message));
            }
        }
        Ok(())
    }
}
