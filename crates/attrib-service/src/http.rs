//! `/metrics`, `/healthz` and `/readyz` over plain HTTP/1.1: three fixed endpoints need no
//! framework. The one server of every long-running command (the service, the connectors).

use crate::metrics::Metrics;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
pub async fn serve<E: Exposed>(listener: TcpListener, metrics: Arc<E>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            // Read the request head (bounded); the body, if any, is ignored.
            while len < buf.len() {
                match stream.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (status, content_type, body) = match path {
                "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                "/readyz" => match metrics.readiness() {
                    None => ("200 OK", "text/plain", "ready\n".to_string()),
                    Some(why) => ("503 Service Unavailable", "text/plain", format!("not ready: {why}\n")),
                },
                _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
