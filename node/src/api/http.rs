//! The HTTP edge of the desks' API: what happens before a request reaches the router. The
//! API promises a JSON error with the right status for every refusal; two come from below
//! the router, and are made to keep that promise here:
//! - a URI longer than [`MAX_URI_BYTES`] is refused with a JSON 414 ([`limit_uri`]);
//! - hyper refuses a request it cannot parse (a URI over its own 64 KiB limit, headers too
//!   large, a malformed request line) with a bodiless 400, 414 or 431 written straight to
//!   the socket; [`JsonErrors`] rewrites exactly those responses into JSON ones.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::ApiError;

/// The longest URI (path and query) a desk request may have.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Refuses an over-long URI with a JSON 414, before any handler runs.
pub async fn limit_uri(request: Request, next: Next) -> Response {
    let len = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0);
    if len > MAX_URI_BYTES {
        return uri_too_long(len).into_response();
    }
    next.run(request).await
}

fn uri_too_long(len: usize) -> ApiError {
    ApiError::new(
        StatusCode::URI_TOO_LONG,
        "uri_too_long",
        format!("the request's URI has {len} bytes; at most {MAX_URI_BYTES} are accepted"),
    )
}

/// What hyper's bodiless refusal of `status` becomes.
fn hyper_refusal(status: u16) -> Option<ApiError> {
    let (status, code, message) = match status {
        400 => (
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "the request is not well-formed HTTP/1.1".to_owned(),
        ),
        414 => (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request's URI is too long; at most {MAX_URI_BYTES} bytes are accepted"),
        ),
        431 => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request's headers are too large".to_owned(),
        ),
        _ => return None,
    };
    Some(ApiError::new(status, code, message))
}

/// The JSON response for a bodiless refusal hyper wrote (`head`), if it is one.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() || !head.starts_with(b"HTTP/1.1 ") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    if !text.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let status: u16 = text.get(9..12)?.parse().ok()?;
    let err = hyper_refusal(status)?;
    let body = serde_json::to_vec(&serde_json::json!({ "error": err })).ok()?;
    let reason = err.status.canonical_reason().unwrap_or("");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        err.status.as_u16(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// A connection whose bodiless refusals by hyper go out as JSON.
#[derive(Debug)]
pub struct JsonErrors<S> {
    inner: S,
    /// A rewritten response being written: the bytes, how far, and how long hyper's was.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match rewrite(buf) {
                Some(json) => this.pending = Some((json, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let Some((bytes, done, replaces)) = this.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while *done < bytes.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let replaces = *replaces;
        this.pending = None;
        Poll::Ready(Ok(replaces))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The desks' listener: loopback TCP, each connection in [`JsonErrors`].
#[derive(Debug)]
pub struct DeskListener(pub TcpListener);

impl axum::serve::Listener for DeskListener {
    type Io = JsonErrors<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (
            JsonErrors {
                inner: stream,
                pending: None,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_bodiless_refusals_are_rewritten() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(hyper).expect("rewritten")).expect("text");
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        assert!(out.contains("content-type: application/json"), "{out}");
        assert!(out.ends_with("}}"), "{out}");
        let body = &out[out.find("\r\n\r\n").expect("head") + 4..];
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["error"]["code"], "uri_too_long");
        // A response with a body, another status, or more after the head is left alone.
        assert!(rewrite(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 2\r\n\r\n{}").is_none());
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nx").is_none());
        assert!(
            rewrite(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n")
                .is_some()
        );
    }
}
