//! Packages larger than one message (OMA-TS-DM_Protocol-V1_2, 8.4 and 8.5; RepPro 7.1):
//! [`Outbox`] splits what one side sends into messages that fit the peer's `MaxMsgSize`
//! (no `Final` until the last, the peer asks for more with Alert 1222), and splits a data
//! item too large for one message into chunks with `MoreData`, the first carrying the total
//! `Size`. [`Assembler`] joins chunks on the receiving side, within the receiver's
//! `MaxObjSize`, and tells what status each chunk gets (213 while buffered, 424 on a size
//! mismatch, 413 over the limit).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::media::DmEncoding;
use crate::syncml::codes::StatusCode;
use crate::syncml::{Command, Item, ItemCommand, Results, SyncHdr, SyncMl};

/// Room kept for what is added after filling (the `Final` element, encoding slack).
const SLACK: usize = 64;
/// The smallest MaxMsgSize honoured; below it a message could not hold a header and a command.
pub const MIN_MSG_SIZE: usize = 512;

/// The limits a peer announced in its header's Meta.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `MaxMsgSize`: the largest message it accepts, in bytes.
    pub max_msg: Option<u64>,
    /// `MaxObjSize`: the largest object it accepts, in bytes.
    pub max_obj: Option<u64>,
}

impl Limits {
    /// The limits in `hdr`; a header without them keeps the earlier ones (`self`).
    pub fn updated(self, hdr: &SyncHdr) -> Limits {
        Limits { max_msg: hdr.meta.max_msg_size.or(self.max_msg), max_obj: hdr.meta.max_obj_size.or(self.max_obj) }
    }

    /// These limits with MaxMsgSize no larger than `cap` (a device profile's, which a header
    /// cannot raise).
    pub fn capped(self, cap: Option<u64>) -> Limits {
        let max_msg = match (self.max_msg, cap) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        };
        Limits { max_msg, ..self }
    }

    fn msg_bytes(self) -> usize {
        self.max_msg.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX).max(MIN_MSG_SIZE))
    }
}

/// Commands of a package not yet sent, persisted with the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    queue: VecDeque<Command>,
    final_: bool,
    /// The front command continues a chunked item (its first chunk carried the Size).
    continuing: bool,
    /// Whether the last message filled began inside a chunked item: what `continuing` is
    /// again when that message's commands are sent again ([`Outbox::refill`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    began_continuing: bool,
}

impl Outbox {
    /// Queues the rest of a package; `final_` says whether it ends the sender's package.
    pub fn push(&mut self, commands: Vec<Command>, final_: bool) {
        self.queue.extend(commands);
        self.final_ = final_;
    }

    /// Like [`Outbox::fill`], with `again`, the commands of the last message filled, which
    /// must be sent again: only they go, split anew if they no longer fit, and what is queued
    /// after them waits (a resend is never larger than what it resends, and never joins two
    /// chunks of one item). That message may have begun or ended inside a chunked item: its
    /// chunks keep the rules (the first with the item's Size, the others without).
    pub fn refill(&mut self, msg: &mut SyncMl, again: Vec<Command>, limits: Limits, enc: DmEncoding) {
        let rest = std::mem::take(&mut self.queue);
        self.queue.extend(again);
        self.continuing = self.began_continuing;
        self.fill(msg, limits, enc);
        self.queue.extend(rest);
        msg.body.final_ &= self.queue.is_empty();
    }

    /// Whether everything queued has been sent.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Moves queued commands into `msg` (which already holds its header and statuses) while
    /// the encoded message fits `limits`, splitting the first command that does not fit when
    /// it can. Sets `Final` when the package is complete. Commands are renumbered after
    /// those already in `msg`.
    pub fn fill(&mut self, msg: &mut SyncMl, limits: Limits, enc: DmEncoding) {
        let limit = limits.msg_bytes().saturating_sub(SLACK);
        msg.body.final_ = false;
        self.began_continuing = self.continuing;
        // The usual case, the whole rest fits: one encode (none without a limit) instead of
        // one per command. Sizes grow with every command, so this is what the loop below
        // would build.
        // (Not when a chunk with more to come would be followed by another: a chunk ends its
        // message, as the peer answers each with 213 and asks for the next.)
        let joins_chunks = self.queue.iter().rev().skip(1).any(|c| leaves_item_open(Some(c)));
        if !self.queue.is_empty() && !joins_chunks {
            let before = msg.body.commands.len();
            for mut cmd in self.queue.drain(..) {
                number(&mut cmd, ids_in(&msg.body.commands) + 1);
                msg.body.commands.push(cmd);
            }
            if limits.max_msg.is_none() || size(msg, enc) <= limit {
                // (Resent, the last may be a chunk whose item goes on: `refill`.)
                self.continuing = leaves_item_open(msg.body.commands.last());
                msg.body.final_ = self.final_;
                return;
            }
            self.queue.extend(msg.body.commands.drain(before..));
        }
        let mut added = 0;
        while let Some(mut cmd) = self.queue.pop_front() {
            number(&mut cmd, ids_in(&msg.body.commands) + 1);
            msg.body.commands.push(cmd);
            if size(msg, enc) <= limit {
                added += 1;
                // A chunk sent again whole leaves its item open for the next message.
                self.continuing = leaves_item_open(msg.body.commands.last());
                if self.continuing {
                    break;
                }
                continue;
            }
            let Some(cmd) = msg.body.commands.pop() else { break };
            match self.split(msg, cmd, limit, enc) {
                Ok((head, tail)) => {
                    msg.body.commands.push(head);
                    self.queue.push_front(tail);
                }
                // Nothing splits and nothing else is in the message: send it as it is (the
                // peer answers 413 if it cannot take it) rather than stall the session.
                Err(cmd) if added == 0 => {
                    msg.body.commands.push(*cmd);
                    self.continuing = leaves_item_open(msg.body.commands.last());
                }
                Err(cmd) => self.queue.push_front(*cmd),
            }
            break;
        }
        msg.body.final_ = self.queue.is_empty() && self.final_;
    }

