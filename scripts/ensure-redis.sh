#!/bin/sh
# The sweep tests (src/sweep/sweep.test.ts) start a real redis-server on
# 127.0.0.1 (BullMQ queue). Install Debian's package when it is missing;
# HEMNET_REDIS_SERVER points to another binary instead.
exec sh "$(dirname "$0")/ensure-debian-package.sh" redis-server /usr/bin/redis-server HEMNET_REDIS_SERVER "the sweep tests"
