//! Finding a device's own FUMO node and SCOMO root in its session, before any offer is shown:
//! a device's management tree is its maker's, and the server must never write a node the
//! device does not have. A `Get` of an interior node lists its children (OMA-TS-DM_TND-V1_2,
//! 6.2); the search walks the tree breadth-first from the root, bounded in depth and in
//! nodes. An interior node whose children are a FUMO node's (FUMO 1.0, 5.3: `PkgName` and an
//! operation node) or a SCOMO root's (SCOMO 1.0, 5.4: `Download` and `Inventory`) is a
//! candidate, and its MO type is asked for with a `Get` of `<node>?prop=Type` (TND 7.3,
//! 7.7.7.2: an interior node's `Type` is its Management Object Identifier). A candidate whose
//! type is the object's URN is taken; one of another type is not; a device that does not
//! answer the property (406, 405, 404: no Results for it) is taken at its children's word.
//! A device that does not list its root is not searched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fumo::FumoPlace;
use crate::scomo::ScomoPlace;
use crate::syncml::Item;

/// Levels below the root the search looks into.
pub const MAX_DEPTH: u8 = 3;
/// Nodes (and node properties) the search asks for, in all.
pub const MAX_NODES: usize = 32;
/// Children of one node considered.
const MAX_CHILDREN: usize = 64;
/// Longest node name considered.
const MAX_NAME: usize = 64;
/// Longest property value considered.
const MAX_TYPE: usize = 128;
/// Standard objects directly under the root that hold no FUMO node or SCOMO root (StdObj 5).
const NOT_SEARCHED: [&str; 4] = ["DevInfo", "DevDetail", "DMAcc", "Inbox"];
/// The query a `Get` of a node's MO type appends (TND 7.3).
pub const TYPE_PROPERTY: &str = "?prop=Type";

/// The search in progress: what the last round asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    asked: Vec<String>,
    depth: u8,
    total: usize,
    /// The FUMO node is known already (a profile names it): not looked for.
    #[serde(default)]
    skip_fumo: bool,
    /// The SCOMO root is known already: not looked for.
    #[serde(default)]
    skip_scomo: bool,
    /// The FUMO node found so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fumo: Option<FumoPlace>,
    /// The SCOMO root found so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scomo: Option<ScomoPlace>,
    /// Candidates whose MO type the last round asked for, in the order found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    confirming: Vec<Candidate>,
    /// The next level, kept while candidates are confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    frontier: Vec<String>,
}

/// An interior node whose children are those of an object the search looks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Candidate {
    uri: String,
    object: Object,
}

/// The management objects the search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Object {
    /// A FUMO node; whether it has `DownloadAndUpdate`.
    Fumo { download_and_update: bool },
    /// A SCOMO root.
    Scomo,
}

impl Object {
    /// Its Management Object Identifier.
    fn urn(self) -> &'static str {
        match self {
            Object::Fumo { .. } => crate::fumo::MO_URN,
            Object::Scomo => crate::scomo::MO_URN,
        }
    }
}

/// What the search found: for each object it looked for, where it is (`None`: not looked
/// for, the caller keeps what it knew).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The device's FUMO node.
    pub fumo: Option<FumoPlace>,
    /// The device's SCOMO root.
    pub scomo: Option<ScomoPlace>,
}

/// What the search needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// `Get` these URIs (interior nodes, or `<node>?prop=Type`) and pass what the device
    /// returned to [`Discovery::take`].
    Ask(Vec<String>),
    /// Done.
    Done(Found),
}

/// What a device returned for a round: interior node listings and node types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Interior node URI → its child names (`/`-separated).
    listings: BTreeMap<String, String>,
    /// Node URI → its `Type` property.
    types: BTreeMap<String, String>,
}

impl Answers {
    /// The listings and types among `items` (a `Results`' items).
    pub fn of(items: &[Item]) -> Answers {
        let mut a = Answers::default();
        a.extend(items);
        a
    }

