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

const root = createRoot(document.getElementById('root')!);
const problem = await webGpuProblem();
// One engine worker for the page's life (created here, not in a component, which StrictMode renders twice).
root.render(<StrictMode>{problem ? <NoWebGpu problem={problem} /> : <App bridge={new EngineBridge()} />}</StrictMode>);
