#!/bin/sh
# The sweep tests (src/sweep/sweep.test.ts) start a real redis-server on
# 127.0.0.1 (BullMQ queue). Install Debian's package when it is missing;
# HEMNET_REDIS_SERVER points to another binary instead.
set -e
REDIS="${HEMNET_REDIS_SERVER:-/usr/bin/redis-server}"
if [ -x "$REDIS" ]; then exit 0; fi
if [ -n "${HEMNET_REDIS_SERVER:-}" ]; then
  echo "ensure-redis: HEMNET_REDIS_SERVER=$HEMNET_REDIS_SERVER is not an executable" >&2
  exit 1
fi
if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ensure-redis: /usr/bin/redis-server is missing and this user cannot run apt-get; install Debian's 'redis-server' package or set HEMNET_REDIS_SERVER" >&2
  exit 1
fi
echo "ensure-redis: installing Debian's redis-server package for the sweep tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
test -x /usr/bin/redis-server
