//! Identity resolution (DESIGN.md §3).
//!
//! A person is a connected component of identifiers. Every record links all the
//! identifiers it carries; merges are permanent. A person is named by the smallest
//! identifier key in its component, so the same events in any order name the same
//! people with the same keys.

pub mod checkpoint;
mod symbols;

use checkpoint::{CheckpointWriter, CodecError, Decoder};
pub use symbols::{Sym, Symbols};

use attrib_contract::{CrmRecord, Platform, SocialInteraction, WebEvent};
use std::fmt::Write;

/// One identifier a record can carry, in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    /// A click id (fbclid, li_fat_id, ttclid …) linking a social click to the session it landed.
    ClickId(&'a str),
    /// A platform's user id; the same id on two platforms is two identifiers.
    PlatformUser(Platform, &'a str),
    AnonymousId(&'a str),
    /// A CRM contact id; a web `user_id` is one too.
    Contact(&'a str),
    /// Hex SHA-256 of the normalised address (compared case-insensitively).
    EmailSha256(&'a str),
}

impl Identifier<'_> {
    /// The canonical key: namespace prefix plus value.
    pub fn key(&self) -> String {
        let mut key = String::new();
        self.write_key(&mut key);
        key
    }

    /// Writes the canonical key into `buf` (cleared first), so hot paths reuse one buffer.
    pub fn write_key(&self, buf: &mut String) {
        buf.clear();
        // Writing into a String cannot fail.
        let _ = match self {
            Identifier::ClickId(v) => write!(buf, "click:{v}"),
            Identifier::PlatformUser(p, v) => write!(buf, "pu:{p}:{v}"),
            Identifier::AnonymousId(v) => write!(buf, "anon:{v}"),
            Identifier::Contact(v) => write!(buf, "contact:{v}"),
            Identifier::EmailSha256(v) => {
                buf.push_str("email:");
                buf.extend(v.chars().map(|c| c.to_ascii_lowercase()));
                Ok(())
            }
        };
    }
}

/// The identifiers a social interaction carries.
pub fn social_identifiers(e: &SocialInteraction) -> Vec<Identifier<'_>> {
    let mut ids = Vec::with_capacity(3);
    if let Some(c) = &e.click_id {
        ids.push(Identifier::ClickId(c));
    }
    if let Some(u) = &e.user {
        if let Some(p) = &u.platform_user_id {
            ids.push(Identifier::PlatformUser(e.platform, p));
        }
        if let Some(h) = &u.email_sha256 {
            ids.push(Identifier::EmailSha256(h));
        }
    }
    ids
}

/// The identifiers a web event carries (always at least its anonymous id).
pub fn web_identifiers(e: &WebEvent) -> Vec<Identifier<'_>> {
    let mut ids = vec![Identifier::AnonymousId(&e.anonymous_id)];
    if let Some(u) = &e.user_id {
        ids.push(Identifier::Contact(u));
    }
    if let Some(h) = &e.email_sha256 {
        ids.push(Identifier::EmailSha256(h));
    }
    if let Some(c) = &e.click_id {
        ids.push(Identifier::ClickId(c));
    }
    ids
}

/// The identifiers a CRM record carries (always at least its contact id).
pub fn crm_identifiers(e: &CrmRecord) -> Vec<Identifier<'_>> {
    let mut ids = vec![Identifier::Contact(&e.contact_id)];
    if let Some(h) = &e.email_sha256 {
        ids.push(Identifier::EmailSha256(h));
    }
    ids
}

/// Checkpoint record tags of the graph (other layers use tags of their own).
const GRAPH_NODE: u8 = 1;
const GRAPH_COMPONENTS: u8 = 2;
/// A node saved by an earlier checkpoint whose links changed since (a checkpoint of changes).
const GRAPH_NODE_SET: u8 = 3;

/// A node of the graph: one distinct identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// The node's dense index (its key's symbol index), for checkpoints.
    pub fn index(self) -> u32 {
        self.0
    }

    /// The node of a dense index, for checkpoints: it must be one `index` gave.
    pub fn from_index(i: u32) -> NodeId {
        NodeId(i)
    }
}

/// Two people became one: everything held for `absorbed` now belongs to `survivor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub survivor: NodeId,
    pub absorbed: NodeId,
}

/// Union-find over identifiers, tracking the smallest key of each component. Each key is
/// held once (interned; a node is its key's symbol index).
#[derive(Debug, Default)]
pub struct IdentityGraph {
    keys: Symbols,
    /// Scratch buffer for building keys without an allocation per identifier.
    key_buf: String,
    /// Number of components (people).
    components: usize,
    parent: Vec<u32>,
    size: Vec<u32>,
    /// For roots: the node whose key is the smallest in the component.
    smallest: Vec<u32>,
    /// What changed since the last checkpoint, when checkpoints of changes are taken.
    changes: Option<GraphChanges>,
}

/// The graph's changes since a checkpoint: nodes added after it, and older nodes a union
/// re-linked (path compression is not a change: a compressed node still leads to its root).
#[derive(Debug, Default)]
struct GraphChanges {
    saved_nodes: usize,
    relinked: Vec<u32>,
}

