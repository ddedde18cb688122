//! respawnw: respawn built for the Windows GUI subsystem, so starting it never creates
//! a console window (no flash at login). Same commands as `respawn`; on other OSes it
//! is simply the same program.
#![cfg_attr(windows, windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    respawn::cli::main()
}
