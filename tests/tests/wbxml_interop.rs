//! Interop of our WBXML codec with a real one, libwbxml (`wbxml2xml`, `xml2wbxml`, Debian's
//! libwbxml2-utils): every message kind the server and dmclient send is encoded by us and
//! decoded by libwbxml, and encoded by libwbxml and decoded by us, with the same content.

use std::path::Path;
use std::process::Command;

use portaldm_shared::auth::{self, Nonce, Scheme, Secret};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoDelivery, FumoResult, ResultCode};
use portaldm_shared::keys::NamedKey;
use portaldm_shared::media::DmEncoding;
use portaldm_shared::rand::TestRng;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::session::package::{Limits, Outbox};
use portaldm_shared::session::report::ReportOpening;
use portaldm_shared::session::server::{ServerSession, Step, token_of};
use portaldm_shared::syncml::codes::StatusCode;
use portaldm_shared::syncml::{Command as Cmd, Container, SyncMl, wbxml, xml};
use portaldm_shared::token::{Claims, TokenSigner, TokenVerifier};
use portaldm_tests::now;

fn send(step: ClientStep) -> SyncMl {
    match step {
        ClientStep::Send(m) => *m,
        ClientStep::Done => panic!("client ended early"),
    }
}

/// Every kind of message a portal session and a report session exchange.
fn messages() -> Vec<(&'static str, SyncMl)> {
    let seed = NamedKey::generate("k1", &mut TestRng(1)).expect("key");
    let t = now().as_secs();
    let claims = Claims {
        iss: "edge".into(),
        aud: "origin".into(),
        sid: "s".into(),
        nsid: 0x3C,
        srv: "portaldm".into(),
        iat: t,
        nbf: t,
        exp: t + 60,
        jti: "j".into(),
        bnd: "b".into(),
        colo: "L".into(),
        ctry: None,
        net: None,
    };
    let token = TokenSigner::new(&seed).expect("signer").sign(&claims).expect("signs");
    let verifier = TokenVerifier::new(&[seed.ed25519_public()], "origin", "portaldm");
    let device = DeviceDetails {
        dev_id: "IMEI:490154203237518".into(),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0 <beta> & more".into()),
        lang: Some("de-DE".into()),
        ..Default::default()
    };
    let mut client = ClientSession::server_initiated(device.clone(), "http://srv/dm", "3C", &token);
    let pkg1 = client.first_message();
    let verified = verifier.verify(token_of(&pkg1).expect("token"), now()).expect("verifies");
    let (mut server, pkg2) =
        ServerSession::accept_portal(&pkg1, &verified, "http://srv/dm", DmEncoding::Wbxml, cont(), None)
            .expect("accepts");
    let pkg3 = send(client.handle(&pkg2).expect("pkg2"));
    assert_eq!(server.handle(&pkg3).expect("pkg3"), Step::AwaitChoice);
    let hold = server.poll_hold().expect("hold");
    let next = send(client.handle(&hold).expect("hold"));
    assert_eq!(server.handle(&next).expect("1222"), Step::AwaitChoice);
    let delivery = FumoDelivery {
        node: "pdm2".into(),
        pkg_name: "PDM Phone 1 firmware".into(),
        pkg_version: "1.2.0".into(),
        url: "https://edge.example/dl/ab?d=IMEI%3A1&e=1&s=k.m".into(),
        sha256: "ab".repeat(32),
        size: 262144,
        correlator: "c0rr".into(),
        inline: false,
        signature: None,
        kind: Default::default(),
        settings: vec![],
        two_step: false,
        device_root: None,
    };
    let pkg4 = server.poll_deliver(&delivery, None).expect("deliver");
    let pkg5 = send(client.handle(&pkg4).expect("pkg4"));
    let Step::Delivered { reply: closing, .. } = server.handle(&pkg5).expect("pkg5") else { panic!("Delivered") };
    let result =
        FumoResult { source: "./FUMO/pdm2/DownloadAndUpdate".into(), correlator: "c0rr".into(), code: ResultCode(200) };
    let report = ClientSession::report(device, "http://srv/dm", "7", &result).first_message();
    let answer = ReportOpening::read(&report, None).expect("report").reply(&report, "http://srv/dm", &[StatusCode::OK]);
    // Authentication in both directions and a chunked inline delivery, as an MD5 account
    // and a small MaxMsgSize produce them.
    let mut sealed = closing.clone();
    let account = Secret::from_password("portaldm", "pw");
    sealed.hdr.cred = auth::cred(Scheme::Md5, &account, None, &Nonce::from_bytes(b"n1"));
    if let Some(Cmd::Status(st)) = sealed.body.commands.first_mut() {
        st.chal = Some(auth::chal(Scheme::Md5, &Nonce::from_bytes(b"next")));
    }
    let mut outbox = Outbox::default();
    outbox.push(delivery.inline_commands(&[0x5A; 3000], &mut || "1".to_owned()), true);
    let mut chunk = closing.clone();
    chunk.body.commands.truncate(1);
    outbox.fill(&mut chunk, Limits { max_msg: Some(1500), max_obj: None }, DmEncoding::Wbxml);
    assert!(!chunk.body.final_, "the inline package spans messages");
    let mut atomic = pkg5.clone();
    atomic.body.commands.push(Cmd::Atomic(Container {
        cmd_id: "9".into(),
        no_resp: true,
        commands: vec![Cmd::Sequence(Container { cmd_id: "10".into(), ..Container::default() })],
        ..Container::default()
    }));
    vec![
        ("server message with Cred and Chal", sealed),
        ("server message with a MoreData chunk", chunk),
        ("client message with Atomic, Sequence and NoResp", atomic),
        ("client package 1", pkg1),
        ("server package 2", pkg2),
        ("client package 3", pkg3),
        ("server held package 4", hold),
        ("client next-message alert", next),
        ("server delivery", pkg4),
        ("client package 5", pkg5),
        ("server closing", closing),
        ("client result report", report),
        ("server report answer", answer),
    ]
}

