//! A bounded element tree read from XML with quick-xml: the tolerant first stage of
//! decoding. Prefixes and `xmlns` attributes are dropped (SyncML and MetInf elements are
//! recognised by local name), text and CDATA are joined, internal DTD subsets and non-predefined
//! entities are refused, and depth, element count and size are capped.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::DecodeError;

/// Largest XML message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 24;
/// Most elements accepted in one message.
pub const MAX_ELEMENTS: usize = 20_000;

/// An element: its local name, child elements and joined text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Local name (no prefix); borrowed when it comes from our own tables (encoding, WBXML),
    /// which saves an allocation per element.
    pub name: Cow<'static, str>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Text and CDATA content, joined.
    pub text: String,
}

/// MetInf elements (OMA-SUP-DTD_SyncML_MetInf-V1_2): namespace `syncml:metinf`, WBXML page 1.
pub const METINF: [&str; 18] = [
    "Anchor",
    "EMI",
    "Format",
    "FreeID",
    "FreeMem",
    "Last",
    "Mark",
    "MaxMsgSize",
    "Mem",
    "MetInf",
    "Next",
    "NextNonce",
    "SharedMem",
    "Size",
    "Type",
    "Version",
    "MaxObjSize",
    "FieldLevel",
];

/// Whether `name` is a MetInf element.
pub fn is_metinf(name: &str) -> bool {
    METINF.contains(&name)
}

impl Element {
    /// An empty element.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Element { name: name.into(), ..Element::default() }
    }

    /// Appends a child.
    pub fn push(&mut self, child: Element) {
        self.children.push(child);
    }

    /// Appends a child holding `text`.
    pub fn leaf(&mut self, name: &'static str, text: &str) {
        self.children.push(Element { name: Cow::Borrowed(name), text: text.to_owned(), children: Vec::new() });
    }

    /// Appends a child holding `text`, if there is one.
    pub fn opt_leaf(&mut self, name: &'static str, text: Option<&str>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }

    /// Whether a child named `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.child(name).is_some()
    }
}

/// Reads the root element of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Element, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::Limit("message size"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::Malformed("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root: Option<Element> = None;
    let bad = |e: quick_xml::Error| DecodeError::Malformed(e.to_string());
    loop {
        let event = reader.read_event().map_err(bad)?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(DecodeError::Limit("element count"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(DecodeError::Limit("nesting depth"));
                }
                if root.is_some() {
                    return Err(DecodeError::Malformed("content after the root element".into()));
                }
                // Owned: looking the name up in the code-page tables costs more than the copy.
                let name = Cow::Owned(String::from_utf8_lossy(s.local_name().as_ref()).into_owned());
                let el = Element { name, ..Element::default() };
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| DecodeError::Malformed("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| DecodeError::Malformed(e.to_string()))?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| DecodeError::Malformed(e.to_string()))?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(bad)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| DecodeError::Malformed(e.to_string()))?;
                        match name.as_ref() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            _ => return Err(DecodeError::Entity),
                        }
                        .to_owned()
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            // A DOCTYPE naming the public DTD is harmless (nothing is fetched); an internal
            // subset could declare entities, so it is refused.
            Event::DocType(d) if d.as_ref().contains(&b'[') => return Err(DecodeError::Entity),
            Event::DocType(_) => {}
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(DecodeError::Malformed("unclosed element".into()));
    }
    root.ok_or_else(|| DecodeError::Malformed("no root element".into()))
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), DecodeError> {
    match stack.last_mut() {
        // Indentation between child elements means nothing; skipping it saves the copies.
        Some(el) if !el.children.is_empty() && s.trim().is_empty() => Ok(()),
        Some(el) => {
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(DecodeError::Malformed("text outside the root element".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_and_joins_text() {
        let el = parse(b"<a:X xmlns:a='u'><B>1 &amp; <![CDATA[<2>]]></B><C/></a:X>").expect("parses");
        assert_eq!(el.name, "X");
        assert_eq!(el.child_text("B").as_deref(), Some("1 & <2>"));
        assert!(el.has("C"));
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let bomb = b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>";
        assert_eq!(parse(bomb), Err(DecodeError::Entity));
        assert_eq!(parse(b"<x>&a;</x>"), Err(DecodeError::Entity));
        let public = b"<!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\" \"http://x/dtd\"><SyncML/>";
        assert_eq!(parse(public).expect("public DOCTYPE is fine").name, "SyncML");
    }

    #[test]
    fn caps_depth_and_rejects_broken_xml() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(deep.as_bytes()), Err(DecodeError::Limit("nesting depth")));
        assert!(matches!(parse(b"<a><b></a>"), Err(DecodeError::Malformed(_))));
        assert!(matches!(parse(b"<a>"), Err(DecodeError::Malformed(_))));
        assert!(matches!(parse(b""), Err(DecodeError::Malformed(_))));
        assert!(matches!(parse(b"<a/><b/>"), Err(DecodeError::Malformed(_))));
    }
}
