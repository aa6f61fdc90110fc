/**
 * One progress display for every long phase of a command-line program: a bar on a terminal, and a line
 * every 5 % when the output goes to a file or a pipe (CI logs, the GPU machine).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, extra?: string): void;
  stop(): void;
}

export function progress(phase: string, total: number, start = 0): Progress {
  if (process.stdout.isTTY) {
    const bar = new cliProgress.SingleBar({ format: ` ${phase} [{bar}] {value}/{total} {extra}`, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(total, start, { extra: '' });
    return { update: (done, extra = '') => bar.update(done, { extra }), stop: () => bar.stop() };
  }
  const every = Math.max(1, Math.round(total / 20));
  return {
    update(done, extra = '') {
      if (done % every === 0 || done === total) console.log(`${phase} ${done}/${total}  ${extra}`.trimEnd());
    },
    stop() {},
  };
}
