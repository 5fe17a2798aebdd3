//! Load: concurrent GraphQL clients and many WebSocket subscribers on loopback; every subscriber sees every event once, in order.
