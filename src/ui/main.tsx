/**
 * Entry point: checks for WebGPU first (a page that says what to do, never a blank screen), then
 * starts the studio.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { NoWebGpu, webGpuProblem } from './NoWebGpu.tsx';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
const problem = await webGpuProblem();
root.render(<StrictMode>{problem ? <NoWebGpu problem={problem} /> : <App />}</StrictMode>);
