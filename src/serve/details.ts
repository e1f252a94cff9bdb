/**
 * The server's health details: one JSON object that parts of the server add
 * their state to (the swap state here; the pair log adds its errors). The
 * standard health service only says SERVING or NOT_SERVING, so the details go
 * where operators look: `server.details()`, the stats log line, the admin
 * API's GetServerDetails and `mrm models list`.
 *
 * A part that fails to report shows as {"error": message} rather than taking
 * the whole object down.
 */
export class ServerDetails {
  private readonly parts = new Map<string, () => unknown>();

  /** `report` is called on every snapshot; it must be cheap and return JSON-able data. */
  add(name: string, report: () => unknown): void {
    if (this.parts.has(name)) throw new Error(`health details: '${name}' is already reported`);
    this.parts.set(name, report);
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, report] of this.parts) {
      try {
        out[name] = structuredClone(report());
      } catch (err) {
        out[name] = { error: (err as Error).message };
      }
    }
    return out;
  }
}
