/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser):
 * used by test/browser.test.ts and scripts/browser-screenshot.ts.
 * `HEMNET_CHROMIUM` overrides the binary path.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.HEMNET_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `launchChromium: no Chromium at ${CHROMIUM_PATH}. Install Debian's package (sudo apt-get install -y chromium, as scripts/ensure-chromium.sh does) or set HEMNET_CHROMIUM to a Chromium binary`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // The machine's network is closed: without the background-networking
    // flags Chromium keeps retrying Google's hosts.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
