/** The one module that changes WebGPU's prototypes: scoped hooks undo exactly, do not nest, and permanent ones go in once. */
import { describe, expect, it } from 'vitest';
import { hookForever, hookMethod } from './webgpuHooks.ts';

class Thing {
  value(): string {
    return 'plain';
  }
}

describe('webgpuHooks', () => {
  it('a scoped hook wraps until undone; a second one on the same method is refused', () => {
    const thing = new Thing();
    const undo = hookMethod(Thing.prototype, 'value', (original) => function (this: unknown) {
      return `hooked ${original.call(this) as string}`;
    });
    expect(thing.value()).toBe('hooked plain');
    expect(() => hookMethod(Thing.prototype, 'value', (original) => original)).toThrow(/Thing\.value is already hooked/);
    expect(() => hookForever('while scoped', Thing.prototype, 'value', (original) => original)).toThrow(/carries a scoped hook/);
    undo();
    expect(thing.value()).toBe('plain');
    const again = hookMethod(Thing.prototype, 'value', () => () => 'again');
    expect(thing.value()).toBe('again');
    again();
  });

  it('a permanent hook is installed once per key, and a scoped hook over it undoes back to it', () => {
    const thing = new Thing();
    const wrap = (original: (...args: unknown[]) => unknown) => function (this: unknown) {
      return `counted ${original.call(this) as string}`;
    };
    expect(hookForever('count', Thing.prototype, 'value', wrap)).toBe(true);
    expect(hookForever('count', Thing.prototype, 'value', wrap)).toBe(false);
    expect(thing.value()).toBe('counted plain');
    const undo = hookMethod(Thing.prototype, 'value', (original) => function (this: unknown) {
      return `recorded ${original.call(this) as string}`;
    });
    expect(thing.value()).toBe('recorded counted plain');
    undo();
    expect(thing.value()).toBe('counted plain');
  });
});
