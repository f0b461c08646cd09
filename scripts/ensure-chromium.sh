#!/bin/sh
# The browser test (test/browser.test.ts) drives Debian's Chromium through
# playwright-core. Install it from apt when it is missing; HEMNET_CHROMIUM
# points to another binary instead.
exec sh "$(dirname "$0")/ensure-debian-package.sh" chromium /usr/bin/chromium HEMNET_CHROMIUM "the browser test"
