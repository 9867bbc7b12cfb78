#!/bin/sh
# Installs the Debian 12 packages pyrpoold needs to build, run, test and bench.
# Idempotent: does nothing when every package is already installed.
# (the interpreter itself comes with python3-dev)
# Usage: scripts/install-deps.sh [fuzz]     (as root, or with sudo available)
#   fuzz: also clang and its libFuzzer runtime (make fuzz)
set -eu

PKGS="build-essential pkg-config libuv1-dev libmsgpack-dev libyaml-dev
libhttp-parser-dev python3-dev libcmocka-dev libsystemd-dev python3-msgpack
python3-pytest python3-pytest-timeout python3-prometheus-client
golang-go golang-github-ugorji-go-codec-dev python3-pynvim nodejs
python3-yaml python3-setuptools python3-pip python3-wheel python3-venv"
# off-the-shelf clients in the tests: Go's ugorji codec, pynvim, and a Node
# client from npm (a nodejs that bundles npm already needs no npm package);
# the venv and setuptools for the offline install of clients/python
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
# the Erlang client (clients/erlang): erlc + escript, EUnit (its eunit.hrl is in
# erlang-dev), eprof/fprof
PKGS="$PKGS erlang-base erlang-dev erlang-eunit erlang-tools"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
