/**
 * One request at a time to one `worker_threads` worker (Node only), shared by
 * the gradient and the evaluation pools: a request resolves with the
 * worker's next reply, an `{ type: 'error' }` reply rejects it, and a worker
 * that fails or exits (other than by `terminate`) rejects the request in
 * flight and every later one.
 */
import type { Worker } from 'node:worker_threads';

/** A worker's reply: its `type`, and `message` when `type` is 'error'. */
export interface WorkerReplyBase {
  type: string;
  message?: string;
}

export class WorkerSlot<Reply extends WorkerReplyBase> {
  private readonly worker: Worker;
  /** Resolves the reply to the request in flight. */
  private waiting: ((reply: Reply | WorkerReplyBase) => void) | null = null;
  private failed: Error | null = null;
  private terminated = false;

  /** `label` names the worker in errors, e.g. "gradient worker 2". */
  constructor(
    worker: Worker,
    private readonly owner: string,
    label: string,
  ) {
    this.worker = worker;
    worker.on('message', (reply: Reply) => this.settle(reply));
    worker.on('error', (error: Error) => this.fail(error));
    worker.on('exit', (code) => {
      if (!this.terminated) this.fail(new Error(`${label} exited with code ${code}`));
    });
  }

  private settle(reply: Reply | WorkerReplyBase): void {
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.(reply);
  }

  private fail(error: Error): void {
    this.failed = error;
    this.settle({ type: 'error', message: error.message });
  }

  /** Sends `request` (or, with null, only waits for the next reply) and resolves with the worker's successful reply. */
  request(request: object | null): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.failed !== null) {
        reject(new Error(`${this.owner}: ${this.failed.message}`));
        return;
      }
      if (this.waiting !== null) {
        reject(new Error(`${this.owner}: a request is already in flight on this worker`));
        return;
      }
      this.waiting = (reply) => (reply.type === 'error' ? reject(new Error(`${this.owner}: a worker failed: ${reply.message ?? 'unknown error'}`)) : resolve(reply as Reply));
      if (request !== null) this.worker.postMessage(request);
    });
  }

  /** Ends the worker (no 'exited' error follows). */
  async terminate(): Promise<void> {
    this.terminated = true;
    await this.worker.terminate();
  }
}
