/**
 * The protobuf wire format as the ONNX reader (onnxRead.ts) walks it: a cursor over one message at a time —
 * tags, varints, fixed-width numbers, length-delimited fields, repeated numeric runs packed or not — that checks
 * every length against the message's end and names the field path in its errors (FormatError).
 */
import { FormatError } from '../errors.ts';

export const DAMAGED = 'The file is damaged or is not an ONNX model: download or export it again.';
const WIRE_NAME = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit', '6', '7'];
const utf8 = new TextDecoder();

/** A repeated numeric field's run of bytes: one packed field, or one element of an unpacked one. */
export interface Run { field: number; start: number; end: number }

/**
 * A protobuf cursor over the file: the current message ends at `end`, `at` is its path for errors
 * (`graph.node[3].attribute[0]`). Field readers check the wire type of the tag just read.
 */
export class Cursor {
  pos = 0;
  end: number;
  at = '';
  field = 0;
  wire = 0;
  /** The last varint's low and high 32 bits, unsigned. */
  lo = 0;
  hi = 0;
  readonly view: DataView;

  /** `externalData`: what the message readers use to resolve external tensors (ReadOnnxOptions). */
  constructor(readonly bytes: Uint8Array, readonly file: string, readonly externalData?: (location: string) => Uint8Array | undefined) {
    this.end = bytes.length;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(problem: string, fix = DAMAGED): never {
    throw new FormatError(problem, `${this.file}${this.at ? `: ${this.at}` : ''}, byte ${this.pos}`, fix);
  }

  unsupported(what: string): never {
    this.fail(`${what} is not supported`, 'Export the model without it (plain tensors and graphs in the default or com.microsoft domain).');
  }

  more(): boolean {
    return this.pos < this.end;
  }

  varint(): void {
    const { bytes, end } = this;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.fail('the message ends inside a number (truncated?)');
      const b = bytes[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) { lo |= (b & 0x0f) << 28; hi = (b & 0x7f) >> 4; }
      else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) { this.lo = lo >>> 0; this.hi = hi >>> 0; return; }
    }
    this.fail('a number runs over 10 bytes');
  }

  /** The last varint as a signed int64 (or int32: its sign extends) number; exact within ±2^53. */
  varintValue(): number {
    this.varint();
    return (this.hi | 0) * 2 ** 32 + this.lo;
  }

  /** The next field's number; its wire type goes to `wire`. */
  tag(): number {
    const tag = this.varintValue();
    this.field = Math.floor(tag / 8);
    this.wire = tag & 7;
    if (this.field === 0 || tag < 0) this.fail(`field number ${this.field} is invalid`);
    return this.field;
  }

  expectWire(wire: number): void {
    if (this.wire !== wire) {
      this.fail(`field ${this.field} has wire type ${WIRE_NAME[this.wire]}, expected ${WIRE_NAME[wire]}`);
    }
  }

  /** The end of the length-delimited field at `pos`, checked against the message's end. */
  lengthEnd(): number {
    this.expectWire(2);
    const length = this.varintValue();
    if (length < 0 || length > this.end - this.pos) this.fail(`field ${this.field} of ${length} bytes runs past the end of its message (truncated?)`);
    return this.pos + length;
  }

  skip(): void {
    switch (this.wire) {
      case 0: this.varint(); return;
      case 1: this.advance(8); return;
      case 2: this.pos = this.lengthEnd(); return;
      case 5: this.advance(4); return;
      default: this.fail(`field ${this.field} has wire type ${WIRE_NAME[this.wire]}, which ONNX does not use`);
    }
  }

  advance(count: number): number {
    if (this.end - this.pos < count) this.fail('the message ends inside a number (truncated?)');
    this.pos += count;
    return this.pos - count;
  }

  int(): number {
    this.expectWire(0);
    return this.varintValue();
  }

  float(): number {
    this.expectWire(5);
    return this.view.getFloat32(this.advance(4), true);
  }

  string(): string {
    const end = this.lengthEnd();
    const value = utf8.decode(this.bytes.subarray(this.pos, end));
    this.pos = end;
    return value;
  }

  /** An embedded message, read by `parse` with `name` appended to the path. */
  message<T>(name: string, parse: () => T): T {
    const outerEnd = this.end;
    const outerAt = this.at;
    this.at = outerAt ? `${outerAt}.${name}` : name;
    this.end = this.lengthEnd();
    const value = parse();
    this.end = outerEnd;
    this.at = outerAt;
    return value;
  }

  /** A repeated numeric field, packed or not: `read` is called once per element. */
  repeated(wire: 0 | 1 | 5, read: () => void): void {
    this.replay(this.run(wire), read);
  }

  /** The bytes of a length-delimited field. */
  span(): Run {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    return { field: this.field, start, end };
  }

  /** Where a repeated numeric field's elements are: a packed run, or this one element of wire type `wire`. */
  run(wire: 0 | 1 | 5): Run {
    if (this.wire === 2) return this.span();
    this.expectWire(wire);
    const start = this.pos;
    this.skip();
    return { field: this.field, start, end: this.pos };
  }

  replay(run: Run, read: () => void): void {
    const [pos, end] = [this.pos, this.end];
    [this.pos, this.end] = [run.start, run.end];
    while (this.pos < run.end) read();
    [this.pos, this.end] = [pos, end];
  }
}
