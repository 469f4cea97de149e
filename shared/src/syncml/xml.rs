//! SyncML DM 1.2 in XML: tolerant decoding from the element tree, strict encoding in
//! DTD order (OMA-SUP-DTD_SyncML_RepPro-V1_2, OMA-SUP-DTD_SyncML_MetInf-V1_2).

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::DecodeError;
use super::model::*;
use super::tree::{self, Element};

/// Most commands accepted in one message (nested ones included).
pub const MAX_COMMANDS: usize = 2_000;
/// Most items in one command.
pub const MAX_ITEMS: usize = 500;

/// Decodes an XML SyncML message.
pub fn decode(bytes: &[u8]) -> Result<SyncMl, DecodeError> {
    let root = tree::parse(bytes)?;
    if root.name != "SyncML" {
        return Err(invalid(format!(
            "root element is <{}>, not <SyncML>",
            root.name
        )));
    }
    let hdr = root.child("SyncHdr").ok_or_else(|| invalid("no SyncHdr"))?;
    let body = root
        .child("SyncBody")
        .ok_or_else(|| invalid("no SyncBody"))?;
    let mut budget = MAX_COMMANDS;
    Ok(SyncMl {
        hdr: SyncHdr {
            ver_dtd: required(hdr, "VerDTD")?,
            ver_proto: required(hdr, "VerProto")?,
            session_id: required(hdr, "SessionID")?,
            msg_id: required(hdr, "MsgID")?,
            target: loc_uri(hdr, "Target")
                .ok_or_else(|| invalid("SyncHdr has no Target/LocURI"))?,
            source: loc_uri(hdr, "Source")
                .ok_or_else(|| invalid("SyncHdr has no Source/LocURI"))?,
            source_name: hdr.child("Source").and_then(|s| s.child_text("LocName")),
            resp_uri: hdr.child_text("RespURI"),
            cred: hdr.child("Cred").map(cred),
            meta: meta(hdr),
        },
        body: SyncBody {
            commands: commands(body, &mut budget)?,
            final_: body.has("Final"),
        },
    })
}

fn invalid(why: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(why.into())
}

fn required(el: &Element, name: &str) -> Result<String, DecodeError> {
    el.child_text(name)
        .ok_or_else(|| invalid(format!("<{}> has no <{name}>", el.name)))
}

fn loc_uri(el: &Element, name: &str) -> Option<String> {
    el.child(name).and_then(|t| t.child_text("LocURI"))
}

fn meta(el: &Element) -> Meta {
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

fn cred(el: &Element) -> Cred {
    Cred {
        meta: meta(el),
        data: el.child_text("Data").unwrap_or_default(),
    }
}

fn items(el: &Element) -> Result<Vec<Item>, DecodeError> {
    let items: Vec<Item> = el
        .all("Item")
        .map(|i| Item {
            target: loc_uri(i, "Target"),
            source: loc_uri(i, "Source"),
            meta: meta(i),
            data: i.child("Data").map(|d| d.text.trim().to_owned()),
            more_data: i.has("MoreData"),
        })
        .collect();
    if items.len() > MAX_ITEMS {
        return Err(DecodeError::Limit("items per command"));
    }
    Ok(items)
}

fn code(el: &Element) -> Result<u16, DecodeError> {
    let d = required(el, "Data")?;
    d.parse()
        .map_err(|_| invalid(format!("<{}> Data {d:?} is not a code", el.name)))
}

fn commands(parent: &Element, budget: &mut usize) -> Result<Vec<Command>, DecodeError> {
    let mut out = Vec::new();
    for el in &parent.children {
        if *budget == 0 {
            return Err(DecodeError::Limit("command count"));
        }
        let cmd_id = || required(el, "CmdID");
        let item_cmd = || -> Result<ItemCommand, DecodeError> {
            Ok(ItemCommand {
                cmd_id: cmd_id()?,
                no_resp: el.has("NoResp"),
                meta: meta(el),
                items: items(el)?,
            })
        };
        let cmd = match el.name.as_str() {
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
                target_refs: el
                    .all("TargetRef")
                    .map(|t| t.text.trim().to_owned())
                    .collect(),
                source_refs: el
                    .all("SourceRef")
                    .map(|t| t.text.trim().to_owned())
                    .collect(),
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
                target_refs: el
                    .all("TargetRef")
                    .map(|t| t.text.trim().to_owned())
                    .collect(),
                source_refs: el
                    .all("SourceRef")
                    .map(|t| t.text.trim().to_owned())
                    .collect(),
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
                out.push(if el.name == "Atomic" {
                    Command::Atomic(c)
                } else {
                    Command::Sequence(c)
                });
                continue;
            }
            other => return Err(invalid(format!("unknown command <{other}>"))),
        };
        *budget -= 1;
        out.push(cmd);
    }
    Ok(out)
}

