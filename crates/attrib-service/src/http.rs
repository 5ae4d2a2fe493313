//! `/metrics`, `/healthz` and `/readyz` over HTTP/1.1, served by hyper (the HTTP library the
//! ClickHouse and connector clients already bring): keep-alive, `HEAD`, and malformed or
//! oversized requests answered by the library. The one server of every long-running command
//! (the service, the connectors).

use crate::metrics::Metrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What a process shows on its HTTP endpoints.
pub trait Exposed: Send + Sync + 'static {
    /// The Prometheus text exposition of its metrics.
    fn render(&self) -> String;
    /// Why it is not ready (None: ready).
    fn readiness(&self) -> Option<String> {
        None
    }
}

impl Exposed for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }

    fn readiness(&self) -> Option<String> {
        Metrics::readiness(self)
    }
}

/// Serves until the task is dropped.
pub async fn serve<E: Exposed>(listener: TcpListener, exposed: Arc<E>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let exposed = exposed.clone();
        tokio::spawn(async move {
            let answer = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(&*exposed, request.method(), request.uri().path());
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            // A client that goes away mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), answer).await;
        });
    }
}

fn respond<E: Exposed>(exposed: &E, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if method != Method::GET && method != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n".to_string())
    } else {
        match path {
            "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", exposed.render()),
            "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
            "/readyz" => match exposed.readiness() {
                None => (StatusCode::OK, "text/plain", "ready\n".to_string()),
                Some(why) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("not ready: {why}\n")),
            },
            _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".to_string()),
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Fixed(Option<String>);

    impl Exposed for Fixed {
        fn render(&self) -> String {
            "attrib_up 1\n".into()
        }
        fn readiness(&self) -> Option<String> {
            self.0.clone()
        }
    }

    async fn exchange(addr: std::net::SocketAddr, requests: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(requests.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test]
    async fn endpoints_answer_with_status_type_and_length_over_one_kept_alive_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, Arc::new(Fixed(Some("ClickHouse unreachable".into())))));
        // Two requests on one connection, the second closing it.
        let answer = exchange(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("content-type: text/plain; version=0.0.4") && answer.contains("attrib_up 1"));
        assert!(
            answer.contains("HTTP/1.1 503 Service Unavailable") && answer.contains("not ready: ClickHouse unreachable")
        );
        let head = exchange(addr, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 OK") && head.contains("content-length: 3") && !head.contains("ok\n"));
        let post =
            exchange(addr, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405") && post.contains("allow: GET, HEAD"), "{post}");
        let missing = exchange(addr, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let junk = exchange(addr, "NOT HTTP AT ALL\r\n\r\n").await;
        assert!(junk.starts_with("HTTP/1.1 400"), "a malformed request gets 400: {junk}");
    }
}
