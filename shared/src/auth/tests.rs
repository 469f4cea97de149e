use super::client::{ClientAuth, HeaderOutcome, Nonces};
use super::server::{MAX_TRIES, ServerAuth, Verdict, attach};
use super::*;
use crate::rand::TestRng;
use crate::syncml::codes::StatusCode;
use crate::syncml::{Command, Status, SyncHdr, SyncMl, xml};
use crate::time::UnixMillis;

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);
const URI: &str = "https://dm.example/dm";

fn account(scheme: Scheme) -> Account {
    Account {
        scheme,
        client: Secret::from_password("IMEI:1", "client-pw"),
        server: Some(Secret::from_password("portaldm", "server-pw")),
    }
}

fn msg(session: &str, msg_id: &str, cred: Option<Cred>) -> SyncMl {
    SyncMl {
        hdr: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: session.into(),
            msg_id: msg_id.into(),
            target: URI.into(),
            source: "IMEI:1".into(),
            cred,
            ..SyncHdr::default()
        },
        ..SyncMl::default()
    }
}

fn header_status(m: &SyncMl) -> &Status {
    m.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s),
            _ => None,
        })
        .expect("header status")
}

#[test]
fn md5_digest_matches_the_specification_example() {
    // OMA SyncML Represent. Protocol, MD5 example: Bruce2 / OhBehave / nonce "Nonce".
    let s = Secret::from_password("Bruce2", "OhBehave");
    let c = cred(Scheme::Md5, &s, None, &Nonce::from_bytes(b"Nonce")).expect("md5 cred");
    assert_eq!(c.data, "Zz6EivR3yeaaENcRN6lpAQ==");
    assert_eq!(c.meta.type_.as_deref(), Some(MD5));
}

#[test]
fn basic_from_the_libdmclient_vector_is_checked_by_key() {
    let m = xml::decode(include_bytes!("../../fixtures/vectors/libdmclient-pkg1-basic-auth.xml")).expect("vector");
    let ok = Secret::from_password("funambol", "funambol");
    assert_eq!(check_cred(m.hdr.cred.as_ref(), &ok, &Nonce::default()), Ok(Scheme::Basic));
    let wrong = Secret::from_password("funambol", "other");
    assert_eq!(check_cred(m.hdr.cred.as_ref(), &wrong, &Nonce::default()), Err(AuthError::Invalid));
    // An account set up for MD5 does not take Basic.
    assert_eq!(
        check(Scheme::Md5, m.hdr.cred.as_ref(), HmacProof::NONE, &ok, &Nonce::default()),
        Err(AuthError::Invalid)
    );
    assert_eq!(check_cred(None, &ok, &Nonce::default()), Err(AuthError::Missing));
}

#[test]
fn hmac_covers_name_nonce_and_body() {
    let s = Secret::from_password("IMEI:1", "pw");
    let n = Nonce::from_bytes(b"abc");
    let h = hmac_header(&s, &n, b"<SyncML/>");
    assert!(h.starts_with("algorithm=MD5, username=\"IMEI:1\", mac="));
    let proof = |body: &'static [u8], header: &str| check_hmac(HmacProof { header: Some(header), body }, &s, &n);
    assert_eq!(proof(b"<SyncML/>", &h), Ok(()));
    assert_eq!(proof(b"<SyncML />", &h), Err(AuthError::Invalid));
    assert_eq!(
        check_hmac(HmacProof { header: Some(&h), body: b"<SyncML/>" }, &s, &Nonce::default()),
        Err(AuthError::Invalid)
    );
    assert_eq!(check_hmac(HmacProof { header: None, body: b"" }, &s, &n), Err(AuthError::Missing));
    // Parameter order and quoting vary between clients.
    let v = parse_hmac_header("mac=xyz, username=dev, algorithm=md5").expect("parses");
    assert_eq!((v.username.as_str(), v.mac.as_str()), ("dev", "xyz"));
    assert!(parse_hmac_header("algorithm=SHA1, username=a, mac=b").is_err());
    assert!(parse_hmac_header("garbage").is_err());
    assert!(parse_hmac_header("username=a").is_err());
}

