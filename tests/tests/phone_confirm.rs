//! The phone's user accepts a portal trigger before dmclient acts on it (ui-mode 11, user
//! interaction): a `confirm` command that declines, or none at all, and nothing is contacted;
//! one that accepts, and the session runs. The command learns who asks.

use std::time::Duration;

use portaldm_tests::browser::Browser;
use portaldm_tests::{Options, System};

/// A copy of the demo dmclient configuration with its `confirm` line replaced by `line`.
fn with_confirm(sys: &System, name: &str, line: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(sys.client_config()).expect("dmclient.toml");
    assert!(text.contains("confirm = [\"true\"]"), "dev-setup's demo handset says yes: {text}");
    let path = sys.dir.path().join(name);
    std::fs::write(&path, text.replace("confirm = [\"true\"]", line)).expect("write");
    path
}

#[test]
fn a_trigger_the_phones_user_does_not_accept_contacts_nothing() {
    let sys = System::start(Options::default());
    let asked = sys.dir.path().join("asked.txt");
    let script =
        format!("confirm = [\"sh\", \"-c\", \"echo $PDM_SERVER_ID $PDM_SESSION_ID > {}; exit 1\"]", asked.display());
    for (name, line) in [("declines.toml", script.as_str()), ("none.toml", "")] {
        let cfg = with_confirm(&sys, name, line);
        let mut phone = Browser::new(&sys.edge);
        let trig = phone.get("/portal/trigger");
        let out = sys.run_dmclient(&cfg, &trig.body);
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(11), "{name}: {log}");
        assert!(log.contains("nothing was contacted"), "{log}");
        assert_eq!(phone.session()["state"], "waiting", "{name}: the DM server was contacted");
    }
    let said = std::fs::read_to_string(&asked).expect("the command was run");
    assert!(said.starts_with("portaldm "), "the question names the server: {said}");

    // A command that accepts: the session runs.
    let cfg = with_confirm(&sys, "accepts.toml", "confirm = [\"true\"]");
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let mut client = sys.spawn_dmclient(&cfg, &trig.body);
    phone.wait_for("choosing", Duration::from_secs(20));
    let _ = client.kill();
    let _ = client.wait();
}
