//! The `nodelab` binary: the app when run without arguments, the CLI otherwise.

fn main() {
    let code = nodelab::cli::run(|| {
        // The app arrives with the GUI issue; until then, show the CLI help.
        use clap::CommandFactory;
        let _ = nodelab::cli::Cli::command().print_help();
        0
    });
    std::process::exit(code);
}
