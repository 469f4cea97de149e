//! The server's protocol work for one portal DM session, with no I/O: a lower bound on what
//! the origin spends per session whatever its store. The phone's messages of a session as
//! `bench_dm` sends them (package 1 with its token, package 3, an Alert 1222 answered with the
//! hold, an Alert 1222 answered with the delivery, package 5) are recorded once; each
//! iteration then does for each one what the origin does: decode the XML, read the stored
//! session's JSON (from the second message on), check the token and draw the continuation
//! secret (package 1), step the session machine, encode the answer and write the session's
//! JSON. Left out, so the origin's real work is more: the result session, HTTP, the edge
//! credential on each request, the admission and rate-limit checks, profile matching, the
//! offers listed when the phone is identified, the portal's two calls and the store.
// Like a test, a bench stops at its first failure, and criterion's macros write undocumented items.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;

mod fixtures;

use criterion::{Criterion, criterion_group, criterion_main};
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::FumoDelivery;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::media::DmEncoding;
use portaldm_shared::rand::TestRng;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::session::continuation::Continuation;
use portaldm_shared::session::server::{ServerSession, Step, token_of};
use portaldm_shared::syncml::{SyncMl, xml};
use portaldm_shared::time::UnixMillis;
use portaldm_shared::token::{Claims, TokenSigner, TokenVerifier};

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);
const URI: &str = "https://origin.example/dm";

fn device() -> DeviceDetails {
    DeviceDetails {
        dev_id: "IMEI:350000000000001".into(),
        man: Some("portaldm".into()),
        model: Some("PDM-Phone-1".into()),
        dm_v: Some("1.2".into()),
        lang: Some("en-US".into()),
        fw_v: Some("1.0.0".into()),
        sw_v: Some("1.0.0".into()),
        hw_v: Some("A1".into()),
        ..Default::default()
    }
}

/// The token of a portal session with notification session id `nsid`, and its verifier.
fn token(nsid: u16) -> (String, TokenVerifier) {
    let seed = NamedKey::generate("k1", &mut TestRng(9)).expect("key");
    let c = Claims {
        iss: "edge".into(),
        aud: "portaldm-origin".into(),
        sid: "s".repeat(43),
        nsid,
        srv: "portaldm".into(),
        iat: NOW.as_secs(),
        nbf: NOW.as_secs(),
        exp: NOW.as_secs() + 300,
        jti: "ab".repeat(16),
        bnd: "b".repeat(43),
        colo: "BENCH".into(),
        ctry: None,
        net: None,
    };
    let t = TokenSigner::new(&seed).expect("signer").sign(&c).expect("signs");
    (t, TokenVerifier::new(&[seed.ed25519_public()], "portaldm-origin", "portaldm"))
}

fn secret() -> Continuation {
    Continuation::generate(&mut TestRng(99)).expect("random")
}

fn sent(step: ClientStep) -> SyncMl {
    match step {
        ClientStep::Send(m) => *m,
        ClientStep::Done => panic!("client ended early"),
    }
}

/// What the origin does with one message of a continuing session: the stored session read,
/// the message decoded and stepped; the session and the step.
fn step(stored: &str, bytes: &[u8]) -> (ServerSession, Step, SyncMl) {
    let mut server: ServerSession = serde_json::from_str(stored).expect("session parses");
    let msg = xml::decode(bytes).expect("decodes");
    let step = server.handle(&msg).expect("steps");
    (server, step, msg)
}

/// The server's answer to the `n`th phone message of a session, given the step it made.
fn answer_to(n: usize, step: Step, server: &mut ServerSession, delivery: &FumoDelivery) -> SyncMl {
    match (n, step) {
        (1 | 2, Step::AwaitChoice) => server.poll_hold().expect("hold"),
        (3, Step::AwaitChoice) => server.poll_deliver(delivery, None).expect("delivers"),
        (4, Step::Delivered { reply, .. }) => reply,
        (n, other) => panic!("message {n}: {other:?}"),
    }
}

/// The answer encoded and the session written, as the origin stores them.
fn answer(server: &ServerSession, reply: &SyncMl) -> (Vec<u8>, String) {
    (xml::encode(reply), serde_json::to_string(server).expect("session serialises"))
}

/// One session's server side over the recorded phone messages `phone`; the last answer's length.
fn server_side(phone: &[Vec<u8>], verifier: &TokenVerifier, delivery: &FumoDelivery) -> usize {
    let pkg1 = xml::decode(&phone[0]).expect("decodes");
    let verified = verifier.verify(token_of(&pkg1).expect("token"), NOW).expect("verifies");
    let (server, pkg2) =
        ServerSession::accept_portal(&pkg1, &verified, URI, DmEncoding::Xml, secret(), None).expect("accepts");
    let (_, mut stored) = answer(&server, &pkg2);
    let mut last = 0;
    for (n, bytes) in phone.iter().enumerate().skip(1) {
        let (mut server, step, _) = step(&stored, bytes);
        let reply = answer_to(n, step, &mut server, delivery);
        let (bytes, json) = answer(&server, &reply);
        last = bytes.len();
        stored = json;
    }
    last
}

/// The phone's five messages, recorded from a run against the same server steps.
fn record(delivery: &FumoDelivery) -> (Vec<Vec<u8>>, TokenVerifier) {
    let (t, verifier) = token(0x2A);
    let mut client = ClientSession::server_initiated(device(), URI, "2A", &t);
    let first = xml::encode(&client.first_message());
    let pkg1 = xml::decode(&first).expect("decodes");
    let verified = verifier.verify(token_of(&pkg1).expect("token"), NOW).expect("verifies");
    let (mut server, mut out) =
        ServerSession::accept_portal(&pkg1, &verified, URI, DmEncoding::Xml, secret(), None).expect("accepts");
    let mut phone = vec![first];
    for n in 1..5 {
        let reply = xml::decode(&xml::encode(&out)).expect("decodes");
        let bytes = xml::encode(&sent(client.handle(&reply).expect("client steps")));
        let msg = xml::decode(&bytes).expect("decodes");
        let step = server.handle(&msg).expect("steps");
        out = answer_to(n, step, &mut server, delivery);
        phone.push(bytes);
    }
    (phone, verifier)
}

fn bench(c: &mut Criterion) {
    let delivery = fixtures::firmware_delivery();
    let (phone, verifier) = record(&delivery);
    // The replay takes the same steps as the recording (it panics otherwise).
    server_side(&phone, &verifier, &delivery);
    c.bench_function("server side of one portal DM session (5 messages)", |b| {
        b.iter(|| server_side(black_box(&phone), &verifier, &delivery))
    });
    let pkg1 = xml::decode(&phone[0]).expect("decodes");
    let token = token_of(&pkg1).expect("token").to_owned();
    c.bench_function("of which the token's check", |b| b.iter(|| verifier.verify(black_box(&token), NOW)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
