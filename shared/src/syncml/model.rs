//! The SyncML DM 1.2 message model (OMA-TS-DM_RepPro-V1_2, section 6): plain values that
//! the XML (and later WBXML) codecs read and write.

use serde::{Deserialize, Serialize};

use super::codes::{AlertCode, StatusCode};

/// A whole SyncML message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncMl {
    /// The header.
    pub hdr: SyncHdr,
    /// The commands and the Final flag.
    pub body: SyncBody,
}

/// `SyncHdr` (RepPro 6.1.2 ff).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncHdr {
    /// `VerDTD`, "1.2".
    pub ver_dtd: String,
    /// `VerProto`, "DM/1.2".
    pub ver_proto: String,
    /// `SessionID`.
    pub session_id: String,
    /// `MsgID`.
    pub msg_id: String,
    /// `Target/LocURI`.
    pub target: String,
    /// `Source/LocURI`: the DevId in client messages.
    pub source: String,
    /// `Source/LocName`.
    pub source_name: Option<String>,
    /// `RespURI`.
    pub resp_uri: Option<String>,
    /// `Cred`.
    pub cred: Option<Cred>,
    /// `Meta` (MaxMsgSize, MaxObjSize).
    pub meta: Meta,
}

/// `Cred`: credentials with their Meta (Type, Format).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cred {
    /// Meta Type (`syncml:auth-basic`, …) and Format (`b64`).
    pub meta: Meta,
    /// The credential data.
    pub data: String,
}

/// `Chal`: an authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Chal {
    /// Type, Format and NextNonce.
    pub meta: Meta,
}

/// `Meta` with its MetInf children; unknown children are ignored on decode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Meta {
    /// `Format` (`chr`, `int`, `b64`, `node`, …), as written by the sender.
    pub format: Option<String>,
    /// `Type` (a MIME type or URN).
    pub type_: Option<String>,
    /// `Size`.
    pub size: Option<u64>,
    /// `MaxMsgSize`.
    pub max_msg_size: Option<u64>,
    /// `MaxObjSize`.
    pub max_obj_size: Option<u64>,
    /// `NextNonce`.
    pub next_nonce: Option<String>,
}

impl Meta {
    /// Whether no field is set (then it is not encoded).
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }

    /// A Meta with just a Format and a Type.
    pub fn typed(format: Option<&str>, type_: Option<&str>) -> Self {
        Meta { format: format.map(str::to_owned), type_: type_.map(str::to_owned), ..Meta::default() }
    }

    /// The Format, lower-cased (senders write `Chr`, `chr`, …).
    pub fn format_lower(&self) -> Option<String> {
        self.format.as_deref().map(str::to_ascii_lowercase)
    }
}

/// An `Item`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Item {
    /// `Target/LocURI`.
    pub target: Option<String>,
    /// `Source/LocURI`.
    pub source: Option<String>,
    /// `Meta`.
    pub meta: Meta,
    /// `Data` as text.
    pub data: Option<String>,
    /// `MoreData` (the item continues in the next message).
    pub more_data: bool,
}

impl Item {
    /// An item addressed to `target` with `data`.
    pub fn target_data(target: &str, meta: Meta, data: Option<String>) -> Self {
        Item { target: Some(target.to_owned()), meta, data, ..Item::default() }
    }

    /// An item from `source` with `data`.
    pub fn source_data(source: &str, meta: Meta, data: Option<String>) -> Self {
        Item { source: Some(source.to_owned()), meta, data, ..Item::default() }
    }
}

/// `SyncBody`: the commands in order and whether `Final` is present.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncBody {
    /// The commands.
    pub commands: Vec<Command>,
    /// `Final`: the last message of a package.
    pub final_: bool,
}

/// One SyncML DM command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `Alert`.
    Alert(Alert),
    /// `Status`.
    Status(Status),
    /// `Results`.
    Results(Results),
    /// `Get`.
    Get(ItemCommand),
    /// `Replace`.
    Replace(ItemCommand),
    /// `Add`.
    Add(ItemCommand),
    /// `Delete`.
    Delete(ItemCommand),
    /// `Copy`.
    Copy(ItemCommand),
    /// `Exec`.
    Exec(Exec),
    /// `Atomic`.
    Atomic(Container),
    /// `Sequence`.
    Sequence(Container),
}

