/** The page shown when the browser offers no WebGPU: what is missing and which browser or flag gives it. */

export async function webGpuProblem(): Promise<string | undefined> {
  if (!window.isSecureContext) return 'This page was not opened over HTTPS (or from localhost), and browsers offer WebGPU only to secure pages.';
  if (!('gpu' in navigator)) return 'This browser has no WebGPU.';
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return 'This browser has WebGPU, but it offered no GPU adapter (WebGPU is turned off, or the GPU or its driver is blocked).';
  } catch (e) {
    return `Asking the browser for a GPU failed: ${(e as Error).message}`;
  }
  return undefined;
}

export function NoWebGpu({ problem }: { problem: string }) {
  return (
    <div className="app">
      <header className="header"><div className="brand"><h1>AdaLink Studio</h1></div></header>
      <main className="panel no-webgpu" data-testid="no-webgpu">
        <h2>WebGPU is not available</h2>
        <p>{problem}</p>
        <p>The studio trains on your GPU through WebGPU, inside the browser. To use it:</p>
        <ul>
          <li><b>Chrome or Edge 113 or newer</b> on Windows, macOS or ChromeOS: WebGPU is on by default. Update the browser if it is older.</li>
          <li><b>Chrome on Linux</b>: open <code>chrome://flags/#enable-unsafe-webgpu</code>, set it to <i>Enabled</i> (and <code>chrome://flags/#enable-vulkan</code> too), then relaunch.</li>
          <li><b>Chrome on Android</b> 121 or newer (Android 12+, recent GPU).</li>
          <li><b>Safari 26</b> (macOS, iOS) and <b>Firefox 141+</b> on Windows have WebGPU too, but the studio is tested in Chrome.</li>
          <li>If WebGPU is on and this page still appears, check <code>chrome://gpu</code> for a blocked GPU or driver, and open the page over <b>https://</b> or from <b>localhost</b>.</li>
        </ul>
      </main>
    </div>
  );
}
