fn main() {
    std::process::exit(respawn::cli::main());
}
