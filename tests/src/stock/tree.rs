//! The handset's management tree: interior nodes and leaves by URI, with the answers a
//! maker's client gives (`Format node` listings, 404 for what it does not have, 405 for secrets),
//! and node properties addressed as `<uri>?prop=<name>` (OMA-TS-DM_TND-V1_2, 7.3: `Type`, an
//! interior node's Management Object Identifier or a leaf's MIME type, and `Format`; any other
//! property, or any property on a handset that supports none, is 406).

use std::collections::{BTreeMap, BTreeSet};

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An interior node; its children are the nodes one level below it.
    Interior,
    /// A leaf with its value, `Format` and `Type`.
    Leaf {
        /// The value.
        value: String,
        /// The `Format` (`chr`, `int`, `bool`, `b64`...).
        format: String,
        /// The MIME `Type` (`text/plain`).
        typ: String,
    },
}

/// What a `Get` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The `Format` (`node` for interior nodes).
    pub format: String,
    /// The `Type`, if any.
    pub typ: Option<String>,
    /// The data: a leaf's value or `/`-separated child names.
    pub data: String,
}

/// The tree.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    secret: BTreeSet<String>,
    /// Interior node → its MO identifier (the `Type` property).
    mo_types: BTreeMap<String, String>,
    /// The handset does not answer property requests (406 for all).
    pub no_properties: bool,
}

/// The query that addresses a node's property (TND 7.3).
const PROP: &str = "?prop=";

/// `path` as the tree keys it: `./` first, no trailing `/`; `None` for URIs a handset refuses.
pub fn normalize(path: &str) -> Option<String> {
    let p = path.trim().trim_end_matches('/');
    if p.contains('?') || p.contains("//") || p.split('/').any(|s| s == "..") {
        return None;
    }
    let p = if p == "." || p.starts_with("./") {
        p.to_owned()
    } else if p.is_empty() {
        ".".to_owned()
    } else {
        format!("./{p}")
    };
    Some(p)
}

fn parent(path: &str) -> Option<&str> {
    path.rfind('/').map(|i| &path[..i])
}

impl Tree {
    /// An empty tree (just the root).
    pub fn new() -> Tree {
        let mut t = Tree::default();
        t.nodes.insert(".".into(), Node::Interior);
        t
    }

    /// Sets a `chr` leaf, creating interior nodes above it.
    pub fn set(&mut self, path: &str, value: &str) {
        self.set_typed(path, value, "chr");
    }

    /// Sets a leaf of `format`, creating interior nodes above it.
    pub fn set_typed(&mut self, path: &str, value: &str, format: &str) {
        let Some(p) = normalize(path) else { return };
        self.interior_above(&p);
        let leaf = Node::Leaf { value: value.into(), format: format.into(), typ: "text/plain".into() };
        self.nodes.insert(p, leaf);
    }

    /// Adds an interior node (and the ones above it).
    pub fn set_interior(&mut self, path: &str) {
        let Some(p) = normalize(path) else { return };
        self.interior_above(&p);
        self.nodes.insert(p, Node::Interior);
    }

    /// Gives an interior node its Management Object Identifier (its `Type`, TND 7.7.7.2).
    pub fn set_mo_type(&mut self, path: &str, urn: &str) {
        if let Some(p) = normalize(path) {
            self.mo_types.insert(p, urn.to_owned());
        }
    }

    /// Marks a leaf as unreadable by `Get` (passwords): 405.
    pub fn set_secret(&mut self, path: &str) {
        if let Some(p) = normalize(path) {
            self.secret.insert(p);
        }
    }

    fn interior_above(&mut self, p: &str) {
        let mut cur = parent(p);
        while let Some(up) = cur {
            self.nodes.entry(up.to_owned()).or_insert(Node::Interior);
            cur = parent(up);
        }
    }

    /// The node at `path`.
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&normalize(path)?)
    }

    /// A leaf's value.
    pub fn value(&self, path: &str) -> Option<&str> {
        match self.node(path)? {
            Node::Leaf { value, .. } => Some(value),
            Node::Interior => None,
        }
    }

    /// The names of `path`'s children, in tree order.
    pub fn children(&self, path: &str) -> Vec<String> {
        let Some(p) = normalize(path) else { return Vec::new() };
        let prefix = format!("{p}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k.strip_prefix(&prefix).filter(|rest| !rest.contains('/')).map(str::to_owned))
            .collect()
    }

    /// `Get`: the value, or the status a handset answers (404 not found, 405 a secret, 406 a
    /// query or a property it does not support).
    pub fn get(&self, path: &str) -> Result<Value, u16> {
        if let Some((node, prop)) = path.split_once(PROP) {
            return self.property(node, prop);
        }
        let p = normalize(path).ok_or(406u16)?;
        if self.secret.contains(&p) {
            return Err(405);
        }
        match self.nodes.get(&p).ok_or(404u16)? {
            Node::Interior => Ok(Value { format: "node".into(), typ: None, data: self.children(&p).join("/") }),
            Node::Leaf { value, format, typ } => {
                Ok(Value { format: format.clone(), typ: Some(typ.clone()), data: value.clone() })
            }
        }
    }

    /// A property of the node at `path`: a string with no `Meta` (TND 7.4).
    fn property(&self, path: &str, prop: &str) -> Result<Value, u16> {
        if self.no_properties {
            return Err(406);
        }
        let p = normalize(path).ok_or(406u16)?;
        let node = self.nodes.get(&p).ok_or(404u16)?;
        let data = match (prop, node) {
            ("Type", Node::Interior) => self.mo_types.get(&p).cloned().unwrap_or_default(),
            ("Type", Node::Leaf { typ, .. }) => typ.clone(),
            ("Format", Node::Interior) => "node".to_owned(),
            ("Format", Node::Leaf { format, .. }) => format.clone(),
            _ => return Err(406),
        };
        Ok(Value { format: String::new(), typ: None, data })
    }

    /// `Replace`: 200, or 404 for a node it does not have, 405 for an interior node.
    pub fn replace(&mut self, path: &str, data: &str) -> u16 {
        let Some(p) = normalize(path) else { return 404 };
        match self.nodes.get_mut(&p) {
            Some(Node::Leaf { value, .. }) => {
                *value = data.to_owned();
                200
            }
            Some(Node::Interior) => 405,
            None => 404,
        }
    }

    /// `Add`: 200, 418 if it exists, 404 if its parent does not.
    pub fn add(&mut self, path: &str, data: &str, format: Option<&str>) -> u16 {
        let Some(p) = normalize(path) else { return 404 };
        if self.nodes.contains_key(&p) {
            return 418;
        }
        if !parent(&p).is_some_and(|up| matches!(self.nodes.get(up), Some(Node::Interior))) {
            return 404;
        }
        match format {
            Some("node") => self.nodes.insert(p, Node::Interior),
            f => self.nodes.insert(
                p,
                Node::Leaf { value: data.into(), format: f.unwrap_or("chr").into(), typ: "text/plain".into() },
            ),
        };
        200
    }

    /// `Delete`: 200 with everything below, or 404.
    pub fn delete(&mut self, path: &str) -> u16 {
        let Some(p) = normalize(path) else { return 404 };
        if p == "." || self.nodes.remove(&p).is_none() {
            return 404;
        }
        let prefix = format!("{p}/");
        self.nodes.retain(|k, _| !k.starts_with(&prefix));
        200
    }
}
