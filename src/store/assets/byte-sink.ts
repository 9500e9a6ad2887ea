// Where archive writers put their bytes: a file, or a web stream that an HTTP response reads with backpressure.
import { closeSync, openSync, writeSync } from "node:fs";

/** An ordered byte destination. `write` resolves when the chunk may be reused. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void> | void;
  /** Bytes written so far. */
  readonly written: number;
}

/** A sink writing to a file (created or truncated). */
export class FileSink implements ByteSink {
  private fd: number;
  written = 0;
  constructor(path: string) {
    this.fd = openSync(path, "w", 0o644);
  }
  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.written += chunk.length;
  }
  /** Closes the file. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** A sink feeding a WritableStream (e.g. a TransformStream whose readable is an HTTP body). */
export class StreamSink implements ByteSink {
  written = 0;
  constructor(private readonly writer: WritableStreamDefaultWriter<Uint8Array>) {}
  async write(chunk: Uint8Array): Promise<void> {
    this.written += chunk.length;
    await this.writer.write(chunk);
  }
}

/** A sink collecting everything in memory (small archives and tests). */
export class MemorySink implements ByteSink {
  private parts: Uint8Array[] = [];
  written = 0;
  write(chunk: Uint8Array): void {
    this.parts.push(chunk.slice());
    this.written += chunk.length;
  }
  /** The bytes written so far, joined. */
  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

/** A sink that gzips into another sink (tar.gz). `finish` flushes the compressor. */
export class GzipSink implements ByteSink {
  written = 0;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly pump: Promise<void>;
  constructor(out: ByteSink) {
    const cs = new CompressionStream("gzip");
    this.writer = cs.writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>;
    this.pump = (async () => {
      for await (const c of cs.readable as unknown as AsyncIterable<Uint8Array>) await out.write(c);
    })();
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.written += chunk.length;
    await this.writer.write(chunk);
  }
  /** Ends the gzip stream and waits until the last bytes reached the inner sink. */
  async finish(): Promise<void> {
    await this.writer.close();
    await this.pump;
  }
}

/**
 * Runs `produce` against a sink whose bytes become a ReadableStream (an HTTP response body). Errors abort
 * the stream; the body is produced while the client reads it, with backpressure.
 */
export function streamFrom(produce: (sink: ByteSink) => Promise<void>, onError?: (e: unknown) => void): ReadableStream<Uint8Array> {
  const ts = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 4 }, { highWaterMark: 4 });
  const writer = ts.writable.getWriter();
  const sink = new StreamSink(writer);
  produce(sink)
    .then(() => writer.close())
    .catch((e) => {
      onError?.(e);
      writer.abort(e).catch(() => {}); // the client is gone or the stream already failed: nothing to tell
    });
  return ts.readable;
}
