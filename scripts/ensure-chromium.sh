#!/bin/sh
# The browser test (test/browser.test.ts) drives Debian's Chromium through
# playwright-core. Install it from apt when it is missing; HEMNET_CHROMIUM
# points to another binary instead.
set -e
CHROMIUM="${HEMNET_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ -n "${HEMNET_CHROMIUM:-}" ]; then
  echo "ensure-chromium: HEMNET_CHROMIUM=$HEMNET_CHROMIUM is not an executable" >&2
  exit 1
fi
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ensure-chromium: /usr/bin/chromium is missing and this user cannot run apt-get; install Debian's 'chromium' package or set HEMNET_CHROMIUM" >&2
  exit 1
fi
echo "ensure-chromium: installing Debian's chromium package for the browser test" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
test -x /usr/bin/chromium
