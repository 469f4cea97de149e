//! SyncML DM 1.2 in WBXML (WAP-192-WBXML 1.3; code pages of OMA-TS-SyncML_RepPro 1.2,
//! appendix "WBXML"): code page 0 SyncML, page 1 MetInf. The tokenizer reads into the same
//! bounded [`Element`] tree as XML, so one mapping turns trees into messages and back.

use super::DecodeError;
use super::model::SyncMl;
use super::tree::{self, Budget, Element, MAX_DEPTH, MAX_ELEMENTS, MAX_MESSAGE_BYTES};
use super::xml;
use crate::text::Quoted;

/// Public id of "-//SYNCML//DTD SyncML 1.2//EN".
pub const PUBLIC_ID_SYNCML_12: u32 = 0x1201;
/// Public id of "-//SYNCML//DTD SyncML 1.1//EN" (DM 1.1.2 clients), as libwbxml writes it.
pub const PUBLIC_ID_SYNCML_11: u32 = 0x0FD3;
/// The SyncML 1.2 formal public identifier, for the string-table form.
pub const FPI_SYNCML_12: &str = "-//SYNCML//DTD SyncML 1.2//EN";
/// IANA MIBenum of UTF-8.
const UTF8: u32 = 106;

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const STR_T: u8 = 0x83;
const OPAQUE: u8 = 0xC3;
const HAS_ATTRS: u8 = 0x80;
const HAS_CONTENT: u8 = 0x40;

/// Code page 0: SyncML (token = index + 5).
const SYNCML: [&str; 56] = [
    "Add",
    "Alert",
    "Archive",
    "Atomic",
    "Chal",
    "Cmd",
    "CmdID",
    "CmdRef",
    "Copy",
    "Cred",
    "Data",
    "Delete",
    "Exec",
    "Final",
    "Get",
    "Item",
    "Lang",
    "LocName",
    "LocURI",
    "Map",
    "MapItem",
    "Meta",
    "MsgID",
    "MsgRef",
    "NoResp",
    "NoResults",
    "Put",
    "Replace",
    "RespURI",
    "Results",
    "Search",
    "Sequence",
    "SessionID",
    "SftDel",
    "Source",
    "SourceRef",
    "Status",
    "Sync",
    "SyncBody",
    "SyncHdr",
    "SyncML",
    "Target",
    "TargetRef",
    "",
    "VerDTD",
    "VerProto",
    "NumberOfChanges",
    "MoreData",
    "Field",
    "Filter",
    "Record",
    "FilterType",
    "SourceParent",
    "TargetParent",
    "Move",
    "Correlator",
];

/// Code page 2: DevInf 1.2 (token = index + 5; 0x2F is unassigned). DM carries device
/// information in `./DevInfo`, so these appear only inside `Data` from DS-style clients: they
/// are decoded (and kept in the tree), never written by portaldm.
const DEVINF: [&str; 48] = [
    "CTCap",
    "CTType",
    "DataStore",
    "DataType",
    "DevID",
    "DevInf",
    "DevTyp",
    "DisplayName",
    "DSMem",
    "Ext",
    "FwV",
    "HwV",
    "Man",
    "MaxGUIDSize",
    "MaxID",
    "MaxMem",
    "Mod",
    "OEM",
    "ParamName",
    "PropName",
    "Rx",
    "Rx-Pref",
    "SharedMem",
    "MaxSize",
    "SourceRef",
    "SwV",
    "SyncCap",
    "SyncType",
    "Tx",
    "Tx-Pref",
    "ValEnum",
    "VerCT",
    "VerDTD",
    "XNam",
    "XVal",
    "UTC",
    "SupportNumberOfChanges",
    "SupportLargeObjs",
    "Property",
    "PropParam",
    "MaxOccur",
    "NoTruncate",
    "",
    "Filter-Rx",
    "FilterCap",
    "FilterKeyword",
    "FieldLevel",
    "SupportHierarchicalSync",
];

/// Which DTD a WBXML document follows: its code pages differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    /// SyncML 1.2: SyncML on page 0, MetInf on 1, DevInf on 2.
    SyncMl,
    /// A DevInf document embedded (as opaque data) in a SyncML `Data`: DevInf on page 0.
    DevInf,
}

