/**
 * A client of GET /events for the bench: parses the server-sent events as they arrive and hands
 * each to `onEvent` with the time it was parsed (the moment a browser's EventSource would fire).
 */
export interface SseListener {
  status: number;
  close(): void;
}

export async function listenToEvents(url: string, onEvent: (event: string, data: string, at: number) => void): Promise<SseListener> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    return { status: res.status, close: () => undefined };
  }
  const reader = res.body.getReader();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        const at = Date.now();
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) onEvent(event, data.join('\n'), at);
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return { status: 200, close: () => controller.abort() };
}
