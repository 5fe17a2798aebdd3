# Sourced by the scripts in this directory (not run): installs what a fresh machine lacks.

# Installs Debian packages, as root or through sudo.
apt_install() {
  echo "installing: $*" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}

# Installs the cargo subcommand `cargo <name>` from crates.io unless it is there already.
# --debug: a dev build compiles in a fraction of the time of a release build (cargo-deny 1 min 9 s
# against 6 min 11 s, cargo-fuzz 30 s against 2 min 13 s, on 2 cores) and is fast enough for what the
# scripts do with it. It builds in a directory of its own, removed after: a CARGO_TARGET_DIR set for
# the workspace would be polluted.
cargo_tool_install() {
  local name="$1"
  cargo "$name" --version >/dev/null 2>&1 && return 0
  echo "installing: cargo-$name" >&2
  local build_dir
  build_dir="$(mktemp -d)"
  CARGO_TARGET_DIR="$build_dir" cargo install --locked --debug "cargo-$name"
  rm -rf "$build_dir"
}
