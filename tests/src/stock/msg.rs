//! The handset's SyncML messages (OMA-TS-SyncML_RepPro 1.2), written and read as XML with
//! quick-xml directly: a small element tree, then the fields a DM client uses.

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::StockError;

/// Deepest element nesting read (SyncML needs about 8; Atomic/Sequence add a few).
const MAX_DEPTH: usize = 32;
/// Most elements read from one message.
const MAX_ELEMENTS: usize = 50_000;

/// A credential (`Cred`) or challenge (`Chal`) meta: type, format, nonce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthMeta {
    /// `syncml:auth-md5`, `syncml:auth-basic`...
    pub typ: String,
    /// `b64`.
    pub format: String,
    /// `NextNonce` (challenges only).
    pub next_nonce: Option<String>,
}

/// A `Cred`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cred {
    /// Its meta.
    pub meta: AuthMeta,
    /// The credential.
    pub data: String,
}

/// A SyncHdr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hdr {
    /// `SessionID`.
    pub session_id: String,
    /// `MsgID`.
    pub msg_id: String,
    /// `Target/LocURI`.
    pub target: String,
    /// `Source/LocURI`.
    pub source: String,
    /// `RespURI`.
    pub resp_uri: Option<String>,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Meta/MaxMsgSize`.
    pub max_msg_size: Option<u32>,
}

/// An `Item`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// `Target/LocURI`.
    pub target: Option<String>,
    /// `Source/LocURI`.
    pub source: Option<String>,
    /// `Meta/Format`.
    pub format: Option<String>,
    /// `Meta/Type`.
    pub typ: Option<String>,
    /// `Data`.
    pub data: Option<String>,
}

/// Any SyncBody command (one shape for all: the fields a command does not have stay empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmd {
    /// The element name: `Status`, `Alert`, `Get`, `Replace`, `Exec`, `Results`, `Sequence`...
    pub kind: String,
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp` was present.
    pub no_resp: bool,
    /// `MsgRef` (Status, Results).
    pub msg_ref: Option<String>,
    /// `CmdRef` (Status, Results).
    pub cmd_ref: Option<String>,
    /// `Cmd` (Status).
    pub cmd: Option<String>,
    /// `TargetRef`s (Status).
    pub target_refs: Vec<String>,
    /// `SourceRef`s (Status).
    pub source_refs: Vec<String>,
    /// `Chal` (Status).
    pub chal: Option<AuthMeta>,
    /// `Correlator` (Exec, Alert).
    pub correlator: Option<String>,
    /// Command-level `Meta/Format`.
    pub format: Option<String>,
    /// Command-level `Meta/Type`.
    pub typ: Option<String>,
    /// `Data` (Status code, Alert code).
    pub data: Option<String>,
    /// `Item`s.
    pub items: Vec<Item>,
    /// Commands inside `Atomic` / `Sequence`.
    pub inner: Vec<Cmd>,
}

impl Cmd {
    /// A command of `kind` with nothing else.
    pub fn new(kind: &str) -> Cmd {
        Cmd { kind: kind.into(), ..Cmd::default() }
    }

    /// The Status code, or 0 if it is not a number.
    pub fn code(&self) -> u16 {
        self.data.as_deref().and_then(|d| d.trim().parse().ok()).unwrap_or(0)
    }
}

/// A SyncML message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Msg {
    /// The header.
    pub hdr: Hdr,
    /// The body's commands, in order.
    pub cmds: Vec<Cmd>,
    /// `Final` was present.
    pub final_: bool,
}

impl Msg {
    /// The Status for the header (CmdRef 0), if any.
    pub fn header_status(&self) -> Option<&Cmd> {
        self.cmds
            .iter()
            .find(|c| c.kind == "Status" && (c.cmd_ref.as_deref() == Some("0") || c.cmd.as_deref() == Some("SyncHdr")))
    }

    /// The Status codes as (Cmd, code) pairs.
    pub fn statuses(&self) -> Vec<(String, u16)> {
        self.cmds.iter().filter(|c| c.kind == "Status").map(|c| (c.cmd.clone().unwrap_or_default(), c.code())).collect()
    }
}

// ---- writing ----

type W = Writer<Vec<u8>>;
type Res = std::io::Result<()>;

fn leaf(w: &mut W, name: &str, text: &str) -> Res {
    w.create_element(name).write_text_content(BytesText::new(text))?;
    Ok(())
}

fn metinf(w: &mut W, name: &str, text: &str) -> Res {
    w.create_element(name).with_attribute(("xmlns", "syncml:metinf")).write_text_content(BytesText::new(text))?;
    Ok(())
}

fn loc(w: &mut W, name: &str, uri: &str) -> Res {
    w.create_element(name).write_inner_content(|w| leaf(w, "LocURI", uri))?;
    Ok(())
}

