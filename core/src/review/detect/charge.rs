//! Money conflicts: one charge settled on two nodes (the patient may have paid twice) or
//! invoiced on two nodes.

use automerge::Automerge;

use super::{fingerprint, state_values, status_conflict, status_values};
use crate::record::Header;
use crate::review::conflict::{Conflict, ConflictKind};

/// A charge settled twice (the patient may have paid twice) or invoiced twice.
pub(crate) fn charge_conflicts(doc: &Automerge, header: &Header) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (state, kind, automatic) in [
        (
            "settled",
            ConflictKind::DoubleSettlement,
            "the charge stays settled, but it was settled on two nodes: the patient may have \
             paid twice; refund one payment, then confirm",
        ),
        (
            "invoiced",
            ConflictKind::DoubleInvoice,
            "the charge stays invoiced, but two invoices cover it: void one, then confirm",
        ),
    ] {
        let found = status_values(doc, state);
        if found.len() > 1 {
            let values = state_values(doc, header, &found, 0, true);
            let parts = found.iter().map(|(_, op)| op.to_string());
            out.push(status_conflict(
                kind,
                header,
                vec![header.id],
                values,
                fingerprint(parts),
                automatic,
            ));
        }
    }
    out
}