impl IdentityGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct identifiers seen.
    pub fn identifiers(&self) -> usize {
        self.keys.len()
    }

    /// Number of people: connected components of the identifiers seen.
    pub fn components(&self) -> usize {
        self.components
    }

    /// The identifier key of a node.
    pub fn key(&self, node: NodeId) -> &str {
        self.keys.resolve(Self::sym(node))
    }

    fn sym(node: NodeId) -> Sym {
        // Nodes are created in interning order, so a node's index is its key's symbol index.
        Sym::from_index(node.0 as usize)
    }

    /// Links all `ids` into one person. Returns that person's root (None for no ids)
    /// and the merges it caused, so holders of per-person state can move it.
    pub fn link(&mut self, ids: &[Identifier<'_>]) -> (Option<NodeId>, Vec<Merge>) {
        let mut merges = Vec::new();
        let mut root: Option<NodeId> = None;
        let mut buf = std::mem::take(&mut self.key_buf);
        for id in ids {
            id.write_key(&mut buf);
            let node = self.intern(&buf);
            let r = self.find(node);
            root = Some(match root {
                None => r,
                Some(prev) => self.union(prev, r, &mut merges),
            });
        }
        self.key_buf = buf;
        (root, merges)
    }

    /// The node of an identifier key, if seen.
    pub fn node(&self, key: &str) -> Option<NodeId> {
        self.keys.get(key).map(|s| NodeId(s.index() as u32))
    }

    /// The root of a node's component, compressing the path on the way.
    pub fn find(&mut self, node: NodeId) -> NodeId {
        let mut r = node.0;
        while self.parent[r as usize] != r {
            r = self.parent[r as usize];
        }
        let mut n = node.0;
        while self.parent[n as usize] != r {
            let next = self.parent[n as usize];
            self.parent[n as usize] = r;
            n = next;
        }
        NodeId(r)
    }

    /// The root of a node's component, without mutation.
    pub fn root_of(&self, node: NodeId) -> NodeId {
        let mut r = node.0;
        while self.parent[r as usize] != r {
            r = self.parent[r as usize];
        }
        NodeId(r)
    }

    /// The stable name of the person a node belongs to: the smallest identifier key in its component.
    pub fn person_key(&self, node: NodeId) -> &str {
        let root = self.root_of(node);
        self.key(NodeId(self.smallest[root.0 as usize]))
    }

    fn intern(&mut self, key: &str) -> NodeId {
        let before = self.keys.len();
        let sym = self.keys.intern(key);
        let n = sym.index() as u32;
        if self.keys.len() == before {
            return NodeId(n);
        }
        self.components += 1;
        self.parent.push(n);
        self.size.push(1);
        self.smallest.push(n);
        NodeId(n)
    }

    /// Writes the graph as checkpoint records (tags `GRAPH_NODE`, `GRAPH_COMPONENTS`).
    pub fn checkpoint(&self, w: &mut CheckpointWriter) {
        self.write_nodes_from(0, w);
    }

    /// Starts remembering what changes, for `checkpoint_changes` (from the state as it is now,
    /// which the caller has saved or restored); called again once the changes are saved.
    pub fn track_changes(&mut self) {
        self.changes = Some(GraphChanges { saved_nodes: self.keys.len(), relinked: Vec::new() });
    }

    /// Writes what changed since the last checkpoint (all of it when not tracking): restored
    /// on top of that checkpoint, it gives this graph.
    pub fn checkpoint_changes(&self, w: &mut CheckpointWriter) {
        let Some(c) = &self.changes else { return self.checkpoint(w) };
        let mut relinked = c.relinked.clone();
        relinked.sort_unstable();
        relinked.dedup();
        for n in relinked {
            let i = n as usize;
            w.record(GRAPH_NODE_SET, |e| {
                e.u32(n);
                e.u32(self.parent[i]);
                e.u32(self.size[i]);
                e.u32(self.smallest[i]);
            });
        }
        self.write_nodes_from(c.saved_nodes, w);
    }

    fn write_nodes_from(&self, from: usize, w: &mut CheckpointWriter) {
        for (i, key) in self.keys.iter().enumerate().skip(from) {
            w.record(GRAPH_NODE, |e| {
                e.str(key);
                e.u32(self.parent[i]);
                e.u32(self.size[i]);
                e.u32(self.smallest[i]);
            });
        }
        w.record(GRAPH_COMPONENTS, |e| e.u64(self.components as u64));
    }

    /// Applies one checkpoint record if its tag is the graph's; false for another layer's.
    pub fn restore_record(&mut self, tag: u8, d: &mut Decoder<'_>) -> Result<bool, CodecError> {
        match tag {
            GRAPH_NODE => {
                let key = d.str()?;
                let (parent, size, smallest) = (d.u32()?, d.u32()?, d.u32()?);
                let n = self.keys.len();
                if self.keys.intern(key).index() != n {
                    return Err(CodecError(format!("identifier {key:?} twice in the graph")));
                }
                self.parent.push(parent);
                self.size.push(size);
                self.smallest.push(smallest);
                Ok(true)
            }
            GRAPH_NODE_SET => {
                let (n, parent, size, smallest) = (d.u32()? as usize, d.u32()?, d.u32()?, d.u32()?);
                if n >= self.parent.len() {
                    return Err(CodecError(format!("identifier {n} of {} is not there", self.parent.len())));
                }
                (self.parent[n], self.size[n], self.smallest[n]) = (parent, size, smallest);
                Ok(true)
            }
            GRAPH_COMPONENTS => {
                self.components = usize::try_from(d.u64()?).map_err(|_| CodecError("component count".into()))?;
                let nodes = self.parent.len() as u32;
                if self.parent.iter().chain(&self.smallest).any(|&p| p >= nodes) {
                    return Err(CodecError("a graph link to a node that is not there".into()));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn union(&mut self, a: NodeId, b: NodeId, merges: &mut Vec<Merge>) -> NodeId {
        if a == b {
            return a;
        }
        let (big, small) = if self.size[a.0 as usize] >= self.size[b.0 as usize] { (a, b) } else { (b, a) };
        if let Some(c) = &mut self.changes {
            c.relinked.extend([big.0, small.0].into_iter().filter(|&n| (n as usize) < c.saved_nodes));
        }
        self.parent[small.0 as usize] = big.0;
        self.size[big.0 as usize] += self.size[small.0 as usize];
        self.components -= 1;
        let (sb, ss) = (self.smallest[big.0 as usize], self.smallest[small.0 as usize]);
        if self.key(NodeId(ss)) < self.key(NodeId(sb)) {
            self.smallest[big.0 as usize] = ss;
        }
        merges.push(Merge { survivor: big, absorbed: small });
        big
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn a_click_id_joins_a_social_user_to_a_web_visitor() {
        let mut g = IdentityGraph::new();
        g.link(&[Identifier::ClickId("fb1"), Identifier::PlatformUser(Platform::Facebook, "u1")]);
        g.link(&[Identifier::AnonymousId("anon9"), Identifier::ClickId("fb1")]);
        let a = g.node("anon:anon9").expect("seen");
        let u = g.node("pu:facebook:u1").expect("seen");
        assert_eq!(g.root_of(a), g.root_of(u));
        assert_eq!(g.person_key(a), "anon:anon9");
    }

    #[test]
    fn platform_user_ids_are_scoped_by_platform() {
        let mut g = IdentityGraph::new();
        g.link(&[Identifier::PlatformUser(Platform::Facebook, "42")]);
        g.link(&[Identifier::PlatformUser(Platform::X, "42")]);
        let f = g.node("pu:facebook:42").expect("seen");
        let x = g.node("pu:x:42").expect("seen");
        assert_ne!(g.root_of(f), g.root_of(x));
    }

    #[test]
    fn web_user_ids_and_crm_contacts_share_one_space_and_emails_ignore_case() {
        let mut g = IdentityGraph::new();
        g.link(&[Identifier::AnonymousId("a"), Identifier::Contact("C1")]);
        g.link(&[Identifier::Contact("C1"), Identifier::EmailSha256("ABCD")]);
        g.link(&[Identifier::EmailSha256("abcd"), Identifier::PlatformUser(Platform::Linkedin, "L")]);
        let a = g.node("anon:a").expect("seen");
        let l = g.node("pu:linkedin:L").expect("seen");
        assert_eq!(g.root_of(a), g.root_of(l));
    }

    fn components(links: &[Vec<(u8, u8)>]) -> Vec<Vec<String>> {
        let mut g = IdentityGraph::new();
        let keys: Vec<Vec<(Platform, String)>> = links
            .iter()
            .map(|l| l.iter().map(|&(p, v)| (Platform::ALL[p as usize % 3], v.to_string())).collect())
            .collect();
        for l in &keys {
            let ids: Vec<_> = l.iter().map(|(p, v)| Identifier::PlatformUser(*p, v)).collect();
            g.link(&ids);
        }
        let mut by_person: HashMap<String, Vec<String>> = HashMap::new();
        for key in g.keys.iter() {
            let n = g.node(key).expect("interned");
            let _ = g.key(n);
            by_person.entry(g.person_key(n).to_string()).or_default().push(key.to_string());
        }
        let mut out: Vec<Vec<String>> = by_person
            .into_iter()
            .map(|(person, mut members)| {
                members.sort();
                assert_eq!(members[0], person, "a person is named by its smallest key");
                members
            })
            .collect();
        out.sort();
        out
    }

    proptest! {
        #[test]
        fn the_same_links_in_any_order_give_the_same_people(
            links in prop::collection::vec(prop::collection::vec((0u8..3, 0u8..40), 1..4), 0..60),
            seed in any::<u64>(),
        ) {
            let mut shuffled = links.clone();
            // Deterministic Fisher-Yates driven by the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = (s >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            for l in shuffled.iter_mut() { l.reverse(); }
            prop_assert_eq!(components(&links), components(&shuffled));
        }
    }
}
