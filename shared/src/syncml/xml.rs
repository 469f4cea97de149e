//! SyncML DM 1.2 in XML: tolerant decoding from the element tree, strict encoding in
//! DTD order (OMA-SUP-DTD_SyncML_RepPro-V1_2, OMA-SUP-DTD_SyncML_MetInf-V1_2).

use quick_xml::escape::escape;

use super::DecodeError;
use super::model::*;
use super::tree::{self, Element};
use crate::text::Quoted;

/// Most commands accepted in one message (nested ones included).
pub const MAX_COMMANDS: usize = 2_000;
/// Most items in one command.
pub const MAX_ITEMS: usize = 500;

/// Decodes an XML SyncML message.
pub fn decode(bytes: &[u8]) -> Result<SyncMl, DecodeError> {
    from_tree(&tree::parse(bytes)?)
}

/// Decodes the `SyncHdr` of an XML SyncML message, whatever follows it.
pub fn decode_header(bytes: &[u8]) -> Result<SyncHdr, DecodeError> {
    header_from_tree(&tree::parse_header(bytes)?)
}

/// Reads a message from an element tree (the XML and WBXML decoders both produce one).
pub fn from_tree(root: &Element<'_>) -> Result<SyncMl, DecodeError> {
    let hdr = header_from_tree(root)?;
    let body = root.child("SyncBody").ok_or_else(|| invalid("no SyncBody"))?;
    let mut budget = MAX_COMMANDS;
    Ok(SyncMl { hdr, body: SyncBody { commands: commands(body, &mut budget)?, final_: body.has("Final") } })
}

/// Reads the `SyncHdr` of a SyncML root element; the body is not looked at.
pub fn header_from_tree(root: &Element<'_>) -> Result<SyncHdr, DecodeError> {
    // The namespace is not checked: clients send none, SYNCML:SYNCML1.1 or SYNCML:SYNCML1.2.
    if root.name != "SyncML" {
        return Err(invalid(format!("root element is <{}>, not <SyncML>", Quoted(&root.name))));
    }
    let hdr = root.child("SyncHdr").ok_or_else(|| invalid("no SyncHdr"))?;
    Ok(SyncHdr {
        ver_dtd: required(hdr, "VerDTD")?,
        ver_proto: required(hdr, "VerProto")?,
        session_id: required(hdr, "SessionID")?,
        msg_id: message_id(hdr)?,
        target: loc_uri(hdr, "Target").ok_or_else(|| invalid("SyncHdr has no Target/LocURI"))?,
        source: loc_uri(hdr, "Source").ok_or_else(|| invalid("SyncHdr has no Source/LocURI"))?,
        source_name: hdr.child("Source").and_then(|s| s.child_text("LocName")),
        resp_uri: hdr.child_text("RespURI"),
        cred: hdr.child("Cred").map(cred),
        meta: meta(hdr),
    })
}

fn invalid(why: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(why.into())
}

fn required(el: &Element<'_>, name: &str) -> Result<String, DecodeError> {
    el.child_text(name).ok_or_else(|| invalid(format!("<{}> has no <{name}>", Quoted(&el.name))))
}

/// `MsgID`: an integer. RepPro 1.2 (5.1.13) asks for a positive one, but some handsets
/// number from 0 (and the Status answering them refers to MsgRef 0); a non-number is refused.
fn message_id(hdr: &Element<'_>) -> Result<String, DecodeError> {
    let id = required(hdr, "MsgID")?;
    match id.trim().parse::<u32>() {
        Ok(n) => Ok(n.to_string()),
        _ => Err(invalid(format!("MsgID {:?} is not an integer", Quoted(&id)))),
    }
}

fn loc_uri(el: &Element<'_>, name: &str) -> Option<String> {
    el.child(name).and_then(|t| t.child_text("LocURI"))
}

