fn main() -> std::process::ExitCode {
    respawn::cli::main()
}
