//! The HTTP behaviour every connector shares: timeouts, retries with exponential backoff and
//! jitter on 5xx and network errors, `429` honouring `Retry-After`, a request rate limit per
//! vendor, and no retries on `401`/`403` (credentials do not fix themselves). Secrets never
//! reach logs or errors: the bearer token is a header, and query parameters named like
//! credentials are redacted from every URL shown.

use crate::metrics::ConnectorMetrics;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Why a request failed for good.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{vendor}: credentials rejected ({status}) for {url}: check the token; not retried")]
    Credentials { vendor: &'static str, status: u16, url: String },
    #[error("{vendor}: {status} for {url}: {body}")]
    Rejected { vendor: &'static str, status: u16, url: String, body: String },
    #[error("{vendor}: gave up after {attempts} attempts on {url}: {last}")]
    Exhausted { vendor: &'static str, attempts: u32, url: String, last: String },
    #[error("{vendor}: {url} answered with a body that is not JSON: {problem}")]
    Body { vendor: &'static str, url: String, problem: String },
}

/// Retry and pacing of one vendor's requests.
#[derive(Debug, Clone, Copy)]
pub struct HttpPolicy {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// At most this many requests per second (0: unlimited).
    pub requests_per_second: f64,
    /// The longest `Retry-After` honoured; a longer one is waited in several attempts.
    pub max_retry_after: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(30),
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            requests_per_second: 5.0,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Query parameters whose values are secrets (shown as `***`).
const SECRET_PARAMS: [&str; 5] = ["access_token", "token", "api_key", "apikey", "client_secret"];

/// A URL as it may appear in logs and errors.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
            (k.into_owned(), if secret { "***".to_string() } else { v.into_owned() })
        })
        .collect();
    if pairs.is_empty() {
        shown.set_query(None);
    } else {
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// `Retry-After` as seconds (the form rate limiters send); HTTP dates fall back to backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// One vendor's HTTP client.
pub struct Http {
    client: reqwest::Client,
    vendor: &'static str,
    policy: HttpPolicy,
    bearer: Option<String>,
    extra_headers: Vec<(String, String)>,
    next_slot: Mutex<Instant>,
    metrics: ConnectorMetrics,
}

impl Http {
    pub fn new(vendor: &'static str, policy: HttpPolicy, metrics: ConnectorMetrics) -> Result<Http, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("attrib-connectors/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Http {
            client,
            vendor,
            policy,
            bearer: None,
            extra_headers: Vec::new(),
            next_slot: Mutex::new(Instant::now()),
            metrics,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_bearer(mut self, token: Option<String>) -> Self {
        self.bearer = token.filter(|t| !t.is_empty());
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.extra_headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// Waits for this vendor's next request slot.
    async fn pace(&self) {
        if self.policy.requests_per_second <= 0.0 {
            return;
        }
        let interval = Duration::from_secs_f64(1.0 / self.policy.requests_per_second);
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = Instant::now().max(*next) + interval;
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.policy.initial_backoff.saturating_mul(1u32 << attempt.min(16)).min(self.policy.max_backoff);
        // Full jitter in [base/2, base]: spreads retries of many clients apart.
        let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let nanos = clock.subsec_nanos() as u64 ^ (attempt as u64).wrapping_mul(0x9E37_79B9);
        let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
        base.mul_f64(frac)
    }

    /// GET returning JSON.
    pub async fn get_json(&self, url: &Url) -> Result<Value, HttpError> {
        let text = self.send(Method::GET, url, None).await?;
        self.json(url, &text)
    }

    /// POST of a JSON body returning JSON.
    pub async fn post_json(&self, url: &Url, body: &Value) -> Result<Value, HttpError> {
        let text = self.send(Method::POST, url, Some(body)).await?;
        self.json(url, &text)
    }

    /// GET returning the body as text (XML feeds).
    pub async fn get_text(&self, url: &Url) -> Result<String, HttpError> {
        self.send(Method::GET, url, None).await
    }

    fn json(&self, url: &Url, text: &str) -> Result<Value, HttpError> {
        serde_json::from_str(text).map_err(|e| HttpError::Body {
            vendor: self.vendor,
            url: redact(url),
            problem: e.to_string(),
        })
    }

    async fn send(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<String, HttpError> {
        let shown = redact(url);
        let mut last = String::new();
        for attempt in 0..self.policy.max_attempts {
            self.pace().await;
            let mut req = self.client.request(method.clone(), url.clone());
            if let Some(token) = &self.bearer {
                req = req.bearer_auth(token);
            }
            for (k, v) in &self.extra_headers {
                req = req.header(k, v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    self.metrics.request(self.vendor, status.as_u16());
                    if status.is_success() {
                        match resp.text().await {
                            Ok(text) => return Ok(text),
                            Err(e) => {
                                last = format!("reading the body: {e}");
                                self.backoff(attempt)
                            }
                        }
                    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        self.metrics.error(self.vendor, "credentials");
                        return Err(HttpError::Credentials {
                            vendor: self.vendor,
                            status: status.as_u16(),
                            url: shown,
                        });
                    } else if status == StatusCode::TOO_MANY_REQUESTS {
                        last = "429 Too Many Requests".to_string();
                        self.metrics.error(self.vendor, "rate_limited");
                        retry_after(resp.headers())
                            .unwrap_or_else(|| self.backoff(attempt))
                            .min(self.policy.max_retry_after)
                    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                        last = format!("{status}");
                        self.metrics.error(self.vendor, "server");
                        self.backoff(attempt)
                    } else {
                        self.metrics.error(self.vendor, "rejected");
                        let text = resp.text().await.unwrap_or_default();
                        let body: String = text.chars().take(500).collect();
                        return Err(HttpError::Rejected {
                            vendor: self.vendor,
                            status: status.as_u16(),
                            url: shown,
                            body,
                        });
                    }
                }
                Err(e) => {
                    self.metrics.request(self.vendor, 0);
                    self.metrics.error(self.vendor, "network");
                    // reqwest errors can print the URL: show the redacted one only.
                    last = format!("network error: {}", e.without_url());
                    self.backoff(attempt)
                }
            };
            if attempt + 1 < self.policy.max_attempts {
                tracing::warn!(vendor = self.vendor, url = %shown, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %last, "request failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(HttpError::Exhausted { vendor: self.vendor, attempts: self.policy.max_attempts, url: shown, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_query_strings_are_redacted() {
        let url = Url::parse("https://graph.facebook.com/v21.0/act_1/insights?level=ad&access_token=EAAB123").unwrap();
        let shown = redact(&url);
        assert!(!shown.contains("EAAB123") && shown.contains("access_token=***") && shown.contains("level=ad"));
    }

    #[test]
    fn retry_after_in_seconds_is_read() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
