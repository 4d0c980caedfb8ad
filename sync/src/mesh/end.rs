//! Why a connection ended: the reason logged, shown in the peer's status and sent to the
//! peer when the connection is closed (with its causes: see [`ConnEnd::reason`]).

use crate::chain::chain;
use crate::frame::FrameError;
use crate::identity::BoxedCause;
use crate::proto::SessionError;

#[derive(Debug, thiserror::Error)]
pub(super) enum ConnEnd {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("bad frame")]
    Frame(#[from] FrameError),
    #[error("the stream failed")]
    Stream(#[source] BoxedCause),
    /// The blocking thread running the session failed (it panicked).
    #[error("the session's thread failed")]
    Worker(#[source] tokio::task::JoinError),
    /// The task writing to the stream failed (it panicked).
    #[error("the writer failed")]
    Writer(#[source] tokio::task::JoinError),
    /// The peer stopped reading what we send.
    #[error("the peer is not reading: {unsent} bytes wait to be sent")]
    NotReading { unsent: usize },
    #[error("closed")]
    Closed,
    #[error("shutting down")]
    Shutdown,
}

impl ConnEnd {
    pub(super) fn stream(e: impl std::error::Error + Send + Sync + 'static) -> ConnEnd {
        ConnEnd::Stream(Box::new(e))
    }

    /// The reason with its causes.
    pub(super) fn reason(&self) -> String {
        chain(self)
    }

    /// The peer broke the protocol or sent what is not a frame: counted against it.
    pub(super) fn is_violation(&self) -> bool {
        matches!(
            self,
            ConnEnd::Session(SessionError::Protocol { .. })
                | ConnEnd::Frame(_)
                | ConnEnd::NotReading { .. }
        )
    }

    /// An ordinary end, not worth a warning or a status error.
    pub(super) fn is_quiet(&self) -> bool {
        matches!(self, ConnEnd::Shutdown | ConnEnd::Closed)
    }
}
