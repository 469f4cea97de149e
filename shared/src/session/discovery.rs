//! Finding a device's own FUMO node in its session, before any offer is shown: a device's
//! management tree is its maker's, and the server must never write a node the device does
//! not have. A `Get` of an interior node lists its children (OMA-TS-DM_TND-V1_2, 6.2); the
//! search walks the tree breadth-first from the root, bounded in depth and in nodes, and
//! takes the first interior node whose children are a FUMO node's (FUMO 1.0, 5.3: `PkgName`
//! and an operation node). A device that does not list its root is not searched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fumo::FumoPlace;
use crate::syncml::Item;

/// Levels below the root the search looks into.
pub const MAX_DEPTH: u8 = 3;
/// Nodes the search asks for, in all.
pub const MAX_NODES: usize = 32;
/// Children of one node considered.
const MAX_CHILDREN: usize = 64;
/// Longest node name considered.
const MAX_NAME: usize = 64;
/// Standard objects directly under the root that hold no FUMO node (StdObj 5).
const NOT_FUMO: [&str; 4] = ["DevInfo", "DevDetail", "DMAcc", "Inbox"];

/// The search in progress: what the last round asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    asked: Vec<String>,
    depth: u8,
    total: usize,
}

/// What the search needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// `Get` these interior nodes and pass their listings to [`Discovery::take`].
    Ask(Vec<String>),
    /// Done: where the device's FUMO node is.
    Done(FumoPlace),
}

impl Discovery {
    /// A search that starts by asking for the root's children.
    pub fn start() -> (Self, Vec<String>) {
        let asked = vec![".".to_owned()];
        (Discovery { asked: asked.clone(), depth: 0, total: 1 }, asked)
    }

    /// Whether the search is still at its first round (the root's listing, asked in package 2
    /// beside DevDetail).
    pub fn is_first_round(&self) -> bool {
        self.depth == 0
    }

    /// Takes the listings the device returned for the last round (`listings`: interior node
    /// URI → child names, [`listings`]); decides the next round or the outcome.
    pub fn take(&mut self, listings: &BTreeMap<String, String>) -> Next {
        if self.depth == 0 && !listings.contains_key(".") {
            // The device does not list its tree: nothing can be known.
            return Next::Done(FumoPlace::Unknown);
        }
        let mut frontier = Vec::new();
        for uri in &self.asked {
            let Some(data) = listings.get(uri) else { continue };
            let children = children(data);
            if let Some(place) = fumo_node(uri, &children) {
                return Next::Done(place);
            }
            for c in children {
                if self.depth == 0 && NOT_FUMO.contains(&c) {
                    continue;
                }
                frontier.push(join(uri, c));
            }
        }
        let room = MAX_NODES.saturating_sub(self.total);
        frontier.truncate(room);
        if frontier.is_empty() || self.depth >= MAX_DEPTH {
            return Next::Done(FumoPlace::Absent);
        }
        self.depth += 1;
        self.total += frontier.len();
        self.asked.clone_from(&frontier);
        Next::Ask(frontier)
    }
}

/// The interior-node listings among `items` (a `Results`' items): URI → child names.
pub fn listings(items: &[Item]) -> BTreeMap<String, String> {
    items
        .iter()
        .filter(|i| i.meta.format.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("node")))
        .filter_map(|i| Some((normal(i.source.as_deref()?), i.data.clone().unwrap_or_default())))
        .collect()
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

/// A FUMO node at `uri`, if these are a FUMO node's children.
fn fumo_node(uri: &str, children: &[&str]) -> Option<FumoPlace> {
    let has = |n: &str| children.contains(&n);
    let fumo = has("PkgName") && (has("DownloadAndUpdate") || has("Download") || has("Update"));
    fumo.then(|| FumoPlace::At { root: uri.to_owned(), download_and_update: has("DownloadAndUpdate") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncml::Meta;

    fn node(uri: &str, children: &str) -> Item {
        Item::source_data(uri, Meta { format: Some("node".into()), ..Meta::default() }, Some(children.into()))
    }

    /// Runs a search against a tree given as interior node → children.
    fn search(tree: &[(&str, &str)]) -> (FumoPlace, usize) {
        let (mut d, mut ask) = Discovery::start();
        let mut asked = ask.len();
        loop {
            let items: Vec<Item> =
                tree.iter().filter(|(u, _)| ask.iter().any(|a| a == u)).map(|(u, c)| node(u, c)).collect();
            match d.take(&listings(&items)) {
                Next::Done(p) => return (p, asked),
                Next::Ask(next) => {
                    asked += next.len();
                    ask = next;
                }
            }
        }
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
        assert_eq!(asked, 3, "the standard objects are not searched");
        let tree = [(".", "FUMO/DevInfo"), ("./FUMO", "PkgName/PkgVersion/Download/Update/State")];
        assert_eq!(search(&tree).0, FumoPlace::At { root: "./FUMO".into(), download_and_update: false });
    }

    #[test]
    fn a_device_without_one_has_none_and_one_that_lists_nothing_is_unknown() {
        assert_eq!(search(&[(".", "DevInfo/DevDetail/DMAcc")]).0, FumoPlace::Absent);
        assert_eq!(search(&[(".", "Vendor"), ("./Vendor", "Apps/Logs")]).0, FumoPlace::Absent);
        assert_eq!(search(&[]).0, FumoPlace::Unknown, "no listing of the root (dmclient answers 404)");
        // A leaf value is no listing.
        let (mut d, _) = Discovery::start();
        let leaf = Item::source_data(".", Meta::default(), Some("FUMO".into()));
        assert_eq!(d.take(&listings(&[leaf])), Next::Done(FumoPlace::Unknown));
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
        let (mut d, _) = Discovery::start();
        let items = [node(".", "../DMAcc/ok/a?list=Struct/\u{1}x/")];
        assert_eq!(d.take(&listings(&items)), Next::Ask(vec!["./ok".into()]));
    }
}
