//! The per-client concurrency limit on `/graphql` (issue 20): one client may have at most
//! [`ServerConfig::max_requests_per_client`](super::ServerConfig) GraphQL requests running at once;
//! one more is answered at once with 429 and the code `TOO_MANY_REQUESTS`, not queued.
//!
//! A client is its token when the token is valid (a secretariat's scripts behind one NAT are told
//! apart from a stranger), and otherwise the IP address it connects from – never an unknown token,
//! which anyone can vary at will to look like many clients. A request with no peer address (a test
//! calling the router without a socket) is not limited.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::app::{Caller, bearer};
use crate::error::{ApiError, Code};

/// Who a request is from, for the limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    /// A valid token, by its name.
    Token(String),
    /// No valid token: the address it connects from.
    Address(IpAddr),
}

/// The requests running per client.
#[derive(Debug)]
pub(super) struct Clients {
    max: usize,
    // Invariant: holds only clients with at least one request running, so it never outgrows the
    // connections open.
    running: Mutex<HashMap<Client, usize>>,
}

impl Clients {
    pub(super) fn new(max: usize) -> Self {
        Self { max: max.max(1), running: Mutex::new(HashMap::new()) }
    }

    /// A slot for one more request of `client`, or `None` when it has all it may.
    fn enter(self: &Arc<Self>, client: Client) -> Option<Slot> {
        // The map is consistent after every statement, so a panic elsewhere leaves it usable.
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let count = running.entry(client.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot { clients: Arc::clone(self), client })
    }
}

/// One running request; frees its place when dropped (answered, or cancelled by the deadline).
struct Slot {
    clients: Arc<Clients>,
    client: Client,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.clients.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.client);
            }
        }
    }
}

/// The middleware: a slot for the request's client, or 429.
pub(super) async fn limit_per_client(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let token = bearer(request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let client = match shared.app.authenticate(token) {
        Caller::Token { name, .. } => Some(Client::Token(name)),
        Caller::Anonymous | Caller::Unknown | Caller::Revoked { .. } | Caller::Expired { .. } => {
            request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| Client::Address(peer.ip()))
        }
    };
    let Some(client) = client else { return next.run(request).await };
    let Some(slot) = shared.clients.enter(client) else {
        let message = format!(
            "this client already has {} requests running, the most this server runs at once for one client; retry when one has been answered",
            shared.clients.max
        );
        let body = ApiError::new(Code::TooManyRequests, message).into_response_body();
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let response = next.run(request).await;
    drop(slot);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_slots_back_as_its_requests_end_and_others_are_not_counted() {
        let clients = Arc::new(Clients::new(2));
        let me = Client::Address(IpAddr::from([10, 0, 0, 1]));
        let first = clients.enter(me.clone()).expect("one");
        let second = clients.enter(me.clone()).expect("two");
        assert!(clients.enter(me.clone()).is_none(), "a third is refused");
        assert!(clients.enter(Client::Token("nacka".into())).is_some(), "another client is not");
        drop(first);
        let third = clients.enter(me.clone()).expect("a slot again");
        drop((second, third));
        assert!(clients.running.lock().expect("not poisoned").is_empty(), "no entry is left behind");
    }
}