/// Encodes a message as XML in DTD order.
pub fn encode(msg: &SyncMl) -> Vec<u8> {
    let mut w = String::with_capacity(1024);
    w.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>",
    );
    let h = &msg.hdr;
    leaf(&mut w, "VerDTD", &h.ver_dtd);
    leaf(&mut w, "VerProto", &h.ver_proto);
    leaf(&mut w, "SessionID", &h.session_id);
    leaf(&mut w, "MsgID", &h.msg_id);
    loc(&mut w, "Target", &h.target, None);
    loc(&mut w, "Source", &h.source, h.source_name.as_deref());
    opt_leaf(&mut w, "RespURI", h.resp_uri.as_deref());
    if let Some(c) = &h.cred {
        write_cred(&mut w, c);
    }
    write_meta(&mut w, &h.meta);
    w.push_str("</SyncHdr><SyncBody>");
    for c in &msg.body.commands {
        write_command(&mut w, c);
    }
    if msg.body.final_ {
        w.push_str("<Final/>");
    }
    w.push_str("</SyncBody></SyncML>");
    w.into_bytes()
}

fn leaf(w: &mut String, name: &str, value: &str) {
    let _ = write!(w, "<{name}>{}</{name}>", escape(value));
}

fn opt_leaf(w: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        leaf(w, name, v);
    }
}

fn flag(w: &mut String, name: &str, on: bool) {
    if on {
        let _ = write!(w, "<{name}/>");
    }
}

fn loc(w: &mut String, name: &str, uri: &str, loc_name: Option<&str>) {
    let _ = write!(w, "<{name}>");
    leaf(w, "LocURI", uri);
    opt_leaf(w, "LocName", loc_name);
    let _ = write!(w, "</{name}>");
}

fn write_meta(w: &mut String, m: &Meta) {
    if m.is_empty() {
        return;
    }
    w.push_str("<Meta>");
    let mut metinf = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            let _ = write!(w, "<{name} xmlns=\"syncml:metinf\">{}</{name}>", escape(&v));
        }
    };
    metinf("Format", m.format.clone());
    metinf("Type", m.type_.clone());
    metinf("Size", m.size.map(|v| v.to_string()));
    metinf("NextNonce", m.next_nonce.clone());
    metinf("MaxMsgSize", m.max_msg_size.map(|v| v.to_string()));
    metinf("MaxObjSize", m.max_obj_size.map(|v| v.to_string()));
    w.push_str("</Meta>");
}

fn write_cred(w: &mut String, c: &Cred) {
    w.push_str("<Cred>");
    write_meta(w, &c.meta);
    leaf(w, "Data", &c.data);
    w.push_str("</Cred>");
}

fn write_items(w: &mut String, items: &[Item]) {
    for i in items {
        w.push_str("<Item>");
        if let Some(t) = &i.target {
            loc(w, "Target", t, None);
        }
        if let Some(s) = &i.source {
            loc(w, "Source", s, None);
        }
        write_meta(w, &i.meta);
        opt_leaf(w, "Data", i.data.as_deref());
        flag(w, "MoreData", i.more_data);
        w.push_str("</Item>");
    }
}

fn write_command(w: &mut String, c: &Command) {
    let name = c.name();
    let _ = write!(w, "<{name}>");
    leaf(w, "CmdID", c.cmd_id());
    match c {
        Command::Alert(a) => {
            flag(w, "NoResp", a.no_resp);
            leaf(w, "Data", &a.data.to_string());
            opt_leaf(w, "Correlator", a.correlator.as_deref());
            write_items(w, &a.items);
        }
        Command::Status(s) => {
            leaf(w, "MsgRef", &s.msg_ref);
            leaf(w, "CmdRef", &s.cmd_ref);
            leaf(w, "Cmd", &s.cmd);
            s.target_refs.iter().for_each(|t| leaf(w, "TargetRef", t));
            s.source_refs.iter().for_each(|t| leaf(w, "SourceRef", t));
            if let Some(c) = &s.cred {
                write_cred(w, c);
            }
            if let Some(ch) = &s.chal {
                w.push_str("<Chal>");
                write_meta(w, &ch.meta);
                w.push_str("</Chal>");
            }
            leaf(w, "Data", &s.data.to_string());
            write_items(w, &s.items);
        }
        Command::Results(r) => {
            opt_leaf(w, "MsgRef", r.msg_ref.as_deref());
            leaf(w, "CmdRef", &r.cmd_ref);
            write_meta(w, &r.meta);
            r.target_refs.iter().for_each(|t| leaf(w, "TargetRef", t));
            r.source_refs.iter().for_each(|t| leaf(w, "SourceRef", t));
            write_items(w, &r.items);
        }
        Command::Get(i)
        | Command::Replace(i)
        | Command::Add(i)
        | Command::Delete(i)
        | Command::Copy(i) => {
            flag(w, "NoResp", i.no_resp);
            write_meta(w, &i.meta);
            write_items(w, &i.items);
        }
        Command::Exec(e) => {
            flag(w, "NoResp", e.no_resp);
            opt_leaf(w, "Correlator", e.correlator.as_deref());
            write_items(w, &e.items);
        }
        Command::Atomic(k) | Command::Sequence(k) => {
            flag(w, "NoResp", k.no_resp);
            write_meta(w, &k.meta);
            k.commands.iter().for_each(|c| write_command(w, c));
        }
    }
    let _ = write!(w, "</{name}>");
}

#[cfg(test)]
mod tests;