fn meta(el: &Element<'_>) -> Meta {
    let Some(m) = el.child("Meta") else {
        return Meta::default();
    };
    let num = |n: &str| m.child_text(n).and_then(|v| v.parse().ok());
    Meta {
        format: m.child_text("Format"),
        type_: m.child_text("Type"),
        size: num("Size"),
        max_msg_size: num("MaxMsgSize"),
        max_obj_size: num("MaxObjSize"),
        next_nonce: m.child_text("NextNonce"),
    }
}

fn cred(el: &Element<'_>) -> Cred {
    Cred { meta: meta(el), data: el.child_text("Data").unwrap_or_default() }
}

/// Longest command-level Format or Type copied into each of its items: real ones are short
/// (`chr`, a MIME type, a FUMO alert type), and each copy is text decoding produces beyond
/// the input (20,000 items at most, so a few MiB at worst, not a string table's worth each).
pub const MAX_INHERITED_META: usize = 96;

/// The items of a command. A command's Meta is the default for its items: an item without
/// its own Format, Type or Size takes the command's, so senders that put them on the
/// command (as some handsets do for a whole Replace) read like those that do not.
fn items(el: &Element<'_>) -> Result<Vec<Item>, DecodeError> {
    if el.all("Item").nth(MAX_ITEMS).is_some() {
        return Err(DecodeError::Limit("items per command"));
    }
    let mut shared = meta(el);
    let short = |v: Option<String>| v.filter(|v| v.len() <= MAX_INHERITED_META);
    (shared.format, shared.type_) = (short(shared.format), short(shared.type_));
    Ok(el
        .all("Item")
        .map(|i| {
            let mut meta = meta(i);
            meta.format = meta.format.or_else(|| shared.format.clone());
            meta.type_ = meta.type_.or_else(|| shared.type_.clone());
            meta.size = meta.size.or(shared.size);
            Item {
                target: loc_uri(i, "Target"),
                source: loc_uri(i, "Source"),
                meta,
                data: i.child("Data").map(|d| d.text.trim().to_owned()),
                more_data: i.has("MoreData"),
            }
        })
        .collect())
}

fn code(el: &Element<'_>) -> Result<u16, DecodeError> {
    let d = required(el, "Data")?;
    d.parse().map_err(|_| invalid(format!("<{}> Data {:?} is not a code", Quoted(&el.name), Quoted(&d))))
}

fn commands(parent: &Element<'_>, budget: &mut usize) -> Result<Vec<Command>, DecodeError> {
    let mut out = Vec::new();
    let container = matches!(parent.name.as_ref(), "Atomic" | "Sequence");
    for el in &parent.children {
        // A container's own elements come before its commands.
        if container && matches!(el.name.as_ref(), "CmdID" | "NoResp" | "Meta") {
            continue;
        }
        if *budget == 0 {
            return Err(DecodeError::Limit("command count"));
        }
        let cmd_id = || required(el, "CmdID");
        let item_cmd = || -> Result<ItemCommand, DecodeError> {
            Ok(ItemCommand { cmd_id: cmd_id()?, no_resp: el.has("NoResp"), meta: meta(el), items: items(el)? })
        };
        let cmd = match el.name.as_ref() {
            "Final" => continue,
            "Alert" => Command::Alert(Alert {
                cmd_id: cmd_id()?,
                no_resp: el.has("NoResp"),
                data: code(el)?,
                correlator: el.child_text("Correlator"),
                items: items(el)?,
            }),
            "Status" => Command::Status(Status {
                cmd_id: cmd_id()?,
                msg_ref: required(el, "MsgRef")?,
                cmd_ref: required(el, "CmdRef")?,
                cmd: required(el, "Cmd")?,
                target_refs: el.all("TargetRef").map(|t| t.text.trim().to_owned()).collect(),
                source_refs: el.all("SourceRef").map(|t| t.text.trim().to_owned()).collect(),
                cred: el.child("Cred").map(cred),
                chal: el.child("Chal").map(|c| Chal { meta: meta(c) }),
                data: code(el)?,
                items: items(el)?,
            }),
            "Results" => Command::Results(Results {
                cmd_id: cmd_id()?,
                msg_ref: el.child_text("MsgRef"),
                cmd_ref: required(el, "CmdRef")?,
                meta: meta(el),
                target_refs: el.all("TargetRef").map(|t| t.text.trim().to_owned()).collect(),
                source_refs: el.all("SourceRef").map(|t| t.text.trim().to_owned()).collect(),
                items: items(el)?,
            }),
            "Get" => Command::Get(item_cmd()?),
            "Replace" => Command::Replace(item_cmd()?),
            "Add" => Command::Add(item_cmd()?),
            "Delete" => Command::Delete(item_cmd()?),
            "Copy" => Command::Copy(item_cmd()?),
            "Exec" => Command::Exec(Exec {
                cmd_id: cmd_id()?,
                no_resp: el.has("NoResp"),
                correlator: el.child_text("Correlator"),
                items: items(el)?,
            }),
            "Atomic" | "Sequence" => {
                *budget -= 1;
                let c = Container {
                    cmd_id: cmd_id()?,
                    no_resp: el.has("NoResp"),
                    meta: meta(el),
                    commands: commands(el, budget)?,
                };
                out.push(if el.name == "Atomic" { Command::Atomic(c) } else { Command::Sequence(c) });
                continue;
            }
            other => return Err(invalid(format!("unknown command <{}>", Quoted(other)))),
        };
        *budget -= 1;
        out.push(cmd);
    }
    Ok(out)
}

