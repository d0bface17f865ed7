//! fail2ban-server: executes the commands fail2ban-client sends.

fn main() {
    std::process::exit(ferroban::server::cli::main());
}
