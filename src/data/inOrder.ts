/**
 * Work on a list with several items in flight and the results taken in order: image decoding runs on the
 * decoder's own threads (the browser's, libvips'), so starting the next images while one is being used
 * keeps those threads busy.
 */

/** `work(i)` for i = 0 … count-1, at most `ahead` started and not yet taken, yielded in index order. */
export async function* inOrder<T>(count: number, ahead: number, work: (index: number) => Promise<T>): AsyncGenerator<T> {
  const pending = new Map<number, Promise<T>>();
  let started = 0;
  for (let index = 0; index < count; index++) {
    while (started < count && started < index + ahead) {
      const promise = work(started);
      // Awaited in order below; this only keeps an early rejection from counting as unhandled meanwhile.
      promise.catch(() => {});
      pending.set(started++, promise);
    }
    const result = await pending.get(index)!;
    pending.delete(index);
    yield result;
  }
}