    /// Adds the listings and types among `items`.
    pub fn extend(&mut self, items: &[Item]) {
        for i in items {
            let Some(source) = i.source.as_deref() else { continue };
            let data = i.data.clone().unwrap_or_default();
            if let Some(node) = source.trim().strip_suffix(TYPE_PROPERTY) {
                if data.len() <= MAX_TYPE {
                    self.types.insert(normal(node), data.trim().to_owned());
                }
            } else if i.meta.format.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("node")) {
                self.listings.insert(normal(source), data);
            }
        }
    }
}

impl Discovery {
    /// A search for the objects not already known (`fumo_known`, `scomo_known`: a profile
    /// names them) that starts by asking for the root's children; `None` when both are known.
    pub fn start(fumo_known: bool, scomo_known: bool) -> Option<(Self, Vec<String>)> {
        if fumo_known && scomo_known {
            return None;
        }
        let asked = vec![".".to_owned()];
        let d = Discovery {
            asked: asked.clone(),
            total: 1,
            skip_fumo: fumo_known,
            skip_scomo: scomo_known,
            ..Discovery::default()
        };
        Some((d, asked))
    }

    /// Whether the search is still at its first round (the root's listing, asked in package 2
    /// beside DevDetail).
    pub fn is_first_round(&self) -> bool {
        self.depth == 0 && self.confirming.is_empty()
    }

    fn wants_fumo(&self) -> bool {
        !self.skip_fumo && self.fumo.is_none()
    }

    fn wants_scomo(&self) -> bool {
        !self.skip_scomo && self.scomo.is_none()
    }

    /// What was looked for, with `missing` for what was not found.
    fn done(&self, fumo_missing: FumoPlace, scomo_missing: ScomoPlace) -> Next {
        Next::Done(Found {
            fumo: (!self.skip_fumo).then(|| self.fumo.clone().unwrap_or(fumo_missing)),
            scomo: (!self.skip_scomo).then(|| self.scomo.clone().unwrap_or(scomo_missing)),
        })
    }

    /// Takes what the device returned for the last round; decides the next round or the
    /// outcome.
    pub fn take(&mut self, answers: &Answers) -> Next {
        if !self.confirming.is_empty() {
            self.confirm(answers);
            let frontier = std::mem::take(&mut self.frontier);
            return self.descend(frontier);
        }
        if self.depth == 0 && !answers.listings.contains_key(".") {
            // The device does not list its tree: nothing can be known.
            return self.done(FumoPlace::Unknown, ScomoPlace::Unknown);
        }
        let mut frontier = Vec::new();
        let mut candidates = Vec::new();
        for uri in &self.asked {
            let Some(data) = answers.listings.get(uri) else { continue };
            let children = children(data);
            let object = match (fumo_node(&children), scomo_root(&children)) {
                (Some(f), _) if self.wants_fumo() => Some(f),
                (_, Some(s)) if self.wants_scomo() => Some(s),
                // An object already found, or not looked for: not searched inside.
                (Some(_), _) | (_, Some(_)) => continue,
                (None, None) => None,
            };
            if let Some(object) = object {
                candidates.push(Candidate { uri: uri.clone(), object });
                continue;
            }
            for c in children {
                if self.depth == 0 && NOT_SEARCHED.contains(&c) {
                    continue;
                }
                frontier.push(join(uri, c));
            }
        }
        let room = MAX_NODES.saturating_sub(self.total);
        if !candidates.is_empty() && room >= candidates.len() {
            self.total += candidates.len();
            let ask = candidates.iter().map(|c| format!("{}{TYPE_PROPERTY}", c.uri)).collect();
            self.confirming = candidates;
            // Kept in the stored session while the types are asked: no more than can be asked.
            frontier.truncate(MAX_NODES.saturating_sub(self.total));
            self.frontier = frontier;
            return Next::Ask(ask);
        }
        // No room left to ask types: the children's word.
        self.confirming = candidates;
        self.confirm(&Answers::default());
        self.descend(frontier)
    }

