//! The `ufl-oracle` binary: the command line of [`ufl_oracle::command`].

fn main() -> std::process::ExitCode {
    // Output piped into a reader that stops early (`ufl-oracle list | head`) ends the process
    // quietly, as other command-line tools do, instead of failing a write (Rust ignores
    // SIGPIPE by default).
    #[cfg(target_os = "linux")]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::ExitCode::from(ufl_oracle::command::run(std::env::args_os()))
}
