//! A browser stand-in: HTTP with its own cookie, as a handset's browser keeps it.

use std::time::{Duration, Instant};

use serde_json::Value;

/// An HTTP agent that reports every status instead of failing on 4xx/5xx.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

fn reply(mut r: ureq::http::Response<ureq::Body>) -> Reply {
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = r.body_mut().with_config().limit(64 << 20).read_to_vec().expect("body");
    Reply { status: r.status().as_u16(), headers, body }
}

/// A browser: a base URL and a cookie header.
pub struct Browser {
    agent: ureq::Agent,
    /// The edge base URL.
    pub base: String,
    /// `__Host-pdm=<sid>.<secret>` (and `pdmt=<token>`, when the trigger set it), once set.
    pub cookie: Option<String>,
    /// Sent with every request.
    headers: Vec<(&'static str, String)>,
}

impl Browser {
    /// A browser with no cookie.
    pub fn new(base: &str) -> Self {
        Browser { agent: agent(), base: base.to_owned(), cookie: None, headers: Vec::new() }
    }

    /// A browser whose every request carries `name: value` too (as Cloudflare's own headers
    /// would reach an edge that trusts them).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// A browser in `country` (ISO code), as Cloudflare would tell the edge (the local
    /// workerd's `x-pdm-local-cf` header).
    pub fn in_country(base: &str, country: &str) -> Self {
        let mut b = Self::new(base);
        b.headers.push(("x-pdm-local-cf", serde_json::json!({ "country": country }).to_string()));
        b
    }

    /// GET `path`, sending the cookie and keeping any `pdm` cookie set.
    pub fn get(&mut self, path: &str) -> Reply {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        let r = reply(req.call().expect("GET"));
        // A trigger sets the binding and the token cookie; both go back, as a browser sends them.
        let set: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .filter(|p| p.starts_with("__Host-pdm=") || p.starts_with("pdmt="))
            .collect();
        if set.iter().any(|p| p.starts_with("__Host-pdm=")) {
            self.cookie = Some(set.join("; "));
        }
        r
    }

    /// The `__Host-pdm=<sid>.<secret>` pair alone, once set.
    pub fn binding_cookie(&self) -> Option<&str> {
        self.cookie.as_deref().and_then(|c| c.split("; ").find(|p| p.starts_with("__Host-pdm=")))
    }

    /// POST JSON to `path` with the cookie.
    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        let mut req = self.agent.post(&format!("{}{path}", self.base)).header("Content-Type", "application/json");
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        reply(req.send(body.to_string().as_bytes()).expect("POST"))
    }

    /// Answers "is this your phone?" (`POST /portal/api/identify`).
    pub fn identify(&self, mine: bool) -> Reply {
        self.post_json("/portal/api/identify", &serde_json::json!({ "mine": mine }))
    }

    /// The portal session view.
    pub fn session(&mut self) -> Value {
        let r = self.get("/portal/api/session");
        assert_eq!(r.status, 200, "session: {}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Polls the session until its state is `state` (or fails after `limit`).
    pub fn wait_for(&mut self, state: &str, limit: Duration) -> Value {
        self.wait_for_any(&[state], limit)
    }

    /// Polls the session until its state is one of `states`: a fast phone can pass through a
    /// state between two polls. Asked "is this your phone?" on the way (and not waiting for
    /// that question itself), it answers yes, as the phone's owner would.
    pub fn wait_for_any(&mut self, states: &[&str], limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.session();
            if states.iter().any(|s| v["state"] == *s) {
                return v;
            }
            if v["state"] == "identified" {
                let r = self.identify(true);
                assert_eq!(r.status, 200, "identify: {}", String::from_utf8_lossy(&r.body));
                continue;
            }
            assert!(Instant::now() < deadline, "state never became one of {states:?}: last {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Any request, for tests of raw endpoints.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Reply {
    reply(agent().post(url).header("Content-Type", content_type).send(body).expect("POST"))
}

/// A GET without cookies.
pub fn get(url: &str) -> Reply {
    get_with(url, &[])
}

/// A GET with extra headers.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.call().expect("GET"))
}

/// A HEAD request.
pub fn head(url: &str) -> Reply {
    reply(agent().head(url).call().expect("HEAD"))
}

/// A DELETE with extra headers.
pub fn delete_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().delete(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.call().expect("DELETE"))
}

/// A POST with extra headers.
pub fn post_with(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(body).expect("POST"))
}