    /// Decides the candidates of the last round by their types in `answers`: for each
    /// object, the first whose type is its URN, else the first with no type given.
    fn confirm(&mut self, answers: &Answers) {
        let candidates = std::mem::take(&mut self.confirming);
        let pick = |want: fn(&Object) -> bool| {
            let of_kind = || candidates.iter().filter(move |c| want(&c.object));
            let typed =
                of_kind().find(|c| answers.types.get(&c.uri).is_some_and(|t| t.eq_ignore_ascii_case(c.object.urn())));
            typed.or_else(|| of_kind().find(|c| !answers.types.contains_key(&c.uri))).cloned()
        };
        if self.wants_fumo()
            && let Some(c) = pick(|o| matches!(o, Object::Fumo { .. }))
            && let Object::Fumo { download_and_update } = c.object
        {
            self.fumo = Some(FumoPlace::At { root: c.uri, download_and_update });
        }
        if self.wants_scomo()
            && let Some(c) = pick(|o| *o == Object::Scomo)
        {
            self.scomo = Some(ScomoPlace::At { root: c.uri });
        }
    }

    /// The next level of the search, or the outcome when everything is found or the bounds
    /// are reached.
    fn descend(&mut self, mut frontier: Vec<String>) -> Next {
        if !self.wants_fumo() && !self.wants_scomo() {
            return self.done(FumoPlace::Absent, ScomoPlace::Absent);
        }
        frontier.truncate(MAX_NODES.saturating_sub(self.total));
        if frontier.is_empty() || self.depth >= MAX_DEPTH {
            return self.done(FumoPlace::Absent, ScomoPlace::Absent);
        }
        self.depth += 1;
        self.total += frontier.len();
        self.asked.clone_from(&frontier);
        Next::Ask(frontier)
    }
}

/// `uri` as the search names nodes: `.` for the root, `./a/b` otherwise, no trailing `/`.
fn normal(uri: &str) -> String {
    let u = uri.trim().trim_end_matches('/');
    match u {
        "" | "." => ".".to_owned(),
        u if u.starts_with("./") => u.to_owned(),
        u => format!("./{u}"),
    }
}

/// The child names in a listing that can be node names (no separators, no dot segments).
fn children(data: &str) -> Vec<&str> {
    data.split('/')
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() <= MAX_NAME && *c != "." && *c != "..")
        .filter(|c| c.chars().all(|ch| !ch.is_control() && ch != '?' && ch != '#'))
        .take(MAX_CHILDREN)
        .collect()
}

fn join(parent: &str, child: &str) -> String {
    if parent == "." { format!("./{child}") } else { format!("{parent}/{child}") }
}

/// A FUMO node, if these are a FUMO node's children.
fn fumo_node(children: &[&str]) -> Option<Object> {
    let has = |n: &str| children.contains(&n);
    let fumo = has("PkgName") && (has("DownloadAndUpdate") || has("Download") || has("Update"));
    fumo.then(|| Object::Fumo { download_and_update: has("DownloadAndUpdate") })
}

