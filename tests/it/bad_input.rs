//! The bad-input catalogue: GraphQL, WebSocket, JSONL import and CLI inputs that must be refused with a typed error, change nothing and leave the server serving.