/// Public id of DevInf 1.2 documents.
const PUBLIC_ID_DEVINF_12: u32 = 0x1203;
/// Public id of DevInf 1.1 documents.
const PUBLIC_ID_DEVINF_11: u32 = 0x0FD4;
/// WBXML's "unknown or missing public identifier".
const PUBLIC_ID_UNKNOWN: u32 = 0x01;

impl Doc {
    /// The DTD name its formal public identifier carries ("-//SYNCML//DTD SyncML 1.2//EN").
    fn dtd_name(self) -> &'static str {
        match self {
            Doc::SyncMl => "SyncML",
            Doc::DevInf => "DevInf",
        }
    }

    /// Whether a numeric public id may be this document's. The versions a server answers in
    /// SyncML (a 1.1 message gets a 505) decode; 0x1200 and 0x1202 were accepted before and
    /// stay so, and SyncML documents may leave the id unknown.
    fn accepts(self, public_id: u32) -> bool {
        match self {
            Doc::SyncMl => matches!(public_id, PUBLIC_ID_SYNCML_12 | PUBLIC_ID_SYNCML_11 | 0x1200 | PUBLIC_ID_UNKNOWN),
            Doc::DevInf => matches!(public_id, PUBLIC_ID_DEVINF_12 | PUBLIC_ID_DEVINF_11 | 0x1202),
        }
    }

    /// Whether a formal public identifier names this document's DTD, in any case: the
    /// name follows the owner ("-//SYNCML//DTD SyncML 1.1//EN"); a bare one is searched whole.
    fn named_by(self, fpi: &str) -> bool {
        let description = fpi.split("//").nth(2).unwrap_or(fpi);
        description.split_whitespace().any(|w| w.eq_ignore_ascii_case(self.dtd_name()))
    }
}

/// The name of tag `token` on `page` of a `doc`.
fn tag_name(doc: Doc, page: u8, token: u8) -> Option<&'static str> {
    let i = usize::from(token.checked_sub(5)?);
    let name = match (doc, page) {
        (Doc::SyncMl, 0) => SYNCML.get(i)?,
        (Doc::SyncMl, 1) => tree::METINF.get(i)?,
        (Doc::SyncMl, 2) | (Doc::DevInf, 0) => DEVINF.get(i)?,
        _ => return None,
    };
    (!name.is_empty()).then_some(*name)
}

/// The (page, token) of an element name.
fn tag_token(name: &str) -> Option<(u8, u8)> {
    if let Some(i) = tree::METINF.iter().position(|n| *n == name) {
        return Some((1, i as u8 + 5));
    }
    SYNCML.iter().position(|n| *n == name && !n.is_empty()).map(|i| (0, i as u8 + 5))
}

/// Decodes a WBXML SyncML message.
pub fn decode(bytes: &[u8]) -> Result<SyncMl, DecodeError> {
    xml::from_tree(&parse(bytes)?)
}

/// Encodes a message as WBXML 1.2 (public id 0x1201, UTF-8, no string table).
pub fn encode(msg: &SyncMl) -> Result<Vec<u8>, DecodeError> {
    let mut out = vec![0x02];
    put_mb(&mut out, PUBLIC_ID_SYNCML_12);
    put_mb(&mut out, UTF8);
    put_mb(&mut out, 0);
    let mut page = 0u8;
    write(&mut out, &xml::to_tree(msg), &mut page)?;
    Ok(out)
}

fn write(out: &mut Vec<u8>, el: &Element<'_>, page: &mut u8) -> Result<(), DecodeError> {
    let (p, token) = tag_token(&el.name)
        .ok_or_else(|| DecodeError::Invalid(format!("no WBXML token for <{}>", Quoted(&el.name))))?;
    if p != *page {
        out.extend_from_slice(&[SWITCH_PAGE, p]);
        *page = p;
    }
    let has_content = !el.text.is_empty() || !el.children.is_empty();
    out.push(if has_content { token | HAS_CONTENT } else { token });
    if !has_content {
        return Ok(());
    }
    if !el.text.is_empty() {
        if el.name == "Data" || el.text.contains('\0') {
            // Opaque carries any bytes; clients send Data this way.
            out.push(OPAQUE);
            put_mb(out, el.text.len() as u32);
            out.extend_from_slice(el.text.as_bytes());
        } else {
            out.push(STR_I);
            out.extend_from_slice(el.text.as_bytes());
            out.push(0);
        }
    }
    for c in &el.children {
        write(out, c, page)?;
    }
    out.push(END);
    Ok(())
}