/// A SCOMO root, if these are a SCOMO root's children (SCOMO 1.0, 5.4: `Download`,
/// `Inventory`; a FUMO node has a `Download` too, never an `Inventory`).
fn scomo_root(children: &[&str]) -> Option<Object> {
    let has = |n: &str| children.contains(&n);
    (has("Download") && has("Inventory") && !has("PkgName")).then_some(Object::Scomo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncml::Meta;

    fn node(uri: &str, children: &str) -> Item {
        Item::source_data(uri, Meta { format: Some("node".into()), ..Meta::default() }, Some(children.into()))
    }

    fn typed(uri: &str, urn: &str) -> Item {
        Item::source_data(&format!("{uri}{TYPE_PROPERTY}"), Meta::default(), Some(urn.into()))
    }

    /// Runs a search against a tree given as interior node → children, and node → MO type
    /// (a device that answers no property: `types` empty).
    fn search_typed(tree: &[(&str, &str)], types: &[(&str, &str)], known: (bool, bool)) -> (Found, usize) {
        let Some((mut d, mut ask)) = Discovery::start(known.0, known.1) else { return (Found::default(), 0) };
        let mut asked = ask.len();
        loop {
            let mut items: Vec<Item> =
                tree.iter().filter(|(u, _)| ask.iter().any(|a| a == u)).map(|(u, c)| node(u, c)).collect();
            items.extend(
                types.iter().filter(|(u, _)| ask.contains(&format!("{u}{TYPE_PROPERTY}"))).map(|(u, t)| typed(u, t)),
            );
            match d.take(&Answers::of(&items)) {
                Next::Done(p) => return (p, asked),
                Next::Ask(next) => {
                    asked += next.len();
                    ask = next;
                }
            }
        }
    }

    fn search(tree: &[(&str, &str)]) -> (FumoPlace, usize) {
        let (found, asked) = search_typed(tree, &[], (false, true));
        (found.fumo.unwrap_or_default(), asked)
    }

    #[test]
    fn finds_a_fumo_node_where_its_maker_put_it() {
        let tree = [
            (".", "DevInfo/DevDetail/DMAcc/FwUpdate"),
            ("./FwUpdate", "stock"),
            ("./FwUpdate/stock", "PkgName/PkgVersion/DownloadAndUpdate/State"),
        ];
        let (p, asked) = search(&tree);
        assert_eq!(p, FumoPlace::At { root: "./FwUpdate/stock".into(), download_and_update: true });
        assert_eq!(asked, 4, "the standard objects are not searched; the candidate's type is asked");
        let tree = [(".", "FUMO/DevInfo"), ("./FUMO", "PkgName/PkgVersion/Download/Update/State")];
        assert_eq!(search(&tree).0, FumoPlace::At { root: "./FUMO".into(), download_and_update: false });
    }

    #[test]
    fn a_candidates_type_decides_and_a_device_without_properties_is_taken_at_its_childrens_word() {
        let fumo = "PkgName/PkgVersion/DownloadAndUpdate/State";
        // Two nodes with FUMO's children at one level: the first is something else.
        let tree = [
            (".", "Acme/FwUpdate"),
            ("./Acme", "Fw"),
            ("./Acme/Fw", fumo),
            ("./FwUpdate", "stock"),
            ("./FwUpdate/stock", fumo),
        ];
        let types = [("./Acme/Fw", "urn:acme:mo:diagnostics:1.0"), ("./FwUpdate/stock", crate::fumo::MO_URN)];
        let at = |root: &str| FumoPlace::At { root: root.into(), download_and_update: true };
        assert_eq!(search_typed(&tree, &types, (false, true)).0.fumo, Some(at("./FwUpdate/stock")));
        // Without properties (406 for both): the first by its children.
        assert_eq!(search_typed(&tree, &[], (false, true)).0.fumo, Some(at("./Acme/Fw")));
        // One typed otherwise and the other unanswered: the unanswered one.
        assert_eq!(search_typed(&tree, &types[..1], (false, true)).0.fumo, Some(at("./FwUpdate/stock")));
        // The only candidate is of another type: the search goes on, and finds none.
        let one = [(".", "Acme"), ("./Acme", "Fw"), ("./Acme/Fw", fumo)];
        assert_eq!(search_typed(&one, &types[..1], (false, true)).0.fumo, Some(FumoPlace::Absent));
        // The type's case does not matter.
        let upper = [types[0], ("./FwUpdate/stock", "URN:OMA:MO:OMA-FUMO:1.0")];
        assert_eq!(search_typed(&tree, &upper, (false, true)).0.fumo, Some(at("./FwUpdate/stock")));
    }

    #[test]
    fn a_wide_listing_keeps_no_more_nodes_than_the_search_may_ask_while_a_type_is_asked() {
        let Some((mut d, _)) = Discovery::start(false, true) else { panic!("a search") };
        let names: Vec<String> = (0..20).map(|i| format!("N{i}")).collect();
        let root = format!("FwUpdate/{}", names.join("/"));
        assert!(matches!(d.take(&Answers::of(&[node(".", &root)])), Next::Ask(_)));
        // The next level: one FUMO-like node, and every other node as wide as a listing may be.
        let wide: Vec<String> = (0..MAX_CHILDREN).map(|i| format!("C{i}")).collect();
        let mut items = vec![node("./FwUpdate", "PkgName/DownloadAndUpdate")];
        items.extend(names.iter().map(|n| node(&format!("./{n}"), &wide.join("/"))));
        match d.take(&Answers::of(&items)) {
            Next::Ask(ask) => assert!(ask.iter().all(|a| a.ends_with(TYPE_PROPERTY)), "{ask:?}"),
            Next::Done(found) => panic!("done early: {found:?}"),
        }
        assert!(d.frontier.len() + d.total <= MAX_NODES, "kept {} nodes past {}", d.frontier.len(), d.total);
    }

    #[test]
    fn finds_the_scomo_root_in_the_same_search() {
        let tree = [
            (".", "DevInfo/Apps/FwUpdate"),
            ("./Apps", "SCOMO"),
            ("./Apps/SCOMO", "Download/Inventory/Ext"),
            ("./FwUpdate", "stock"),
            ("./FwUpdate/stock", "PkgName/Download/Update"),
        ];
        let types = [("./Apps/SCOMO", crate::scomo::MO_URN), ("./FwUpdate/stock", crate::fumo::MO_URN)];
        let (found, _) = search_typed(&tree, &types, (false, false));
        assert_eq!(found.scomo, Some(ScomoPlace::At { root: "./Apps/SCOMO".into() }));
        assert_eq!(found.fumo, Some(FumoPlace::At { root: "./FwUpdate/stock".into(), download_and_update: false }));
        // A FUMO node (Download, no Inventory) is no SCOMO root; none found is Absent.
        let fumo_only = [(".", "FwUpdate"), tree[3], tree[4]];
        let (found, _) = search_typed(&fumo_only, &[], (false, false));
        assert_eq!(found.scomo, Some(ScomoPlace::Absent));
        assert!(found.fumo.is_some_and(|f| f.root() == Some("./FwUpdate/stock")));
        // A profile that names the FUMO node: the SCOMO root alone is looked for; naming both: no search.
        let (found, _) = search_typed(&tree, &types, (true, false));
        assert_eq!((found.fumo, found.scomo), (None, Some(ScomoPlace::At { root: "./Apps/SCOMO".into() })));
        assert!(Discovery::start(true, true).is_none());
        // A device that lists nothing: both unknown.
        assert_eq!(
            search_typed(&[], &[], (false, false)).0,
            Found { fumo: Some(FumoPlace::Unknown), scomo: Some(ScomoPlace::Unknown) }
        );
    }

    #[test]
    fn a_device_without_one_has_none_and_one_that_lists_nothing_is_unknown() {
        assert_eq!(search(&[(".", "DevInfo/DevDetail/DMAcc")]).0, FumoPlace::Absent);
        assert_eq!(search(&[(".", "Vendor"), ("./Vendor", "Apps/Logs")]).0, FumoPlace::Absent);
        assert_eq!(search(&[]).0, FumoPlace::Unknown, "no listing of the root (dmclient answers 404)");
        // A leaf value is no listing.
        let Some((mut d, _)) = Discovery::start(false, true) else { panic!("a search") };
        let leaf = Item::source_data(".", Meta::default(), Some("FUMO".into()));
        assert_eq!(d.take(&Answers::of(&[leaf])), Next::Done(Found { fumo: Some(FumoPlace::Unknown), scomo: None }));
    }

    #[test]
    fn the_search_is_bounded_in_depth_and_nodes() {
        // A chain deeper than the search looks.
        let deep = [(".", "a"), ("./a", "b"), ("./a/b", "c"), ("./a/b/c", "d"), ("./a/b/c/d", "PkgName/Update")];
        assert_eq!(search(&deep).0, FumoPlace::Absent);
        // A wide tree: never more than MAX_NODES asked.
        let names: Vec<String> = (0..200).map(|i| format!("n{i}")).collect();
        let wide = names.join("/");
        let tree: Vec<(&str, &str)> = vec![(".", &wide)];
        let (p, asked) = search(&tree);
        assert_eq!(p, FumoPlace::Absent);
        assert!(asked <= MAX_NODES, "{asked}");
    }

    #[test]
    fn hostile_names_are_not_followed() {
        let Some((mut d, _)) = Discovery::start(false, false) else { panic!("a search") };
        let items = [node(".", "../DMAcc/ok/a?list=Struct/\u{1}x/")];
        assert_eq!(d.take(&Answers::of(&items)), Next::Ask(vec!["./ok".into()]));
    }
}
