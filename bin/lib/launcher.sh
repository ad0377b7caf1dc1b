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
# Without RAFTMQ_BIN_DIR, one `cargo build --release --locked` of every
# binary in `raftmq_binaries` runs first, whichever launcher asks: cargo's
# own staleness check makes it a no-op when they are up to date.
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

# Every release binary the launchers run, as PACKAGE:BIN. They are always
# built together, by one cargo invocation: cargo unifies dependency features
# over the packages of one invocation, so building a subset (mqadmin alone,
# say) would compile the dependencies again with other features and replace
# the binaries the other launchers use. One set, one feature set, one build.
raftmq_binaries=(raftmq-nameserver:mqnamesrv raftmq-broker:mqbroker raftmq-client:mqadmin)

# raftmq_build: brings every release binary up to date with one cargo run
# (output on stderr; a no-op when nothing changed). Without cargo, settles
# for binaries already built.
raftmq_build() {
  local release missing=() entry args=(build --release --locked --quiet)
  release=$(raftmq_release_dir)
  for entry in "${raftmq_binaries[@]}"; do
    args+=(-p "${entry%%:*}" --bin "${entry#*:}")
    [[ -x $release/${entry#*:} ]] || missing+=("${entry#*:}")
  done
  if command -v cargo >/dev/null 2>&1; then
    (cd "$raftmq_home" && cargo "${args[@]}") >&2 ||
      raftmq_die "cargo build --release failed in $raftmq_home (see above)"
  elif ((${#missing[@]} == 0)); then
    raftmq_warn "cargo not found on PATH; running the binaries already in $release, which may be out of date"
  else
    raftmq_die "cargo not found on PATH and ${missing[*]} not built in $release: install Rust (https://rustup.rs) or set RAFTMQ_BIN_DIR to a directory holding the raftmq binaries"
  fi
}

# raftmq_exec BIN [ARGS...]: replaces this shell with BIN (one of
# `raftmq_binaries`), so the caller's pid becomes the binary's.
raftmq_exec() {
  local bin=$1 path
  shift
  if [[ -n ${RAFTMQ_BIN_DIR:-} ]]; then
    path=$RAFTMQ_BIN_DIR/$bin
    [[ -f $path && -x $path ]] ||
      raftmq_die "RAFTMQ_BIN_DIR=$RAFTMQ_BIN_DIR has no executable $bin: build it or unset RAFTMQ_BIN_DIR"
  else
    raftmq_build
    path=$(raftmq_release_dir)/$bin
    [[ -x $path ]] || raftmq_die "cargo built nothing at $path"
  fi
  exec "$path" "$@"
}
