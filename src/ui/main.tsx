/**
 * Entry point: checks for WebGPU first (a page that says what to do, never a blank screen), then
 * starts the studio.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { EngineBridge } from './engineBridge.ts';
import { NoWebGpu, webGpuProblem } from './NoWebGpu.tsx';
import './styles.css';

declare global {
  interface Window {
    /** The development build's hooks for tests (e2e/studio.nothingLost.test.ts): faults a person cannot cause on purpose. */
    adalinkTest?: { loseGpuDevice(): Promise<void> };
  }
}

const root = createRoot(document.getElementById('root')!);
const problem = await webGpuProblem();
// One engine bridge for the page's life (created here, not in a component, which StrictMode renders twice).
const bridge = problem ? undefined : new EngineBridge();
if (bridge && import.meta.env.DEV) window.adalinkTest = { loseGpuDevice: () => bridge.simulateDeviceLoss() };
root.render(<StrictMode>{bridge ? <App bridge={bridge} /> : <NoWebGpu problem={problem!} />}</StrictMode>);
