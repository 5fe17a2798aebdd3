//! Crashes of the real server and of `samverkan import`, killed with SIGKILL at random moments.
