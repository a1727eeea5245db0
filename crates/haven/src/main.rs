use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator settings for Haven, read by glibc when a process starts:
/// - at most two arenas: without a cap every thread that ever hashed a password (19 MiB
///   a time, on the blocking pool) kept an arena of its own, and a sign-in flood left
///   Haven at hundreds of MiB;
/// - blocks of 1 MiB and more come straight from the kernel and go straight back when
///   freed (the default threshold rises to the largest block freed, after which 19 MiB
///   hashing buffers stayed in the heap);
/// - free memory above 4 MiB at the top of a heap is given back.
const TUNABLES: &str =
    "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=4194304";
/// Set on the re-executed process, so that it runs Haven instead of tuning again.
const TUNED: &str = "HAVEN_ALLOCATOR_TUNED";

fn main() -> ExitCode {
    tune_allocator();
    haven::cli::main(haven::cli::Cli::parse())
}

/// Runs this same program again, in this same process (same pid, same arguments), with
/// [`TUNABLES`] in `GLIBC_TUNABLES`; an operator's own tunables come after ours and win.
/// Only when that cannot be done (the binary was replaced on disk) does Haven carry on
/// with the defaults.
fn tune_allocator() {
    if std::env::var_os(TUNED).is_some() {
        return;
    }
    let Ok(program) = std::env::current_exe() else { return };
    let tunables = match std::env::var("GLIBC_TUNABLES") {
        Ok(own) if !own.is_empty() => format!("{TUNABLES}:{own}"),
        _ => TUNABLES.to_owned(),
    };
    let mut arguments = std::env::args_os();
    let mut command = std::process::Command::new(program);
    if let Some(name) = arguments.next() {
        command.arg0(name);
    }
    // `exec` returns only if it failed.
    let _failed = command
        .args(arguments)
        .env("GLIBC_TUNABLES", tunables)
        .env(TUNED, "1")
        .exec();
}
