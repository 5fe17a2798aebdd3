//! Samverkan's GraphQL server and command line. Not built yet (issue 4); the crate exists so the
//! workspace has its final shape.
