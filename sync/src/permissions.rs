//! What a peer may say about itself: its hello must name the node its certificate names.
//!
//! What a peer may send (who wrote each change, what that author may write) is decided by
//! the rules every replica applies, in lifeline-core (`lifeline_core::trust`): by the
//! signatures that travel with the changes and the authors' certificates in the roster, not
//! by who relays them.

use crate::identity::NodeIdentity;
use lifeline_core::NodeName;

/// A hello that names another node than the peer's certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hello names {claimed:?} but the certificate names {certified}")]
pub struct HelloNameMismatch {
    /// The name the hello gives.
    pub claimed: String,
    /// The name the peer's certificate carries.
    pub certified: NodeName,
}

/// A peer that names itself in its hello must be the node its certificate names.
pub fn check_hello_name(peer: &NodeIdentity, claimed: &str) -> Result<NodeName, HelloNameMismatch> {
    if claimed == peer.name.as_str() {
        Ok(peer.name.clone())
    } else {
        Err(HelloNameMismatch {
            claimed: claimed.to_owned(),
            certified: peer.name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::NodeRole;

    #[test]
    fn a_hello_must_name_the_certificate_s_node() {
        let w01 = NodeIdentity::new(
            NodeName::new("W01").expect("valid"),
            NodeRole::Window,
            vec![],
        );
        assert_eq!(check_hello_name(&w01, "W01"), Ok(w01.name.clone()));
        let err = check_hello_name(&w01, "central").unwrap_err();
        assert_eq!(err.certified, w01.name);
        assert_eq!(err.claimed, "central");
    }
}
