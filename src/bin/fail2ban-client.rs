//! fail2ban-client: reads the configuration and drives the server.

fn main() {
    let code = match ferroban::client::parse_args() {
        Ok(args) => ferroban::client::run(args),
        Err(code) => code,
    };
    std::process::exit(code);
}
