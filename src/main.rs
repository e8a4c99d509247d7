//! The `fulcrum` binary: everything is in the library's [`fulcrum::cli`].

fn main() -> std::process::ExitCode {
    fulcrum::cli::main()
}
