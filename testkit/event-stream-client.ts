/** One server-sent event as a browser's EventSource would see it. */
export interface ServerSentEvent {
  event: string;
  id?: string;
  data: string;
}

/**
 * A client of GET/POST /events reading the stream as EventSource does (fields per event, blank
 * line between events, comment lines ignored), for tests and tools.
 */
export class EventStreamClient {
  readonly events: ServerSentEvent[] = [];
  ended = false;

  private constructor(
    readonly status: number,
    private readonly abort: AbortController,
    private readonly onEvent?: (event: ServerSentEvent, at: number) => void,
  ) {}

  /** `onEvent`: called with each event and the time its bytes were read (when EventSource would fire). */
  static async open(
    url: string,
    init: { method?: string; body?: string; lastEventId?: string; onEvent?: (event: ServerSentEvent, at: number) => void } = {},
  ): Promise<EventStreamClient> {
    const controller = new AbortController();
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      signal: controller.signal,
      headers: {
        accept: 'text/event-stream',
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.lastEventId ? { 'last-event-id': init.lastEventId } : {}),
      },
      ...(init.body ? { body: init.body } : {}),
    });
    const client = new EventStreamClient(res.status, controller, init.onEvent);
    if (res.status !== 200 || !res.body) {
      client.events.push({ event: 'error', data: await res.text() });
      client.ended = true;
      return client;
    }
    void client.read(res.body.getReader());
    return client;
  }

  /** The events of one kind, their data parsed. */
  data(event: string): any[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.data) as unknown);
  }

  get lastId(): string | undefined {
    return [...this.events].reverse().find((e) => e.id !== undefined)?.id;
  }

  close(): void {
    this.abort.abort();
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const at = Date.now();
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: ServerSentEvent = { event: 'message', data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const [field, value] = colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).replace(/^ /, '')];
            if (field === 'event') event.event = value;
            else if (field === 'id') event.id = value;
            else if (field === 'data') data.push(value);
          }
          if (data.length === 0) continue;
          const complete = { ...event, data: data.join('\n') };
          this.events.push(complete);
          this.onEvent?.(complete, at);
        }
      }
    } catch {
      // aborted by close()
    }
    this.ended = true;
  }
}