fn run(tool: &str, args: &[&str], input: &Path, output: &Path) {
    let out = Command::new(tool)
        .args(args)
        .arg("-o")
        .arg(output)
        .arg(input)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is missing ({e}): `make test` installs libwbxml2-utils"));
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn libwbxml_reads_what_we_write() {
    let dir = tempfile::tempdir().expect("dir");
    for (what, msg) in messages() {
        let (bin, xml_out) = (dir.path().join("ours.wbxml"), dir.path().join("theirs.xml"));
        std::fs::write(&bin, wbxml::encode(&msg).expect("encodes")).expect("write");
        run("wbxml2xml", &["-m", "0"], &bin, &xml_out);
        let theirs = std::fs::read(&xml_out).expect("read");
        assert_eq!(xml::decode(&theirs).unwrap_or_else(|e| panic!("{what}: {e}")), msg, "{what}");
    }
}

#[test]
fn we_read_what_libwbxml_writes() {
    let dir = tempfile::tempdir().expect("dir");
    for (what, msg) in messages() {
        let src = dir.path().join("ours.xml");
        std::fs::write(&src, xml::encode(&msg)).expect("write");
        // With a string table (the default, WBXML 1.3) and without one, as WBXML 1.2.
        for args in [&[][..], &["-n", "-v", "1.2"][..]] {
            let out = dir.path().join("theirs.wbxml");
            run("xml2wbxml", args, &src, &out);
            let theirs = std::fs::read(&out).expect("read");
            assert_eq!(
                wbxml::decode(&theirs).unwrap_or_else(|e| panic!("{what} {args:?}: {e}")),
                msg,
                "{what} {args:?}"
            );
        }
    }
}

#[test]
fn devinf_from_libwbxml_decodes_with_the_devinf_code_page() {
    // A DS-style client puts a DevInf document in an Item's Data.
    let doc = r#"<?xml version="1.0"?>
<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://srv/dm</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source></SyncHdr>
<SyncBody><Results><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>2</CmdRef><Item><Source><LocURI>./devinf12</LocURI></Source><Data><DevInf xmlns="syncml:devinf"><VerDTD>1.2</VerDTD><Man>Acme</Man><Mod>X1</Mod><FwV>1.0</FwV><DevID>IMEI:1</DevID><DevTyp>phone</DevTyp><UTC/><SupportLargeObjs/><SupportNumberOfChanges/><DataStore><SourceRef>./contacts</SourceRef><MaxGUIDSize>32</MaxGUIDSize><SyncCap><SyncType>1</SyncType></SyncCap></DataStore></DevInf></Data></Item></Results><Final/></SyncBody></SyncML>"#;
    let dir = tempfile::tempdir().expect("dir");
    let (src, out) = (dir.path().join("devinf.xml"), dir.path().join("devinf.wbxml"));
    std::fs::write(&src, doc).expect("write");
    run("xml2wbxml", &["-n", "-v", "1.2"], &src, &out);
    let bytes = std::fs::read(&out).expect("read");
    // libwbxml embeds the DevInf document as its own WBXML document (public id 0x1203) in
    // opaque Data, where the DevInf tags are its page 0.
    assert!(bytes.windows(4).any(|w| w == [0x02, 0xA4, 0x03, 0x6A]), "embedded DevInf 1.2 document");
    let tree = wbxml::parse(&bytes).expect("parses");
    let mut names = Vec::new();
    fn walk<'a>(e: &'a portaldm_shared::syncml::tree::Element<'a>, out: &mut Vec<String>) {
        out.push(e.name.to_string());
        e.children.iter().for_each(|c| walk(c, out));
    }
    walk(&tree, &mut names);
    for n in [
        "DevInf",
        "Man",
        "Mod",
        "DevID",
        "DevTyp",
        "UTC",
        "SupportLargeObjs",
        "SupportNumberOfChanges",
        "DataStore",
        "MaxGUIDSize",
        "SyncCap",
        "SyncType",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // The message itself decodes; the DevInf document is not part of the DM model.
    let msg = wbxml::decode(&bytes).expect("decodes");
    assert!(matches!(msg.body.commands.first(), Some(Cmd::Results(_))));
}

/// A session's continuation secret, from a fixed seed.
fn cont() -> portaldm_shared::session::continuation::Continuation {
    portaldm_shared::session::continuation::Continuation::generate(&mut portaldm_shared::rand::TestRng(99))
        .expect("random")
}
