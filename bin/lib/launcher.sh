# shellcheck shell=bash
# Sourced by bin/mqnamesrv, bin/mqbroker, bin/mqadmin and bin/dledger/fast-try.sh:
# find a raftmq binary, building it first with cargo, and run it.
#
# The sourcing script sets `raftmq_home` (the repository root) first.
#
# Environment:
#   RAFTMQ_BIN_DIR    run the binaries from this directory; nothing is built.
#   CARGO_TARGET_DIR  cargo's target directory (default: target/ in the
#                     repository; a relative path is taken from the root).
#
# Without RAFTMQ_BIN_DIR, `cargo build --release --locked --quiet` runs first:
# cargo's own staleness check makes it a no-op when the binary is up to date.
# Without cargo on PATH, an existing target/release binary is used, with a
# warning that it may be stale.

: "${raftmq_home:?set raftmq_home to the repository root before sourcing launcher.sh}"

raftmq_die() {
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

raftmq_warn() {
  printf '%s: warning: %s\n' "${0##*/}" "$*" >&2
}

# The directory cargo puts release binaries in.
raftmq_release_dir() {
  local target=${CARGO_TARGET_DIR:-target}
  [[ $target == /* ]] || target=$raftmq_home/$target
  printf '%s/release\n' "$target"
}

# raftmq_build PACKAGE BIN [PACKAGE BIN ...]: brings release binaries up to
# date with one cargo run (output on stderr). Without cargo, settles for
# binaries already built.
raftmq_build() {
  local release args=() missing=() package bin
  release=$(raftmq_release_dir)
  while (($# >= 2)); do
    package=$1 bin=$2
    shift 2
    args+=(-p "$package" --bin "$bin")
    [[ -x $release/$bin ]] || missing+=("$bin")
  done
  if command -v cargo >/dev/null 2>&1; then
    (cd "$raftmq_home" && cargo build --release --locked --quiet "${args[@]}") >&2 ||
      raftmq_die "cargo build --release failed in $raftmq_home (see above)"
  elif ((${#missing[@]} == 0)); then
    raftmq_warn "cargo not found on PATH; running the binaries already in $release, which may be out of date"
  else
    raftmq_die "cargo not found on PATH and ${missing[*]} not built in $release: install Rust (https://rustup.rs) or set RAFTMQ_BIN_DIR to a directory holding the raftmq binaries"
  fi
}

# raftmq_exec PACKAGE BIN [ARGS...]: replaces this shell with BIN, so the
# caller's pid becomes the binary's.
raftmq_exec() {
  local package=$1 bin=$2 path
  shift 2
  if [[ -n ${RAFTMQ_BIN_DIR:-} ]]; then
    path=$RAFTMQ_BIN_DIR/$bin
    [[ -f $path && -x $path ]] ||
      raftmq_die "RAFTMQ_BIN_DIR=$RAFTMQ_BIN_DIR has no executable $bin: build it or unset RAFTMQ_BIN_DIR"
  else
    raftmq_build "$package" "$bin"
    path=$(raftmq_release_dir)/$bin
    [[ -x $path ]] || raftmq_die "cargo built nothing at $path"
  fi
  exec "$path" "$@"
}