fn put_mb(out: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; 5];
    let mut n = 0;
    loop {
        tmp[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(if i == 0 { tmp[i] } else { tmp[i] | 0x80 });
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let v = *self.b.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(v)
    }

    fn mb(&mut self) -> Result<u32, DecodeError> {
        let mut v: u32 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            v = v.checked_shl(7).ok_or_else(|| malformed("mb_u_int32 overflows"))? | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("mb_u_int32 longer than 5 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or_else(truncated)?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn cstr(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.b[self.pos..];
        let n = rest.iter().position(|b| *b == 0).ok_or_else(truncated)?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }
}

fn truncated() -> DecodeError {
    DecodeError::Malformed("WBXML is truncated".into())
}

fn malformed(why: &str) -> DecodeError {
    DecodeError::Malformed(format!("WBXML: {why}"))
}

fn utf8(b: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| malformed("text is not UTF-8"))
}

/// The string table entry at `index`: up to its NUL, or to the end of the table when the
/// sender left the last entry unterminated (some handsets do).
fn table_str(table: &[u8], index: u32) -> Result<&[u8], DecodeError> {
    let rest = table
        .get(index as usize..)
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| malformed("string table index out of range"))?;
    Ok(rest.iter().position(|b| *b == 0).map_or(rest, |n| &rest[..n]))
}

/// Reads the root element of a WBXML SyncML document.
pub fn parse(bytes: &[u8]) -> Result<Element<'_>, DecodeError> {
    parse_doc(bytes, Doc::SyncMl, 0, &mut Budget::new(), &mut 0, Until::End)
}

/// Reads the root element of a WBXML SyncML document up to the end of its `SyncHdr`: the
/// root then holds what came before, the header included, and nothing after.
pub fn parse_header(bytes: &[u8]) -> Result<Element<'_>, DecodeError> {
    parse_doc(bytes, Doc::SyncMl, 0, &mut Budget::new(), &mut 0, Until::Header)
}

/// Decodes the `SyncHdr` of a WBXML SyncML message, whatever follows it.
pub fn decode_header(bytes: &[u8]) -> Result<super::model::SyncHdr, DecodeError> {
    xml::header_from_tree(&parse_header(bytes)?)
}

/// How far a document is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// To the end of the root element.
    End,
    /// To the end of the root's `SyncHdr` child.
    Header,
}

