/**
 * The plots: the loss curve (uPlot: train loss per step, validation loss at its steps) and its numbers
 * as a table, a histogram (SVG bars), and before/after bars for the caption metrics.
 */
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface LossSeries {
  steps: number[];
  train: number[];
  validation: Array<{ step: number; loss: number }>;
}

/** The loss curve is redrawn at most this often while a run adds points to it. */
const REDRAW_MS = 1000;

/** Train loss (every step) and validation loss (at its steps) on one step axis. */
export function LossChart({ series, height = 260 }: { series: LossSeries; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);

  // Both series come in step order: one merge, no sorting or maps, as this runs with every update of a run.
  const data = (): uPlot.AlignedData => {
    const { steps: trainSteps, train, validation } = series;
    const steps: number[] = [];
    const trainLoss: Array<number | null> = [];
    const validationLoss: Array<number | null> = [];
    let i = 0;
    let j = 0;
    while (i < trainSteps.length || j < validation.length) {
      const t = i < trainSteps.length ? trainSteps[i] : Infinity;
      const v = j < validation.length ? validation[j].step : Infinity;
      const step = Math.min(t, v);
      steps.push(step);
      trainLoss.push(t === step ? train[i++] : null);
      validationLoss.push(v === step ? validation[j++].loss : null);
    }
    return [steps, trainLoss, validationLoss];
  };

  useEffect(() => {
    const element = box.current!;
    const chart = new uPlot({
      width: Math.max(200, element.clientWidth),
      height,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: 'loss' }],
      series: [
        { label: 'step' },
        { label: 'train loss', stroke: '#2563eb', width: 2, spanGaps: true, points: { show: false } },
        { label: 'validation loss', stroke: '#ea580c', width: 2, spanGaps: true, points: { show: true, size: 7 } },
      ],
    }, data(), element);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, element.clientWidth), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = undefined;
    };
    // The chart is created once; data updates below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [height]);

  // The curve is redrawn at most once a second while a run adds to it (at once when it shrinks: a new run). Each
  // redraw hands a new canvas to the compositor, which the page's next frame commit waits for: fewer of them,
  // fewer such waits while the GPU is busy training.
  const drawn = useRef({ at: 0, points: 0 });
  const pendingDraw = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    const draw = () => {
      pendingDraw.current = undefined;
      drawn.current = { at: performance.now(), points: series.steps.length + series.validation.length };
      plot.current?.setData(data());
    };
    clearTimeout(pendingDraw.current);
    const wait = drawn.current.at + REDRAW_MS - performance.now();
    const shrank = series.steps.length + series.validation.length < drawn.current.points;
    if (wait <= 0 || shrank) draw();
    else pendingDraw.current = setTimeout(draw, wait);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [series]);
  useEffect(() => () => clearTimeout(pendingDraw.current), []);

  return <div className="chart" ref={box} data-testid="loss-chart" />;
}

/**
 * The loss curve's numbers, a row per step (train loss, and validation loss where there is one), for
 * people who would rather read than look and for copying. Drawn only while open: a long run has many rows.
 */
export function LossTable({ series }: { series: LossSeries }) {
  const [open, setOpen] = useState(false);
  return (
    <details data-testid="loss-table" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Loss at every step (table)</summary>
      {open && (
        <div className="table-scroll">
          <table>
            <thead><tr><th>Step</th><th>Train loss</th><th>Validation loss</th></tr></thead>
            <tbody>
              {lossRows(series).map(({ step, train, validation }) => (
                // data-*: the numbers as they are (the cells round them), for tests and for copying.
                <tr key={step} data-step={step} data-train-loss={train} data-validation-loss={validation}>
                  <td>{step}</td><td>{train?.toFixed(5) ?? ''}</td><td>{validation?.toFixed(5) ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </details>
  );
}

/** One row per step that has a train or a validation loss, in step order. */
function lossRows({ steps, train, validation }: LossSeries): Array<{ step: number; train?: number; validation?: number }> {
  const rows = new Map<number, { step: number; train?: number; validation?: number }>();
  steps.forEach((step, i) => rows.set(step, { step, train: train[i] }));
  for (const v of validation) rows.set(v.step, { ...rows.get(v.step), step: v.step, validation: v.loss });
  return [...rows.values()].sort((a, b) => a.step - b.step);
}

/** Vertical bars with labels under them: counts per bin. */
export function Histogram({ edges, counts, xLabel }: { edges: number[]; counts: number[]; xLabel: string }) {
  const width = 320;
  const height = 120;
  const max = Math.max(1, ...counts);
  const barWidth = width / counts.length;
  return (
    <figure className="histogram">
      <svg viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-label={`histogram of ${xLabel}`}>
        {counts.map((count, i) => {
          const h = (count / max) * height;
          return (
            <g key={i}>
              <rect x={i * barWidth + 1} y={height - h} width={barWidth - 2} height={h} fill="#60a5fa">
                <title>{`${edges[i]}–${edges[i + 1] - 1}: ${count}`}</title>
              </rect>
              {(i % Math.ceil(counts.length / 6) === 0) && <text x={i * barWidth + barWidth / 2} y={height + 14} fontSize="10" textAnchor="middle">{edges[i]}</text>}
            </g>
          );
        })}
      </svg>
      <figcaption className="muted">{xLabel}</figcaption>
    </figure>
  );
}

/** For each metric, the frozen model's bar next to the adapted one's. */
export function BeforeAfterBars({ metrics }: { metrics: Array<{ name: string; before: number; after: number }> }) {
  const rowHeight = 34;
  const labelWidth = 80;
  const width = 360;
  const max = Math.max(1e-9, ...metrics.flatMap((m) => [m.before, m.after]));
  const scale = (v: number) => ((width - labelWidth - 50) * v) / max;
  return (
    <svg className="bars" viewBox={`0 0 ${width} ${metrics.length * rowHeight + 24}`} role="img" aria-label="metrics before and after">
      {metrics.map((m, i) => (
        <g key={m.name} transform={`translate(0, ${i * rowHeight})`}>
          <text x={0} y={18} fontSize="12">{m.name}</text>
          <rect x={labelWidth} y={4} height={11} width={scale(m.before)} fill="#9ca3af" />
          <text x={labelWidth + scale(m.before) + 4} y={14} fontSize="10">{m.before.toFixed(1)}</text>
          <rect x={labelWidth} y={17} height={11} width={scale(m.after)} fill="#16a34a" />
          <text x={labelWidth + scale(m.after) + 4} y={27} fontSize="10">{m.after.toFixed(1)}</text>
        </g>
      ))}
      <g transform={`translate(${labelWidth}, ${metrics.length * rowHeight + 8})`}>
        <rect width={10} height={10} fill="#9ca3af" /><text x={14} y={9} fontSize="10">frozen model</text>
        <rect x={100} width={10} height={10} fill="#16a34a" /><text x={114} y={9} fontSize="10">with adapter</text>
      </g>
    </svg>
  );
}
