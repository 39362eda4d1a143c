//! The `roost` binary: everything lives in the library; see `roost::cli`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(roost::cli::main(args));
}