    /// Splits `cmd` into a head that fits in `msg` and the tail to send next.
    fn split(
        &mut self,
        msg: &mut SyncMl,
        cmd: Command,
        limit: usize,
        enc: DmEncoding,
    ) -> Result<(Command, Command), Box<Command>> {
        let Some(items) = items_of(&cmd) else { return Err(Box::new(cmd)) };
        if items.len() > 1 {
            // Whole items first: as many as fit, at least one (which may then be chunked).
            for keep in (1..items.len()).rev() {
                let (head, tail) = split_items(&cmd, keep);
                msg.body.commands.push(head);
                let fits = size(msg, enc) <= limit;
                let head = msg.body.commands.pop();
                if let (true, Some(head)) = (fits, head) {
                    return Ok((head, tail));
                }
            }
            // The first item alone is too large: chunk it; the other items follow its chunks.
            let (first, others) = split_items(&cmd, 1);
            return match self.split(msg, first, limit, enc) {
                Ok((chunk, rest)) => {
                    self.queue.push_front(others);
                    Ok((chunk, rest))
                }
                Err(_) => Err(Box::new(cmd)),
            };
        }
        let data_len = items.first().and_then(|i| i.data.as_ref()).map_or(0, String::len);
        if data_len == 0 {
            return Err(Box::new(cmd));
        }
        // How much data fits: measure the command without data, then shrink until it fits.
        let mut empty = cmd.clone();
        if let Some(i) = first_item_mut(&mut empty) {
            i.data = Some(String::new());
            i.more_data = true;
            if !self.continuing {
                i.meta.size = i.meta.size.or(Some(data_len as u64));
            }
        }
        msg.body.commands.push(empty);
        let overhead = size(msg, enc);
        msg.body.commands.pop();
        // The most data that fits, found by bisection: escaping (XML) and length prefixes
        // (WBXML) make the encoded size grow faster than the data.
        let (mut lo, mut hi) = (0, limit.saturating_sub(overhead).min(data_len));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let (head, _) = self.chunk(&cmd, mid, data_len);
            msg.body.commands.push(head);
            let fits = size(msg, enc) <= limit;
            msg.body.commands.pop();
            if fits { lo = mid } else { hi = mid - 1 }
        }
        if lo == 0 {
            return Err(Box::new(cmd));
        }
        let (head, tail) = self.chunk(&cmd, lo, data_len);
        self.continuing = true;
        Ok((head, tail))
    }

    /// The first `room` bytes of the item's data (on a character boundary) and the rest.
    fn chunk(&self, cmd: &Command, room: usize, total: usize) -> (Command, Command) {
        let mut head = cmd.clone();
        let mut tail = cmd.clone();
        if let (Some(h), Some(t)) = (first_item_mut(&mut head), first_item_mut(&mut tail)) {
            let data = h.data.take().unwrap_or_default();
            let mut at = room.min(data.len());
            while at > 0 && !data.is_char_boundary(at) {
                at -= 1;
            }
            h.data = Some(data[..at].to_owned());
            h.more_data = true;
            // A first chunk sent again and split anew keeps the whole item's Size.
            h.meta.size = if self.continuing { None } else { h.meta.size.or(Some(total as u64)) };
            t.data = Some(data[at..].to_owned());
            t.meta.size = None;
        }
        (head, tail)
    }
}

fn size(msg: &SyncMl, enc: DmEncoding) -> usize {
    crate::syncml::encode(enc, msg).map_or(usize::MAX, |b| b.len())
}

/// The items of a command that carries data items (the ones a package may chunk).
fn items_of(cmd: &Command) -> Option<&[Item]> {
    match cmd {
        Command::Replace(c) | Command::Add(c) => Some(&c.items),
        Command::Results(r) => Some(&r.items),
        _ => None,
    }
}

/// Whether `cmd` ends with a chunk that more chunks follow (`MoreData`).
fn leaves_item_open(cmd: Option<&Command>) -> bool {
    cmd.and_then(items_of).and_then(<[Item]>::last).is_some_and(|i| i.more_data)
}

