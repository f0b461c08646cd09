#!/bin/sh
# Installs a Debian package from apt when the binary a test needs is missing.
# Usage: ensure-debian-package.sh PACKAGE BINARY OVERRIDE_VAR PURPOSE
#   PACKAGE       the Debian package (e.g. chromium)
#   BINARY        the binary it installs (e.g. /usr/bin/chromium)
#   OVERRIDE_VAR  an environment variable that may name another binary instead
#   PURPOSE       what needs it, for the messages
set -e
PACKAGE="$1"; DEFAULT_BINARY="$2"; OVERRIDE_VAR="$3"; PURPOSE="$4"
eval "OVERRIDE=\${$OVERRIDE_VAR:-}"
BINARY="${OVERRIDE:-$DEFAULT_BINARY}"
if [ -x "$BINARY" ]; then exit 0; fi
if [ -n "$OVERRIDE" ]; then
  echo "ensure-$PACKAGE: $OVERRIDE_VAR=$OVERRIDE is not an executable" >&2
  exit 1
fi
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ensure-$PACKAGE: $DEFAULT_BINARY is missing and this user cannot run apt-get; install Debian's '$PACKAGE' package or set $OVERRIDE_VAR" >&2
  exit 1
fi
echo "ensure-$PACKAGE: installing Debian's $PACKAGE package for $PURPOSE" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$PACKAGE" >/dev/null
test -x "$DEFAULT_BINARY"
