//! Results cached per setting: `DIR/NAME-KEY.json`, KEY a 64-bit FNV-1a hash of the name, the
//! implementation's revision, the crate version and the settings' JSON. A cached result is used
//! only when its name, revision and settings equal the request's (a hash collision cannot
//! return the wrong result).

use std::path::PathBuf;

use super::{ExperimentError, ExperimentResult, ExperimentSpec, RunContext, Settings};

/// FNV-1a, 64 bits (stable across Rust versions, unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The cache key of a run: 16 hex digits.
pub fn key(spec: &ExperimentSpec, settings: &Settings) -> String {
    let settings = serde_json::to_string(settings).unwrap_or_default();
    let text = format!(
        "{}\n{}\n{}\n{settings}",
        spec.name,
        spec.revision,
        env!("CARGO_PKG_VERSION")
    );
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// A cache folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$NODELAB_CACHE_DIR`, else `$XDG_CACHE_HOME/nodelab/experiments`, else
    /// `$HOME/.cache/nodelab/experiments`, else the system temp folder's `nodelab-experiments`.
    pub fn default_dir() -> PathBuf {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(dir) = env("NODELAB_CACHE_DIR") {
            return dir;
        }
        if let Some(dir) = env("XDG_CACHE_HOME") {
            return dir.join("nodelab").join("experiments");
        }
        if let Some(home) = env("HOME") {
            return home.join(".cache").join("nodelab").join("experiments");
        }
        std::env::temp_dir().join("nodelab-experiments")
    }

    pub fn path(&self, spec: &ExperimentSpec, settings: &Settings) -> PathBuf {
        self.dir
            .join(format!("{}-{}.json", spec.name, key(spec, settings)))
    }

    /// The cached result of `spec` with `settings`, if there is a valid one.
    pub fn load(&self, spec: &ExperimentSpec, settings: &Settings) -> Option<ExperimentResult> {
        let text = std::fs::read_to_string(self.path(spec, settings)).ok()?;
        let result: ExperimentResult = serde_json::from_str(&text).ok()?;
        (result.experiment == spec.name
            && result.revision == spec.revision
            && &result.settings == settings)
            .then_some(result)
    }

    /// Stores `result` (atomically: a reader never sees half a file).
    pub fn store(
        &self,
        spec: &ExperimentSpec,
        result: &ExperimentResult,
    ) -> Result<PathBuf, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create the cache folder {}: {e}", self.dir.display()))?;
        let path = self.path(spec, &result.settings);
        crate::output::write_bytes(&path, result.to_json()?.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Runs `spec` with `settings`, or returns its cached result when `cache` has one (then the
/// bool is true). A fresh result is stored; a cache that cannot be written is not an error
/// (the message is returned beside the result).
pub fn run_cached(
    spec: &'static ExperimentSpec,
    settings: &Settings,
    ctx: &RunContext,
    cache: Option<&Cache>,
) -> Result<(ExperimentResult, bool, Option<String>), ExperimentError> {
    if let Some(result) = cache.and_then(|c| c.load(spec, settings)) {
        return Ok((result, true, None));
    }
    let result = super::run(spec, settings, ctx)?;
    let warning = cache.and_then(|c| c.store(spec, &result).err());
    Ok((result, false, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