/// Reads one document; an embedded one shares its container's `budget` and element `count`.
fn parse_doc<'a>(
    bytes: &'a [u8],
    doc: Doc,
    depth: usize,
    budget: &mut Budget,
    count: &mut usize,
    until: Until,
) -> Result<Element<'a>, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::Limit("message size"));
    }
    let mut r = Reader { b: bytes, pos: 0 };
    let version = r.byte()?;
    if !(0x01..=0x03).contains(&version) {
        return Err(malformed("unsupported WBXML version"));
    }
    let public_id = r.mb()?;
    let fpi_index = if public_id == 0 { Some(r.mb()?) } else { None };
    let charset = r.mb()?;
    if charset != UTF8 && charset != 0 {
        return Err(DecodeError::Invalid(format!("WBXML charset {charset} is not UTF-8")));
    }
    let table_len = r.mb()? as usize;
    let table = r.take(table_len)?;
    let fpi_word = doc.dtd_name();
    match fpi_index {
        Some(i) if !doc.named_by(utf8(table_str(table, i)?)?) => {
            return Err(DecodeError::Invalid(format!("WBXML document is not {fpi_word}")));
        }
        None if !doc.accepts(public_id) => {
            return Err(DecodeError::Invalid(format!("WBXML public id {public_id:#x} is not {fpi_word} 1.1 or 1.2")));
        }
        _ => {}
    }
    let mut page = 0u8;
    let mut stack: Vec<Element<'_>> = Vec::new();
    loop {
        let t = r.byte()?;
        match t {
            SWITCH_PAGE => page = r.byte()?,
            END => {
                let el = stack.pop().ok_or_else(|| malformed("END without an open element"))?;
                if let Some(root) = close(&mut stack, el, until) {
                    return Ok(root); // trailing bytes after the root are ignored
                }
            }
            ENTITY => {
                let c = char::from_u32(r.mb()?).ok_or_else(|| malformed("invalid entity"))?;
                text(&mut stack, budget, c.to_string().into())?;
            }
            STR_I => {
                let s = r.cstr()?;
                text(&mut stack, budget, utf8(s)?.into())?;
            }
            STR_T => {
                let i = r.mb()?;
                // Two bytes of input, a whole table entry of output: the budget bounds it.
                text(&mut stack, budget, utf8(table_str(table, i)?)?.into())?;
            }
            OPAQUE => {
                let n = r.mb()? as usize;
                let s = r.take(n)?;
                // A DevInf document inside Data travels as an embedded WBXML document.
                let in_data = stack.last().is_some_and(|e| e.name == "Data");
                let embedded = if in_data && doc == Doc::SyncMl && depth == 0 && s.first() == Some(&0x02) {
                    match parse_doc(s, Doc::DevInf, depth + 1, budget, count, Until::End) {
                        Ok(devinf) => Some(devinf),
                        // Past a limit is past it, whatever the bytes turn out to be.
                        Err(e @ DecodeError::Limit(_)) => return Err(e),
                        Err(_) => None,
                    }
                } else {
                    None
                };
                match (embedded, stack.last_mut()) {
                    (Some(devinf), Some(data)) => data.children.push(devinf),
                    _ => text(&mut stack, budget, utf8(s)?.into())?,
                }
            }
            0x40..=0x43 | 0x80..=0x82 | 0xC0..=0xC2 => {
                return Err(malformed("extension tokens and PIs are not supported"));
            }
            _ => {
                let name: std::borrow::Cow<'_, str> = if t & 0x3F == LITERAL {
                    let i = r.mb()?;
                    utf8(table_str(table, i)?)?.into()
                } else {
                    tag_name(doc, page, t & 0x3F)
                        .ok_or_else(|| malformed(&format!("unknown tag {:#04x} on code page {page}", t & 0x3F)))?
                        .into()
                };
                budget.take(name.len())?;
                *count += 1;
                if *count > MAX_ELEMENTS {
                    return Err(DecodeError::Limit("element count"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(DecodeError::Limit("nesting depth"));
                }
                if t & HAS_ATTRS != 0 {
                    skip_attributes(&mut r)?;
                }
                let el = Element::new(name);
                if t & HAS_CONTENT != 0 {
                    stack.push(el);
                } else if let Some(root) = close(&mut stack, el, until) {
                    return Ok(root);
                }
            }
        }
    }
}

/// Attaches a finished element to its parent; returns the root once reading is done (the
/// root closed, or the header did when only the header is read).
fn close<'a>(stack: &mut Vec<Element<'a>>, el: Element<'a>, until: Until) -> Option<Element<'a>> {
    let header_done = until == Until::Header && stack.len() == 1 && el.name == "SyncHdr";
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => return Some(el),
    }
    if header_done { stack.pop() } else { None }
}

fn text<'a>(stack: &mut [Element<'a>], budget: &mut Budget, s: std::borrow::Cow<'a, str>) -> Result<(), DecodeError> {
    budget.push_text(stack.last_mut().ok_or_else(|| malformed("text outside the root element"))?, s)
}

/// SyncML uses no attributes; skip any, token by token, up to their END.
fn skip_attributes(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    loop {
        match r.byte()? {
            END => return Ok(()),
            SWITCH_PAGE => {
                r.byte()?;
            }
            STR_I => {
                r.cstr()?;
            }
            STR_T | LITERAL | ENTITY => {
                r.mb()?;
            }
            OPAQUE => {
                let n = r.mb()? as usize;
                r.take(n)?;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod lenient_tests;
