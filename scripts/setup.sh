#!/usr/bin/env bash
# Installs what building Choreo needs on Debian/Ubuntu: libcurl's, SQLite's, libpq's (the PostgreSQL
# store), libedit's (chat's line editing) and libcrypto's (SHA-256) headers and pkg-config, the
# PostgreSQL server (the PostgreSQL store's tests start a throwaway cluster of their own,
# Tests/ChoreoTesting/PostgresServer.swift), tinyproxy (a real HTTP proxy for the proxy tests), nginx and openssl (a real TLS and HTTP/2 server,
# with certificates made by the TLS tests and the bench) and chromium (headless, for the `choreo report`
# browser tests and scripts/report-screenshot.sh) and iproute2 (network namespaces: scripts/netns-soak.sh
# runs runners as separate machines). Idempotent: does nothing when they are already there.
set -euo pipefail
command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 2; }
command -v git >/dev/null || { echo "setup: git is not on PATH (SwiftPM fetches dependencies with it)" >&2; exit 2; }
missing=()
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
pkg-config --exists libedit 2>/dev/null || missing+=(libedit-dev)
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
pkg-config --exists libcrypto 2>/dev/null || missing+=(libssl-dev)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -x /usr/bin/tinyproxy ] || missing+=(tinyproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || missing+=(iproute2)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The strict-reader check (scripts/strict-reader): pydantic and the openai package from PyPI, in a
# venv under .build (kept out of git, rebuilt by nobody else).
venv="$(cd "$(dirname "$0")/.." && pwd)/.build/strict-venv"
if ! "$venv/bin/python" -c 'import openai, pydantic' 2>/dev/null; then
  echo "setup: installing pydantic and openai into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'pydantic>=2,<3' 'openai>=1.40,<3'
fi
