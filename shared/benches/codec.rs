//! Codec microbenchmarks: decode and encode of the captured client messages and of a typical
//! server package, each beside the floor — quick-xml merely reading the same bytes as events
//! (for WBXML there is no such floor; the XML floor of the same message is the reference).
// Like a test, a bench stops at its first failure, and criterion's macros write undocumented items.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;

mod fixtures;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portaldm_shared::auth::{self, Nonce, Scheme, Secret};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::syncml::{Command, Status, SyncMl, wbxml, xml};

/// quick-xml's bare event loop over `bytes`: the least any XML decoder must do.
fn floor(bytes: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(_) => n += 1,
        }
        buf.clear();
    }
}

/// A package 4 as the origin sends it: statuses for the client's message, the FUMO
/// delivery (Replace of the download nodes, Exec with a correlator) and the server's Cred.
fn server_package() -> SyncMl {
    let device = DeviceDetails { dev_id: "IMEI:490154203237518".into(), ..DeviceDetails::default() };
    let mut msg = ClientSession::server_initiated(device, "https://dm.example/dm", "4A2F", "x").first_message();
    std::mem::swap(&mut msg.hdr.source, &mut msg.hdr.target);
    let mut n = 0;
    let mut next = || {
        n += 1;
        n.to_string()
    };
    let mut cmds: Vec<Command> = (0..6)
        .map(|i| {
            Command::Status(Status {
                cmd_id: next(),
                msg_ref: "3".into(),
                cmd_ref: i.to_string(),
                cmd: if i == 0 { "SyncHdr".into() } else { "Results".into() },
                target_refs: vec!["./DevDetail/FwV".into()],
                data: 200,
                ..Status::default()
            })
        })
        .collect();
    let delivery = fixtures::firmware_delivery();
    cmds.extend(delivery.commands(&mut next));
    msg.body.commands = cmds;
    msg.hdr.cred = auth::cred(Scheme::Md5, &Secret::from_password("portaldm", "pw"), None, &Nonce::from_bytes(b"n"));
    msg
}

fn codecs(c: &mut Criterion) {
    let server = server_package();
    let server_xml = xml::encode(&server);
    let server_wbxml = wbxml::encode(&server).expect("encodes");
    let vectors: [(&str, Vec<u8>, bool); 4] = [
        (
            "libdmclient-pkg1-basic-auth.xml",
            include_bytes!("../fixtures/vectors/libdmclient-pkg1-basic-auth.xml").to_vec(),
            false,
        ),
        (
            "libdmclient-pkg3-exec-generic-alert.xml",
            include_bytes!("../fixtures/vectors/libdmclient-pkg3-exec-generic-alert.xml").to_vec(),
            false,
        ),
        ("libdmclient-pkg1.wbxml", include_bytes!("../fixtures/vectors/libdmclient-pkg1.wbxml").to_vec(), true),
        (
            "libdmclient-pkg3-results.wbxml",
            include_bytes!("../fixtures/vectors/libdmclient-pkg3-results.wbxml").to_vec(),
            true,
        ),
    ];
    let mut all: Vec<(String, Vec<u8>, bool)> = vectors.into_iter().map(|(n, b, w)| (n.to_owned(), b, w)).collect();
    all.push((format!("server-pkg4 ({} B xml)", server_xml.len()), server_xml, false));
    all.push((format!("server-pkg4 ({} B wbxml)", server_wbxml.len()), server_wbxml, true));

    for (name, bytes, is_wbxml) in &all {
        let mut g = c.benchmark_group(name.as_str());
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let msg = if *is_wbxml { wbxml::decode(bytes) } else { xml::decode(bytes) }.expect("decodes");
        if *is_wbxml {
            g.bench_function("decode", |b| b.iter(|| wbxml::decode(black_box(bytes))));
            g.bench_function("encode", |b| b.iter(|| wbxml::encode(black_box(&msg))));
        } else {
            g.bench_function("floor: quick-xml events", |b| b.iter(|| floor(black_box(bytes))));
            g.bench_function("decode", |b| b.iter(|| xml::decode(black_box(bytes))));
            g.bench_function("encode", |b| b.iter(|| xml::encode(black_box(&msg))));
        }
        g.finish();
    }
}

fn auth_checks(c: &mut Criterion) {
    let secret = Secret::from_password("IMEI:490154203237518", "client-password");
    let nonce = Nonce::from_bytes(b"0123456789abcdef");
    let cred = auth::cred(Scheme::Md5, &secret, None, &nonce);
    c.bench_function("auth: md5 credential check", |b| {
        b.iter(|| auth::check_cred(black_box(cred.as_ref()), black_box(&secret), black_box(&nonce)))
    });
}

/// The edge's hot path: minting a trigger (session token signature, pkg#0 with its digest),
/// and the signature alone.
fn minting(c: &mut Criterion) {
    use portaldm_shared::keys::NamedKey;
    use portaldm_shared::rand::TestRng;
    use portaldm_shared::time::UnixMillis;
    use portaldm_shared::token::TokenSigner;
    use portaldm_shared::trigger::{Requester, TriggerConfig, mint};
    let seed = NamedKey::generate("k1", &mut TestRng(1)).expect("seed");
    let signer = TokenSigner::new(&seed).expect("signer");
    let cfg = TriggerConfig {
        issuer: "portaldm-edge".into(),
        audience: "portaldm-origin".into(),
        server_id: "portaldm".into(),
        server_password: "server-password-0123456789".into(),
        nonce: String::new(),
        ttl_secs: 600,
        colo: "AMS".into(),
    };
    let now = UnixMillis(1_800_000_000_000);
    let mut rng = TestRng(7);
    c.bench_function("trigger/mint", |b| {
        b.iter(|| {
            mint(&cfg, &signer, &mut rng, now, Requester { country: Some("DE"), address: Some("203.0.113.9") })
                .expect("mint")
        })
    });
    let claims = mint(&cfg, &signer, &mut rng, now, Requester { country: Some("DE"), address: Some("203.0.113.9") })
        .expect("mint")
        .claims;
    c.bench_function("trigger/token_sign", |b| b.iter(|| signer.sign(&claims).expect("sign")));
}

criterion_group!(benches, codecs, auth_checks, minting);
criterion_main!(benches);
