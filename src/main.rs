//! The `nodelab` binary: the app when run without arguments, the CLI otherwise.

/// Counts heap bytes so `nodelab grad` reports measured peak memory per method.
#[global_allocator]
static ALLOC: nodelab::mem::CountingAlloc = nodelab::mem::CountingAlloc;

fn main() {
    let code = nodelab::cli::run(nodelab::app::run);
    std::process::exit(code);
}
