// Preloaded (`node --require ./src/cli/threadPool.cjs …`, as the npm scripts do) before anything else runs:
// libuv's thread pool — where sharp decodes images and files are read — has 4 threads unless
// UV_THREADPOOL_SIZE says otherwise before the pool starts, and Node's module loader starts it while it
// reads the program's own files. One thread per core, so that a folder of photos decodes on every core.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, require('node:os').availableParallelism()));
