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
/// Most decoded text one element may hold (its text and CDATA joined), in bytes.
pub const MAX_TEXT_BYTES: usize = 256 << 10;
/// Most decoded text and names one message may produce, in bytes. XML text is never longer
/// than its input, but a two-byte WBXML string-table reference stands for a whole table
/// entry: what decoding produces is bounded on its own, before it is allocated.
pub const MAX_DECODED_BYTES: usize = MAX_MESSAGE_BYTES;

/// What decoding one message may still produce: every piece of text and every name is
/// taken from it before it is added to the tree.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
}

impl Budget {
    /// The budget of one message ([`MAX_DECODED_BYTES`]).
    pub(crate) fn new() -> Self {
        Budget { left: MAX_DECODED_BYTES }
    }

    /// Takes `n` bytes of output, or refuses the message.
    pub(crate) fn take(&mut self, n: usize) -> Result<(), DecodeError> {
        self.left = self.left.checked_sub(n).ok_or(DecodeError::Limit("decoded size"))?;
        Ok(())
    }

    /// Appends `s` to `el`'s text when both the element's bound ([`MAX_TEXT_BYTES`]) and the
    /// message's allow it; checked before anything grows.
    pub(crate) fn push_text<'a>(&mut self, el: &mut Element<'a>, s: Cow<'a, str>) -> Result<(), DecodeError> {
        if el.text.len().saturating_add(s.len()) > MAX_TEXT_BYTES {
            return Err(DecodeError::Limit("element text size"));
        }
        self.take(s.len())?;
        el.push_text(s);
        Ok(())
    }
}

/// An element: its local name, child elements and joined text. Names and text borrow from
/// the input being decoded (or the message being encoded) wherever they can, so building a
/// tree allocates little more than its child lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element<'a> {
    /// Local name (no prefix).
    pub name: Cow<'a, str>,
    /// Child elements in order.
    pub children: Vec<Element<'a>>,
    /// Text and CDATA content, joined.
    pub text: Cow<'a, str>,
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

impl<'a> Element<'a> {
    /// An empty element.
    pub fn new(name: impl Into<Cow<'a, str>>) -> Self {
        Element { name: name.into(), ..Element::default() }
    }

    /// Appends a child.
    pub fn push(&mut self, child: Element<'a>) {
        self.children.push(child);
    }

    /// Appends a child holding `text`.
    pub fn leaf(&mut self, name: &'a str, text: impl Into<Cow<'a, str>>) {
        self.children.push(Element { name: Cow::Borrowed(name), text: text.into(), children: Vec::new() });
    }

    /// Appends a child holding `text`, if there is one.
    pub fn opt_leaf(&mut self, name: &'a str, text: Option<impl Into<Cow<'a, str>>>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    /// Appends `s` to the text: the first piece is kept as it is (borrowed), later ones join.
    pub fn push_text(&mut self, s: Cow<'a, str>) {
        if self.text.is_empty() {
            self.text = s;
        } else {
            self.text.to_mut().push_str(&s);
        }
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element<'a>> + 's {
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

    /// The bytes of text and names in this element and all below it: what decoding it
    /// produced, which [`MAX_DECODED_BYTES`] bounds.
    pub fn decoded_bytes(&self) -> usize {
        self.name.len() + self.text.len() + self.children.iter().map(Element::decoded_bytes).sum::<usize>()
    }

    /// The longest text of this element or any below it, which [`MAX_TEXT_BYTES`] bounds.
    pub fn longest_text(&self) -> usize {
        self.children.iter().map(Element::longest_text).fold(self.text.len(), usize::max)
    }
}

/// Reads the root element of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Element<'_>, DecodeError> {
    parse_until(bytes, false)
}

/// Reads the root element of `bytes` up to the end of its `SyncHdr` child: the root then
/// holds what came before, the header included, and nothing after. What follows the header
/// is not read, so it need not be UTF-8 either.
pub fn parse_header(bytes: &[u8]) -> Result<Element<'_>, DecodeError> {
    parse_until(bytes, true)
}

fn parse_until(bytes: &[u8], header_only: bool) -> Result<Element<'_>, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::Limit("message size"));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // The valid prefix holds the header, or reading it fails as a truncated document.
        Err(e) if header_only => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return Err(DecodeError::Malformed("not UTF-8".into())),
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element<'_>> = Vec::new();
    let mut count = 0usize;
    let mut budget = Budget::new();
    let mut root: Option<Element<'_>> = None;
    // quick-xml's messages quote the input (a mismatched end tag's name, say): cut them.
    let bad = |e: quick_xml::Error| DecodeError::Malformed(crate::text::excerpt(&e.to_string()));
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
                let empty = matches!(event, Event::Empty(_));
                let el = Element { name: local_name(text, s), ..Element::default() };
                budget.take(el.name.len())?;
                if empty {
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| DecodeError::Malformed("unbalanced end tag".into()))?;
                let header_done = header_only && stack.len() == 1 && el.name == "SyncHdr";
                attach(&mut stack, &mut root, el);
                if header_done {
                    return stack.pop().ok_or_else(|| DecodeError::Malformed("no root element".into()));
                }
            }
            Event::Text(t) => push_text(&mut stack, &mut budget, utf8(t.into_inner())?)?,
            Event::CData(t) => push_text(&mut stack, &mut budget, utf8(t.into_inner())?)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(bad)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name =
                            r.decode().map_err(|e| DecodeError::Malformed(crate::text::excerpt(&e.to_string())))?;
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
                push_text(&mut stack, &mut budget, Cow::Owned(resolved))?;
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

/// The local name of a start tag, borrowed from `input` when the tag's bytes lie in it (the
/// reader works on the input in place, so they do).
fn local_name<'a>(input: &'a str, s: &quick_xml::events::BytesStart<'_>) -> Cow<'a, str> {
    let qname = s.name();
    let name = qname.as_ref();
    let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    match within(input, local) {
        Some(borrowed) => Cow::Borrowed(borrowed),
        None => Cow::Owned(String::from_utf8_lossy(local).into_owned()),
    }
}

/// `part` as a slice of `input`, if it is one (compared by address, without unsafe code).
fn within<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input.get(start..start.checked_add(part.len())?)
}

fn utf8(b: Cow<'_, [u8]>) -> Result<Cow<'_, str>, DecodeError> {
    let bad = |_| DecodeError::Malformed("not UTF-8".into());
    Ok(match b {
        Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).map_err(bad)?),
        Cow::Owned(b) => Cow::Owned(String::from_utf8(b).map_err(|e| bad(e.utf8_error()))?),
    })
}

fn attach<'a>(stack: &mut [Element<'a>], root: &mut Option<Element<'a>>, el: Element<'a>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text<'a>(stack: &mut [Element<'a>], budget: &mut Budget, s: Cow<'a, str>) -> Result<(), DecodeError> {
    match stack.last_mut() {
        // Indentation between child elements means nothing; skipping it saves the copies.
        Some(el) if !el.children.is_empty() && s.trim().is_empty() => Ok(()),
        Some(el) => budget.push_text(el, s),
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
