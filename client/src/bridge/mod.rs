//! The mail-server bridge's protocols, for `mailadmin-bridge` and for
//! anyone embedding them: Postfix's socketmap lookup tables
//! ([`socketmap`], over the maps in [`maps`]) and its policy delegation
//! ([`policy`]), each answered through a [`crate::DeliveryClient`], on TCP
//! or Unix sockets ([`Listener`]); and Dovecot's checkpassword interface
//! ([`checkpassword`], for `mailadmin-checkpassword`); and the signing
//! keys written as OpenDKIM's tables ([`opendkim`]).
//!
//! The rule they share with the client: when the control plane cannot
//! answer, the mail server is told to try again later (socketmap `TEMP`,
//! policy `451 4.4.3`), never that a recipient does not exist.

pub mod checkpassword;
pub mod listener;
pub mod maps;
pub mod netstring;
pub mod opendkim;
pub mod policy;
pub mod socketmap;

pub use listener::{ListenAddr, Listener};
pub use maps::{Lookups, Map, MapAnswer};
