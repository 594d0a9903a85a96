import cliProgress from 'cli-progress';

/** Where a run reports while it works: stderr, so stdout stays for results (and the --json line). */
export interface Reporter {
  info(message: string): void;
  /** Something the user must know (a dropped torn line, a plugin that failed to load): shown even with --quiet. */
  warn?(message: string): void;
  start(label: string, total: number, startAt: number): void;
  tick(step: number, values: { loss: number; imagesPerSecond: number }): void;
  stop(): void;
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * A cli-progress bar with step, loss, images/s and ETA on a terminal; plain log
 * lines (every `logEvery` steps and at the end) when stderr is not a TTY or CI is set.
 */
export function createReporter(options: { quiet?: boolean; stream?: NodeJS.WriteStream; logEvery?: number } = {}): Reporter {
  const stream = options.stream ?? process.stderr;
  const interactive = Boolean(stream.isTTY) && !process.env.CI && !options.quiet;
  const write = (line: string) => {
    if (!options.quiet) stream.write(`${line}\n`);
  };
  let bar: cliProgress.SingleBar | undefined;
  let total = 0;
  let label = '';
  let started = 0;
  let startStep = 0;
  const logEvery = options.logEvery ?? 10;
  let shown = { loss: '-', ips: '-' };
  return {
    info(message) {
      if (bar) bar.stop();
      write(message);
      bar = undefined;
    },
    warn(message) {
      if (bar) bar.stop();
      stream.write(`warning: ${message}\n`);
      bar = undefined;
    },
    start(name, steps, startAt) {
      label = name;
      total = steps;
      started = performance.now();
      startStep = startAt;
      if (interactive) {
        bar = new cliProgress.SingleBar(
          { stream, format: `${name} [{bar}] step {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(steps, startAt, shown);
      }
    },
    tick(step, values) {
      if (bar) {
        shown = { loss: values.loss.toFixed(4), ips: values.imagesPerSecond.toFixed(1) };
        bar.update(step, shown);
        return;
      }
      if (step % logEvery === 0 || step === total) {
        const elapsed = (performance.now() - started) / 1000;
        const rate = (step - startStep) / Math.max(elapsed, 1e-9);
        const eta = rate > 0 ? (total - step) / rate : Number.POSITIVE_INFINITY;
        write(`${label} step ${step}/${total} loss ${values.loss.toFixed(4)} ${values.imagesPerSecond.toFixed(1)} img/s ETA ${formatEta(eta)}`);
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
