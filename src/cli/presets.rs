//! `nodelab presets`.

use super::CliError;
use crate::problem::builtin::BUILTINS;

pub fn run() -> Result<(), CliError> {
    for b in BUILTINS {
        println!("{}\t{}", b.name, b.description);
    }
    Ok(())
}
