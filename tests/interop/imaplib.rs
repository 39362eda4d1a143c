//! Python's imaplib through one long session over every command Roost
//! supports (the scenario is tests/interop/imaplib_scenario.py).

use super::{require, Home};
use crate::common::TestServer;

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/imaplib_scenario.py"
);

#[test]
fn imaplib_scenario_over_every_command() {
    if !require("python3", "python3") {
        return;
    }
    let server = TestServer::start();
    let home = Home::new(&server);
    let run = home.run(
        "python3",
        &[
            SCENARIO,
            &server.port.to_string(),
            &server.tls_port.unwrap().to_string(),
            &home.ca(),
        ],
    );
    assert!(
        run.ok && run.out.ends_with("scenario ok\n"),
        "the imaplib scenario failed:\n{}",
        run.out
    );
}
