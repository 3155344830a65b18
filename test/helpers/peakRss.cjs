// Preloaded with `node -r` by a test: prints the process's peak resident set (VmHWM, kB) to stderr as it exits.
const fs = require('node:fs');
process.on('exit', () => {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  process.stderr.write(`peak-rss-kb=${m ? m[1] : 0}\n`);
});