#[test]
fn server_challenges_then_accepts_and_rotates_the_nonce() {
    let acct = account(Scheme::Md5);
    let mut st = ServerAuth::default();
    let mut rng = TestRng(1);
    let Verdict::Refused { reply, error, ended } =
        st.check(&acct, &msg("7", "1", None), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng")
    else {
        panic!("no credentials must be refused")
    };
    assert_eq!((error, ended), (AuthError::Missing, false));
    let s = header_status(&reply);
    assert_eq!(s.code(), StatusCode::MISSING_CREDENTIALS);
    let nonce = Nonce(s.chal.as_ref().and_then(|c| c.meta.next_nonce.clone()).expect("NextNonce"));
    assert_eq!(nonce, st.client_nonce);

    let good = cred(Scheme::Md5, &acct.client, None, &nonce);
    let v = st.check(&acct, &msg("7", "2", good.clone()), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    let Verdict::Accepted { chal: Some(next), .. } = v else { panic!("accepted with a new nonce: {v:?}") };
    assert_ne!(next.meta.next_nonce.as_deref(), Some(nonce.0.as_str()));
    // Later messages of the session need no credentials.
    let v = st.check(&acct, &msg("7", "3", None), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { chal: None, .. }), "{v:?}");
    // A new session replaying the old credential is refused: the nonce has moved on.
    let v = st.check(&acct, &msg("8", "1", good), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Refused { error: AuthError::Invalid, .. }), "{v:?}");
}

#[test]
fn three_failures_end_the_session() {
    let acct = account(Scheme::Md5);
    let mut st = ServerAuth::default();
    let mut rng = TestRng(2);
    let bad = cred(Scheme::Md5, &Secret::from_password("IMEI:1", "guess"), None, &Nonce::default());
    for i in 1..=MAX_TRIES {
        let v = st.check(&acct, &msg("9", &i.to_string(), bad.clone()), HmacProof::NONE, true, URI, NOW, &mut rng);
        let Ok(Verdict::Refused { ended, reply, .. }) = v else { panic!("refused") };
        assert_eq!(ended, i == MAX_TRIES);
        assert_eq!(header_status(&reply).chal.is_some(), i < MAX_TRIES);
    }
    // Even the right credential is refused in that session now.
    let good = cred(Scheme::Md5, &acct.client, None, &st.client_nonce);
    let v = st.check(&acct, &msg("9", "4", good.clone()), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Refused { ended: true, .. }));
    // A new session may try again.
    let v = st.check(&acct, &msg("10", "1", good), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }));
}

#[test]
fn wrong_name_is_refused() {
    let acct = account(Scheme::Basic);
    let mut st = ServerAuth::default();
    let mut m = msg(
        "1",
        "1",
        cred(Scheme::Basic, &Secret::from_password("IMEI:2", "client-pw"), Some("client-pw"), &Nonce::default()),
    );
    m.hdr.source = "IMEI:2".into();
    let v = st.check(&acct, &m, HmacProof::NONE, true, URI, NOW, &mut TestRng(3)).expect("rng");
    assert!(matches!(v, Verdict::Refused { error: AuthError::Invalid, .. }));
}

#[test]
fn both_sides_authenticate_and_recover_a_stale_nonce() {
    for scheme in [Scheme::Md5, Scheme::Hmac] {
        let acct = account(scheme);
        let mut rng = TestRng(4);
        let mut server = ServerAuth::default();
        server.client_nonce = Nonce::from_bytes(b"server-side");
        // The device's stored nonces are stale (say, restored from a backup).
        let stale = Nonces { client: Nonce::from_bytes(b"stale"), server: Nonce::default() };
        let mut client = ClientAuth::new(acct.clone(), None, stale, &mut rng).expect("rng");

        let mut first = msg("5", "1", client.cred());
        let body = xml::encode(&first);
        let hmac = client.hmac(&body);
        let proof = HmacProof { header: hmac.as_deref(), body: &body };
        let Verdict::Refused { reply, .. } = server.check(&acct, &first, proof, true, URI, NOW, &mut rng).expect("rng")
        else {
            panic!("stale nonce must be challenged ({scheme:?})")
        };
        assert_eq!(client.on_header_status(header_status(&reply)), Ok(HeaderOutcome::Retry));

        first.hdr.msg_id = "2".into();
        first.hdr.cred = client.cred();
        let body = xml::encode(&first);
        let hmac = client.hmac(&body);
        let proof = HmacProof { header: hmac.as_deref(), body: &body };
        let Verdict::Accepted { chal, proved } =
            server.check(&acct, &first, proof, true, URI, NOW, &mut rng).expect("rng")
        else {
            panic!("fresh nonce must be accepted ({scheme:?})")
        };
        // The server answers, proving itself with the nonce it holds for this device.
        let mut answer = msg("5", "1", None);
        answer.body.commands.push(Command::Status(Status {
            cmd_id: "1".into(),
            cmd_ref: "0".into(),
            cmd: "SyncHdr".into(),
            data: 212,
            ..Status::default()
        }));
        attach(&mut answer, chal);
        server.seal(&proved, &acct, &mut answer);
        let body = xml::encode(&answer);
        let hmac = server.hmac(&proved, &acct, &body);
        let answer = xml::decode(&body).expect("decodes");
        assert_eq!(client.on_header_status(header_status(&answer)), Ok(HeaderOutcome::Accepted));
        assert_eq!(client.nonces().client, server.client_nonce);
        let (code, chal) = client.check_server(&answer, HmacProof { header: hmac.as_deref(), body: &body });
        assert_eq!(code, StatusCode::AUTH_ACCEPTED, "{scheme:?}");
        assert_eq!(chal.and_then(|c| c.meta.next_nonce).as_deref(), Some(client.nonces().server.0.as_str()));
        assert!(client.cred().is_none(), "no credentials once accepted");
    }
}

