//! autosurgeon glue for the small value types stored in records: each is stored as an
//! Automerge string (or integer) and validated again when read back, so a malformed value
//! from a peer surfaces as a hydrate error, never as a panic.

use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler, reconcile::NoKey};

use crate::clock::Date;
use crate::id::{EpisodeId, NodeName, OperatorName, RecordId};
use crate::money::Fen;

macro_rules! string_backed {
    ($ty:ty, $expected:literal) => {
        impl Reconcile for $ty {
            type Key<'a> = NoKey;
            fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(self.to_string())
            }
        }

        impl Hydrate for $ty {
            fn hydrate_string(s: &str) -> Result<Self, HydrateError> {
                s.parse()
                    .map_err(|_| HydrateError::unexpected($expected, s.to_owned()))
            }
        }
    };
}

string_backed!(RecordId, "a record id");
string_backed!(NodeName, "a node name");
string_backed!(OperatorName, "an operator name");
string_backed!(EpisodeId, "an episode id");
string_backed!(Date, "a YYYY-MM-DD date");

impl Reconcile for Fen {
    type Key<'a> = NoKey;
    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.i64(self.0)
    }
}

impl Hydrate for Fen {
    fn hydrate_int(i: i64) -> Result<Self, HydrateError> {
        Ok(Fen(i))
    }
    fn hydrate_uint(u: u64) -> Result<Self, HydrateError> {
        i64::try_from(u)
            .map(Fen)
            .map_err(|_| HydrateError::unexpected("an amount in fen", u.to_string()))
    }
}
