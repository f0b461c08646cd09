/**
 * Node only. Preloaded (`node --import`) into every child a sweep starts:
 * when the parent (a `hemnet worker` or `hemnet sweep run`) dies, even by
 * SIGKILL, the child dies too, so a re-queued run is never written by two
 * processes at once. Polls the parent pid; the timer does not keep the
 * process alive.
 */
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
}, 250).unref();