#[test]
fn client_refuses_a_server_that_does_not_prove_itself() {
    let acct = account(Scheme::Md5);
    let mut client = ClientAuth::new(acct.clone(), None, Nonces::default(), &mut TestRng(5)).expect("rng");
    let mut forged = msg("1", "1", None);
    // The server may only hold a stale nonce: it gets a fresh one and two more tries.
    for attempt in 1..=MAX_TRIES {
        let (code, chal) = client.check_server(&forged, HmacProof::NONE);
        assert_eq!(code, StatusCode::MISSING_CREDENTIALS);
        assert!(chal.is_some());
        assert_eq!(client.server_refused(), attempt == MAX_TRIES);
    }

    let mut client = ClientAuth::new(acct, None, Nonces::default(), &mut TestRng(6)).expect("rng");
    forged.hdr.cred = cred(Scheme::Md5, &Secret::from_password("portaldm", "guess"), None, &Nonce::default());
    assert_eq!(client.check_server(&forged, HmacProof::NONE).0, StatusCode::UNAUTHORIZED);
}

#[test]
fn client_gives_up_after_the_allowed_tries() {
    let mut client = ClientAuth::new(account(Scheme::Md5), None, Nonces::default(), &mut TestRng(7)).expect("rng");
    let challenge = Status {
        cmd: "SyncHdr".into(),
        cmd_ref: "0".into(),
        data: 401,
        chal: Some(chal(Scheme::Md5, &Nonce::from_bytes(b"n"))),
        ..Status::default()
    };
    assert_eq!(client.on_header_status(&challenge), Ok(HeaderOutcome::Retry));
    assert_eq!(client.on_header_status(&challenge), Ok(HeaderOutcome::Retry));
    assert_eq!(client.on_header_status(&challenge), Err(crate::session::ProtocolError::Unauthorized(401)));
    // A refusal without a challenge is final at once.
    let mut client = ClientAuth::new(account(Scheme::Md5), None, Nonces::default(), &mut TestRng(8)).expect("rng");
    let bare = Status { chal: None, ..challenge };
    assert!(client.on_header_status(&bare).is_err());
}

/// A message whose Status for the server's header hands the server `nonce` for its proof.
fn with_server_nonce(mut m: SyncMl, nonce: &str) -> SyncMl {
    m.body.commands.push(Command::Status(Status {
        cmd_id: "1".into(),
        msg_ref: "1".into(),
        cmd_ref: "0".into(),
        cmd: "SyncHdr".into(),
        chal: Some(chal(Scheme::Md5, &Nonce(nonce.into()))),
        data: 212,
        ..Status::default()
    }));
    m
}

