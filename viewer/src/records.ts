// The stream framing of stream, resume-stream and observe: each record is the JSON text of one
// chunk followed by the record separator "\x1e". Records may be cut anywhere between reads.

export const SEPARATOR = "\x1e";

export interface Chunk {
  type: string;
  runId?: string;
  from?: string;
  payload?: Record<string, unknown>;
  data?: unknown;
  [key: string]: unknown;
}

/** Complete records of `body` as they arrive. A record cut by the end of the body (no
 * separator) is parsed too when it is whole JSON; a connection that drops raises, having
 * yielded only complete records, so a reader knows exactly how many it has. */
export async function* readRecords(body: ReadableStream<Uint8Array>): AsyncGenerator<Chunk> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.indexOf(SEPARATOR);
      while (cut !== -1) {
        const text = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 1);
        if (text.trim()) yield JSON.parse(text) as Chunk;
        cut = buffer.indexOf(SEPARATOR);
      }
    }
    buffer += decoder.decode();
    if (buffer.trim()) yield JSON.parse(buffer) as Chunk;
  } finally {
    reader.releaseLock();
  }
}