fn meta(w: &mut W, format: Option<&str>, typ: Option<&str>, nonce: Option<&str>) -> Res {
    if format.is_none() && typ.is_none() && nonce.is_none() {
        return Ok(());
    }
    w.create_element("Meta").write_inner_content(|w| {
        if let Some(f) = format {
            metinf(w, "Format", f)?;
        }
        if let Some(t) = typ {
            metinf(w, "Type", t)?;
        }
        if let Some(n) = nonce {
            metinf(w, "NextNonce", n)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn item(w: &mut W, it: &Item) -> Res {
    w.create_element("Item").write_inner_content(|w| {
        if let Some(t) = &it.target {
            loc(w, "Target", t)?;
        }
        if let Some(s) = &it.source {
            loc(w, "Source", s)?;
        }
        meta(w, it.format.as_deref(), it.typ.as_deref(), None)?;
        if let Some(d) = &it.data {
            leaf(w, "Data", d)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn cmd(w: &mut W, c: &Cmd) -> Res {
    w.create_element(c.kind.as_str()).write_inner_content(|w| {
        leaf(w, "CmdID", &c.cmd_id)?;
        if c.no_resp {
            w.create_element("NoResp").write_empty()?;
        }
        for (name, v) in [("MsgRef", &c.msg_ref), ("CmdRef", &c.cmd_ref), ("Cmd", &c.cmd)] {
            if let Some(v) = v {
                leaf(w, name, v)?;
            }
        }
        for t in &c.target_refs {
            leaf(w, "TargetRef", t)?;
        }
        for s in &c.source_refs {
            leaf(w, "SourceRef", s)?;
        }
        if let Some(ch) = &c.chal {
            w.create_element("Chal")
                .write_inner_content(|w| meta(w, Some(&ch.format), Some(&ch.typ), ch.next_nonce.as_deref()))?;
        }
        if let Some(cor) = &c.correlator {
            leaf(w, "Correlator", cor)?;
        }
        meta(w, c.format.as_deref(), c.typ.as_deref(), None)?;
        if let Some(d) = &c.data {
            leaf(w, "Data", d)?;
        }
        for it in &c.items {
            item(w, it)?;
        }
        for inner in &c.inner {
            cmd(w, inner)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The message as XML (namespace `SYNCML:SYNCML1.2`, metinf elements with their own `xmlns`).
pub fn to_xml(m: &Msg) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let written: Res = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("SyncML").with_attribute(("xmlns", "SYNCML:SYNCML1.2")).write_inner_content(|w| {
            w.create_element("SyncHdr").write_inner_content(|w| {
                leaf(w, "VerDTD", "1.2")?;
                leaf(w, "VerProto", "DM/1.2")?;
                leaf(w, "SessionID", &m.hdr.session_id)?;
                leaf(w, "MsgID", &m.hdr.msg_id)?;
                loc(w, "Target", &m.hdr.target)?;
                loc(w, "Source", &m.hdr.source)?;
                if let Some(r) = &m.hdr.resp_uri {
                    leaf(w, "RespURI", r)?;
                }
                if let Some(c) = &m.hdr.cred {
                    w.create_element("Cred").write_inner_content(|w| {
                        meta(w, Some(&c.meta.format), Some(&c.meta.typ), None)?;
                        leaf(w, "Data", &c.data)
                    })?;
                }
                if let Some(n) = m.hdr.max_msg_size {
                    w.create_element("Meta").write_inner_content(|w| metinf(w, "MaxMsgSize", &n.to_string()))?;
                }
                Ok(())
            })?;
            w.create_element("SyncBody").write_inner_content(|w| {
                for c in &m.cmds {
                    cmd(w, c)?;
                }
                if m.final_ {
                    w.create_element("Final").write_empty()?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })();
    // Writing into a Vec cannot fail; an error here would only lose the tail.
    let _ = written;
    w.into_inner()
}

// ---- reading ----

/// An element of the parsed tree.
#[derive(Debug, Default)]
struct El {
    name: String,
    text: String,
    kids: Vec<El>,
}

impl El {
    fn kid(&self, name: &str) -> Option<&El> {
        self.kids.iter().find(|k| k.name == name)
    }
    fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.kids.iter().filter(move |k| k.name == name)
    }
    fn text_of(&self, name: &str) -> Option<String> {
        self.kid(name).map(|k| k.text.trim().to_owned())
    }
    fn loc(&self, name: &str) -> Option<String> {
        self.kid(name)?.text_of("LocURI")
    }
}

fn local(name: &[u8]) -> String {
    let n = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(n).into_owned()
}

fn parse_err(e: impl std::fmt::Display) -> StockError {
    StockError::Parse(e.to_string())
}

fn dom(bytes: &[u8]) -> Result<El, StockError> {
    let mut r = Reader::from_reader(bytes);
    r.config_mut().check_end_names = true;
    let mut stack: Vec<El> = vec![El::default()];
    let mut count = 0usize;
    loop {
        let ev = r.read_event().map_err(parse_err)?;
        match ev {
            Event::Start(e) => {
                count += 1;
                if stack.len() > MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(StockError::Parse("nested too deep or too many elements".into()));
                }
                stack.push(El { name: local(e.local_name().as_ref()), ..El::default() });
            }
            Event::Empty(e) => {
                count += 1;
                let el = El { name: local(e.local_name().as_ref()), ..El::default() };
                stack.last_mut().ok_or_else(|| parse_err("unbalanced"))?.kids.push(el);
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| parse_err("unbalanced"))?;
                stack.last_mut().ok_or_else(|| parse_err("unbalanced"))?.kids.push(done);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(parse_err)?;
                stack.last_mut().ok_or_else(|| parse_err("unbalanced"))?.text.push_str(&s);
            }
            Event::CData(t) => {
                let s = t.decode().map_err(parse_err)?;
                stack.last_mut().ok_or_else(|| parse_err("unbalanced"))?.text.push_str(&s);
            }
            Event::GeneralRef(g) => {
                let ch = match g.resolve_char_ref().map_err(parse_err)? {
                    Some(c) => c,
                    None => match g.decode().map_err(parse_err)?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(StockError::Parse(format!("unknown entity &{other};"))),
                    },
                };
                stack.last_mut().ok_or_else(|| parse_err("unbalanced"))?.text.push(ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut top = stack.pop().filter(|_| stack.is_empty()).ok_or_else(|| parse_err("unclosed elements"))?;
    let root = top.kids.pop().filter(|r| r.name == "SyncML").ok_or_else(|| parse_err("no SyncML root"))?;
    Ok(root)
}

fn auth_meta(el: Option<&El>) -> AuthMeta {
    let m = el.and_then(|e| e.kid("Meta"));
    AuthMeta {
        typ: m.and_then(|m| m.text_of("Type")).unwrap_or_default(),
        format: m.and_then(|m| m.text_of("Format")).unwrap_or_default(),
        next_nonce: m.and_then(|m| m.text_of("NextNonce")),
    }
}

fn read_item(el: &El) -> Item {
    let m = el.kid("Meta");
    Item {
        target: el.loc("Target"),
        source: el.loc("Source"),
        format: m.and_then(|m| m.text_of("Format")),
        typ: m.and_then(|m| m.text_of("Type")),
        data: el.kid("Data").map(|d| if d.kids.is_empty() { d.text.clone() } else { String::new() }),
    }
}

fn read_cmd(el: &El) -> Cmd {
    let m = el.kid("Meta");
    Cmd {
        kind: el.name.clone(),
        cmd_id: el.text_of("CmdID").unwrap_or_default(),
        no_resp: el.kid("NoResp").is_some(),
        msg_ref: el.text_of("MsgRef"),
        cmd_ref: el.text_of("CmdRef"),
        cmd: el.text_of("Cmd"),
        target_refs: el.kids("TargetRef").map(|t| t.text.trim().to_owned()).collect(),
        source_refs: el.kids("SourceRef").map(|t| t.text.trim().to_owned()).collect(),
        chal: el.kid("Chal").map(|c| auth_meta(Some(c))),
        correlator: el.text_of("Correlator"),
        format: m.and_then(|m| m.text_of("Format")),
        typ: m.and_then(|m| m.text_of("Type")),
        data: el.text_of("Data"),
        items: el.kids("Item").map(read_item).collect(),
        inner: el
            .kids
            .iter()
            .filter(|k| {
                matches!(
                    k.name.as_str(),
                    "Add" | "Replace" | "Delete" | "Get" | "Exec" | "Alert" | "Copy" | "Atomic" | "Sequence"
                )
            })
            .filter(|_| matches!(el.name.as_str(), "Atomic" | "Sequence"))
            .map(read_cmd)
            .collect(),
    }
}

/// Reads an XML SyncML message.
pub fn from_xml(bytes: &[u8]) -> Result<Msg, StockError> {
    let root = dom(bytes)?;
    let hdr = root.kid("SyncHdr").ok_or_else(|| parse_err("no SyncHdr"))?;
    let body = root.kid("SyncBody").ok_or_else(|| parse_err("no SyncBody"))?;
    let cred = hdr.kid("Cred").map(|c| Cred { meta: auth_meta(Some(c)), data: c.text_of("Data").unwrap_or_default() });
    Ok(Msg {
        hdr: Hdr {
            session_id: hdr.text_of("SessionID").unwrap_or_default(),
            msg_id: hdr.text_of("MsgID").unwrap_or_default(),
            target: hdr.loc("Target").unwrap_or_default(),
            source: hdr.loc("Source").unwrap_or_default(),
            resp_uri: hdr.text_of("RespURI").filter(|r| !r.is_empty()),
            cred,
            max_msg_size: hdr.kid("Meta").and_then(|m| m.text_of("MaxMsgSize")).and_then(|n| n.parse().ok()),
        },
        cmds: body.kids.iter().filter(|k| k.name != "Final").map(read_cmd).collect(),
        final_: body.kid("Final").is_some(),
    })
}