/// Encodes a message as XML in DTD order.
pub fn encode(msg: &SyncMl) -> Vec<u8> {
    let mut w = String::with_capacity(1024);
    w.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_xml(&mut w, &to_tree(msg), true);
    w.into_bytes()
}

fn write_xml(w: &mut String, el: &Element<'_>, root: bool) {
    let ns = if root {
        " xmlns=\"SYNCML:SYNCML1.2\""
    } else if tree::is_metinf(&el.name) {
        " xmlns=\"syncml:metinf\""
    } else {
        ""
    };
    w.push('<');
    w.push_str(&el.name);
    w.push_str(ns);
    if el.children.is_empty() && el.text.is_empty() {
        w.push_str("/>");
        return;
    }
    w.push('>');
    w.push_str(&escape(el.text.as_ref()));
    for c in &el.children {
        write_xml(w, c, false);
    }
    w.push_str("</");
    w.push_str(&el.name);
    w.push('>');
}

/// The element tree of a message, in DTD order: the one mapping both encoders serialize.
pub fn to_tree(msg: &SyncMl) -> Element<'_> {
    let h = &msg.hdr;
    let mut hdr = Element::new("SyncHdr");
    hdr.leaf("VerDTD", h.ver_dtd.as_str());
    hdr.leaf("VerProto", h.ver_proto.as_str());
    hdr.leaf("SessionID", h.session_id.as_str());
    hdr.leaf("MsgID", h.msg_id.as_str());
    hdr.push(loc("Target", &h.target, None));
    hdr.push(loc("Source", &h.source, h.source_name.as_deref()));
    hdr.opt_leaf("RespURI", h.resp_uri.as_deref());
    if let Some(c) = &h.cred {
        hdr.push(cred_el(c));
    }
    push_meta(&mut hdr, &h.meta);
    let mut body = Element::new("SyncBody");
    for c in &msg.body.commands {
        body.push(command_el(c));
    }
    if msg.body.final_ {
        body.push(Element::new("Final"));
    }
    let mut root = Element::new("SyncML");
    root.push(hdr);
    root.push(body);
    root
}

fn loc<'a>(name: &'static str, uri: &'a str, loc_name: Option<&'a str>) -> Element<'a> {
    let mut e = Element::new(name);
    e.leaf("LocURI", uri);
    e.opt_leaf("LocName", loc_name);
    e
}

