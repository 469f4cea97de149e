//! What reaches the device registry: only what a device proved (its credentials, or a
//! correlator of a delivery to it) is written, and a report carrying DevInfo only keeps the
//! DevDetail read earlier.

use std::time::Duration;

use portaldm_tests::browser::{Browser, post};
use portaldm_tests::{Options, System, wait_with_timeout};
use serde_json::json;

/// The demo handset of dev-setup's dmclient configuration.
const DEV_ID: &str = "IMEI:490154203237518";

/// `device show <dev_id>`: its output, or `None` when the registry has no such device.
fn shown(sys: &System, dev_id: &str) -> Option<String> {
    let out = sys.origin_cmd(&["device", "show", dev_id]).output().expect("origin runs");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A result report (Alert 1201 and a FUMO result alert) from `dev_id` naming `correlator`.
fn report(dev_id: &str, correlator: &str) -> String {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
         <SessionID>3A</SessionID><MsgID>1</MsgID><Target><LocURI>http://x/dm</LocURI></Target>\
         <Source><LocURI>{dev_id}</LocURI></Source></SyncHdr><SyncBody>\
         <Alert><CmdID>1</CmdID><Data>1201</Data></Alert>\
         <Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Data>{dev_id}</Data></Item>\
         <Item><Source><LocURI>./DevInfo/Mod</LocURI></Source><Data>Forged</Data></Item></Replace>\
         <Alert><CmdID>3</CmdID><Data>1226</Data><Correlator>{correlator}</Correlator><Item>\
         <Source><LocURI>./FUMO/x/DownloadAndUpdate</LocURI></Source><Meta>\
         <Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.downloadandupdate</Type>\
         <Format xmlns=\"syncml:metinf\">int</Format></Meta><Data>410</Data></Item></Alert>\
         <Final/></SyncBody></SyncML>"
    )
}

#[test]
fn forged_result_reports_write_nothing() {
    let sys = System::start(Options::default());
    for n in 0..20 {
        let dev_id = format!("IMEI:forged-{n}");
        let r =
            post(&format!("{}/dm", sys.edge), "application/vnd.syncml.dm+xml", report(&dev_id, "bm9wZQ").as_bytes());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("<Data>404</Data>"), "the unknown correlator is refused");
        assert_eq!(shown(&sys, &dev_id), None, "{dev_id} was written to the registry");
    }
    // Nor does a forged report for a device the registry knows overwrite what it knows.
    run_flow(&sys);
    let before = shown(&sys, DEV_ID).expect("the demo handset is known");
    let r = post(&format!("{}/dm", sys.edge), "application/vnd.syncml.dm+xml", report(DEV_ID, "bm9wZQ").as_bytes());
    assert_eq!(r.status, 200);
    let after = shown(&sys, DEV_ID).expect("still known");
    assert!(!after.contains("Forged"), "the forged model was written: {after}");
    assert_eq!(before.lines().next(), after.lines().next());
}

#[test]
fn a_devinfo_only_report_keeps_the_devdetail_read_in_the_session() {
    let sys = System::start(Options::default());
    // dmclient reports its result in a new session carrying DevInfo only.
    run_flow(&sys);
    let shown = shown(&sys, DEV_ID).expect("known");
    let firmware = shown.lines().find(|l| l.starts_with("firmware")).expect("firmware line").to_owned();
    assert!(!firmware.starts_with("firmware   -"), "the report erased FwV: {shown}");
    let model = shown.lines().find(|l| l.starts_with("model")).expect("model line");
    assert!(!model.contains("hardware -"), "the report erased HwV: {shown}");
}

/// One whole portal flow with the demo dmclient, through the result report.
fn run_flow(sys: &System) {
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    phone.wait_for("done", Duration::from_secs(10));
}
