//! Money in integer minor units (fen). Never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in fen (0.01 yuan). Signed so that refunds and voids can be summed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// `self * quantity`, or `None` on overflow.
    pub fn times(self, quantity: u32) -> Option<Fen> {
        self.0.checked_mul(i64::from(quantity)).map(Fen)
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals: `Fen(1280)` is `12.80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Debug for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fen({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_yuan() {
        assert_eq!(Fen(1280).to_string(), "12.80");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(Fen(3).times(4), Some(Fen(12)));
        assert_eq!(Fen(i64::MAX).times(2), None);
    }
}