fn first_item_mut(cmd: &mut Command) -> Option<&mut Item> {
    match cmd {
        Command::Replace(c) | Command::Add(c) => c.items.first_mut(),
        Command::Results(r) => r.items.first_mut(),
        _ => None,
    }
}

/// The command with its first `keep` items, and the same command with the others.
fn split_items(cmd: &Command, keep: usize) -> (Command, Command) {
    let halves = |items: &[Item]| (items[..keep.min(items.len())].to_vec(), items[keep.min(items.len())..].to_vec());
    match cmd {
        Command::Replace(c) => {
            let (a, b) = halves(&c.items);
            (
                Command::Replace(ItemCommand { items: a, ..c.clone() }),
                Command::Replace(ItemCommand { items: b, ..c.clone() }),
            )
        }
        Command::Add(c) => {
            let (a, b) = halves(&c.items);
            (Command::Add(ItemCommand { items: a, ..c.clone() }), Command::Add(ItemCommand { items: b, ..c.clone() }))
        }
        Command::Results(r) => {
            let (a, b) = halves(&r.items);
            (Command::Results(Results { items: a, ..r.clone() }), Command::Results(Results { items: b, ..r.clone() }))
        }
        other => (other.clone(), other.clone()),
    }
}

/// How many CmdIDs `cmds` use, those of the commands inside an Atomic or Sequence included.
fn ids_in(cmds: &[Command]) -> usize {
    cmds.iter()
        .map(|c| match c {
            Command::Atomic(k) | Command::Sequence(k) => 1 + ids_in(&k.commands),
            _ => 1,
        })
        .sum()
}

/// Numbers `cmd` `first` and the commands inside it after it, in order, so that no two
/// commands of a message share a CmdID whatever came before them; the next free number.
fn number(cmd: &mut Command, first: usize) -> usize {
    let id = first.to_string();
    match cmd {
        Command::Alert(a) => a.cmd_id = id,
        Command::Status(s) => s.cmd_id = id,
        Command::Results(r) => r.cmd_id = id,
        Command::Get(c) | Command::Replace(c) | Command::Add(c) | Command::Delete(c) | Command::Copy(c) => {
            c.cmd_id = id
        }
        Command::Exec(e) => e.cmd_id = id,
        Command::Atomic(c) | Command::Sequence(c) => {
            c.cmd_id = id;
            return c.commands.iter_mut().fold(first + 1, |next, inner| number(inner, next));
        }
    }
    first + 1
}

/// What became of one received item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// The item is whole (it was never chunked, or this was its last chunk).
    Complete(Item),
    /// A chunk was buffered: answer 213 and ask for the next message.
    Buffered,
    /// The object is refused with this status (413 over the limit, 424 size mismatch, 400
    /// a chunk of another item while one is open); the partial object is dropped.
    Refused(StatusCode),
}

/// A chunked item being received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Partial {
    target: Option<String>,
    source: Option<String>,
    item: Item,
    declared: Option<u64>,
}

/// Joins chunked items, persisted with the session between messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assembler {
    // Boxed: a session keeps its assembler while held, almost always with nothing open.
    open: Option<Box<Partial>>,
}

impl Assembler {
    /// Whether a chunked item is waiting for more data.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Takes a received item; `max_obj` is the receiver's own MaxObjSize.
    pub fn take(&mut self, item: &Item, max_obj: Option<u64>) -> Assembled {
        let data = item.data.as_deref().unwrap_or("");
        let mut partial = match self.open.take() {
            Some(p) if p.target == item.target && p.source == item.source => p,
            Some(_) => return Assembled::Refused(StatusCode::BAD_REQUEST),
            None if !item.more_data => return Assembled::Complete(item.clone()),
            None => {
                let declared = item.meta.size;
                if declared.zip(max_obj).is_some_and(|(d, m)| d > m) {
                    return Assembled::Refused(StatusCode::TOO_LARGE);
                }
                let mut first = item.clone();
                first.data = Some(String::new());
                first.more_data = false;
                Box::new(Partial { target: item.target.clone(), source: item.source.clone(), item: first, declared })
            }
        };
        let buf = partial.item.data.get_or_insert_with(String::new);
        buf.push_str(data);
        let got = buf.len() as u64;
        if max_obj.is_some_and(|m| got > m) || partial.declared.is_some_and(|d| got > d) {
            return Assembled::Refused(if partial.declared.is_some_and(|d| got > d) {
                StatusCode::SIZE_MISMATCH
            } else {
                StatusCode::TOO_LARGE
            });
        }
        if item.more_data {
            self.open = Some(partial);
            return Assembled::Buffered;
        }
        if partial.declared.is_some_and(|d| d != got) {
            return Assembled::Refused(StatusCode::SIZE_MISMATCH);
        }
        Assembled::Complete(partial.item)
    }

    /// Drops a partial object (the package ended without its last chunk).
    pub fn abandon(&mut self) -> bool {
        self.open.take().is_some()
    }
}

#[cfg(test)]
mod tests;