#[test]
fn nonces_from_messages_that_did_not_authenticate_are_never_kept() {
    // A stranger posing as the device hands the server a nonce of its choosing.
    let acct = account(Scheme::Md5);
    let mut st = ServerAuth::default();
    let before = st.server_nonce.clone();
    let forged = with_server_nonce(msg("7", "1", None), "YXR0YWNrZXI=");
    let v = st.check(&acct, &forged, HmacProof::NONE, true, URI, NOW, &mut TestRng(9)).expect("rng");
    assert!(matches!(v, Verdict::Refused { .. }), "{v:?}");
    assert_eq!(st.server_nonce, before, "the stranger's nonce must not be kept");
    // With a wrong credential too.
    let bad = cred(Scheme::Md5, &Secret::from_password("IMEI:1", "guess"), None, &Nonce::default());
    let forged = with_server_nonce(msg("7", "2", bad), "YXR0YWNrZXI=");
    let v = st.check(&acct, &forged, HmacProof::NONE, true, URI, NOW, &mut TestRng(9)).expect("rng");
    assert!(matches!(v, Verdict::Refused { .. }), "{v:?}");
    assert_eq!(st.server_nonce, before);
}

#[test]
fn an_authenticated_message_hands_the_server_its_next_nonce() {
    let acct = account(Scheme::Md5);
    let mut st = ServerAuth::default();
    st.client_nonce = Nonce::from_bytes(b"n1");
    let good = cred(Scheme::Md5, &acct.client, None, &st.client_nonce);
    let m = with_server_nonce(msg("7", "1", good), "bmV4dA==");
    let v = st.check(&acct, &m, HmacProof::NONE, true, URI, NOW, &mut TestRng(9)).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
    assert_eq!(st.server_nonce, Nonce("bmV4dA==".into()));
}

#[test]
fn a_new_session_reusing_the_session_id_authenticates_again() {
    let acct = account(Scheme::Md5);
    let mut st = ServerAuth::default();
    let mut rng = TestRng(10);
    st.client_nonce = Nonce::from_bytes(b"n1");
    let good = cred(Scheme::Md5, &acct.client, None, &st.client_nonce);
    let v = st.check(&acct, &msg("1", "1", good.clone()), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
    let v = st.check(&acct, &msg("1", "2", None), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }), "later messages of the session: {v:?}");
    // Its message 1 repeated (the answer was lost) still belongs to it.
    let v = st.check(&acct, &msg("1", "1", good), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }), "a repeated message 1: {v:?}");
    // A new session with the same SessionID and no credential is refused.
    let v = st.check(&acct, &msg("1", "1", None), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Refused { error: AuthError::Missing, .. }), "{v:?}");
    // Nor does a later message of that id that was not admitted to the session (no secret).
    let v = st.check(&acct, &msg("1", "2", None), HmacProof::NONE, false, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Refused { .. }), "a stranger inherits the session: {v:?}");
    // The real session, admitted by its secret, goes on: the strangers disturbed nothing.
    let v = st.check(&acct, &msg("1", "3", None), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
}

#[test]
fn a_stranger_cannot_end_use_up_or_restale_a_live_session() {
    let acct = account(Scheme::Md5);
    let mut st = ServerAuth::default();
    let mut rng = TestRng(11);
    st.client_nonce = Nonce::from_bytes(b"n1");
    let good = cred(Scheme::Md5, &acct.client, None, &st.client_nonce);
    let v = st.check(&acct, &msg("5", "1", good), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }));
    let nonce = st.client_nonce.clone();
    let bad = cred(Scheme::Md5, &Secret::from_password("IMEI:1", "guess"), None, &Nonce::default());
    // Other session ids, the same id without the secret, message 1s: none counts or moves.
    for (sid, id, c, admitted) in
        [("6", "1", None, false), ("7", "1", bad.clone(), false), ("5", "2", bad.clone(), false)]
    {
        for _ in 0..MAX_TRIES + 1 {
            let v =
                st.check(&acct, &msg(sid, id, c.clone()), HmacProof::NONE, admitted, URI, NOW, &mut rng).expect("rng");
            let Verdict::Refused { reply, ended, .. } = v else { panic!("a stranger was accepted") };
            assert!(!ended, "a stranger ended the live session");
            let offered = header_status(&reply).chal.as_ref().and_then(|c| c.meta.next_nonce.clone());
            assert_eq!(offered.as_deref(), Some(nonce.0.as_str()), "the challenge names the nonce in force");
        }
    }
    assert_eq!(st.client_nonce, nonce, "a refusal changed the device's nonce");
    let v = st.check(&acct, &msg("5", "3", None), HmacProof::NONE, true, URI, NOW, &mut rng).expect("rng");
    assert!(matches!(v, Verdict::Accepted { .. }), "the real session was disturbed: {v:?}");
}
