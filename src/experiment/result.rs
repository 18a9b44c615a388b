//! What a run produces: its inputs, tables, figures and verdict, and how it is written out
//! (PNG, SVG, CSV, JSON).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Settings;
use super::plot::Plot;
use crate::export::{self, Format};

/// Whether the paper's claim held in our measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerdictStatus {
    #[serde(rename = "holds")]
    Holds,
    #[serde(rename = "does not hold")]
    DoesNotHold,
    #[serde(rename = "holds in part")]
    HoldsInPart,
}

impl VerdictStatus {
    pub fn label(self) -> &'static str {
        match self {
            VerdictStatus::Holds => "holds",
            VerdictStatus::DoesNotHold => "does not hold",
            VerdictStatus::HoldsInPart => "holds in part",
        }
    }
}

/// The verdict: a status and one sentence with the paper's numbers and ours side by side,
/// plus the individual checks it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: VerdictStatus,
    pub summary: String,
    pub checks: Vec<Check>,
}

/// One checked statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub statement: String,
    pub holds: bool,
    /// What was measured.
    pub measured: String,
}

impl Verdict {
    /// Holds if every check holds, does not hold if none does, holds in part otherwise.
    pub fn from_checks(summary: String, checks: Vec<Check>) -> Self {
        let passed = checks.iter().filter(|c| c.holds).count();
        let status = if passed == checks.len() {
            VerdictStatus::Holds
        } else if passed == 0 {
            VerdictStatus::DoesNotHold
        } else {
            VerdictStatus::HoldsInPart
        };
        Self {
            status,
            summary,
            checks,
        }
    }
}

/// A table: rows of named columns (cells are JSON numbers, strings, booleans or null).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// File stem of its CSV.
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn new(name: &str, columns: &[&str]) -> Self {
        Self {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// The cell of `column` in `row`.
    pub fn cell(&self, row: usize, column: &str) -> Option<&Value> {
        let c = self.columns.iter().position(|n| n == column)?;
        self.rows.get(row)?.get(c)
    }

    /// The table as CSV (RFC 4180 quoting where needed; null as an empty field).
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = self
            .columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|v| match v {
                    Value::Null => String::new(),
                    Value::String(s) => quote(s),
                    other => other.to_string(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

/// The result of one run. It carries its inputs (`settings`, `revision`), so that a front end
/// can tell whether it is current.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    pub experiment: String,
    pub paper: String,
    pub section: String,
    pub claim: String,
    /// The implementation's revision ([`super::ExperimentSpec::revision`]).
    pub revision: u32,
    pub settings: Settings,
    pub verdict: Option<Verdict>,
    pub tables: Vec<Table>,
    pub figures: Vec<Plot>,
    /// Seconds the run took (of the original run, for a cached result).
    pub elapsed_s: f64,
    /// Experiment-specific data (e.g. stability-regions' `schemes`), at the top level of the
    /// JSON.
    #[serde(flatten)]
    pub data: serde_json::Map<String, Value>,
}

impl ExperimentResult {
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| format!("cannot encode the result: {e}"))
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Writes every figure (PNG and SVG), every table (CSV) and the whole result (JSON) into
    /// `dir`, created if missing. Returns the files written.
    pub fn write_all(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut written = Vec::new();
        for plot in &self.figures {
            let figure = plot.to_figure();
            for format in [Format::Png, Format::Svg] {
                let path = dir.join(format!("{}.{}", plot.name, format.extension()));
                export::write(&figure, &path, format).map_err(|e| e.to_string())?;
                written.push(path);
            }
        }
        let io = |path: &Path, e: std::io::Error| format!("cannot write {}: {e}", path.display());
        for table in &self.tables {
            let path = dir.join(format!("{}.csv", table.name));
            crate::output::write_bytes(&path, table.to_csv().as_bytes())
                .map_err(|e| io(&path, e))?;
            written.push(path);
        }
        let path = dir.join(format!("{}.json", self.experiment));
        crate::output::write_bytes(&path, self.to_json()?.as_bytes()).map_err(|e| io(&path, e))?;
        written.push(path);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_writes_null_as_empty() {
        let mut t = Table::new("t", &["a", "b,c"]);
        t.rows.push(vec![Value::from(1.5), Value::from("x, \"y\"")]);
        t.rows.push(vec![Value::Null, Value::from(true)]);
        assert_eq!(t.to_csv(), "a,\"b,c\"\n1.5,\"x, \"\"y\"\"\"\n,true\n");
    }
}