impl Command {
    /// The element name, as `Status/Cmd` refers to it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Alert(_) => "Alert",
            Command::Status(_) => "Status",
            Command::Results(_) => "Results",
            Command::Get(_) => "Get",
            Command::Replace(_) => "Replace",
            Command::Add(_) => "Add",
            Command::Delete(_) => "Delete",
            Command::Copy(_) => "Copy",
            Command::Exec(_) => "Exec",
            Command::Atomic(_) => "Atomic",
            Command::Sequence(_) => "Sequence",
        }
    }

    /// Whether the sender asked for no Status (`NoResp`).
    pub fn no_resp(&self) -> bool {
        match self {
            Command::Alert(a) => a.no_resp,
            Command::Get(c) | Command::Replace(c) | Command::Add(c) | Command::Delete(c) | Command::Copy(c) => {
                c.no_resp
            }
            Command::Exec(e) => e.no_resp,
            Command::Atomic(c) | Command::Sequence(c) => c.no_resp,
            Command::Status(_) | Command::Results(_) => false,
        }
    }

    /// The `CmdID`.
    pub fn cmd_id(&self) -> &str {
        match self {
            Command::Alert(a) => &a.cmd_id,
            Command::Status(s) => &s.cmd_id,
            Command::Results(r) => &r.cmd_id,
            Command::Get(c) | Command::Replace(c) | Command::Add(c) | Command::Delete(c) | Command::Copy(c) => {
                &c.cmd_id
            }
            Command::Exec(e) => &e.cmd_id,
            Command::Atomic(c) | Command::Sequence(c) => &c.cmd_id,
        }
    }
}

/// `Alert`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Alert {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Data`: the alert code.
    pub data: u16,
    /// `Correlator` (generic alerts answering an Exec).
    pub correlator: Option<String>,
    /// Items.
    pub items: Vec<Item>,
}

impl Alert {
    /// The alert code.
    pub fn code(&self) -> AlertCode {
        AlertCode(self.data)
    }
}

/// `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    /// `CmdID`.
    pub cmd_id: String,
    /// `MsgRef`.
    pub msg_ref: String,
    /// `CmdRef` ("0" for the header).
    pub cmd_ref: String,
    /// `Cmd`: the name of the command answered.
    pub cmd: String,
    /// `TargetRef`s.
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    pub source_refs: Vec<String>,
    /// `Cred` (rare).
    pub cred: Option<Cred>,
    /// `Chal`.
    pub chal: Option<Chal>,
    /// `Data`: the status code.
    pub data: u16,
    /// Items.
    pub items: Vec<Item>,
}

impl Status {
    /// The status code.
    pub fn code(&self) -> StatusCode {
        StatusCode(self.data)
    }
}

/// `Results`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Results {
    /// `CmdID`.
    pub cmd_id: String,
    /// `MsgRef`.
    pub msg_ref: Option<String>,
    /// `CmdRef`.
    pub cmd_ref: String,
    /// `Meta`.
    pub meta: Meta,
    /// `TargetRef`s.
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    pub source_refs: Vec<String>,
    /// Items.
    pub items: Vec<Item>,
}

/// The shape shared by Get, Replace, Add, Delete and Copy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ItemCommand {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Meta`.
    pub meta: Meta,
    /// Items.
    pub items: Vec<Item>,
}

/// `Exec`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Exec {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Correlator`.
    pub correlator: Option<String>,
    /// Items (exactly one in DM 1.2).
    pub items: Vec<Item>,
}

/// `Atomic` / `Sequence`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Container {
    /// `CmdID`.
    pub cmd_id: String,
    /// `NoResp`.
    pub no_resp: bool,
    /// `Meta`.
    pub meta: Meta,
    /// The nested commands.
    pub commands: Vec<Command>,
}
