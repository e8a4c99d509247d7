//! The `fulcrum` binary: everything is in the library's [`fulcrum::app`].

fn main() -> std::process::ExitCode {
    fulcrum::app::main()
}