fn push_meta<'a>(parent: &mut Element<'a>, m: &'a Meta) {
    if m.is_empty() {
        return;
    }
    let mut e = Element::new("Meta");
    e.opt_leaf("Format", m.format.as_deref());
    e.opt_leaf("Type", m.type_.as_deref());
    e.opt_leaf("Size", m.size.map(|v| v.to_string()));
    e.opt_leaf("NextNonce", m.next_nonce.as_deref());
    e.opt_leaf("MaxMsgSize", m.max_msg_size.map(|v| v.to_string()));
    e.opt_leaf("MaxObjSize", m.max_obj_size.map(|v| v.to_string()));
    parent.push(e);
}

fn cred_el(c: &Cred) -> Element<'_> {
    let mut e = Element::new("Cred");
    push_meta(&mut e, &c.meta);
    e.leaf("Data", c.data.as_str());
    e
}

fn push_items<'a>(parent: &mut Element<'a>, items: &'a [Item]) {
    for i in items {
        let mut e = Element::new("Item");
        if let Some(t) = &i.target {
            e.push(loc("Target", t, None));
        }
        if let Some(s) = &i.source {
            e.push(loc("Source", s, None));
        }
        push_meta(&mut e, &i.meta);
        e.opt_leaf("Data", i.data.as_deref());
        if i.more_data {
            e.push(Element::new("MoreData"));
        }
        parent.push(e);
    }
}

fn flag(parent: &mut Element<'_>, name: &'static str, on: bool) {
    if on {
        parent.push(Element::new(name));
    }
}

fn command_el(c: &Command) -> Element<'_> {
    let mut e = Element::new(c.name());
    e.leaf("CmdID", c.cmd_id());
    match c {
        Command::Alert(a) => {
            flag(&mut e, "NoResp", a.no_resp);
            e.leaf("Data", a.data.to_string());
            e.opt_leaf("Correlator", a.correlator.as_deref());
            push_items(&mut e, &a.items);
        }
        Command::Status(s) => {
            e.leaf("MsgRef", s.msg_ref.as_str());
            e.leaf("CmdRef", s.cmd_ref.as_str());
            e.leaf("Cmd", s.cmd.as_str());
            s.target_refs.iter().for_each(|t| e.leaf("TargetRef", t.as_str()));
            s.source_refs.iter().for_each(|t| e.leaf("SourceRef", t.as_str()));
            if let Some(c) = &s.cred {
                e.push(cred_el(c));
            }
            if let Some(ch) = &s.chal {
                let mut chal = Element::new("Chal");
                push_meta(&mut chal, &ch.meta);
                e.push(chal);
            }
            e.leaf("Data", s.data.to_string());
            push_items(&mut e, &s.items);
        }
        Command::Results(r) => {
            e.opt_leaf("MsgRef", r.msg_ref.as_deref());
            e.leaf("CmdRef", r.cmd_ref.as_str());
            push_meta(&mut e, &r.meta);
            r.target_refs.iter().for_each(|t| e.leaf("TargetRef", t.as_str()));
            r.source_refs.iter().for_each(|t| e.leaf("SourceRef", t.as_str()));
            push_items(&mut e, &r.items);
        }
        Command::Get(i) | Command::Replace(i) | Command::Add(i) | Command::Delete(i) | Command::Copy(i) => {
            flag(&mut e, "NoResp", i.no_resp);
            push_meta(&mut e, &i.meta);
            push_items(&mut e, &i.items);
        }
        Command::Exec(x) => {
            flag(&mut e, "NoResp", x.no_resp);
            e.opt_leaf("Correlator", x.correlator.as_deref());
            push_items(&mut e, &x.items);
        }
        Command::Atomic(k) | Command::Sequence(k) => {
            flag(&mut e, "NoResp", k.no_resp);
            push_meta(&mut e, &k.meta);
            k.commands.iter().for_each(|c| e.push(command_el(c)));
        }
    }
    e
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod lenient_tests;
