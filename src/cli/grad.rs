//! `nodelab grad`: every gradient method on one neural-ODE preset, side by side.

use clap::Args;

use super::CliError;

#[derive(Debug, Args)]
pub struct GradArgs {
    /// A preset file (.toml) with a neural problem and a [loss] table.
    pub preset: String,
    /// Comma-separated gradient methods, or `all`.
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Where to compute: cpu (f64 reference) or gpu (wgpu, f32).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: &GradArgs) -> Result<(), CliError> {
    Err(CliError::Usage(
        "`nodelab grad` is not implemented yet".into(),
    ))
}
