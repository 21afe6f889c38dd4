// XDR (RFC 4506) as libvirt's RPC uses it: big-endian 4-byte units, strings and variable opaques
// length-prefixed and zero-padded to a multiple of 4, optional data ("*" pointers) as a bool then the value.

/** A malformed or truncated XDR payload, or a value that cannot be encoded. */
export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XdrError";
  }
}

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;

function padding(length: number): number {
  return (4 - (length % 4)) % 4;
}

export class XdrWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialSize = 256) {
    this.buffer = Buffer.alloc(initialSize);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const grown = Buffer.alloc(size);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  int(value: number): this {
    if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
      throw new XdrError(`not a 32-bit signed integer: ${value}`);
    }
    this.reserve(4);
    this.buffer.writeInt32BE(value, this.length);
    this.length += 4;
    return this;
  }

  uint(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
      throw new XdrError(`not a 32-bit unsigned integer: ${value}`);
    }
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
    return this;
  }

  hyper(value: bigint): this {
    this.reserve(8);
    this.buffer.writeBigInt64BE(BigInt.asIntN(64, value), this.length);
    this.length += 8;
    return this;
  }

  uhyper(value: bigint): this {
    this.reserve(8);
    this.buffer.writeBigUInt64BE(BigInt.asUintN(64, value), this.length);
    this.length += 8;
    return this;
  }

  bool(value: boolean): this {
    return this.int(value ? 1 : 0);
  }

  /** Fixed-length opaque (`opaque x[n]`): exactly `length` bytes, no length word. */
  fixedOpaque(bytes: Uint8Array, length: number): this {
    if (bytes.length !== length)
      throw new XdrError(`fixed opaque needs ${length} bytes, got ${bytes.length}`);
    return this.raw(bytes);
  }

  /** Variable-length opaque (`opaque x<max>`). */
  opaque(bytes: Uint8Array, max = UINT32_MAX): this {
    if (bytes.length > max) throw new XdrError(`opaque of ${bytes.length} bytes exceeds its maximum ${max}`);
    this.uint(bytes.length);
    return this.raw(bytes);
  }

  string(value: string, max = UINT32_MAX): this {
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length > max) throw new XdrError(`string of ${bytes.length} bytes exceeds its maximum ${max}`);
    this.uint(bytes.length);
    return this.raw(bytes);
  }

  /** `T *x`: false for null/undefined, else true and the value. */
  optional<T>(value: T | null | undefined, write: (writer: this, value: T) => void): this {
    if (value === null || value === undefined) return this.bool(false);
    this.bool(true);
    write(this, value);
    return this;
  }

  private raw(bytes: Uint8Array): this {
    const pad = padding(bytes.length);
    this.reserve(bytes.length + pad);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    this.buffer.fill(0, this.length, this.length + pad);
    this.length += pad;
    return this;
  }

  get byteLength(): number {
    return this.length;
  }

  /** A copy of what was written. */
  toBuffer(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

export class XdrReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private need(bytes: number, what: string): void {
    if (this.remaining < bytes) {
      throw new XdrError(
        `truncated XDR: ${what} needs ${bytes} bytes at offset ${this.offset}, ${this.remaining} left`,
      );
    }
  }

  int(): number {
    this.need(4, "int");
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint(): number {
    this.need(4, "unsigned int");
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  hyper(): bigint {
    this.need(8, "hyper");
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  uhyper(): bigint {
    this.need(8, "unsigned hyper");
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  bool(): boolean {
    const value = this.int();
    if (value !== 0 && value !== 1) throw new XdrError(`not an XDR bool: ${value}`);
    return value === 1;
  }

  fixedOpaque(length: number): Buffer {
    return this.raw(length, "fixed opaque");
  }

  opaque(max = UINT32_MAX): Buffer {
    const length = this.uint();
    if (length > max) throw new XdrError(`opaque of ${length} bytes exceeds its maximum ${max}`);
    return this.raw(length, "opaque");
  }

  string(max = UINT32_MAX): string {
    const length = this.uint();
    if (length > max) throw new XdrError(`string of ${length} bytes exceeds its maximum ${max}`);
    return this.raw(length, "string").toString("utf8");
  }

  optional<T>(read: (reader: this) => T): T | null {
    return this.bool() ? read(this) : null;
  }

  /** `T x<max>`: a count then the elements. */
  array<T>(read: (reader: this) => T, max = UINT32_MAX): T[] {
    const count = this.uint();
    if (count > max) throw new XdrError(`array of ${count} elements exceeds its maximum ${max}`);
    // Each element takes at least 4 bytes: a count beyond that is a lie, and must not allocate.
    if (count > this.remaining / 4)
      throw new XdrError(`array of ${count} elements in ${this.remaining} bytes`);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(read(this));
    return items;
  }

  private raw(length: number, what: string): Buffer {
    const pad = padding(length);
    this.need(length + pad, what);
    const bytes = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length + pad;
    return bytes;
  }

  /** For decoders of whole structs: trailing bytes mean the struct layout is not the one we think. */
  end(what: string): void {
    if (this.remaining !== 0) throw new XdrError(`${this.remaining} unexpected bytes after ${what}`);
  }
}
