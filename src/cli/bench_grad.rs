//! `nodelab bench grad`: the gradient-method comparison on a fixed toy problem.

use clap::Args;

use super::CliError;

#[derive(Debug, Args)]
pub struct BenchGradArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: &BenchGradArgs) -> Result<(), CliError> {
    Err(CliError::Usage(
        "`nodelab bench grad` is not implemented yet".into(),
    ))
}
