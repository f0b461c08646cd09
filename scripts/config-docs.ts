/** Rewrites docs/config.md from the schemas (see src/cli/configDocs.ts). Run: npx tsx scripts/config-docs.ts */
import { writeFile } from 'node:fs/promises';
import { configDocs } from '../src/cli/configDocs.js';

await writeFile(new URL('../docs/config.md', import.meta.url), configDocs());
console.log('wrote docs/config.md');
