//! fail2ban-client: reads the configuration and drives the server.

use clap::Parser;

fn main() {
    let args = ferroban::client::Args::parse();
    std::process::exit(ferroban::client::run(args));
}
