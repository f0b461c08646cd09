import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fitToWidth, isInteractive, ProgressBar } from './progress.js';

function fakeStream(isTTY: boolean, columns?: number): NodeJS.WriteStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns, write: (text: string) => written.push(text) > 0, written } as unknown as NodeJS.WriteStream & { written: string[] };
}

const FIELDS = { loss: '2.345', lr: '9.00e-3', 'img/s': '41.7', extra: 'a long field that alone would overflow a narrow terminal' };

describe('ProgressBar', () => {
  it('on a TTY, every redraw fits the terminal width (one column spare) and overwrites the previous line', () => {
    for (const columns of [40, 80, 120]) {
      const stream = fakeStream(true, columns);
      const bar = new ProgressBar({ label: 'train', total: 50, stream, env: {} });
      for (let step = 1; step <= 50; step++) bar.update(step, FIELDS);
      const redraws = stream.written.filter((t) => t.startsWith('\r'));
      assert.equal(redraws.length, 50);
      for (const text of redraws) {
        assert.ok(Array.from(text.slice(1)).length <= columns - 1, `${Array.from(text).length - 1} > ${columns - 1}: ${text}`);
        assert.ok(!text.slice(1).includes('\n'));
      }
      assert.match(redraws[49] as string, /^\rtrain █+ 50\/50/);
      assert.equal(stream.written.at(-1), '\n');
    }
  });

  it('prints plain lines without \\r or bar glyphs when not a TTY, with NO_COLOR, or with TERM=dumb', () => {
    const cases: Array<[boolean, Record<string, string>]> = [[false, {}], [true, { NO_COLOR: '1' }], [true, { TERM: 'dumb' }]];
    for (const [tty, env] of cases) {
      const stream = fakeStream(tty, 80);
      const bar = new ProgressBar({ label: 'eval ', total: 10, stream, plainEvery: 5, env });
      for (let i = 1; i <= 10; i++) bar.update(i, { loss: '1.000' });
      assert.deepEqual(stream.written.map((t) => t.replace(/elapsed \S+  eta \S+/, 'T')), ['eval   5/10  T  loss 1.000\n', 'eval  10/10  T  loss 1.000\n'], JSON.stringify(env));
      for (const text of stream.written) assert.ok(!text.includes('\r') && !text.includes('█'));
    }
    // NO_COLOR set but empty does not count (no-color.org).
    assert.equal(isInteractive(fakeStream(true), { NO_COLOR: '' }), true);
  });

  it('takes the time left from the caller when given (null: not known yet)', () => {
    let left: number | null = null;
    const stream = fakeStream(false, 80);
    const bar = new ProgressBar({ label: 'sweep', total: 4, stream, plainEvery: 1, env: {}, secondsLeft: () => left });
    bar.update(1);
    left = 3725;
    bar.update(2);
    assert.match(stream.written[0] as string, /^sweep 1\/4  elapsed 00:00  eta --:--\n$/);
    assert.match(stream.written[1] as string, /^sweep 2\/4  elapsed 00:00  eta 62:05\n$/);
  });

  it('prints nothing when disabled (--quiet)', () => {
    const stream = fakeStream(true, 80);
    const bar = new ProgressBar({ label: 'train', total: 3, stream, enabled: false, env: {} });
    for (let i = 1; i <= 3; i++) bar.update(i, FIELDS);
    bar.finish();
    assert.deepEqual(stream.written, []);
  });

  it('fitToWidth cuts by code points and marks the cut', () => {
    assert.equal(fitToWidth('train ███░░ 3/5', 9), 'train ██…');
    assert.equal(fitToWidth('short', 9), 'short');
  });
});
