//! `nodelab bench gpu`: samples per second, GPU vs multi-threaded CPU, over batch sizes.

use clap::Args;

use super::CliError;

#[derive(Debug, Args)]
pub struct BenchGpuArgs {
    /// Comma-separated batch sizes (default 256,1024,4096,16384,65536).
    #[arg(long)]
    pub batch: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: &BenchGpuArgs) -> Result<(), CliError> {
    Err(CliError::Usage(
        "`nodelab bench gpu` is not implemented yet".into(),
    ))
}
