# Shared by scripts/start and scripts/test: install Debian packages that are missing.
# Usage: ensure_packages CHECK-COMMAND PACKAGE [CHECK-COMMAND PACKAGE ...]
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "haven: $* needs root; run as root or install sudo" >&2; exit 1; fi
}

ensure_packages() {
  local missing=()
  while [ $# -gt 0 ]; do
    if ! eval "$1" >/dev/null 2>&1; then missing+=("$2"); fi
    shift 2
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

postgres_installed() {
  command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

ensure_cargo() {
  if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null || { echo "haven: Rust is missing; install it with rustup (https://rustup.rs), then run this again" >&2; exit 1; }
  ensure_toolchain
}

# rust-toolchain.toml pins the compiler. Where rustup has no toolchain of that name but
# its stable one is that version, name it so; otherwise ask rustup to install it.
ensure_toolchain() {
  command -v rustup >/dev/null || return 0
  local pinned
  pinned=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml 2>/dev/null)
  [ -n "$pinned" ] || return 0
  rustup run "$pinned" rustc --version >/dev/null 2>&1 && return 0
  if rustup run stable rustc --version 2>/dev/null | grep -q "^rustc $pinned "; then
    rustup toolchain link "$pinned" "$(rustup run stable rustc --print sysroot)"
  else
    echo "==> installing Rust $pinned (rust-toolchain.toml)" >&2
    rustup toolchain install "$pinned" --profile minimal --component rustfmt,clippy
  fi
}
